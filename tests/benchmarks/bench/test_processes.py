"""A server's process tree from /proc: its children counted, and frozen and thawed with it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from benchmarks.bench.processes import process_tree, process_tree_cpu_seconds, signal_process_tree

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def _children(pid: int, timeout: float = 10) -> set[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        tree = set(process_tree(pid)) - {pid}
        if tree:
            return tree
        time.sleep(0.05)
    raise AssertionError(f"process {pid} started no child")


def test_the_tree_should_hold_the_children_and_a_signal_should_reach_each_of_them():
    # A shell whose child does the work, as vLLM's server runs its engine in a child process.
    parent = subprocess.Popen(["sh", "-c", "sleep 30 & wait"])
    try:
        [child] = _children(parent.pid)
        assert process_tree_cpu_seconds(parent.pid) >= 0
        signal_process_tree(parent.pid, signal.SIGSTOP)
        deadline = time.monotonic() + 10
        while {_state(parent.pid), _state(child)} != {"T"} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (_state(parent.pid), _state(child)) == ("T", "T")
        signal_process_tree(parent.pid, signal.SIGCONT)
        deadline = time.monotonic() + 10
        while "T" in {_state(parent.pid), _state(child)} and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "T" not in {_state(parent.pid), _state(child)}
    finally:
        signal_process_tree(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
