"""containers.conf files layered as podman before 4.5 reads them, merged, and written back."""

from __future__ import annotations

import pytest
import tomllib
from imagebuild import containers_conf
from imagebuild.containers_conf import dumps, layered_files, merged

# What containers.conf files hold: nested tables, quoted keys, arrays with an {append=true}.
REALISTIC = {
    "containers": {"default_capabilities": ["CHOWN", "KILL"], "env": ["A=1", {"append": True}], "pids_limit": 2048},
    "engine": {
        "cgroup_manager": "cgroupfs",
        "runtimes": {"crun": ["/usr/local/bin/crun"]},
        "service_destinations": {"my dest": {"uri": 'ssh://core@host/run/"podman".sock', "is_machine": False}},
        "volume_plugins": {},
    },
    "machine": {"cpus": 1.5, "image": "testing ✓"},
}


def test_should_write_what_toml_reads_back_the_same():
    assert tomllib.loads(dumps(REALISTIC)) == REALISTIC


@pytest.fixture
def host(tmp_path, monkeypatch):
    """The system files in tmp_path; a user's config home beside them."""
    monkeypatch.setattr(
        containers_conf, "SYSTEM_FILES", (tmp_path / "share.conf", tmp_path / "etc" / "containers.conf")
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "home"))
    drop_ins = tmp_path / "etc" / "containers.conf.d"
    drop_ins.mkdir(parents=True)
    for name in ("99-fix-firewall.conf", "00-fix-runtime.conf", "README"):
        (drop_ins / name).write_text("")
    return tmp_path


def test_should_layer_the_files_in_podmans_order(host):
    etc = host / "etc"
    assert layered_files(rootless=False) == [
        host / "share.conf",
        etc / "containers.conf",
        etc / "containers.conf.d" / "00-fix-runtime.conf",
        etc / "containers.conf.d" / "99-fix-firewall.conf",
    ]


def test_should_add_a_rootless_users_own_files_last(host):
    user = host / "home" / "containers"
    (user / "containers.conf.d").mkdir(parents=True)
    (user / "containers.conf.d" / "mine.conf").write_text("")
    assert layered_files(rootless=True)[-2:] == [user / "containers.conf", user / "containers.conf.d" / "mine.conf"]


def test_should_merge_tables_key_by_key_and_replace_arrays(tmp_path):
    first, second = tmp_path / "first.conf", tmp_path / "second.conf"
    first.write_text(
        '[containers]\ndefault_capabilities = ["CHOWN", "KILL"]\npids_limit = 10\n[engine.runtimes]\nrunc = ["/a"]\n'
    )
    second.write_text('[containers]\ndefault_capabilities = ["CHOWN"]\n[engine.runtimes]\ncrun = ["/b"]\n')
    assert merged([first, tmp_path / "absent.conf", second], {"containers": {"pids_limit": 20}}) == {
        "containers": {"default_capabilities": ["CHOWN"], "pids_limit": 20},
        "engine": {"runtimes": {"runc": ["/a"], "crun": ["/b"]}},
    }
