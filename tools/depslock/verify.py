"""An installed environment against its locks: name for name, version for version."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .locks import OWN, normalize, pins

# pip freeze --all, less the editable installs of this repository (installed from the checkout).
FREEZE = ["-m", "pip", "freeze", "--all", "--exclude-editable"]
# Inside an image, where pip may be absent: every distribution's name and version.
LIST_DISTRIBUTIONS = (
    "import importlib.metadata as m, json; "
    "print(json.dumps(sorted([d.metadata['Name'], d.version] for d in m.distributions())))"
)


def frozen(python: Path | str) -> dict[str, str]:
    """``pip freeze`` of the environment of ``python``: {normalized name: version}."""
    done = subprocess.run([str(python), *FREEZE], capture_output=True, text=True, check=True, timeout=300)
    found = {}
    for line in done.stdout.splitlines():
        name, sep, version = line.partition("==")
        if sep:
            found[normalize(name)] = version.strip()
    return found


def parse_distributions(text: str) -> dict[str, str]:
    """LIST_DISTRIBUTIONS's output as {normalized name: version}."""
    return {normalize(name): version for name, version in json.loads(text)}


def expected(lock_files: list[Path], extra: dict[str, str] | None = None) -> dict[str, str]:
    wanted: dict[str, str] = {}
    for path in lock_files:
        wanted.update(pins(path))
    wanted.update(extra or {})
    return wanted


def prune(python: Path | str, wanted: dict[str, str]) -> list[str]:
    """Uninstall from the environment of ``python`` what is installed but not in ``wanted`` (left
    from an earlier lock); the names removed."""
    extra = sorted(set(frozen(python)) - set(wanted) - set(OWN))
    if extra:
        subprocess.run([str(python), "-m", "pip", "uninstall", "-q", "-y", *extra], check=True, timeout=600)
    return extra


def differences(installed: dict[str, str], wanted: dict[str, str], own: tuple[str, ...] = OWN) -> list[str]:
    """What differs, one phrase each (empty: the environment holds exactly the locks)."""
    installed = {n: v for n, v in installed.items() if n not in own}
    problems = []
    for name in sorted(set(installed) | set(wanted)):
        have, want = installed.get(name), wanted.get(name)
        if have is None:
            problems.append(f"{name}=={want} is locked but not installed")
        elif want is None:
            problems.append(f"{name}=={have} is installed but not locked")
        elif have != want:
            problems.append(f"{name} is {have}, locked {want}")
    return problems
