"""make container-tools: what it installs on a bare Debian, on a GitHub runner and where
everything is there, and what it refuses to install."""

from __future__ import annotations

import shutil
import subprocess

import pytest
from imagebuild import host_tools
from imagebuild.host_tools import HostFacts, Need, Package, gather_facts, package, plan

# One Debian package per need, the OCI runtime's apart (runc, or crun where it will do).
NEED_PACKAGES = ["podman", "conmon", "catatonit", "netavark", "aardvark-dns", "iptables", "slirp4netns"]
NEED_PACKAGES += ["uidmap", "fuse-overlayfs", "mmdebstrap", "ca-certificates"]
DEBIAN_BASE = {name: package(name) for name in ("base-files", "dpkg", "apt", "libc6")}
# What the runner images install (actions/runner-images, install-docker.sh and
# install-container-tools.sh for ubuntu 24.04): Docker's own packages, buildah and skopeo from
# Ubuntu (buildah pulls in Ubuntu's crun), and podman from the podman-static bundle in /usr/local.
RUNNER_PACKAGES = {
    **DEBIAN_BASE,
    "containerd.io": package("containerd.io", provides="containerd, runc", conflicts="containerd, runc"),
    "docker-ce": package("docker-ce", conflicts="docker (<< 1.5~), docker-engine, docker.io, lxc-docker"),
    "docker-ce-cli": package("docker-ce-cli", conflicts="docker (<< 1.5~), docker-engine, docker.io"),
    "buildah": package("buildah"),
    "skopeo": package("skopeo"),
    "crun": package("crun"),
    "uidmap": package("uidmap"),
    "iptables": package("iptables"),
    "ca-certificates": package("ca-certificates"),
}
RUNNER_FOUND = {
    "podman": "/usr/local/bin/podman",
    "conmon": "/usr/local/lib/podman/conmon",
    "runc": "/usr/bin/runc",  # containerd.io's
    "crun": "/usr/local/bin/crun",
    "netavark": "/usr/local/lib/podman/netavark",
    "aardvark-dns": "/usr/local/lib/podman/aardvark-dns",
    "iptables": "/usr/sbin/iptables",
    "pasta": "/usr/local/bin/pasta",
    "newuidmap": "/usr/bin/newuidmap",
    "fuse-overlayfs": "/usr/local/bin/fuse-overlayfs",
    "/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
}
DEBIAN_FOUND = {
    "podman": "/usr/bin/podman",
    "conmon": "/usr/bin/conmon",
    "catatonit": "/usr/libexec/podman/catatonit",
    "runc": "/usr/sbin/runc",
    "netavark": "/usr/lib/podman/netavark",
    "aardvark-dns": "/usr/lib/podman/aardvark-dns",
    "iptables": "/usr/sbin/iptables",
    "slirp4netns": "/usr/bin/slirp4netns",
    "newuidmap": "/usr/bin/newuidmap",
    "fuse-overlayfs": "/usr/bin/fuse-overlayfs",
    "mmdebstrap": "/usr/bin/mmdebstrap",
    "/etc/ssl/certs/ca-certificates.crt": "/etc/ssl/certs/ca-certificates.crt",
}


def apt_knows(*packages: str | Package) -> dict[str, Package]:
    """apt's candidates: packages by name (a bare name: one with no relations)."""
    described = [package(item) if isinstance(item, str) else item for item in packages]
    return {item.name: item for item in described}


def test_should_install_everything_podman_kube_play_needs_on_a_bare_debian():
    facts = HostFacts(found={}, installed=DEBIAN_BASE, hybrid_cgroups=True)
    result = plan(facts)
    assert sorted(result.install) == sorted([*NEED_PACKAGES, "runc"])
    assert not result.unmet
    assert "catatonit, the pause binary every pod's infra container runs: missing, installing catatonit" in (
        result.lines
    )


def test_should_install_one_oci_runtime_where_crun_would_do():
    result = plan(HostFacts(found={}, installed=DEBIAN_BASE, hybrid_cgroups=False))
    assert "runc" in result.install and "crun" not in result.install


def test_should_install_only_what_the_runners_podman_lacks_and_never_runc_or_podman():
    # A runner whose podman came without its pause binary (not every runner image has one).
    facts = HostFacts(
        found=RUNNER_FOUND, installed=RUNNER_PACKAGES, candidates=apt_knows("catatonit", "mmdebstrap", "runc", "podman")
    )
    result = plan(facts)
    # mmdebstrap: no runner image has it (it makes a base image where none can be pulled).
    assert result.install == ["catatonit", "mmdebstrap"]
    assert not result.unmet
    assert "podman, the container engine: /usr/local/bin/podman" in result.lines


def test_should_install_nothing_where_everything_is_there():
    result = plan(HostFacts(found=DEBIAN_FOUND, installed=DEBIAN_BASE, hybrid_cgroups=True))
    assert result.install == [] and result.unmet == []
    assert len(result.lines) == len(NEED_PACKAGES) + 1  # each need, and the OCI runtime, with where it is


def test_should_never_install_runc_beside_docker_s_containerd():
    # A runner whose runc binary is gone, on hybrid cgroups (where crun will not do).
    found = {probe: path for probe, path in RUNNER_FOUND.items() if probe != "runc"}
    result = plan(HostFacts(found=found, installed=RUNNER_PACKAGES, hybrid_cgroups=True))
    assert "runc" not in result.install
    assert result.unmet == [
        "runc, the OCI runtime (crun refuses hybrid cgroups): missing, "
        "and runc conflicts with the installed containerd.io"
    ]


def test_should_fall_back_to_crun_where_runc_conflicts_and_crun_will_do():
    found = {probe: path for probe, path in RUNNER_FOUND.items() if probe not in ("runc", "crun")}
    installed = {name: pkg for name, pkg in RUNNER_PACKAGES.items() if name != "crun"}
    result = plan(HostFacts(found=found, installed=installed, candidates=apt_knows("runc", "crun", "catatonit")))
    assert "crun" in result.install and "runc" not in result.install


def test_should_refuse_a_candidate_that_conflicts_with_what_an_installed_package_provides():
    # Debian's make-guile conflicts with make; a make built elsewhere, packaged as my-make, provides it.
    need = Need("make", ("make",), ("make-guile",))
    installed = {"my-make": package("my-make", provides="make")}
    facts = HostFacts(found={}, installed=installed, candidates=apt_knows(package("make-guile", conflicts="make")))
    result = plan(facts, needs=(need,))
    assert result.install == []
    assert result.unmet == ["make: missing, and make-guile conflicts with the installed my-make"]


def test_should_leave_versioned_conflicts_to_apt():
    # podman Breaks fuse-overlayfs (<< 0.7.1): only apt knows whether the installed one is older.
    installed = {**DEBIAN_BASE, "fuse-overlayfs": package("fuse-overlayfs")}
    facts = HostFacts(
        found={}, installed=installed, candidates=apt_knows(package("podman", breaks="fuse-overlayfs (<< 0.7.1)"))
    )
    assert plan(facts, needs=(host_tools.NEEDS[0],)).install == ["podman"]


def test_should_not_reinstall_a_package_whose_binary_podman_cannot_find():
    result = plan(HostFacts(found={}, installed={"catatonit": package("catatonit")}), needs=(host_tools.NEEDS[2],))
    assert result.install == []
    assert result.unmet == [
        "catatonit, the pause binary every pod's infra container runs: missing, and catatonit is installed, "
        "yet not where podman looks"
    ]


def test_should_refuse_a_package_apt_does_not_know():
    result = plan(HostFacts(found={}, installed={}, candidates={}), needs=(host_tools.NEEDS[0],))
    assert result.unmet == ["podman, the container engine: missing, and podman is not in apt's package lists"]


def test_should_read_dpkg_relation_fields():
    read = package(
        "containerd.io", provides="containerd, runc (= 1.1)", conflicts="runc", breaks="docker (<< 2), x:any"
    )
    assert read.provides == {"containerd", "runc"}
    assert read.conflicts == {"runc", "x"}  # the versioned Breaks are apt's to judge


def test_should_gather_what_this_machine_has_as_shutil_and_dpkg_see_it():
    facts = gather_facts()
    for need in (*host_tools.NEEDS, host_tools.OCI_RUNTIME):
        for probe in need.probes:
            on_path = shutil.which(probe) if not probe.startswith("/") else None
            if on_path and not need.helpers_only:
                assert probe in facts.found, probe
            if probe in facts.found:
                assert shutil.which(facts.found[probe]) or probe.startswith("/"), facts.found[probe]
    if shutil.which("dpkg-query") is None:
        pytest.skip("no dpkg here")
    for name in ("dpkg", *NEED_PACKAGES, "runc", "containerd.io"):
        status = subprocess.run(
            ["dpkg-query", "-W", "-f", "${db:Status-Status}", name], capture_output=True, text=True, check=False
        ).stdout
        assert (name in facts.installed) == (status == "installed"), name


def test_should_let_apt_fail_rather_than_remove_a_package(capfd):
    # make-guile conflicts with Debian's make: installing it would remove make.
    if shutil.which("apt-get") is None or "make" not in gather_facts().installed:
        pytest.skip("needs apt-get and Debian's make")
    if "make-guile" not in host_tools.candidate_packages(["make-guile"]):
        pytest.skip("make-guile is not in apt's lists here")
    simulated = host_tools.apt_install(["make-guile"], simulate=True)
    assert simulated.returncode != 0
    assert "Packages need to be removed but remove is disabled" in capfd.readouterr().err
