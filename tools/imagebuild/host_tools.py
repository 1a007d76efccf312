"""``make container-tools``: install what ``podman kube play`` (make test-image) needs and this
machine lacks, from the distribution's packages, without replacing anything already there.

GitHub's Ubuntu runners bring Docker from Docker's own packages and podman from a static bundle
under /usr/local. There, Ubuntu's ``runc`` would remove containerd.io and docker-ce (containerd.io
conflicts with runc, which it ships itself), and Ubuntu's ``podman`` would put an older podman
beside the bundle's. So each piece is looked for where podman looks for it, whoever installed it;
a package is installed only for a missing piece, never one that an installed package conflicts
with, and apt runs with --no-remove, so that it fails rather than remove anything.

    PYTHONPATH=tools python3 -m imagebuild.host_tools [--dry-run]

Standard library only: it runs as root (sudo) before any virtual environment exists.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .container_engine import HYBRID_CGROUP_MOUNT, PODMAN_HELPER_DIRS, SYSTEM_DIRS


@dataclass(frozen=True)
class Need:
    """One piece podman needs: met where any of its probes (a command, or a file's absolute
    path) is found, else by installing the first of its packages that may be installed here."""

    role: str
    probes: tuple[str, ...]
    packages: tuple[str, ...]
    helpers_only: bool = False  # podman looks for it in its helper directories only, not on PATH


NEEDS = (
    Need("podman, the container engine", ("podman",), ("podman",)),
    Need("conmon, podman's container monitor", ("conmon",), ("conmon",)),
    Need("catatonit, the pause binary every pod's infra container runs", ("catatonit",), ("catatonit",), True),
    Need("netavark, rootful networking (a pod's hostPort)", ("netavark",), ("netavark",), True),
    Need("aardvark-dns, netavark's name server", ("aardvark-dns",), ("aardvark-dns",), True),
    Need("iptables, netavark's firewall", ("iptables",), ("iptables",)),
    # Podman 5 uses pasta by default, podman 4 slirp4netns; either one does.
    Need("a rootless network (slirp4netns or pasta)", ("slirp4netns", "pasta"), ("slirp4netns",)),
    Need("newuidmap, rootless user namespaces", ("newuidmap",), ("uidmap",)),
    Need("fuse-overlayfs, rootless storage", ("fuse-overlayfs",), ("fuse-overlayfs",)),
    Need("mmdebstrap, the base image where none can be pulled", ("mmdebstrap",), ("mmdebstrap",)),
    Need("CA certificates", ("/etc/ssl/certs/ca-certificates.crt",), ("ca-certificates",)),
)
# crun refuses hybrid cgroup hierarchies (v1 controllers plus a v2 mount); runc accepts them.
OCI_RUNTIME = Need("an OCI runtime (runc or crun)", ("runc", "crun"), ("runc", "crun"))
OCI_RUNTIME_HYBRID = Need("runc, the OCI runtime (crun refuses hybrid cgroups)", ("runc",), ("runc",))


@dataclass(frozen=True)
class Package:
    """A package as dpkg or apt describes it; ``conflicts`` holds the names its unversioned
    Conflicts and Breaks name (versioned ones are left to apt, which --no-remove stops)."""

    name: str
    provides: frozenset[str] = frozenset()
    conflicts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class HostFacts:
    found: Mapping[str, str]  # probe -> where it was found
    installed: Mapping[str, Package]  # dpkg's installed packages, by name
    hybrid_cgroups: bool = False
    # apt's candidates for the packages to install, by name; None: apt was not asked yet.
    candidates: Mapping[str, Package] | None = None


@dataclass
class Plan:
    install: list[str] = field(default_factory=list)
    lines: list[str] = field(default_factory=list)  # one per need: where it is, or why it is installed
    unmet: list[str] = field(default_factory=list)  # needs no package may meet here, and why


def plan(facts: HostFacts, needs: tuple[Need, ...] | None = None) -> Plan:
    """The packages to install for the needs (by default, podman's on this host) this machine
    does not meet, and why."""
    result = Plan()
    if needs is None:
        needs = (*NEEDS, OCI_RUNTIME_HYBRID if facts.hybrid_cgroups else OCI_RUNTIME)
    for need in needs:
        where = next((facts.found[probe] for probe in need.probes if probe in facts.found), None)
        if where:
            result.lines.append(f"{need.role}: {where}")
            continue
        refusals = []
        for name in need.packages:
            refusal = _refusal(name, facts)
            if refusal is None:
                result.install.append(name)
                result.lines.append(f"{need.role}: missing, installing {name}")
                break
            refusals.append(refusal)
        else:
            result.unmet.append(f"{need.role}: missing, and {'; '.join(refusals)}")
    return result


def _refusal(name: str, facts: HostFacts) -> str | None:
    """Why package ``name`` must not be installed here, or None."""
    if name in facts.installed:
        # Installing it again would change nothing: its files are not where podman looks.
        return f"{name} is installed, yet not where podman looks"
    candidate = Package(name)
    if facts.candidates is not None:
        if name not in facts.candidates:
            return f"{name} is not in apt's package lists"
        candidate = facts.candidates[name]
    for installed in facts.installed.values():
        # Both ways: containerd.io conflicts with runc; a candidate may conflict with what is installed.
        if installed.conflicts & (candidate.provides | {name}) or candidate.conflicts & (
            installed.provides | {installed.name}
        ):
            return f"{name} conflicts with the installed {installed.name}"
    return None


def relation_names(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """The package names of a dpkg relation field ("a, b (<< 1.2), c:any"): (all, unversioned)."""
    names, unversioned = set(), set()
    for part in text.replace("|", ",").split(","):
        name = part.strip().split(" ")[0].split("(")[0].split(":")[0]
        if name:
            names.add(name)
            if "(" not in part:
                unversioned.add(name)
    return frozenset(names), frozenset(unversioned)


def package(name: str, provides: str = "", conflicts: str = "", breaks: str = "") -> Package:
    """A Package from its dpkg fields, as dpkg-query and apt-cache print them."""
    return Package(name, relation_names(provides)[0], relation_names(conflicts)[1] | relation_names(breaks)[1])


def installed_packages() -> dict[str, Package]:
    """dpkg's installed packages (empty where there is no dpkg)."""
    if shutil.which("dpkg-query") is None:
        return {}
    fields = "${db:Status-Status}\t${Package}\t${Provides}\t${Conflicts}\t${Breaks}\n"
    listed = subprocess.run(["dpkg-query", "-W", "-f", fields], capture_output=True, text=True, check=True).stdout
    rows = [line.split("\t") for line in listed.splitlines()]
    return {row[1]: package(*row[1:5]) for row in rows if len(row) == 5 and row[0] == "installed"}


def candidate_packages(names: list[str]) -> dict[str, Package]:
    """What apt would install for each of ``names`` (absent: apt knows no such package)."""
    shown = subprocess.run(
        ["apt-cache", "show", "--no-all-versions", *names], capture_output=True, text=True, check=False
    ).stdout
    candidates = {}
    for stanza in shown.split("\n\n"):
        # Continuation lines (a long Description) start with a space.
        fields = dict(line.split(":", 1) for line in stanza.splitlines() if ":" in line and not line[0].isspace())
        name = fields.get("Package", "").strip()
        if name:
            relations = (fields.get(key, "").strip() for key in ("Provides", "Conflicts", "Breaks"))
            candidates[name] = package(name, *relations)
    return candidates


def find_probe(probe: str, helpers_only: bool) -> str | None:
    """Where podman would find ``probe``: its helper directories, then (unless it looks in
    those only) the system directories and PATH."""
    if probe.startswith("/"):
        return probe if Path(probe).exists() else None
    dirs = list(PODMAN_HELPER_DIRS)
    if not helpers_only:
        dirs += [*SYSTEM_DIRS, os.environ.get("PATH", "")]
    return shutil.which(probe, path=os.pathsep.join(dirs))


def gather_facts(with_candidates: bool = False) -> HostFacts:
    """This machine's facts; apt's candidates only when asked (it needs apt's lists)."""
    found = {}
    for need in (*NEEDS, OCI_RUNTIME):
        for probe in need.probes:
            where = find_probe(probe, need.helpers_only)
            if where:
                found[probe] = where
    packages = sorted({name for need in (*NEEDS, OCI_RUNTIME) for name in need.packages})
    return HostFacts(
        found=found,
        installed=installed_packages(),
        hybrid_cgroups=HYBRID_CGROUP_MOUNT.is_dir(),
        candidates=candidate_packages(packages) if with_candidates else None,
    )


def apt_install(packages: list[str], simulate: bool = False) -> subprocess.CompletedProcess:
    """apt-get install ``packages`` (``simulate``: only say what it would do), its output shown."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # --no-remove: apt stops instead of removing a package that conflicts with one of these, or
    # with one of their dependencies, which the check before it does not look at.
    options = ["-y", "-q", "--no-install-recommends", "--no-remove", *(["--simulate"] if simulate else [])]
    return subprocess.run(["apt-get", "install", *options, *packages], env=env, check=False, text=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make container-tools", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="say what would be installed from apt's lists as they are; change nothing",
    )
    args = parser.parse_args(argv)
    first = plan(gather_facts())
    if not first.install and not first.unmet:
        print("container-tools: nothing to install\n  " + "\n  ".join(first.lines))
        return 0
    if shutil.which("apt-get") is None:
        print("container-tools: no apt-get here; install these yourself:\n  " + "\n  ".join(first.lines + first.unmet))
        return 1
    if not args.dry_run:
        if os.geteuid() != 0:
            print("container-tools: installing needs root: sudo make container-tools")
            return 1
        if subprocess.run(["apt-get", "update", "-q"], check=False).returncode != 0:
            print("container-tools: apt-get update failed (above); nothing installed")
            return 1
    # Now that apt's lists are current, check what each package would conflict with.
    final = plan(gather_facts(with_candidates=True))
    print("container-tools:\n  " + "\n  ".join(final.lines + final.unmet))
    if final.unmet:
        print("container-tools: apt cannot meet every need here (above); nothing installed")
        return 1
    print(f"container-tools: {'would install' if args.dry_run else 'installing'} {' '.join(final.install)}")
    return 0 if args.dry_run else apt_install(final.install).returncode


if __name__ == "__main__":
    sys.exit(main())
