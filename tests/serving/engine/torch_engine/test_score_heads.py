"""The torch engine's score heads (engine/score_heads.py): each family's head loads its model and
scores a padded batch as the model's own code does: a classifier's logit, an LLM reranker's
logit("yes") - logit("no") at each prompt's last token, an embedding model's unit vectors."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from reranker.config import Settings
from reranker.engine.families import ScoreHead
from reranker.engine.inputs import EncodedPair
from reranker.engine.model_source import resolve_model
from reranker.engine.score_heads import (
    HEADS,
    Classifier,
    Embedder,
    YesNoAnswer,
    answer_direction,
    load_head,
    right_padding,
)
from tests.support.app import SEED_REQUEST
from tests.support.tiny_models import build_tiny_qwen3_reranker

CPU = torch.device("cpu")
QUERY, DOCS = SEED_REQUEST["query"], SEED_REQUEST["documents"]


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory):
    return build_tiny_qwen3_reranker(tmp_path_factory.mktemp("qwen3"))


def head_for(model_dir, **settings):
    model = resolve_model(Settings(model_id=str(model_dir), **settings))
    return load_head(model, torch.float32, CPU, trust_remote_code=False)


def test_should_have_a_head_for_every_way_a_pair_is_scored():
    assert set(HEADS) == set(ScoreHead)


def test_a_classifier_should_score_a_padded_batch_as_its_model_does(tiny_cross_encoder_dir):
    from transformers import AutoModelForSequenceClassification

    head = head_for(tiny_cross_encoder_dir)
    assert type(head) is Classifier and head.tokenizer.padding_side == "right"
    pairs = [head.tokenizer(QUERY, d) for d in DOCS]  # of different lengths: the batch is padded
    items = [EncodedPair(np.asarray(p["input_ids"], np.int32), np.asarray(p["token_type_ids"], np.int8)) for p in pairs]
    reference = AutoModelForSequenceClassification.from_pretrained(tiny_cross_encoder_dir).eval()
    with torch.inference_mode():
        scores = head.forward(items)
        expected = [reference(**head.tokenizer(QUERY, d, return_tensors="pt")).logits[0, 0].item() for d in DOCS]
    assert scores == pytest.approx(expected, abs=1e-5)
    assert head.transformer is head.model.base_model


def test_an_embedder_should_give_unit_vectors_and_stay_padded(minilm_dir):
    from sentence_transformers import SentenceTransformer

    head = head_for(minilm_dir)
    assert type(head) is Embedder
    texts = [QUERY, *DOCS]
    ids = [np.asarray(head.tokenizer(t)["input_ids"], np.int32) for t in texts]
    with torch.inference_mode():
        vectors = head.forward(ids)
    expected = SentenceTransformer(str(minilm_dir), device="cpu").encode(texts, normalize_embeddings=True)
    assert np.allclose(np.stack(vectors), expected, atol=1e-5)
    assert head.packing() is None
    assert head.transformer is head.model[0].auto_model


def test_the_yes_no_answer_should_read_yes_minus_no_at_each_prompts_last_token(qwen3_dir):
    from transformers import AutoModelForCausalLM

    head = head_for(qwen3_dir, model_family="qwen3-reranker")
    assert type(head) is YesNoAnswer
    prompts = [head.tokenizer(text, add_special_tokens=False)["input_ids"] for text in ("is paris big?", "no")]
    items = [EncodedPair(np.asarray(ids, np.int32), None) for ids in prompts]
    reference = AutoModelForCausalLM.from_pretrained(qwen3_dir).eval()
    yes, no = head.tokenizer.convert_tokens_to_ids("yes"), head.tokenizer.convert_tokens_to_ids("no")
    with torch.inference_mode():
        scores = head.forward(items)  # right-padded to the longer prompt
        logits = [reference(input_ids=torch.tensor([ids])).logits[0, -1] for ids in prompts]
    assert scores == pytest.approx([float(last[yes] - last[no]) for last in logits], abs=1e-4)


def test_should_refuse_answer_tokens_the_tokenizer_lacks(qwen3_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(qwen3_dir), AutoTokenizer.from_pretrained(qwen3_dir)
    assert answer_direction(model, tokenizer, ("no", "yes")).shape == (model.config.hidden_size,)
    with pytest.raises(RuntimeError, match=r"the tokenizer has no token 'sí': not an LLM reranker of this family"):
        answer_direction(model, tokenizer, ("no", "sí"))


def test_should_refuse_an_lm_head_with_a_bias(qwen3_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model, tokenizer = AutoModelForCausalLM.from_pretrained(qwen3_dir), AutoTokenizer.from_pretrained(qwen3_dir)
    model.lm_head.bias = torch.nn.Parameter(torch.zeros(model.config.vocab_size))
    with pytest.raises(RuntimeError, match=r"an LM head with a bias is not supported"):
        answer_direction(model, tokenizer, ("no", "yes"))


def test_right_padding_should_pad_after_the_text_with_eos_where_there_is_no_pad_token():
    tokenizer = right_padding(SimpleNamespace(padding_side="left", pad_token=None, eos_token="</s>"))
    assert (tokenizer.padding_side, tokenizer.pad_token) == ("right", "</s>")
    assert right_padding(SimpleNamespace(padding_side="left", pad_token="<pad>", eos_token="</s>")).pad_token == "<pad>"
