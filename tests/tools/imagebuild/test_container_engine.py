"""The container engine, and the containers.conf settings a locked-down host needs, added to
the host's own."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess

import pytest
import tomllib
from imagebuild import container_engine, containers_conf
from imagebuild.container_engine import (
    PODMAN_OWN_NPROC,
    find_engine,
    podman_host_config,
    podman_version,
    write_podman_config,
)

NEW_PODMAN = (5, 8)  # the GitHub runners' podman-static bundle
OLD_PODMAN = (4, 3)  # Debian 12's


@pytest.fixture(autouse=True)
def no_user_variables(monkeypatch):
    for name in ("CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def host_files(monkeypatch, tmp_path):
    """The host's containers.conf files, the test's own: (/usr/share's, /etc's); no user's."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    system = (tmp_path / "usr-share.conf", tmp_path / "etc" / "containers.conf")
    monkeypatch.setattr(containers_conf, "SYSTEM_FILES", system)
    return system


@pytest.fixture
def limits(monkeypatch):
    """Set this process's (soft, hard) limits as getrlimit reports them."""

    def set_limits(nofile: int, nproc: int):
        values = {resource.RLIMIT_NOFILE: (nofile, nofile), resource.RLIMIT_NPROC: (nproc, nproc)}
        monkeypatch.setattr(container_engine.resource, "getrlimit", lambda which: values[which])

    return set_limits


@pytest.fixture
def cgroups(monkeypatch, tmp_path):
    def set_hybrid(hybrid: bool):
        marker = tmp_path / "unified"
        if hybrid:
            marker.mkdir(exist_ok=True)
        monkeypatch.setattr(container_engine, "HYBRID_CGROUP_MOUNT", marker)

    return set_hybrid


def written(env: dict[str, str]) -> dict:
    (path,) = env.values()
    return tomllib.loads(open(path).read())


def test_should_cap_container_limits_at_the_hosts_when_it_cannot_raise_them(limits, cgroups, tmp_path):
    limits(nofile=20000, nproc=96365)
    cgroups(False)
    env = podman_host_config(NEW_PODMAN, cache=tmp_path / "cache")
    assert env == {"CONTAINERS_CONF_OVERRIDE": str(tmp_path / "cache" / "containers.conf")}
    limits_set = ["nofile=20000:20000", f"nproc={PODMAN_OWN_NPROC}:{PODMAN_OWN_NPROC}"]
    assert written(env) == {"containers": {"default_ulimits": limits_set}}


def test_should_choose_runc_on_hybrid_cgroups(limits, cgroups, tmp_path, monkeypatch):
    limits(nofile=1 << 20, nproc=1 << 20)
    cgroups(True)
    monkeypatch.setattr(container_engine.shutil, "which", lambda name, path=None: f"/usr/bin/{name}")
    env = podman_host_config(NEW_PODMAN, cache=tmp_path)
    assert written(env) == {"engine": {"runtime": "runc", "cgroup_manager": "cgroupfs"}}


def test_should_change_nothing_where_podmans_defaults_work(limits, cgroups, tmp_path):
    limits(nofile=1 << 20, nproc=1 << 20)
    cgroups(False)
    assert podman_host_config(NEW_PODMAN, cache=tmp_path) == {}
    assert not (tmp_path / "containers.conf").exists()


@pytest.mark.parametrize("variable", ["CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE"])
@pytest.mark.parametrize("version", [NEW_PODMAN, OLD_PODMAN])
def test_should_leave_a_users_own_containers_conf_alone(limits, cgroups, tmp_path, monkeypatch, variable, version):
    limits(nofile=1024, nproc=1024)
    cgroups(True)
    monkeypatch.setenv(variable, "/etc/mine.conf")
    assert podman_host_config(version, cache=tmp_path) == {}
    assert not (tmp_path / "containers.conf").exists()


def test_should_find_runc_in_the_system_directories_whatever_path_says(limits, cgroups, tmp_path, monkeypatch):
    limits(nofile=1 << 20, nproc=1 << 20)
    cgroups(True)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    searched = []
    monkeypatch.setattr(
        container_engine.shutil, "which", lambda name, path=None: searched.append(path) or "/usr/sbin/runc"
    )
    env = podman_host_config(NEW_PODMAN, cache=tmp_path)
    assert "/usr/sbin" in searched[0].split(os.pathsep)
    assert written(env)["engine"]["runtime"] == "runc"


@pytest.mark.parametrize("version", [OLD_PODMAN, None])
def test_should_repeat_the_hosts_files_where_podman_has_no_override(limits, cgroups, tmp_path, version, host_files):
    # Podman 4.3 (or one that does not say its version): CONTAINERS_CONF replaces every other file.
    usr_share, etc = host_files
    usr_share.write_text('[containers]\ndefault_capabilities = ["CHOWN", "KILL"]\n[engine]\nevents_logger = "file"\n')
    (etc.parent / "containers.conf.d").mkdir(parents=True)
    (etc.parent / "containers.conf.d" / "99-fix-firewall.conf").write_text('[network]\nfirewall_driver = "iptables"\n')
    limits(nofile=20000, nproc=20000)
    cgroups(False)
    env = podman_host_config(version, cache=tmp_path / "cache")
    assert list(env) == ["CONTAINERS_CONF"]
    assert written(env) == {
        "containers": {
            "default_capabilities": ["CHOWN", "KILL"],
            "default_ulimits": ["nofile=20000:20000", "nproc=20000:20000"],
        },
        "engine": {"events_logger": "file"},
        "network": {"firewall_driver": "iptables"},
    }


def test_should_add_only_its_own_settings_where_podman_has_the_override(limits, cgroups, tmp_path, host_files):
    host_files[0].write_text('[engine]\nevents_logger = "file"\n')
    limits(nofile=20000, nproc=20000)
    cgroups(False)
    assert "engine" not in written(podman_host_config((4, 5), cache=tmp_path))


def test_should_read_podmans_version(tmp_path, monkeypatch):
    says = {"podman-5": "podman version 5.8.4", "podman-dev": "podman version 4.10.0-dev", "podman-mute": ""}
    for name, line in says.items():
        (tmp_path / name).write_text(f"#!/bin/sh\necho '{line}'\n")
        (tmp_path / name).chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert podman_version("podman-5") == (5, 8)
    assert podman_version("podman-dev") == (4, 10)
    assert podman_version("podman-mute") is None
    assert podman_version("podman-absent") is None


def test_should_try_the_engine_the_user_names_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CONTAINER_ENGINE", "docker")
    assert find_engine() == (None, "no container engine: `docker` is not on PATH")


def podman_info(env: dict[str, str]) -> dict:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("CONTAINERS_CONF")}
    info = subprocess.run(
        ["podman", "info", "--format", "json"], env={**clean, **env}, capture_output=True, text=True, timeout=120
    )
    if info.returncode != 0:
        pytest.skip(f"podman info fails here: {info.stderr.strip()[-300:]}")
    return json.loads(info.stdout)["host"]


def test_should_keep_the_hosts_containers_conf_under_real_podman(tmp_path):
    """The real podman and the real host files: our key applies, and so do theirs (Debian's
    /usr/share/containers/containers.conf drops CAP_MKNOD, CAP_NET_RAW and CAP_AUDIT_WRITE from
    podman's built-in default capabilities; CONTAINERS_CONF alone would bring them back)."""
    if shutil.which("podman") is None:
        pytest.skip("no podman here")
    host = podman_info({})
    logger = "none" if host["eventLogger"] != "none" else "file"
    env = write_podman_config({"engine": {"events_logger": logger}}, podman_version(), cache=tmp_path)
    ours = podman_info(env)
    assert ours["eventLogger"] == logger
    assert ours["security"]["capabilities"] == host["security"]["capabilities"]
