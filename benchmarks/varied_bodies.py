"""Rerank bodies of varied length, and the same with an LLM reranker's instruction: the
benchmark's workloads beyond the uniform one (harness/request_bodies.py's ``distinct_rerank_body``).

Varied: what retrieval hands a reranker is passages of many lengths, not one. Each document's
length in words is drawn log-uniformly between 8 and 300 (median about 49 words, mean about 81):
titles and snippets through to full chunks of a RAG index, each length band equally likely per
octave. The words are random draws from the benchmark vocabulary, one token each.

LLM: a Qwen3-Reranker request carries an instruction; the benchmark's is about 100 words
(100 tokens for its tokenizer), the same for every request, as an application's task description is.
"""

from __future__ import annotations

import math
import random

from harness.request_bodies import VOCABULARY

VARIED_WORDS = (8, 300)  # the shortest and longest document, in words

# A task description of about 100 words, as applications write them for instructed rerankers.
INSTRUCTION = (
    "Given a question that a person typed into the search box of a library catalogue, judge whether "
    "the passage gives information that helps to answer the question. A passage is relevant when it "
    "names the place, person, event, date, number or method that the question asks about, or when it "
    "explains the history, cause or effect that the question asks about, even in other words. A passage "
    "that only shares some words with the question, or that is about a different place, time or thing "
    "with a similar name, is not relevant. Prefer passages that would let a reader answer the question "
    "without opening another source."
)


def varied_length(rng: random.Random, shortest: int = VARIED_WORDS[0], longest: int = VARIED_WORDS[1]) -> int:
    """A document length in words, log-uniform in [shortest, longest]."""
    return round(math.exp(rng.uniform(math.log(shortest), math.log(longest))))


def varied_rerank_body(
    documents: int, seed: int, model: str = "reranker", words: tuple[int, int] = VARIED_WORDS
) -> dict:
    """A rerank request: a 6-word query and ``documents`` documents of log-uniform lengths;
    distinct across seeds, the same for the same seed."""
    rng = random.Random(seed)
    return {
        "model": model,
        "query": " ".join(rng.choices(VOCABULARY, k=6)),
        "documents": [" ".join(rng.choices(VOCABULARY, k=varied_length(rng, *words))) for _ in range(documents)],
    }


def instructed_rerank_body(documents: int, seed: int, model: str = "reranker") -> dict:
    """A varied request with the benchmark's instruction (an LLM reranker's task description)."""
    return {**varied_rerank_body(documents, seed, model), "instruction": INSTRUCTION}
