"""Systems measured in rounds: a rotated order, one system at a time, a failing one dropped."""

from __future__ import annotations

import argparse
from pathlib import Path

from benchmarks.bench.rounds import measure_in_turns
from benchmarks.bench.systems import Loaded, Point
from benchmarks.bench.workloads import Workload


class _Fake(Loaded):
    """A loaded system whose measurements are recorded, not made."""

    def __init__(self, name: str, log: list, fail_in_round: int | None = None, idle_cpu: float = 0.0):
        self.name, self.log, self.fail_in_round, self.idle_cpu = name, log, fail_in_round, idle_cpu
        self.cpu, self.closed, self.measured, self.paused = 0.0, False, 0, True

    def measure(self, workload, concurrency, seconds):
        self.log.append((self.name, concurrency, seconds))
        assert not self.paused and all(other.paused for other in _Fake.everyone if other is not self)
        if seconds == 1.0:
            self.measured += 1
            if self.measured == self.fail_in_round:
                raise RuntimeError("server exited")
        for other in _Fake.everyone:
            if other is not self:
                other.cpu += other.idle_cpu
        return Point(seconds, 10, [0.01])

    def cpu_seconds(self):
        return self.cpu

    def pause(self):
        self.paused = True

    def resume(self):
        self.paused = False

    def close(self):
        self.closed = self.paused = True  # stopped: takes nothing any more


def test_systems_are_measured_in_turns_a_rotated_order_each_round_the_others_frozen_and_a_failing_one_dropped():
    log: list = []
    _Fake.everyone = [
        _Fake("in-process", log),
        _Fake("server", log, idle_cpu=0.25),
        _Fake("vllm", log, fail_in_round=2),
    ]
    loaded = {fake.name: fake for fake in _Fake.everyone}
    workload = Workload("cross-encoder", "cross-encoder", Path("m"), [], [1, 16])
    args = argparse.Namespace(repeat=3, warmup=0.5, seconds=1.0)
    failures: list = []
    points = measure_in_turns(loaded, [workload], args, failures, "float32")

    measured = [(name, concurrency) for name, concurrency, seconds in log if seconds == 1.0]
    assert measured == [
        ("in-process", 1),
        ("server", 1),
        ("vllm", 1),  # round 1
        ("server", 1),
        ("vllm", 1),
        ("in-process", 1),  # round 2, rotated by one: vllm fails
        ("in-process", 1),
        ("server", 1),  # round 3: the two left, rotated by two
        ("in-process", 16),
        ("server", 16),
        ("server", 16),
        ("in-process", 16),
        ("in-process", 16),
        ("server", 16),
    ]
    assert all(warm == (name, c, 0.5) for warm, (name, c, s) in zip(log, log[1:]) if s == 1.0)  # warm-up first
    assert [p.turn for p in points[("server", "cross-encoder", 1)]] == [0, 1, 2]
    assert [p.turn for p in points[("vllm", "cross-encoder", 1)]] == [0]
    assert ("vllm", "cross-encoder", 16) not in points
    assert failures == [{"system": "vllm", "workloads": "cross-encoder", "dtype": "float32", "error": "server exited"}]
    assert _Fake.everyone[2].closed and "vllm" not in loaded
    assert all(fake.paused for fake in _Fake.everyone[:2])  # frozen again after their turns
    # The idle server's CPU while another system was measured (warm-up and measured run) is recorded.
    assert points[("in-process", "cross-encoder", 1)][0].others_cpu_s == 0.5
    assert points[("server", "cross-encoder", 1)][0].others_cpu_s == 0.0
