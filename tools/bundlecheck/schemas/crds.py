"""Where CustomResourceDefinitions come from: a directory, the live cluster, or a pinned release.

Each source returns the CRD documents as dicts; ``CrdSchemas`` indexes their
openAPIV3Schemas by (group, version, kind).
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The KServe release the whole project targets (base/ pins the same one).
KSERVE_VERSION = "v0.20.0"
KSERVE_GROUP_SUFFIX = "kserve.io"
# The CRDs of the kinds this bundle uses. Each entry lists the places the file has lived in
# kserve/kserve (clusterstoragecontainer moved into a subfolder); the first that exists wins.
KSERVE_CRD_PATHS: tuple[tuple[str, ...], ...] = (
    ("config/crd/full/serving.kserve.io_inferenceservices.yaml",),
    ("config/crd/full/serving.kserve.io_servingruntimes.yaml",),
    ("config/crd/full/serving.kserve.io_clusterservingruntimes.yaml",),
    (
        "config/crd/full/clusterstoragecontainer/serving.kserve.io_clusterstoragecontainers.yaml",
        "config/crd/full/serving.kserve.io_clusterstoragecontainers.yaml",
    ),
    ("config/crd/full/serving.kserve.io_inferencegraphs.yaml",),
    # The model cache (components/model-cache).
    ("config/crd/full/localmodel/serving.kserve.io_localmodelcaches.yaml",),
    ("config/crd/full/localmodel/serving.kserve.io_localmodelnodegroups.yaml",),
)
RAW_URL = "https://raw.githubusercontent.com/kserve/kserve/{version}/{path}"
DOWNLOAD_TIMEOUT_S = 30

# libyaml's loader: the InferenceService CRD is 2 MB of YAML.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class SchemaSourceError(Exception):
    """The schemas could not be loaded (bad directory, no cluster, offline without a cache)."""


@dataclass
class CrdSchemas:
    """openAPIV3Schemas of custom resources, by (group, version, kind)."""

    source: str
    schemas: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)

    def add_crd(self, crd: dict[str, Any]) -> None:
        spec = crd.get("spec") or {}
        group, kind = spec.get("group"), (spec.get("names") or {}).get("kind")
        for version in spec.get("versions") or []:
            schema = ((version.get("schema") or {}).get("openAPIV3Schema")) or None
            if group and kind and schema and version.get("served", True):
                self.schemas[(group, version["name"], kind)] = schema

    def lookup(self, api_version: str, kind: str) -> dict[str, Any] | None:
        group, _, version = api_version.rpartition("/")
        return self.schemas.get((group, version, kind))

    def kinds(self) -> list[str]:
        return sorted(f"{g}/{v} {k}" for g, v, k in self.schemas)


def from_documents(source: str, documents: list[Any]) -> CrdSchemas:
    schemas = CrdSchemas(source=source)
    for doc in documents:
        if isinstance(doc, dict) and doc.get("kind") == "CustomResourceDefinition":
            schemas.add_crd(doc)
    return schemas


def from_directory(directory: Path | str) -> CrdSchemas:
    """Every CRD in the YAML/JSON files of ``directory`` (not recursive)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise SchemaSourceError(f"--schema-dir {directory}: not a directory")
    documents: list[Any] = []
    for path in sorted(directory.iterdir()):
        if path.suffix in (".yaml", ".yml", ".json"):
            try:
                documents.extend(yaml.load_all(path.read_text(), Loader=_Loader))
            except yaml.YAMLError as error:
                raise SchemaSourceError(f"{path}: not YAML: {error}") from error
    schemas = from_documents(f"directory {directory}", documents)
    if not schemas.schemas:
        raise SchemaSourceError(f"--schema-dir {directory}: no CustomResourceDefinition found")
    return schemas


def from_cluster(context: str | None = None) -> CrdSchemas:
    """The CRDs installed in the cluster of the current kubeconfig (or in-cluster config)."""
    try:
        from kubernetes import client, config
    except ImportError as error:
        raise SchemaSourceError("--from-cluster needs the 'kubernetes' package") from error
    try:
        try:
            config.load_kube_config(context=context)
        except config.ConfigException:
            config.load_incluster_config()
        api = client.ApiClient()
        crds = client.ApiextensionsV1Api(api).list_custom_resource_definition()
    except Exception as error:  # config errors, connection errors, ApiException
        raise SchemaSourceError(f"--from-cluster: cannot list CRDs: {error}") from error
    # sanitize_for_serialization gives the JSON field names (openAPIV3Schema, x-kubernetes-...).
    documents = [api.sanitize_for_serialization(crd) for crd in crds.items]
    for doc in documents:
        doc.setdefault("kind", "CustomResourceDefinition")
    return from_documents("the live cluster", documents)


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "kserve-reranker" / "crds"


Fetch = Callable[[str], str]


def _fetch_url(url: str) -> str:
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310
        return response.read().decode("utf-8")


def from_release(version: str = KSERVE_VERSION, cache_dir: Path | None = None, fetch: Fetch = _fetch_url) -> CrdSchemas:
    """The KServe CRDs of ``version``, downloaded once into ``cache_dir`` and read from there."""
    release_dir = (cache_dir or default_cache_dir()) / f"kserve-{version}"
    release_dir.mkdir(parents=True, exist_ok=True)
    for candidates in KSERVE_CRD_PATHS:
        cached = release_dir / Path(candidates[0]).name
        if cached.is_file():
            continue
        # Write then rename: an interrupted download never leaves a truncated cache file.
        partial = cached.with_suffix(".partial")
        partial.write_text(_download_first(version, candidates, fetch))
        partial.replace(cached)
    return from_directory(release_dir)


def _download_first(version: str, candidates: tuple[str, ...], fetch: Fetch) -> str:
    errors = []
    for path in candidates:
        url = RAW_URL.format(version=version, path=path)
        try:
            return fetch(url)
        except (urllib.error.URLError, OSError, ValueError) as error:
            errors.append(f"{url}: {error}")
    raise SchemaSourceError(
        f"cannot download the KServe {version} CRDs ({'; '.join(errors)}); "
        "offline? pass --schema-dir DIR or --from-cluster"
    )


def is_kserve(api_version: str) -> bool:
    group = api_version.rpartition("/")[0]
    return group == KSERVE_GROUP_SUFFIX or group.endswith("." + KSERVE_GROUP_SUFFIX)
