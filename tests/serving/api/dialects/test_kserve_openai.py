"""The seed's own route (api/dialects/kserve_openai.py): /openai/v1/rerank in the seed's shape."""

from __future__ import annotations

from tests.serving.api.dialects.bodies import answer


def test_should_answer_the_seed_route_in_the_seed_shape(tiny_client):
    body = answer(tiny_client, "seed")
    assert set(body) == {"id", "model", "usage", "results"}
    assert all(
        set(r) == {"index", "document", "relevance_score"} and isinstance(r["document"], str) for r in body["results"]
    )
