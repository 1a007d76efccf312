"""Varied-length bodies and their instructed variant: lengths log-uniform between the bounds,
reproducible by seed."""

from __future__ import annotations

import statistics

from benchmarks import varied_bodies


def test_varied_bodies_draw_log_uniform_lengths_between_the_bounds_and_are_reproducible():
    bodies = [varied_bodies.varied_rerank_body(20, seed) for seed in range(200)]
    lengths = sorted(len(d.split()) for body in bodies for d in body["documents"])
    shortest, longest = varied_bodies.VARIED_WORDS
    assert lengths[0] >= shortest and lengths[-1] <= longest
    # Log-uniform in 8-300: the median near the geometric mean (49), the mean near 81.
    assert 40 <= statistics.median(lengths) <= 60 and 70 <= statistics.mean(lengths) <= 92
    assert bodies[3] == varied_bodies.varied_rerank_body(20, 3)
    instructed = varied_bodies.instructed_rerank_body(20, 3)
    assert instructed["documents"] == bodies[3]["documents"] and 90 <= len(instructed["instruction"].split()) <= 120
