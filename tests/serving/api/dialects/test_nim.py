"""NVIDIA NIM's route (api/dialects/nim.py): /v1/ranking answers raw logits in ``rankings`` and
follows NIM's truncate flag."""

from __future__ import annotations

import pytest

from tests.serving.api.dialects.bodies import LONG, QUERY, REQUESTS, answer


def test_should_answer_nim_with_raw_logits(tiny_client):
    body = answer(tiny_client, "nim")
    assert set(body) == {"rankings"}
    assert all(set(r) == {"index", "logit"} for r in body["rankings"])
    raw = tiny_client.post("/openai/v1/rerank", json={**REQUESTS["seed"][1], "use_activation": False}).json()
    assert {r["index"]: r["relevance_score"] for r in raw["results"]} == pytest.approx(
        {r["index"]: r["logit"] for r in body["rankings"]}
    )


@pytest.mark.parametrize(
    ("request_body", "refused"),
    [
        ({"query": {"text": QUERY}, "passages": [{"text": LONG}], "truncate": "NONE"}, True),
        ({"query": {"text": QUERY}, "passages": [{"text": LONG}], "truncate": "END"}, False),
        ({"query": {"text": QUERY}, "passages": [{"text": LONG}]}, False),  # the server's default
    ],
)
def test_should_follow_nims_truncate_flag(tiny_client, request_body, refused):
    response = tiny_client.post("/v1/ranking", json=request_body)
    assert response.status_code == (400 if refused else 200), response.text
    if refused:
        assert "token" in response.text
