"""The Loaded interface's own behaviour: a system's peak resident memory, reset and read."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from benchmarks.bench.systems import Loaded


def test_a_systems_peak_rss_is_reset_before_a_run_and_read_after_it():
    if not Path("/proc/self/clear_refs").exists():
        pytest.skip("reads peak RSS from /proc")

    class ThisProcess(Loaded):
        def processes(self):
            return [os.getpid()]

    system = ThisProcess()
    held = b"x" * (256 * 2**20)  # written: resident
    with_held = system.peak_rss_mib()
    del held  # a large block goes back to the system at once
    system.reset_peak_rss()
    after_reset = system.peak_rss_mib()
    assert after_reset <= with_held - 200  # the peak starts again from what is resident now
    held = b"x" * (128 * 2**20)
    assert system.peak_rss_mib() >= after_reset + 120
    del held
    assert Loaded().peak_rss_mib() is None  # no processes: not measured
