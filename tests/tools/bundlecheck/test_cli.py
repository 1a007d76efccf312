"""reranker-validate end to end: the bundle passes, exit codes, report formats, schema sources.
The schemas come from the ``schema_dirs`` fixture (tests/conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from bundlecheck.cli import default_targets, main
from bundlecheck.model_components import read_claim
from bundlecheck.policies import POLICIES, Context, Policy
from bundlecheck.schemas import catalog
from tests.tools.bundlecheck.schemas.sample_crds import TINY_CRD

# slow: the validator renders every overlay and component with kustomize.
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[3]
BROKEN = REPO / "tests" / "bundle" / "broken"


@pytest.fixture(scope="module")
def kserve_crds(schema_dirs) -> Path:
    return schema_dirs.kserve_crds


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A run without --crd-schema-dir downloads third-party schemas: never from a test."""

    def offline(url: str) -> str:
        raise OSError(f"no network in tests: {url}")

    monkeypatch.setattr(catalog, "_fetch_url", offline)


@pytest.fixture(scope="module")
def crd_schemas(schema_dirs) -> Path:
    return schema_dirs.crd_schemas


@pytest.fixture()
def at_repo_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)


def test_should_default_to_every_overlay_gitops_kustomization_and_component(
    at_repo_root: None,
) -> None:
    targets = [str(t) for t in default_targets(Path("."))]
    overlays = sorted(str(p.parent) for p in Path("overlays").glob("*/kustomization.yaml"))
    assert targets[: len(overlays)] == overlays and "overlays/cpu" in targets
    assert all(t.startswith(("overlays/", "gitops/")) for t in targets)
    assert any(t.startswith("gitops/") for t in targets)
    combined = [t for t in targets if "+" in t]
    # The models, the model sources and the cache go on other overlays (the tests below and
    # test_model_sources.py).
    delivery = ("+components/models/", "+components/model-source/", "+components/model-cache")
    opt_in = [t for t in combined if not any(part in t for part in delivery)]
    components = [t.split("+", 1)[1] for t in opt_in]
    assert all(t.startswith("overlays/cpu+components/") for t in opt_in)
    # Each opt-in component, nested ones included; not nvidia-gpu (every GPU overlay has it)
    # nor the secretGenerator one (its Secret's data is what no-secret-data forbids).
    assert {"components/monitoring", "components/api-key/sealed-secret"} <= set(components)
    assert "components/nvidia-gpu" not in components
    assert "components/hf-token/secret-env-file" not in components


def test_should_render_each_model_component_on_exactly_the_overlays_it_claims(
    at_repo_root: None,
) -> None:
    targets = [str(t) for t in default_targets(Path("."))]
    # A model alone; with a source or the cache it is model_sources.py's.
    models = {t for t in targets if "+components/models/" in t and t.count("+") == 1}
    claimed = {
        f"overlays/{overlay}+{component}"
        for component in sorted(str(p.parent) for p in Path("components/models").glob("*/kustomization.yaml"))
        for overlay in read_claim(Path(component)).fits
    }
    assert models == claimed
    assert "overlays/t4+components/models/bge-reranker-v2-m3" in models
    assert "overlays/cpu+components/models/qwen3-reranker-0.6b" not in models  # not claimed


def test_should_render_a_model_component_that_claims_no_overlay_on_the_cpu_overlay(
    tmp_path: Path,
) -> None:
    shutil.copytree(REPO / "overlays", tmp_path / "overlays")
    shutil.copytree(REPO / "components/models/bge-reranker-base", tmp_path / "components/models/x")
    patch = tmp_path / "components/models/x/model_patch.yaml"
    patch.write_text(patch.read_text().replace("fits-overlays: a100,h100,l4,t4,cpu", "fits-overlays: ''"))
    shutil.copytree(REPO / "components/models/qwen3-reranker-8b", tmp_path / "components/models/y")
    patch = tmp_path / "components/models/y/model_patch.yaml"
    patch.write_text(patch.read_text().replace("fits-overlays: a100,h100", "fits-overlays: a100,v100"))

    models = [t for t in map(str, default_targets(tmp_path)) if "components/models" in t]

    assert models == [
        f"{tmp_path}/overlays/cpu+{tmp_path}/components/models/x",
        f"{tmp_path}/overlays/a100+{tmp_path}/components/models/y",
        # An overlay that does not exist stays a target: its render fails, so the claim does.
        f"{tmp_path}/overlays/v100+{tmp_path}/components/models/y",
    ]


def test_whole_bundle_passes_with_every_kind_schema_checked(
    at_repo_root: None,
    kserve_crds: Path,
    crd_schemas: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(
        [
            *("--schema-dir", str(kserve_crds)),
            *("--crd-schema-dir", str(crd_schemas)),
            "--require-schemas",
        ]
    )

    out = capsys.readouterr().out
    assert code == 0, out
    assert "overlays/t4: ok" in out
    assert "overlays/cpu+components/autoscaling-keda: ok" in out
    assert "overlays/l4+components/models/qwen3-reranker-0.6b: ok" in out
    assert "overlays/t4+components/model-source/pvc/example+components/model-source/pvc: ok" in out
    assert "overlays/h100+components/model-cache: ok" in out
    assert "gitops/air-gapped: ok" in out
    assert "0 violation(s)" in out.splitlines()[-2]
    assert "0 not schema-checked" in out.splitlines()[-2] and "NOT CHECKED" not in out
    assert f"third-party kinds from directory {crd_schemas}" in out.splitlines()[-1]


def test_a_kind_without_schema_is_reported_and_fails_when_schemas_are_required(
    kserve_crds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = [str(REPO / "gitops/flux/kserve-crds"), "--schema-dir", str(kserve_crds)]
    (tmp_path / "empty-catalog").mkdir()
    args = [*target, "--crd-schema-dir", str(tmp_path / "empty-catalog")]

    assert main(args) == 0
    assert "NOT CHECKED HelmRelease/flux-system/kserve-crd" in capsys.readouterr().out
    assert main([*args, "--require-schemas"]) == 1
    assert "FAIL        HelmRelease/flux-system/kserve-crd" in capsys.readouterr().out


def test_offline_without_crd_schema_dir_exits_2_saying_what_to_do(
    kserve_crds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = str(REPO / "gitops/flux/kserve-crds")

    code = main([target, "--schema-dir", str(kserve_crds), "--cache-dir", str(tmp_path)])

    assert code == 2
    err = capsys.readouterr().err
    assert f"/datreeio/CRDs-catalog/{catalog.CATALOG_COMMIT}/" in err
    assert "offline? pass --crd-schema-dir DIR" in err


def test_should_check_components_applied_to_an_overlay(
    kserve_crds: Path, crd_schemas: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = f"{REPO / 'overlays/h100'}+{REPO / 'components/autoscaling-keda'}+" + str(
        REPO / "components/network-policy"
    )

    code = main([target, "--schema-dir", str(kserve_crds), "--crd-schema-dir", str(crd_schemas)])

    out = capsys.readouterr().out
    assert code == 0, out
    assert out.startswith(f"{target}: ok (5 objects")


def test_offline_should_report_what_a_default_overlay_pulls_from_the_hub_and_public_registries(
    kserve_crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main([str(REPO / "overlays/l4"), "--schema-dir", str(kserve_crds), "--offline"])

    out = capsys.readouterr().out
    assert code == 1, out
    assert "[offline]" in out and "Hugging Face hub" in out and "from docker.io" in out and "from ghcr.io" in out
    # Without --offline the same overlay is clean.
    assert main([str(REPO / "overlays/l4"), "--schema-dir", str(kserve_crds)]) == 0


def test_offline_should_pass_the_air_gapped_kustomization(
    kserve_crds: Path, crd_schemas: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--schema-dir", str(kserve_crds), "--crd-schema-dir", str(crd_schemas)]

    code = main([str(REPO / "gitops/air-gapped"), *args, "--offline"])

    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 violation(s)" in out


def test_a_kustomization_that_asks_for_the_offline_check_gets_it_without_the_flag(
    kserve_crds: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "metadata": {"annotations": {"kserve-reranker.example.com/offline": "true"}},
                "resources": [os.path.relpath(REPO / "overlays/cpu", folder)],
            }
        )
    )

    code = main([str(folder), "--schema-dir", str(kserve_crds), "--components", str(REPO / "components")])

    assert code == 1
    assert "[offline]" in capsys.readouterr().out


def test_should_exit_1_and_name_the_policy_in_text(kserve_crds: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(BROKEN / "image-pinned-latest"), "--schema-dir", str(kserve_crds)])

    out = capsys.readouterr().out
    assert code == 1
    assert (
        "FAIL        ServingRuntime/kserve-reranker spec.containers[0].image: image "
        "'ghcr.io/example/kserve-reranker:latest' is not pinned" in out
    )
    assert "[image-pinned]" in out


def test_should_write_junit_with_one_failing_case_per_violated_check(kserve_crds: Path, tmp_path: Path) -> None:
    report_file = tmp_path / "report.xml"

    code = main(
        [
            str(BROKEN / "gpu-placement-no-toleration"),
            "--schema-dir",
            str(kserve_crds),
            "--output",
            "junit",
            "--output-file",
            str(report_file),
        ]
    )

    suite = ET.parse(report_file).getroot().find("testsuite")
    failed = [c.get("name") for c in suite.iter("testcase") if c.find("failure") is not None]
    assert code == 1
    assert failed == ["gpu-placement"]
    assert suite.get("failures") == "1"
    assert int(suite.get("tests")) > 10  # schema and every policy


def test_render_error_exits_2_with_a_clear_line(
    tmp_path: Path, kserve_crds: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "kustomization.yaml").write_text("resources: [missing-patch.yaml]\n")

    code = main([str(tmp_path), "--schema-dir", str(kserve_crds), "--output", "json"])

    (target,) = json.loads(capsys.readouterr().out)["kustomizations"]
    assert code == 2
    assert target["error"].startswith(f"cannot render {tmp_path}")
    assert "missing-patch.yaml" in target["error"]


def test_a_crashing_policy_exits_2_not_1(
    kserve_crds: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def crash(context: Context) -> list:
        raise KeyError("spec")

    monkeypatch.setitem(POLICIES, "crashing", Policy("crashing", "test", crash))

    code = main([str(REPO / "overlays/cpu"), "--schema-dir", str(kserve_crds)])

    assert code == 2
    assert "ERROR: policy crashing crashed: KeyError('spec')" in capsys.readouterr().out


def test_unknown_skip_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--skip", "gpu-requests", "overlays/cpu"])
    assert exit_.value.code == 2
    assert "unknown policy gpu-requests" in capsys.readouterr().err


def test_missing_kserve_schema_exits_1_naming_the_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "isvc-only.yaml").write_text(yaml.safe_dump(TINY_CRD))

    code = main([str(REPO / "overlays/cpu"), "--schema-dir", str(tmp_path)])

    out = capsys.readouterr().out
    assert code == 1
    assert (
        "FAIL        ServingRuntime/kserve-reranker: no schema for KServe kind "
        f"serving.kserve.io/v1alpha1 ServingRuntime in directory {tmp_path} [schema]" in out
    )


def test_schema_dir_without_crds_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main([str(REPO / "overlays/cpu"), "--schema-dir", str(tmp_path)])
    assert code == 2
    assert "no CustomResourceDefinition found" in capsys.readouterr().err


def test_should_find_the_components_when_run_from_elsewhere(
    kserve_crds: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # overlays/cpu's storage container reads hf-secret, which only components/ provide.
    monkeypatch.chdir(tmp_path)
    assert main([str(REPO / "overlays/cpu"), "--schema-dir", str(kserve_crds)]) == 0


def test_script_runs_from_a_checkout(kserve_crds: Path) -> None:
    done = subprocess.run(
        [sys.executable, "scripts/validate.py", "overlays/cpu", "--schema-dir", str(kserve_crds)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("overlays/cpu: ok")
