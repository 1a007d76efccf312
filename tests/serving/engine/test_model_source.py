"""Finding the model and telling its kind before any weights load."""

from __future__ import annotations

import shutil

import pytest

from reranker.config import Settings
from reranker.engine.base import ModelKind
from reranker.engine.model_source import ModelSourceError, resolve_model
from tests.support.tiny_models import write_config_only


def test_should_detect_a_cross_encoder_and_its_limit(tiny_cross_encoder_dir):
    model = resolve_model(Settings(model_id=str(tiny_cross_encoder_dir)))
    assert model.kind is ModelKind.CROSS_ENCODER
    assert model.max_model_len == 128


def test_should_detect_an_embedding_model_and_its_sentence_transformers_limit(minilm_dir):
    model = resolve_model(Settings(model_dir=str(minilm_dir)))
    assert model.kind is ModelKind.EMBEDDING
    assert model.max_model_len == 256


def test_should_serve_the_embedded_model_when_nothing_is_given_and_nothing_is_mounted(
    minilm_dir, monkeypatch, tmp_path
):
    monkeypatch.setattr("reranker.engine.model_source.DEFAULT_MODEL_DIR", str(tmp_path / "absent"))
    model = resolve_model(Settings(model_dir=str(tmp_path / "absent")))
    assert model.embedded_default and model.path == str(minilm_dir)


def test_should_wait_for_a_model_image_to_link_the_model_in_when_kserve_says_async(
    tiny_cross_encoder_dir, monkeypatch, tmp_path
):
    """MODEL_INIT_MODE=async (KServe, for an oci:// model): /mnt/models is a link the model image
    beside the server makes once it runs; the server waits for it instead of serving the
    embedded model, and says so when it never comes."""
    import threading

    mount = tmp_path / "absent"
    monkeypatch.setattr("reranker.engine.model_source.DEFAULT_MODEL_DIR", str(mount))
    monkeypatch.setattr("reranker.engine.model_source._MODEL_POLL_S", 0.05)
    monkeypatch.setenv("MODEL_INIT_MODE", "async")
    link = threading.Timer(0.3, lambda: mount.symlink_to(tiny_cross_encoder_dir))
    link.start()
    model = resolve_model(Settings(model_dir=str(mount)))
    link.join()
    assert not model.embedded_default and model.path == str(mount)

    monkeypatch.setattr("reranker.engine.model_source.MODEL_WAIT_S", 0.2)
    with pytest.raises(ModelSourceError, match=r"did not appear within 0 s \(MODEL_INIT_MODE=async"):
        resolve_model(Settings(model_dir=str(tmp_path / "never")))


def test_should_not_fall_back_when_a_given_directory_is_missing(tmp_path):
    with pytest.raises(ModelSourceError, match=r"model directory .*missing does not exist"):
        resolve_model(Settings(model_dir=str(tmp_path / "missing")))


def test_should_not_fall_back_when_the_mounted_directory_is_empty(tmp_path):
    with pytest.raises(ModelSourceError, match=r"no model in .*: it has no config.json"):
        resolve_model(Settings(model_dir=str(tmp_path)))


def test_should_find_the_model_in_a_single_subdirectory(tiny_cross_encoder_dir, tmp_path):
    shutil.copytree(tiny_cross_encoder_dir, tmp_path / "snapshot")
    assert resolve_model(Settings(model_dir=str(tmp_path))).path == str(tmp_path / "snapshot")


def test_should_reject_a_classifier_with_several_labels(tmp_path):
    write_config_only(
        tmp_path,
        {
            "architectures": ["BertForSequenceClassification"],
            "id2label": {"0": "a", "1": "b", "2": "c"},
            "max_position_embeddings": 512,
        },
    )
    with pytest.raises(ModelSourceError, match=r"sequence classifier with 3 labels"):
        resolve_model(Settings(model_dir=str(tmp_path)))


def test_should_reject_a_model_that_is_neither_kind(tmp_path):
    write_config_only(tmp_path, {"architectures": ["Wav2Vec2ForCTC"], "model_type": "wav2vec2"})
    with pytest.raises(ModelSourceError, match=r"neither a cross-encoder .* nor an embedding model \(Wav2Vec2ForCTC\)"):
        resolve_model(Settings(model_dir=str(tmp_path)))


def test_should_reject_a_text_generator_naming_the_flag_for_llm_rerankers(tmp_path):
    write_config_only(tmp_path, {"architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "n_positions": 1024})
    with pytest.raises(ModelSourceError, match=r"text generator \(GPT2LMHeadModel\), neither .*--model_family="):
        resolve_model(Settings(model_dir=str(tmp_path)))


def test_should_subtract_the_roberta_position_offset(tmp_path):
    write_config_only(
        tmp_path,
        {
            "architectures": ["XLMRobertaForSequenceClassification"],
            "model_type": "xlm-roberta",
            "max_position_embeddings": 514,
            "id2label": {"0": "LABEL_0"},
        },
    )
    assert resolve_model(Settings(model_dir=str(tmp_path))).max_model_len == 512


def test_should_honour_a_lower_max_model_len_and_refuse_a_higher_one(tiny_cross_encoder_dir):
    assert resolve_model(Settings(model_id=str(tiny_cross_encoder_dir), max_model_len=64)).max_model_len == 64
    with pytest.raises(ModelSourceError, match=r"--max_model_len 4096 exceeds the model's limit of 128"):
        resolve_model(Settings(model_id=str(tiny_cross_encoder_dir), max_model_len=4096))


def test_should_explain_an_unreachable_hub_id(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelSourceError, match=r"'BAAI/no-such-model' is not a local path and could not be fetched"):
        resolve_model(Settings(model_id="BAAI/no-such-model"))
