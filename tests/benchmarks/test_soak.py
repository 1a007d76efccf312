"""make soak's summary of a run: answers by outcome, and the server's counters as deltas over it."""

from __future__ import annotations

import argparse

from benchmarks.soak import Outcome, Run, summarize

ARGS = argparse.Namespace(clients=10, duration=5.0, documents=20, words=30, give_up_fraction=0.1, give_up_after=1.0)


def test_the_summary_should_count_outcomes_and_take_the_servers_counters_as_deltas():
    shed = "reranker_requests_shed_total"
    run = Run(
        outcomes=[
            Outcome(0.1, 0.2, "200", 200, 20),
            Outcome(0.2, 0.4, "200", 200, 20),
            Outcome(0.3, 0.01, "429", 429, retry_after=False),
            Outcome(0.4, 0.5, "lost", error="ConnectError"),
        ],
        metrics_before={f'{shed}{{reason="queue_full"}}': 1.0, "reranker_documents_scored_total": 100.0},
        metrics_last={
            f'{shed}{{reason="queue_full"}}': 4.0,
            f'{shed}{{reason="overloaded"}}': 2.0,
            "reranker_documents_scored_total": 140.0,
        },
    )
    summary = summarize(run, ARGS)
    assert summary["requests"] == 4
    assert summary["by_outcome"]["200"] == 2 and summary["by_outcome"]["429"] == 1
    assert summary["lost_by_error"] == {"ConnectError": 1}
    assert summary["retry_after_missing"] == 1
    assert summary["latency_200_ms"] == {"p50": 200.0, "p99": 400.0, "max": 400.0}
    delta = summary["server_metrics_delta"]
    assert (delta["shed"], delta["shed_queue_full"], delta["shed_overloaded"]) == (5, 3, 2)  # shed: every reason
    assert delta["documents_scored"] == 40
    assert summary["documents_answered_200"] == 40
    assert "sigterm" not in summary
