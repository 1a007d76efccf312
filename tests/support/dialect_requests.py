"""One rerank request per dialect for a query and documents: (dialect, path, body)."""

from __future__ import annotations

from typing import Any


def dialect_requests(query: str, documents: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        ("kserve_openai", "/openai/v1/rerank", {"model": "reranker", "query": query, "documents": documents}),
        ("cohere", "/v1/rerank", {"model": "reranker", "query": query, "documents": documents}),
        ("cohere", "/v2/rerank", {"model": "reranker", "query": query, "documents": [{"text": d} for d in documents]}),
        ("tei", "/rerank", {"query": query, "texts": documents}),
        ("infinity", "/rerank", {"model": "reranker", "query": query, "documents": documents}),
        (
            "nim",
            "/v1/ranking",
            {"model": "reranker", "query": {"text": query}, "passages": [{"text": d} for d in documents]},
        ),
        ("score", "/openai/v1/score", {"model": "reranker", "text_1": query, "text_2": documents}),
    ]
