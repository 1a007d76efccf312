"""One rerank request per dialect, each asking for every document with its text where it can,
and what the tests read of each dialect's answer."""

from __future__ import annotations

from tests.support.app import SEED_REQUEST

QUERY, DOCUMENTS = SEED_REQUEST["query"], SEED_REQUEST["documents"]
LONG = "word " * 2000  # far past any model's limit

# One request per dialect, each asking for every document with its text (where it can).
REQUESTS = {
    "seed": ("/openai/v1/rerank", {"model": "reranker", "query": QUERY, "documents": DOCUMENTS}),
    "cohere-v1": (
        "/v1/rerank",
        {"model": "reranker", "query": QUERY, "documents": DOCUMENTS, "return_documents": True},
    ),
    "cohere-v2": ("/v2/rerank", {"model": "reranker", "query": QUERY, "documents": [{"text": d} for d in DOCUMENTS]}),
    "tei": ("/rerank", {"query": QUERY, "texts": DOCUMENTS, "return_text": True}),
    "infinity": ("/rerank", {"model": "reranker", "query": QUERY, "documents": DOCUMENTS, "return_documents": True}),
    "nim": (
        "/v1/ranking",
        {"model": "reranker", "query": {"text": QUERY}, "passages": [{"text": d} for d in DOCUMENTS]},
    ),
}


def order(dialect: str, body) -> list[int]:
    if dialect == "tei":
        return [r["index"] for r in body]
    if dialect == "nim":
        return [r["index"] for r in body["rankings"]]
    return [r["index"] for r in body["results"]]


def answer(client, dialect: str):
    """The body of ``dialect``'s answer to its request in ``REQUESTS`` (a 200)."""
    path, request = REQUESTS[dialect]
    response = client.post(path, json=request)
    assert response.status_code == 200, (dialect, response.text)
    return response.json()
