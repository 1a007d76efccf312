"""Scores from model outputs: the cosine of embeddings, and a cross-encoder's relevance (best
window of a chunked document, then the sigmoid). Both run on the event loop, in numpy."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .inputs import EmbeddingInputs


def cosine_scores(inputs: EmbeddingInputs, vectors: Sequence[Any]) -> list[float]:
    """Cosine similarity of each pair's embeddings (``vectors`` align with ``inputs.token_ids``:
    torch tensors or arrays, on the CPU).

    In numpy, element-wise, in float64: this runs on the event loop, and a torch operation there
    starts a second OpenMP thread team beside the model thread's; with more OpenMP threads than
    cores, GNU OpenMP stops spin-waiting at its barriers, and the model's every layer then waits
    for threads to wake (measured on 2 cores: embedding requests 20% slower, the model using 160%
    of the 200% it had). Element-wise numpy uses no BLAS, so no threads of its own.
    """
    if not inputs.query_index:
        return []
    rows = np.stack([_as_array(vector) for vector in vectors])
    queries, documents = rows[inputs.query_index], rows[inputs.document_index]
    dots = (queries * documents).sum(axis=1)
    norms = np.sqrt((queries * queries).sum(axis=1) * (documents * documents).sum(axis=1))
    cosines = dots / np.maximum(norms, 1e-8)  # a zero vector: cosine 0, as torch's
    return np.clip(cosines, -1.0, 1.0).tolist()  # rounding can step past +-1


def _as_array(vector: Any) -> np.ndarray:
    if hasattr(vector, "detach"):  # a torch tensor (bfloat16 has no numpy type: float first)
        vector = vector.detach().float().cpu().numpy()
    return np.asarray(vector, dtype=np.float64)


def relevance_scores(logits: Sequence[float], owners: Sequence[int], pairs: int, activation: bool) -> list[float]:
    """One score per pair from the model's raw logits: where a pair was cut into windows
    (``owners[i]``: the pair of logit i), its best window's; then the sigmoid, unless
    ``activation`` is off. In numpy, on the event loop (see ``cosine_scores``: no torch there)."""
    values = np.asarray(logits, dtype=np.float64)
    if len(values) != pairs:  # chunked
        best = np.full(pairs, -np.inf)
        np.maximum.at(best, np.asarray(owners, dtype=np.intp), values)
        values = best
    if activation:
        with np.errstate(over="ignore"):  # e^1000 is inf, and 1 / (1 + inf) is the right 0
            values = 1.0 / (1.0 + np.exp(-values))
    return values.tolist()
