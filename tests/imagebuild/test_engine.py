"""The container engine and the containers.conf a locked-down host needs."""

from __future__ import annotations

import resource

import pytest

from imagebuild import engine as engine_module
from imagebuild.engine import PODMAN_OWN_NPROC, find_engine, podman_host_config


@pytest.fixture
def limits(monkeypatch):
    """Set this process's (soft, hard) limits as getrlimit reports them."""
    def set_limits(nofile: int, nproc: int):
        values = {resource.RLIMIT_NOFILE: (nofile, nofile), resource.RLIMIT_NPROC: (nproc, nproc)}
        monkeypatch.setattr(engine_module.resource, "getrlimit", lambda which: values[which])
    monkeypatch.delenv("CONTAINERS_CONF", raising=False)
    return set_limits


@pytest.fixture
def cgroups(monkeypatch, tmp_path):
    def set_hybrid(hybrid: bool):
        marker = tmp_path / "unified"
        if hybrid:
            marker.mkdir(exist_ok=True)
        monkeypatch.setattr(engine_module, "HYBRID_CGROUP_MOUNT", marker)
    return set_hybrid


def test_should_cap_container_limits_at_the_hosts_when_it_cannot_raise_them(limits, cgroups, tmp_path):
    limits(nofile=20000, nproc=96365)
    cgroups(False)
    env = podman_host_config(cache=tmp_path)
    text = (tmp_path / "containers.conf").read_text()
    assert env == {"CONTAINERS_CONF": str(tmp_path / "containers.conf")}
    assert f'default_ulimits = ["nofile=20000:20000", "nproc={PODMAN_OWN_NPROC}:{PODMAN_OWN_NPROC}"]' in text
    assert "runtime" not in text


def test_should_choose_runc_on_hybrid_cgroups(limits, cgroups, tmp_path, monkeypatch):
    limits(nofile=1 << 20, nproc=1 << 20)
    cgroups(True)
    monkeypatch.setattr(engine_module.shutil, "which", lambda name, path=None: f"/usr/bin/{name}")
    podman_host_config(cache=tmp_path)
    text = (tmp_path / "containers.conf").read_text()
    assert 'runtime = "runc"' in text and "default_ulimits" not in text


def test_should_change_nothing_where_podmans_defaults_work(limits, cgroups, tmp_path):
    limits(nofile=1 << 20, nproc=1 << 20)
    cgroups(False)
    assert podman_host_config(cache=tmp_path) == {}
    assert not (tmp_path / "containers.conf").exists()


def test_should_leave_a_users_own_containers_conf_alone(limits, cgroups, tmp_path, monkeypatch):
    limits(nofile=1024, nproc=1024)
    cgroups(True)
    monkeypatch.setenv("CONTAINERS_CONF", "/etc/mine.conf")
    assert podman_host_config(cache=tmp_path) == {}


def test_should_find_runc_in_the_system_directories_whatever_path_says(limits, cgroups, tmp_path, monkeypatch):
    limits(nofile=1 << 20, nproc=1 << 20)
    cgroups(True)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    searched = []
    monkeypatch.setattr(engine_module.shutil, "which", lambda name, path=None: searched.append(path) or "/usr/sbin/runc")
    podman_host_config(cache=tmp_path)
    assert "/usr/sbin" in searched[0].split(":")
    assert 'runtime = "runc"' in (tmp_path / "containers.conf").read_text()


def test_should_try_the_engine_the_user_names_only(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CONTAINER_ENGINE", "docker")
    assert find_engine() == (None, "no container engine: `docker` is not on PATH")
