"""CPU sizing (engine/cpu_threads.py): the torch threads follow the pod's cgroup quota, each model
worker's thread gets its share of them, and a CPU runs two model workers where it has the threads."""

from __future__ import annotations

import threading

import pytest

from reranker.engine.cpu_threads import compute_threads, cpu_quota, model_workers, worker_threads


def test_should_size_cpu_threads_by_the_cgroup_quota(tmp_path):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert cpu_quota(tmp_path) == 1.5
    assert compute_threads(1.5) == min(2, compute_threads(None))
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert cpu_quota(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("400000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert cpu_quota(v1) == 4.0
    assert cpu_quota(tmp_path / "absent") is None


@pytest.mark.parametrize(("threads", "expected"), [(3, [1, 2]), (2, [1, 1]), (5, [2, 3])])
def test_should_give_each_worker_thread_its_share_of_the_torch_threads(threads, expected):
    import torch

    init = worker_threads(threads, 2)
    shares: list[int] = []
    both_set = threading.Barrier(2, timeout=10)

    def worker():
        init()
        # Both workers have set their shares before either runs an operation: each thread's
        # first torch operation must not reset its share to the other's (the process-wide value).
        both_set.wait()
        x = torch.ones(64, 64)
        (x @ x).sum()
        shares.append(torch.get_num_threads())

    before = torch.get_num_threads()
    running = [threading.Thread(target=worker) for _ in range(2)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join(timeout=30)
    assert sorted(shares) == expected
    assert torch.get_num_threads() == before  # the setting is each thread's own

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert model_workers(None, cpu, 2) == 2
    assert model_workers(None, cpu, 1) == 1
    assert model_workers(None, cuda, 0) == 1
    assert model_workers(3, cpu, 2) == 3
    assert model_workers(3, cuda, 0) == 1
