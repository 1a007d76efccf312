"""check.py: one kustomization rendered and checked, with the bundle found above it."""

from __future__ import annotations

from pathlib import Path

from bundlecheck.check import CheckOptions, check_target, find_bundle_root, find_components_dir
from bundlecheck.findings import Status

REPO = Path(__file__).resolve().parents[3]
BROKEN = REPO / "tests" / "bundle" / "broken"


class NoSchemas:
    """A schema checker with nothing to say: the policies alone decide."""

    def check(self, obj: dict) -> list:
        return []


def test_should_find_the_bundles_components_above_a_kustomization() -> None:
    broken_case = REPO / "tests/bundle/broken/no-secret-data"
    assert find_components_dir(broken_case) == REPO / "components"
    assert find_components_dir(REPO / "overlays/cpu") == REPO / "components"


def test_should_find_the_bundle_whose_overlays_a_kustomization_sits_under(tmp_path: Path) -> None:
    assert find_bundle_root(BROKEN / "model-fit-unclaimed-overlay") == REPO
    assert find_bundle_root(REPO / "overlays" / "cpu") == REPO
    assert find_bundle_root(tmp_path) is None


def test_should_waive_a_skipped_policys_violations_and_keep_the_others(tmp_path: Path) -> None:
    options = CheckOptions(schemas=NoSchemas(), components_dir=REPO / "components")
    report = check_target(BROKEN / "image-pinned-latest", options)
    assert report.error is None and report.renderer and report.object_count
    assert {(f.check, f.status) for f in report.findings} == {("image-pinned", Status.VIOLATION)}

    options.skip = {"image-pinned"}
    report = check_target(BROKEN / "image-pinned-latest", options)
    assert {(f.check, f.status) for f in report.findings} == {("image-pinned", Status.WAIVED)}
    assert report.checks_run[0] == "schema" and "image-pinned" in report.checks_run


def test_should_report_a_render_error_instead_of_findings(tmp_path: Path) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    report = check_target(tmp_path, CheckOptions(schemas=NoSchemas()))
    assert report.error is not None and "missing.yaml" in str(report.error)
    assert report.findings == [] and report.checks_run == []


def test_offline_option_adds_the_offline_check() -> None:
    options = CheckOptions(schemas=NoSchemas(), components_dir=REPO / "components", offline=True)

    report = check_target(REPO / "overlays/cpu", options)

    assert "offline" in report.checks_run
    assert {f.check for f in report.with_status(Status.VIOLATION)} == {"offline"}
    assert "offline" not in check_target(REPO / "overlays/cpu", CheckOptions(schemas=NoSchemas())).checks_run


def test_a_kustomization_annotated_offline_is_held_to_its_mirror_without_the_option() -> None:
    report = check_target(REPO / "gitops/air-gapped", CheckOptions(schemas=NoSchemas()))

    assert "offline" in report.checks_run
    assert report.findings == []
