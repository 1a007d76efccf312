"""The OpenAI model list (api/model_list.py): GET /openai/v1/models and /v1/models name the served
model once it has loaded (an empty list before: see test_health.py), by its served name and never
by the path it was loaded from."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/openai/v1/models", "/v1/models"])
def test_should_list_the_served_model_openai_style(tiny_client, path, tiny_cross_encoder_dir):
    body = tiny_client.get(path).json()
    assert body["object"] == "list"
    [card] = body["data"]
    assert card["id"] == "reranker" and card["object"] == "model"
    assert card["max_model_len"] == 128


@pytest.mark.parametrize("path", ["/v1/models", "/openai/v1/models"])
def test_should_not_reveal_the_models_file_path(tiny_client, tiny_cross_encoder_dir, path):
    response = tiny_client.get(path)
    card = response.json()["data"][0]
    assert card["id"] == card["root"] == "reranker"
    assert {"id", "object", "created", "owned_by", "root", "max_model_len"} <= set(card)
    assert str(tiny_cross_encoder_dir) not in response.text and tiny_cross_encoder_dir.name not in response.text
