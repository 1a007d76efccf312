"""What a run prints: the table of rows, then the paired comparisons and the seed request's
serving overhead, one line each."""

from __future__ import annotations

from benchmarks.bench.systems import LABELS


def print_table(rows: list[dict], gpu: bool, repeat: int) -> None:
    columns = [
        ("system", "system", 32),
        ("workload", "workload", 13),
        ("dtype", "dtype", 8),
        ("conc", "concurrency", 4),
        ("docs/s", "docs_per_s", 8),
        ("p50 ms", "p50_ms", 8),
        ("p99 ms", "p99_ms", 8),
        ("x in-proc", "ratio_to_in_process", 9),
    ]
    if repeat > 1:
        columns.append(("rounds' range", "ratio_range", 13))
    columns += [("ceiling", "ceiling_docs_per_s", 8), ("of ceil", "share_of_ceiling", 7)]
    columns += [
        ("load CPU%", "client_cpu_pct", 9),
        ("engine CPU%", "server_cpu_pct", 11),
        ("peak RSS MiB", "peak_rss_mib", 12),
    ]
    if gpu:
        columns += [("GPU MiB", "gpu_mib", 8), ("peak alloc MiB", "gpu_peak_alloc_mib", 14)]
    print(
        "  ".join(f"{title:<{width}}" if i < 3 else f"{title:>{width}}" for i, (title, _, width) in enumerate(columns))
    )
    for r in rows:
        cells = []
        for i, (_, key, width) in enumerate(columns):
            value = LABELS[r[key]] if key == "system" else r[key]
            if value is None:
                text = "-"
            elif key in ("ratio_to_in_process", "share_of_ceiling"):
                text = f"{value:.2f}"
            elif key == "ratio_range":
                text = f"{value[0]:.2f}-{value[1]:.2f}"
            else:
                text = str(value)
            cells.append(f"{text:<{width}}" if i < 3 else f"{text:>{width}}")
        print("  ".join(cells) + (f"  errors: {r['errors']}" if r["errors"] else ""))
    print(
        "ceiling: docs/s at the matmul peak measured in this run over the model FLOPs of a pair "
        "(benchmarks/bench/ceiling.py); of ceil: docs/s over it."
    )
    if repeat > 1:
        print(
            f"docs/s: the median of {repeat} rounds; x in-proc: the median of the rounds' paired ratios "
            "(each round measures every system once, in a rotated order)."
        )
    busy = [r for r in rows if (r.get("others_cpu_pct") or 0) > 5]
    for r in busy:  # idle servers should cost nothing; if they did, the point was shared
        print(
            f"note: while {r['system']} / {r['workload']} / concurrency {r['concurrency']} was measured, the "
            f"other loaded servers used {r['others_cpu_pct']}% CPU"
        )


def print_comparisons(comparisons: list[dict]) -> None:
    for c in comparisons:
        print(
            f"{LABELS[c['system']]} / {LABELS[c['base']]}, {c['workload']}, {c['dtype']}, concurrency "
            f"{c['concurrency']}: {c['ratio']:.2f} (rounds {c['range'][0]:.2f}-{c['range'][1]:.2f})"
        )


def print_overheads(overheads: list[dict]) -> None:
    for o in overheads:
        d = o["overhead_ms"]
        print(
            f"seed request, {o['dtype']}, one at a time alternately ({o['pairs']} pairs): our server minus "
            f"in-process {d['p50']} ms at the median pair (p25 {d['p25']}, p75 {d['p75']}); p50 "
            f"{o['server_p50_ms']} ms against {o['in_process_p50_ms']} ms"
        )
