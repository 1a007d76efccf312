"""The workloads a run measures: each a model, the request bodies sent to it and the concurrencies
it is measured at. The bodies come from harness/request_bodies.py (the seed request, uniform
documents) and benchmarks/varied_bodies.py (varied lengths, an LLM reranker's instruction)."""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from pathlib import Path

from benchmarks import model_shapes, varied_bodies
from harness.request_bodies import SEED_REQUEST, distinct_rerank_body

WORKLOADS = ("cross-encoder", "varied", "llm", "embedding", "seed")
DISTINCT_BODIES = 256  # cycled; enough that no two requests in flight share a text


@dataclass
class Workload:
    name: str
    kind: str  # "cross-encoder", "embedding" or "llm"
    model: Path
    bodies: list[dict]
    concurrency: list[int]


def build_workloads(args: argparse.Namespace) -> list[Workload]:
    workloads = []
    for name in args.workloads:
        if name == "seed":
            workloads.append(
                Workload("seed", "cross-encoder", model_shapes.cross_encoder(args.shape), [SEED_REQUEST], [1])
            )
            continue
        if name == "llm":
            bodies = [varied_bodies.instructed_rerank_body(args.documents, seed) for seed in range(DISTINCT_BODIES)]
            workloads.append(
                Workload(name, "llm", model_shapes.llm_reranker(args.llm_shape), bodies, list(args.llm_concurrency))
            )
            continue
        if name == "varied":
            bodies = [varied_bodies.varied_rerank_body(args.documents, seed) for seed in range(DISTINCT_BODIES)]
            workloads.append(
                Workload(name, "cross-encoder", model_shapes.cross_encoder(args.shape), bodies, list(args.concurrency))
            )
            continue
        model = model_shapes.cross_encoder(args.shape) if name == "cross-encoder" else model_shapes.embedding_model()
        bodies = [distinct_rerank_body(args.documents, args.words, seed) for seed in range(DISTINCT_BODIES)]
        workloads.append(Workload(name, name, model, bodies, list(args.concurrency)))
    return workloads


def tokens_per_document(workload: Workload) -> float:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(workload.model)
    documents = [d for body in workload.bodies[:8] for d in body["documents"]]
    return round(statistics.mean(len(tokenizer(d, add_special_tokens=False)["input_ids"]) for d in documents), 1)
