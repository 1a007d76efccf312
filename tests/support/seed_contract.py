"""The seed guide's rerank response, checked the same way by the local and the kind suite."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.app import SEED_REQUEST

SEED_ANSWER_INDEX = 0  # "Paris is the capital and most populous city of France."


def assert_seed_response_shape(body: dict[str, Any], request: dict[str, Any] = SEED_REQUEST) -> None:
    """The seed's shape: id, model, usage.total_tokens and top_n results sorted by score,
    each naming its document by index and carrying it as a plain string."""
    assert set(body) == {"id", "model", "usage", "results"}, body
    assert body["id"].startswith("rerank-"), body["id"]
    uuid.UUID(body["id"].removeprefix("rerank-"))
    assert body["model"] == request["model"]
    assert set(body["usage"]) == {"total_tokens"}
    assert isinstance(body["usage"]["total_tokens"], int) and body["usage"]["total_tokens"] > 0

    results = body["results"]
    assert len(results) == min(request.get("top_n") or len(request["documents"]), len(request["documents"]))
    for result in results:
        assert set(result) == {"index", "document", "relevance_score"}, result
        assert result["document"] == request["documents"][result["index"]]
        assert isinstance(result["relevance_score"], float)
    scores = [r["relevance_score"] for r in results]
    assert scores == sorted(scores, reverse=True), scores
    assert len({r["index"] for r in results}) == len(results)


def assert_seed_ranking(body: dict[str, Any]) -> None:
    """The sentence that answers the seed's question ranks first."""
    assert body["results"][0]["index"] == SEED_ANSWER_INDEX, body["results"]
