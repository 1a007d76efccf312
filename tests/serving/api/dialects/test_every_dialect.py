"""Every rerank dialect (api/dialects/) ranks alike, and every dialect but TEI fails in our error
shape, its message in ``error`` and ``detail``."""

from __future__ import annotations

import pytest

from tests.serving.api.dialects.bodies import DOCUMENTS, QUERY, REQUESTS, answer, order
from tests.support.app import assert_error


def test_should_rank_alike_in_every_dialect(tiny_client):
    orders = {dialect: order(dialect, answer(tiny_client, dialect)) for dialect in REQUESTS}
    assert len({tuple(o) for o in orders.values()}) == 1, orders


@pytest.mark.parametrize(
    ("path", "request_body", "message"),
    [
        ("/v1/rerank", {"query": QUERY, "documents": "not a list"}, r"documents: Input should be a valid list"),
        (
            "/v2/rerank",
            {"query": QUERY, "documents": DOCUMENTS, "model": "rerank-v3.5"},
            r"model 'rerank-v3.5' not found",
        ),
        (
            "/rerank",
            {"query": QUERY, "documents": DOCUMENTS, "top_n": 0},
            r"top_n: Input should be greater than or equal to 1",
        ),
        ("/rerank", {"query": QUERY}, r"documents: Field required"),
        ("/v1/ranking", {"query": {"text": ""}, "passages": [{"text": "a"}]}, r"query: query.text must not be empty"),
    ],
)
def test_should_carry_our_message_in_error_and_detail_on_every_other_dialect(tiny_client, path, request_body, message):
    assert_error(tiny_client.post(path, json=request_body), 400 if "not found" not in message else 404, message)
