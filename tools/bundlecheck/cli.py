"""``reranker-validate`` / ``scripts/validate.py``: render kustomizations and check them.

Exit status: 0 clean, 1 at least one violation, 2 a usage error, a render error or no schemas.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from . import model_components, model_sources
from .check import CheckOptions, check_target
from .findings import SCHEMA, Status
from .offline import OFFLINE, OFFLINE_ANNOTATION
from .output import FORMATS, RunInfo
from .overlays import overlay_dirs
from .policies import POLICIES
from .render import COMBINE, RENDERERS
from .schemas import catalog, crds
from .schemas.checker import DEFAULT_KUBERNETES_VERSION, SchemaChecker

EXIT_CLEAN, EXIT_VIOLATIONS, EXIT_ERROR = 0, 1, 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reranker-validate",
        description="Render kustomizations (default: every overlays/* and gitops/** "
        f"kustomization under the current directory, and each opt-in component on "
        f"{COMPONENT_OVERLAY}) and check every object against the Kubernetes, KServe and "
        "third-party CRD schemas (unknown fields are errors) and this bundle's policies. "
        "Exit 0 when clean, 1 on any violation, 2 on a usage, render, check or schema-source "
        "error.",
    )
    parser.add_argument(
        "targets",
        nargs="*",
        metavar="KUSTOMIZATION_DIR",
        help=f"a kustomization, or DIR{COMBINE}COMPONENT_DIR[{COMBINE}...] for components applied to one",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--schema-dir",
        type=Path,
        metavar="DIR",
        help="read CRDs (YAML/JSON files) from DIR instead of downloading the KServe release's",
    )
    source.add_argument(
        "--from-cluster",
        action="store_true",
        help="read CRDs from the cluster of the current kubeconfig context",
    )
    parser.add_argument("--context", help="kubeconfig context for --from-cluster")
    parser.add_argument(
        "--crd-schema-dir",
        type=Path,
        metavar="DIR",
        help="JSON schemas of third-party kinds (Argo CD, Flux, ESO, SealedSecret, Prometheus "
        "Operator, KEDA ...) in the CRDs-catalog layout <group>/<kind>_<version>.json, instead "
        f"of downloading them from {catalog.CATALOG_REPO} at commit {catalog.CATALOG_COMMIT[:12]}",
    )
    parser.add_argument(
        "--require-schemas",
        action="store_true",
        help="a kind no schema covers is a violation (default: reported as not schema-checked)",
    )
    parser.add_argument(
        "--kserve-version",
        default=crds.KSERVE_VERSION,
        help="KServe release whose CRDs are downloaded when no other source is given (default: %(default)s)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help=f"where downloaded CRDs and schemas are kept (default: {crds.default_cache_dir()})",
    )
    parser.add_argument(
        "--kubernetes-version",
        default=DEFAULT_KUBERNETES_VERSION,
        help="Kubernetes version of the built-in kinds' schemas (default: %(default)s)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        default=[],
        metavar="POLICY",
        help="waive a policy (repeatable): its violations are reported as waived and do not "
        "fail the run; see --list-policies",
    )
    parser.add_argument(
        "--components",
        type=Path,
        default=None,
        metavar="DIR",
        help="the bundle's components, whose Secrets count as provided (default: the nearest "
        "components/ folder above each kustomization)",
    )
    parser.add_argument(
        "--offline",
        action="store_true",
        help="also report every object that would reach the Hugging Face hub or a public image registry "
        f'(check id {OFFLINE}); a kustomization annotated {OFFLINE_ANNOTATION}: "true" is checked so always',
    )
    parser.add_argument("--renderer", choices=RENDERERS, help="force a renderer (default: the first available)")
    parser.add_argument("--output", choices=sorted(FORMATS), default="text", help="report format")
    parser.add_argument("--output-file", type=Path, metavar="FILE", help="write the report to FILE")
    parser.add_argument("--list-policies", action="store_true", help="list policy ids and exit")
    return parser


# The overlay the opt-in components are checked on by default.
COMPONENT_OVERLAY = "overlays/cpu"


def default_targets(root: Path) -> list[Path | str]:
    """Every overlay, every kustomization among the GitOps examples, each opt-in component
    on COMPONENT_OVERLAY (``overlays/cpu+components/monitoring``), each model component on
    every overlay it claims (``overlays/l4+components/models/bge-reranker-v2-m3``), and each
    model source and the model cache on the overlays and with the models (model_sources.py)."""
    overlays = overlay_dirs(root)
    gitops = sorted(p.parent for p in root.glob("gitops/**/kustomization.yaml"))
    models = model_components.model_targets(root, COMBINE, _component_base(root, overlays))
    delivery = model_sources.delivery_targets(root, COMBINE, overlays)
    return [*overlays, *gitops, *component_targets(root, overlays), *models, *delivery]


def component_targets(root: Path, overlays: list[Path]) -> list[str]:
    """``overlay+component`` for each component under components/ (nested ones included),
    except those an overlay already includes (nvidia-gpu), those with a secretGenerator (they
    read git-ignored files, and their Secret's data is what no-secret-data forbids), the
    model components (rendered on the overlays they claim instead), and the model sources and
    the model cache (model_sources.delivery_targets)."""
    base = _component_base(root, overlays)
    if base is None:
        return []
    included = {
        (overlay / component).resolve()
        for overlay in overlays
        for component in _kustomization(overlay).get("components") or []
    }
    targets = []
    for component in sorted(p.parent for p in root.glob("components/**/kustomization.yaml")):
        config = _kustomization(component)
        if config.get("kind") != "Component" or config.get("secretGenerator"):
            continue
        if model_components.is_model_component(component, root):
            continue
        if model_sources.is_delivery_component(component, root):
            continue
        if component.resolve() not in included:
            targets.append(f"{base}{COMBINE}{component}")
    return targets


def _component_base(root: Path, overlays: list[Path]) -> Path | None:
    base = root / COMPONENT_OVERLAY
    if (base / "kustomization.yaml").is_file():
        return base
    return overlays[0] if overlays else None


def _kustomization(directory: Path) -> dict:
    path = directory / "kustomization.yaml"
    return (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}


def load_schemas(args: argparse.Namespace) -> crds.CrdSchemas:
    if args.schema_dir is not None:
        return crds.from_directory(args.schema_dir)
    if args.from_cluster:
        return crds.from_cluster(args.context)
    return crds.from_release(args.kserve_version, args.cache_dir)


def load_catalog(args: argparse.Namespace) -> catalog.CatalogSource:
    if args.crd_schema_dir is not None:
        return catalog.DirectoryCatalog(args.crd_schema_dir)
    return catalog.DownloadCatalog(args.cache_dir)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list_policies:
        print(
            f"{SCHEMA:<26} objects match the Kubernetes, KServe and third-party CRD schemas (unknown fields are errors)"
        )
        for policy in POLICIES.values():
            print(f"{policy.id:<26} {policy.reason}")
        print(f"{OFFLINE:<26} (--offline) nothing reaches the Hugging Face hub or a public image registry")
        return EXIT_CLEAN
    unknown = sorted(set(args.skip) - {SCHEMA, OFFLINE, *POLICIES})
    if unknown:
        parser.error(f"--skip: unknown policy {', '.join(unknown)} (see --list-policies)")
    targets = args.targets or default_targets(Path("."))
    if not targets:
        parser.error("no KUSTOMIZATION_DIR given and no overlays/*/kustomization.yaml here")

    try:
        schemas = load_schemas(args)
        third_party = load_catalog(args)
        options = CheckOptions(
            schemas=SchemaChecker(schemas, args.kubernetes_version, third_party, require=args.require_schemas),
            skip=set(args.skip),
            components_dir=args.components,
            renderer=args.renderer,
            offline=args.offline,
        )
        # Third-party schemas are downloaded as kinds turn up: offline shows here.
        reports = [check_target(target, options) for target in targets]
    except crds.SchemaSourceError as error:
        print(f"reranker-validate: error: {error}", file=sys.stderr)
        return EXIT_ERROR
    source = f"{schemas.source}; third-party kinds from {third_party.source}"
    info = RunInfo(source, args.kubernetes_version, sorted(set(args.skip)))
    report_text = FORMATS[args.output](reports, info)
    if args.output_file:
        args.output_file.write_text(report_text)
    else:
        sys.stdout.write(report_text)

    if any(r.error is not None for r in reports):
        return EXIT_ERROR
    if any(r.with_status(Status.VIOLATION) for r in reports):
        return EXIT_VIOLATIONS
    return EXIT_CLEAN


if __name__ == "__main__":
    sys.exit(main())
