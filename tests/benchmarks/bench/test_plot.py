"""The PNG written beside the JSON report."""

from __future__ import annotations

import pytest

from benchmarks.bench import plot


def test_the_plot_has_a_panel_per_workload_and_precision(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    rows = [
        {"system": s, "workload": w, "dtype": "bfloat16", "concurrency": c, "docs_per_s": 10.0 * c}
        for s in ("in-process", "server")
        for w in ("cross-encoder", "varied")
        for c in (1, 16)
    ]
    path = plot.write_plot(rows, tmp_path / "bench.png", {"cpu": "test CPU", "cpus_visible": 2, "device": "cpu"})
    with Image.open(path) as image:
        width, height = image.size
    assert image.format == "PNG" and width > 1.5 * height  # two panels side by side
