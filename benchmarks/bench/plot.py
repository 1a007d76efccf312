"""The plot make bench writes beside its JSON: docs/s per system, one panel per workload and
precision, concurrencies side by side. matplotlib is imported only here, and only when present
(the air-gapped GPU machine's Python may lack it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from benchmarks.bench.systems import LABELS, SYSTEMS

WORKLOAD_TITLES = {
    "cross-encoder": "uniform documents",
    "varied": "documents of varied length",
    "llm": "LLM reranker with an instruction",
    "embedding": "embedding model",
    "seed": "seed request",
}


def write_plot(rows: list[dict], path: Path, machine: dict | None = None) -> Path | None:
    """A PNG of ``rows`` (report.py's rows) at ``path``; None where matplotlib is absent."""
    if importlib.util.find_spec("matplotlib") is None or not rows:
        return None
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    panels = sorted(
        {(r["workload"], r["dtype"]) for r in rows},
        key=lambda p: (list(WORKLOAD_TITLES).index(p[0]) if p[0] in WORKLOAD_TITLES else 99, p[1]),
    )
    figure, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 5.2), squeeze=False)
    for axis, (workload, dtype) in zip(axes[0], panels):
        mine = [r for r in rows if r["workload"] == workload and r["dtype"] == dtype]
        systems = [s for s in SYSTEMS if any(r["system"] == s for r in mine)]
        concurrencies = sorted({r["concurrency"] for r in mine})
        width = 0.8 / max(1, len(systems))
        for i, system in enumerate(systems):
            values = {r["concurrency"]: r["docs_per_s"] for r in mine if r["system"] == system}
            xs = [c + (i - (len(systems) - 1) / 2) * width for c in range(len(concurrencies))]
            bars = axis.bar(
                xs,
                [values.get(c, 0) for c in concurrencies],
                width,
                label=LABELS.get(system, system),
                color=f"C{SYSTEMS.index(system)}",
            )
            axis.bar_label(bars, fmt="%.0f", fontsize=7)
        axis.set_xticks(range(len(concurrencies)), [f"concurrency {c}" for c in concurrencies])
        axis.set_title(f"{WORKLOAD_TITLES.get(workload, workload)} ({dtype})", fontsize=10)
        axis.set_ylabel("documents per second")
        axis.margins(y=0.15)  # room for the bars' labels
        axis.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=1, frameon=False)
    if machine:
        figure.suptitle(
            f"{machine.get('cpu', '')}, {machine.get('cpus_visible', '?')} CPUs, {machine.get('device', '')}",
            fontsize=9,
        )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
