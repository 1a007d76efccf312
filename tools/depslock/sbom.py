"""A CycloneDX SBOM of an image's Python packages: exactly its lock's pins (plus what the image
installs apart from the lock, ``installed_apart``), each with its package URL and locked hashes.
The same lock in gives the same document out (no timestamp, no random serial number)."""

from __future__ import annotations

import re
from pathlib import Path

import tomllib

from .locks import REPO, Lock, normalize, pins

SPEC = "1.5"


def hashes(path: Path) -> dict[str, list[str]]:
    """{normalized name: [sha256, ...]} of a lock."""
    found: dict[str, list[str]] = {}
    current = None
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", line)
        if match:
            current = normalize(match.group(1))
            found[current] = []
        elif current and (digest := re.search(r"--hash=sha256:([0-9a-f]{64})", line)):
            found[current].append(digest.group(1))
        elif not line.startswith(" "):
            current = None
    return found


def document(lock: Lock) -> dict:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    digests = hashes(lock.path)
    components = []
    for name, version in sorted({**pins(lock.path), **lock_apart(lock)}.items()):
        component = {
            "type": "library",
            "bom-ref": f"pkg:pypi/{name}@{version}",
            "name": name,
            "version": version,
            "purl": f"pkg:pypi/{name}@{version}",
        }
        if digests.get(name):
            component["hashes"] = [{"alg": "SHA-256", "content": d} for d in digests[name]]
        else:
            component["properties"] = [{"name": "kserve-reranker:lock", "value": "pinned by version, not hash"}]
        components.append(component)
    root = f"pkg:pypi/{project['name']}@{project['version']}"
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC,
        "version": 1,
        "metadata": {
            "component": {
                "type": "application",
                "bom-ref": root,
                "name": project["name"],
                "version": project["version"],
                "purl": root,
            },
            "properties": [{"name": "kserve-reranker:lock", "value": f"locks/{lock.path.name}"}],
        },
        "components": components,
        "dependencies": [{"ref": root, "dependsOn": [c["bom-ref"] for c in components]}],
    }


def lock_apart(lock: Lock) -> dict[str, str]:
    """What an image with this lock installs apart from it: torch's CPU build where the lock
    could not carry its hash (locks/cpu-py3.12.txt)."""
    from .locks import torch_cpu_version

    return {"torch": torch_cpu_version()} if lock.overrides == "locks/without-torch.txt" else {}
