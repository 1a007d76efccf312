"""JSON schemas of third-party custom resources (Argo CD, Flux, External Secrets, Sealed Secrets,
Prometheus Operator, KEDA ...) in the layout of datreeio/CRDs-catalog, the catalog kubeconform
users point ``-schema-location`` at: ``<group>/<kind lowercased>_<version>.json``, each the
CRD's openAPIV3Schema as JSON Schema.

Two sources: a directory in that layout (``--crd-schema-dir``), or the catalog itself at a
pinned commit, each file downloaded the first time a kind needs it and kept in a cache.
"""

from __future__ import annotations

import json
import re
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from .crds import DOWNLOAD_TIMEOUT_S, Fetch, SchemaSourceError, default_cache_dir

# The catalog at a fixed commit: the same schemas on every run, whatever the catalog does next.
CATALOG_REPO = "datreeio/CRDs-catalog"
CATALOG_COMMIT = "7b1e26ef9deea49293714d204c1a2270aab1178f"
CATALOG_URL = f"https://raw.githubusercontent.com/{CATALOG_REPO}/{CATALOG_COMMIT}"

# What a group, a kind and a version may look like before they become a path or a URL.
_GROUP = re.compile(r"^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$")
_NAME = re.compile(r"^[a-z0-9]+$")


class CatalogSource(Protocol):
    source: str

    def lookup(self, api_version: str, kind: str) -> dict[str, Any] | None: ...


def catalog_path(api_version: str, kind: str) -> str | None:
    """``monitoring.coreos.com/v1``, ``PodMonitor`` -> ``monitoring.coreos.com/podmonitor_v1.json``
    (None for a core kind or a name that cannot be a catalog path)."""
    group, _, version = api_version.rpartition("/")
    kind = kind.lower()
    if not (_GROUP.match(group) and _NAME.match(kind) and _NAME.match(version)):
        return None
    return f"{group}/{kind}_{version}.json"


def _parse(text: str, where: str) -> dict[str, Any]:
    try:
        schema = json.loads(text)
    except ValueError as error:
        raise SchemaSourceError(f"{where}: not JSON: {error}") from error
    if not isinstance(schema, dict):
        raise SchemaSourceError(f"{where}: not a JSON schema object")
    return schema


@dataclass
class DirectoryCatalog:
    """Schemas read from a directory in the catalog's layout (``--crd-schema-dir``)."""

    directory: Path
    source: str = ""

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        if not self.directory.is_dir():
            raise SchemaSourceError(f"--crd-schema-dir {self.directory}: not a directory")
        self.source = self.source or f"directory {self.directory}"

    def lookup(self, api_version: str, kind: str) -> dict[str, Any] | None:
        relative = catalog_path(api_version, kind)
        path = self.directory / relative if relative else None
        if path is None or not path.is_file():
            return None
        return _parse(path.read_text(), str(path))


def _fetch_url(url: str) -> str:
    import urllib.request

    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:  # noqa: S310
        return response.read().decode("utf-8")


@dataclass
class DownloadCatalog:
    """Schemas from the catalog at ``base_url`` (the pinned commit), each downloaded once into
    ``cache_dir`` and read from there afterwards."""

    cache_dir: Path | None = None
    base_url: str = CATALOG_URL
    fetch: Fetch | None = None  # None: an HTTP GET (urllib)
    source: str = ""
    _missing: set[str] = field(default_factory=set, init=False, repr=False)

    def __post_init__(self) -> None:
        commit = self.base_url.rstrip("/").rsplit("/", 1)[-1]
        self.cache_dir = (self.cache_dir or default_cache_dir()) / f"crds-catalog-{commit}"
        self.source = self.source or f"{self.base_url} (cached in {self.cache_dir})"

    def lookup(self, api_version: str, kind: str) -> dict[str, Any] | None:
        relative = catalog_path(api_version, kind)
        if relative is None or relative in self._missing:
            return None
        assert self.cache_dir is not None
        cached = self.cache_dir / relative
        if not cached.is_file():
            url = f"{self.base_url.rstrip('/')}/{relative}"
            try:
                text = (self.fetch or _fetch_url)(url)
            except urllib.error.HTTPError as error:
                if error.code == 404:  # the catalog has no such kind: not checked, not an error
                    self._missing.add(relative)
                    return None
                raise self._offline(url, error) from error
            except (urllib.error.URLError, OSError, ValueError) as error:
                raise self._offline(url, error) from error
            _parse(text, url)
            cached.parent.mkdir(parents=True, exist_ok=True)
            # Write then rename: an interrupted download never leaves a truncated cache file.
            partial = cached.with_suffix(".partial")
            partial.write_text(text)
            partial.replace(cached)
        return _parse(cached.read_text(), str(cached))

    @staticmethod
    def _offline(url: str, error: Exception) -> SchemaSourceError:
        return SchemaSourceError(
            f"cannot download the schema {url} ({error}); offline? pass --crd-schema-dir DIR "
            "(a copy of the catalog's <group>/<kind>_<version>.json files)"
        )
