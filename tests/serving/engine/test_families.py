"""Model families: detection, the torch engine's scores against references computed
here straight from each model's logits, the instruction field, and refusal of what we cannot serve.

The LLM reranker's reference (``tiny_models.card_scores``) applies Qwen3-Reranker's prompt from
its model card's text, not through the server's template code.
"""

from __future__ import annotations

import pytest
import torch

from reranker.config import Settings
from reranker.engine.base import ModelKind, ScoreOptions
from reranker.engine.families import ScoreHead
from reranker.engine.model_source import ModelSourceError, resolve_model
from tests.support.app import SEED_REQUEST, assert_error, running_app, score_with_engine
from tests.support.seed_contract import assert_seed_response_shape
from tests.support.tiny_models import (
    build_tiny_modernbert_cross_encoder,
    build_tiny_qwen3_reranker,
    build_tiny_qwen3_seq_cls,
    build_tiny_xlm_roberta_cross_encoder,
    card_scores,
    write_config_only,
)

QUERY, DOCS = SEED_REQUEST["query"], SEED_REQUEST["documents"]
PAIRS = [(QUERY, d) for d in DOCS]


def classifier_logits(model_dir, pairs):
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir).eval()
    with torch.inference_mode():
        features = tokenizer([q for q, _ in pairs], [d for _, d in pairs], padding=True, return_tensors="pt")
        return model(**features).logits[:, 0].tolist()


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory):
    return build_tiny_qwen3_reranker(tmp_path_factory.mktemp("tiny-qwen3-reranker"))


@pytest.fixture(scope="module")
def qwen3_seq_cls_dir(tmp_path_factory, qwen3_dir):
    return build_tiny_qwen3_seq_cls(tmp_path_factory.mktemp("tiny-qwen3-seq-cls"), qwen3_dir)


@pytest.fixture(scope="module")
def modernbert_dir(tmp_path_factory):
    return build_tiny_modernbert_cross_encoder(tmp_path_factory.mktemp("tiny-modernbert"))


@pytest.fixture(scope="module")
def xlm_roberta_dir(tmp_path_factory):
    return build_tiny_xlm_roberta_cross_encoder(tmp_path_factory.mktemp("tiny-xlm-roberta"))


# --- detection ---------------------------------------------------------------------------------


def resolve(path, **values):
    return resolve_model(Settings(model_dir=str(path), **values))


QWEN3_CAUSAL = {"architectures": ["Qwen3ForCausalLM"], "model_type": "qwen3", "max_position_embeddings": 40960}
QWEN3_SEQ_CLS = {
    "architectures": ["Qwen3ForSequenceClassification"],
    "model_type": "qwen3",
    "max_position_embeddings": 40960,
    "id2label": {"0": "LABEL_0"},
}


def test_should_refuse_a_causal_lm_without_the_flag_and_say_which_flag(tmp_path):
    write_config_only(tmp_path, QWEN3_CAUSAL)
    with pytest.raises(ModelSourceError) as error:
        resolve(tmp_path)
    message = str(error.value)
    assert "\n" not in message
    assert "text generator (Qwen3ForCausalLM), neither a cross-encoder nor an embedding model" in message
    assert "--model_family=qwen3-reranker" in message


def test_should_refuse_a_plain_text_generator_even_when_named_a_reranker(tmp_path):
    write_config_only(tmp_path, {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_positions": 1024})
    with pytest.raises(ModelSourceError, match=r"text generator \(GPT2LMHeadModel\).*--model_family=qwen3-reranker"):
        resolve(tmp_path)
    with pytest.raises(ModelSourceError, match=r"--model_family=qwen3-reranker needs a Qwen3 causal LM"):
        resolve(tmp_path, model_family="qwen3-reranker")


def test_should_serve_a_causal_qwen3_as_a_reranker_when_the_flag_names_it(tmp_path):
    write_config_only(tmp_path, QWEN3_CAUSAL)
    model = resolve(tmp_path, model_family="qwen3-reranker")
    assert (model.kind, model.family.head, model.family.takes_instruction) == (
        ModelKind.CROSS_ENCODER,
        ScoreHead.YES_NO,
        True,
    )
    assert model.max_model_len == 8192  # the model card's length, not the config's 40960
    assert resolve(tmp_path, model_family="qwen3-reranker", max_model_len=16384).max_model_len == 16384


def test_should_detect_a_qwen3_seq_cls_conversion_and_keep_its_template(tmp_path):
    write_config_only(tmp_path, QWEN3_SEQ_CLS)
    model = resolve(tmp_path)
    assert (model.family.name, model.family.head) == ("qwen3-reranker", ScoreHead.CLASSIFIER)
    assert model.family.template is not None
    # Bare pairs only when asked for by name.
    assert resolve(tmp_path, model_family="cross-encoder").family.template is None


def test_should_refuse_a_decoder_classifier_whose_template_is_unknown(tmp_path):
    write_config_only(
        tmp_path,
        {
            "architectures": ["LlamaForSequenceClassification"],
            "model_type": "llama",
            "max_position_embeddings": 4096,
            "id2label": {"0": "LABEL_0"},
        },
    )
    with pytest.raises(ModelSourceError, match=r"decoder .* converted to sequence classification.*--model_family"):
        resolve(tmp_path)
    assert resolve(tmp_path, model_family="cross-encoder").family.template is None


def test_should_detect_modernbert_with_its_8192_token_limit(modernbert_dir):
    model = resolve_model(Settings(model_id=str(modernbert_dir)))
    assert (model.family.name, model.max_model_len) == ("cross-encoder", 8192)


def test_should_detect_xlm_roberta_with_the_position_offset(xlm_roberta_dir):
    model = resolve_model(Settings(model_id=str(xlm_roberta_dir)))
    assert (model.family.name, model.max_model_len) == ("cross-encoder", 128)


def test_should_refuse_an_instruction_for_a_model_that_takes_none(tiny_cross_encoder_dir, minilm_dir):
    for path in (tiny_cross_encoder_dir, minilm_dir):
        with pytest.raises(ModelSourceError, match=r"--instruction: .* takes no instruction"):
            resolve_model(Settings(model_id=str(path), instruction="Find answers"))


def test_should_refuse_a_family_the_files_contradict(tiny_cross_encoder_dir, minilm_dir):
    with pytest.raises(ModelSourceError, match=r"--model_family=qwen3-reranker needs a Qwen3 model"):
        resolve_model(Settings(model_id=str(tiny_cross_encoder_dir), model_family="qwen3-reranker"))
    with pytest.raises(ModelSourceError, match=r"--model_family=cross-encoder needs"):
        resolve_model(Settings(model_id=str(minilm_dir), model_family="cross-encoder"))


def test_should_refuse_chunking_for_embedding_models(minilm_dir):
    with pytest.raises(ModelSourceError, match=r"--truncation chunk: .* embedding model"):
        resolve_model(Settings(model_id=str(minilm_dir), truncation="chunk"))


# --- scores against the models' own logits -----------------------------------------------------


def test_should_score_the_causal_reranker_as_its_model_card(qwen3_dir):
    expected, lengths = card_scores(qwen3_dir, PAIRS)
    result = score_with_engine(qwen3_dir, PAIRS, model_family="qwen3-reranker")
    assert result.scores == pytest.approx(expected, abs=1e-5)
    assert result.total_tokens == sum(lengths)  # the template's tokens are processed too
    assert len(set(round(s, 6) for s in expected)) == len(PAIRS)  # the reference is not flat


def test_should_return_the_yes_no_logit_difference_as_the_raw_score(qwen3_dir):
    expected, _ = card_scores(qwen3_dir, PAIRS)
    raw = score_with_engine(qwen3_dir, PAIRS, ScoreOptions(use_activation=False), model_family="qwen3-reranker")
    assert torch.sigmoid(torch.tensor(raw.scores)).tolist() == pytest.approx(expected, abs=1e-5)


def test_should_score_the_seq_cls_conversion_with_the_template(qwen3_seq_cls_dir, qwen3_dir):
    expected, lengths = card_scores(qwen3_dir, PAIRS)
    result = score_with_engine(qwen3_seq_cls_dir, PAIRS)
    assert result.scores == pytest.approx(expected, abs=1e-5)
    assert result.total_tokens == sum(lengths)
    # Without the template (asked for by name) the same model scores other numbers.
    bare = score_with_engine(qwen3_seq_cls_dir, PAIRS, model_family="cross-encoder")
    assert bare.scores != pytest.approx(expected, abs=1e-3)


def test_should_cut_long_documents_inside_the_template_as_the_card_does(qwen3_dir):
    pairs = [(QUERY, "Paris is the capital of France. " * 200), (QUERY, DOCS[1])]
    expected, lengths = card_scores(qwen3_dir, pairs, max_length=256)
    result = score_with_engine(qwen3_dir, pairs, model_family="qwen3-reranker", max_model_len=256)
    assert lengths[0] == 256
    assert result.scores == pytest.approx(expected, abs=1e-5)
    assert result.total_tokens == sum(lengths)


@pytest.mark.slow  # loads a model (request.getfixturevalue)
@pytest.mark.parametrize("builder", ["modernbert_dir", "xlm_roberta_dir"])
def test_should_match_the_encoder_cross_encoder_reference(builder, request):
    model_dir = request.getfixturevalue(builder)
    expected = classifier_logits(model_dir, PAIRS)
    raw = score_with_engine(model_dir, PAIRS, ScoreOptions(use_activation=False))
    assert raw.scores == pytest.approx(expected, abs=1e-5)
    assert len(set(round(s, 4) for s in expected)) == len(PAIRS)


def test_should_give_modernbert_no_segment_ids_and_its_long_limit(modernbert_dir):
    long_doc = "paris is the capital of france " * 400  # 2400 tokens: past BERT's 512
    expected = classifier_logits(modernbert_dir, [(QUERY, long_doc)])
    result = score_with_engine(modernbert_dir, [(QUERY, long_doc)], ScoreOptions(use_activation=False))
    assert result.scores == pytest.approx(expected, abs=1e-4)
    assert result.total_tokens > 2000


# --- instruction -------------------------------------------------------------------------------


def test_should_put_the_instruction_in_the_prompt(qwen3_dir):
    task = "Given a question about Europe, find the sentence that names a capital"
    expected, _ = card_scores(qwen3_dir, PAIRS, instruction=task)
    default, _ = card_scores(qwen3_dir, PAIRS)
    per_request = score_with_engine(qwen3_dir, PAIRS, ScoreOptions(instruction=task), model_family="qwen3-reranker")
    server_default = score_with_engine(qwen3_dir, PAIRS, model_family="qwen3-reranker", instruction=task)
    assert per_request.scores == pytest.approx(expected, abs=1e-5)
    assert server_default.scores == pytest.approx(expected, abs=1e-5)
    assert expected != pytest.approx(default, abs=1e-4)


@pytest.fixture(scope="module")
def qwen3_client(qwen3_dir):
    # float32: the routes' scores are compared with the card's float32 reference to 1e-5.
    with running_app(model_id=str(qwen3_dir), model_family="qwen3-reranker", dtype="float32") as client:
        yield client


# Each route that takes an instruction: its body for (query, documents) and its scores by index.
_RERANK_BODY = lambda query, docs: {"query": query, "documents": docs}  # noqa: E731
_RERANK_SCORES = lambda body: {r["index"]: r["relevance_score"] for r in body["results"]}  # noqa: E731
INSTRUCTION_ROUTES = {
    "/openai/v1/rerank": (_RERANK_BODY, _RERANK_SCORES),
    "/v1/rerank": (_RERANK_BODY, _RERANK_SCORES),
    "/v2/rerank": (_RERANK_BODY, _RERANK_SCORES),
    "/rerank": (_RERANK_BODY, _RERANK_SCORES),  # Infinity's body (TEI's "texts" takes none)
    "/openai/v1/score": (
        lambda query, docs: {"text_1": query, "text_2": docs},
        lambda body: {d["index"]: d["score"] for d in body["data"]},
    ),
    "/v1/score": (
        lambda query, docs: {"text_1": query, "text_2": docs},
        lambda body: {d["index"]: d["score"] for d in body["data"]},
    ),
}


def test_should_list_every_route_that_offers_an_instruction(qwen3_client):
    # The routes below are the ones the served API document offers the field on: a new route
    # that takes an instruction fails here until the test covers it.
    spec = qwen3_client.get("/openapi.json").json()
    offered = set()
    for path, operations in spec["paths"].items():
        body = operations.get("post", {}).get("requestBody")
        if body is None:
            continue
        schema = body["content"]["application/json"]["schema"]
        for branch in schema.get("oneOf", [schema]):
            if "$ref" in branch:
                branch = spec["components"]["schemas"][branch["$ref"].rsplit("/", 1)[1]]
            if "instruction" in branch.get("properties", {}):
                offered.add(path)
    assert offered == set(INSTRUCTION_ROUTES)


@pytest.mark.parametrize("path", INSTRUCTION_ROUTES)
def test_should_take_the_instruction_field_in_every_rerank_and_score_route(qwen3_client, qwen3_dir, path):
    task = "Find the sentence that names a capital"
    body, scores = INSTRUCTION_ROUTES[path]
    plain = qwen3_client.post(path, json=body(QUERY, DOCS))
    instructed = qwen3_client.post(path, json={**body(QUERY, DOCS), "instruction": task})
    assert plain.status_code == instructed.status_code == 200, instructed.text
    # The instruction reaches the prompt: the same scores as the card's prompt with that task.
    expected, _ = card_scores(qwen3_dir, PAIRS, instruction=task)
    answered = scores(instructed.json())
    assert [answered[i] for i in range(len(DOCS))] == pytest.approx(expected, abs=1e-5)
    assert scores(plain.json()) != pytest.approx(scores(instructed.json()), abs=1e-6)
    assert_error(
        qwen3_client.post(path, json={**body(QUERY, DOCS), "instruction": " "}), 400, r"instruction must not be empty"
    )


def test_should_answer_400_to_an_instruction_for_a_model_that_takes_none(tiny_client):
    body = {"query": QUERY, "documents": DOCS, "instruction": "Find answers"}
    error = assert_error(tiny_client.post("/openai/v1/rerank", json=body), 400, r"^instruction: .*takes no instruction")
    assert error["param"] == "instruction"
    assert_error(
        tiny_client.post("/v1/score", json={"text_1": QUERY, "text_2": DOCS, "instruction": "x"}),
        400,
        r"^instruction: .*takes no instruction",
    )


# --- the seed contract, for each family --------------------------------------------------------


@pytest.mark.slow  # loads a model (request.getfixturevalue)
@pytest.mark.parametrize(
    ("builder", "flags"),
    [
        ("qwen3_dir", {"model_family": "qwen3-reranker"}),
        ("qwen3_seq_cls_dir", {}),
        ("modernbert_dir", {}),
        ("xlm_roberta_dir", {}),
    ],
)
def test_should_keep_the_seed_contract_for_each_family(builder, flags, request):
    with running_app(model_id=str(request.getfixturevalue(builder)), **flags) as client:
        response = client.post("/openai/v1/rerank", json=SEED_REQUEST)
        assert response.status_code == 200, response.text
        assert_seed_response_shape(response.json())
