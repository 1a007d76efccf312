"""scripts/bf16_ranking.py: the text it collects, the candidate lists and the ranking figures.
The model run itself is the script's job (bfloat16 is slow on CPUs without AMX)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import bf16_ranking  # noqa: E402
from bf16_ranking import Query, build_lists, compare, paragraphs  # noqa: E402

PROSE = "The quick brown fox jumps over the lazy dog, and then it rests under the old tree."


def test_should_keep_prose_paragraphs_and_drop_examples():
    doc = f"{PROSE}\nIt continues here.\n\n>>> fox.jump()\nTrue\n\nshort\n\n{PROSE}"
    assert paragraphs(doc) == [f"{PROSE} It continues here.", PROSE]


def corpus(modules: int, per_module: int) -> tuple[list[str], list[str], list[Query]]:
    texts, owners, queries = [], [], []
    for m in range(modules):
        for p in range(per_module):
            owners.append(f"module{m}")
            texts.append(f"paragraph {p} of module {m}")
            if p < 6:
                queries.append(
                    Query(f"question {p} about module {m}", f"module{m}", [len(texts) - 1])
                )
    return texts, owners, queries


def test_should_build_seeded_lists_with_each_querys_own_paragraph():
    texts, owners, queries = corpus(modules=12, per_module=30)
    chosen = build_lists(texts, owners, queries, count=20, docs=30, seed=3)
    again = build_lists(*corpus(modules=12, per_module=30), count=20, docs=30, seed=3)
    assert [q.candidates for q in chosen] == [q.candidates for q in again]
    assert len(chosen) == 20
    for query in chosen:
        assert len(query.candidates) == len(set(query.candidates)) == 30
        assert set(query.own) <= set(query.candidates)
        assert sum(owners[i] == query.module for i in query.candidates) == 10  # a third


def test_should_refuse_more_queries_than_the_modules_allow():
    texts, owners, queries = corpus(modules=3, per_module=30)
    with pytest.raises(SystemExit, match="at most 15"):
        build_lists(texts, owners, queries, count=20, docs=30, seed=0)


def test_should_report_full_agreement_for_equal_scores():
    scores = [np.linspace(1, 0, 12), np.linspace(0, 1, 12)]
    queries = [Query("q", "m", [0], candidates=list(range(12)), near=[0]) for _ in scores]
    figures = compare(scores, [s.copy() for s in scores], queries)
    assert figures["top1_agreement"] == figures["top10_overlap"] == 1
    assert figures["kendall_tau_mean"] == pytest.approx(1)
    assert figures["max_abs_score_change"] == 0
    assert figures["widest_float32_gap_of_a_top1_change"] is None


def test_should_count_a_swapped_top_document():
    reference = np.array([0.90, 0.89, 0.5, 0.4, 0.3, 0.2])
    other = np.array([0.88, 0.895, 0.5, 0.4, 0.3, 0.2])
    query = Query("q", "m", [0], candidates=list(range(6)), near=[0, 1])
    figures = compare([reference], [other], [query])
    assert figures["top1_agreement"] == 0
    assert figures["widest_float32_gap_of_a_top1_change"] == pytest.approx(0.01)
    assert figures["max_abs_score_change"] == pytest.approx(0.02)
    assert figures["kendall_tau_mean"] < 1


def test_should_describe_itself(capsys):
    with pytest.raises(SystemExit) as exit_code:
        bf16_ranking.main(["--help"])
    assert exit_code.value.code == 0
    assert "--json" in capsys.readouterr().out
