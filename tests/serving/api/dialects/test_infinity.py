"""Infinity's route (api/dialects/infinity.py): /rerank with ``documents`` answers in Infinity's
shape, with prompt tokens in its usage."""

from __future__ import annotations

from tests.serving.api.dialects.bodies import DOCUMENTS, answer


def test_should_answer_infinity_with_prompt_tokens(tiny_client):
    body = answer(tiny_client, "infinity")
    assert set(body) == {"object", "id", "created", "model", "usage", "results"}
    assert body["object"] == "rerank"
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    assert all(r["document"] == DOCUMENTS[r["index"]] for r in body["results"])
