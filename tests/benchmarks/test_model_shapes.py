"""The random-weight stand-ins: the shapes of the models they stand for, and tokenizers that make
each benchmark word one token."""

from __future__ import annotations

from benchmarks import model_shapes
from benchmarks.varied_bodies import INSTRUCTION
from harness.request_bodies import VOCABULARY


def test_the_cross_encoder_shapes_are_the_models_they_stand_for():
    _, minilm = model_shapes.SHAPES["minilm-l6"]
    assert (
        minilm["num_hidden_layers"],
        minilm["hidden_size"],
        minilm["num_attention_heads"],
        minilm["intermediate_size"],
        minilm["vocab_size"],
    ) == (6, 384, 12, 1536, 30522)
    architecture, bge = model_shapes.SHAPES["bge-reranker-base"]
    assert architecture == "xlm-roberta"
    assert (
        bge["num_hidden_layers"],
        bge["hidden_size"],
        bge["num_attention_heads"],
        bge["intermediate_size"],
        bge["vocab_size"],
        bge["max_position_embeddings"],
    ) == (12, 768, 12, 3072, 250002, 514)


def test_tiny_xlm_roberta_stand_in_tokenizes_each_benchmark_word_as_one_token(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    path = model_shapes.cross_encoder("tiny-xlm-roberta", cache=tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    assert AutoConfig.from_pretrained(path).architectures == ["XLMRobertaForSequenceClassification"]
    document = " ".join(VOCABULARY[:30])
    assert len(tokenizer(document, add_special_tokens=False)["input_ids"]) == 30
    pair = tokenizer("what is it", "a city")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(pair)[:1] == ["<s>"] and pair.count(tokenizer.sep_token_id) == 3
    assert model_shapes.cross_encoder("tiny-xlm-roberta", cache=tmp_path) == path  # cached


def test_the_llm_stand_in_is_a_qwen3_reranker_whose_words_are_one_token_each(tmp_path):
    from transformers import AutoConfig, AutoTokenizer

    path = model_shapes.llm_reranker("tiny-qwen3", cache=tmp_path)
    config = AutoConfig.from_pretrained(path)
    assert config.model_type == "qwen3" and config.architectures == ["Qwen3ForCausalLM"]
    tokenizer = AutoTokenizer.from_pretrained(path)
    document = " ".join(VOCABULARY[:50])
    assert len(tokenizer(" " + document)["input_ids"]) == 50
    assert all(tokenizer.convert_tokens_to_ids(t) != tokenizer.unk_token_id for t in ("yes", "no", "<|im_start|>"))
    assert len(tokenizer(INSTRUCTION)["input_ids"]) < 1.25 * len(INSTRUCTION.split())
    full = model_shapes.LLM_SHAPES["qwen3-reranker-0.6b"]
    assert (
        full["num_hidden_layers"],
        full["hidden_size"],
        full["num_attention_heads"],
        full["num_key_value_heads"],
        full["intermediate_size"],
        full["vocab_size"],
    ) == (28, 1024, 16, 8, 3072, 151669)
