"""Tokenizers of every kind the input code must read exactly, and texts that cut them badly.

The embedded MiniLM's WordPiece, and byte-level BPE, SentencePiece-style Unigram and
pre-tokenizer-less BPE built here, and a pure Python one (no ``tokenizers`` backend).
"""

from __future__ import annotations

import random

# Text with what a cut can split: long words (WordPiece's 100-character rule), CJK, emoji
# sequences of several code points (ZWJ, skin tone, flags), combining accents, full-width
# letters (NFKC), runs of spaces, contractions, digits, URLs, tabs and new lines.
PIECES = [
    "the",
    "capital",
    "of",
    "France",
    "is",
    "Paris",
    "and",
    "Berlin",
    "Germany's",
    "it's",
    "city",
    "x" * 120,
    "supercalifragilisticexpialidocious" * 3,
    "東京は日本の首都です",
    "👨‍👩‍👧‍👦",
    "👍🏽",
    "🇫🇷🇩🇪",
    "cafe\u0301",
    "e\u0301te\u0301",
    "Ａｂｃ１２３",
    "1234567890",
    "https://example.com/a/b?c=d&e=f",
    "...!?",
    "   ",
    "\n\n",
    "\t",
    "naïve",
    "Straße",
    "ß",
    "ﬁne",
    "—",
    "«quoted»",
    "(x+y)/2",
    "🙂",
]


def mixed_text(chars: int, seed: int) -> str:
    rng = random.Random(seed)
    parts, size = [], 0
    while size < chars:
        piece = rng.choice(PIECES)
        parts.append(piece)
        size += len(piece) + 1
    return " ".join(parts)[:chars]


def corpus() -> list[str]:
    return [mixed_text(2000, seed) for seed in range(40)] + [" ".join(PIECES)] * 5


def _fast(tokenizer, model_input_names, **specials):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, model_max_length=512, model_input_names=model_input_names, **specials
    )


def byte_level_bpe():
    """RoBERTa/GPT-2 style: byte-level pre-tokenizer, BPE, ``<s> A </s></s> B </s>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.train_from_iterator(
        corpus(),
        trainers.BpeTrainer(
            vocab_size=600,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    tokenizer.post_processor = processors.RobertaProcessing(
        ("</s>", tokenizer.token_to_id("</s>")), ("<s>", tokenizer.token_to_id("<s>")), add_prefix_space=False
    )
    return _fast(
        tokenizer,
        ["input_ids", "attention_mask"],
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def metaspace_unigram():
    """XLM-R style (bge-reranker-base, the cpu overlay's model): NFKC, runs of spaces folded,
    Metaspace, Unigram, ``<s> A </s></s> B </s>``."""
    from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Replace(Regex(" {2,}"), " ")])
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.train_from_iterator(
        corpus(),
        trainers.UnigramTrainer(
            vocab_size=400,
            special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
            unk_token="<unk>",
        ),
    )
    s, e = tokenizer.token_to_id("<s>"), tokenizer.token_to_id("</s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", s), ("</s>", e)]
    )
    return _fast(
        tokenizer,
        ["input_ids", "attention_mask"],
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def whole_text_bpe():
    """Llama-2 style: no pre-tokenizer (a text is one word), ``▁`` prepended and for spaces."""
    from tokenizers import Tokenizer, models, normalizers, processors, trainers

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tokenizer.train_from_iterator(
        corpus(),
        trainers.BpeTrainer(
            vocab_size=500,
            special_tokens=["<unk>", "<s>", "</s>"],
            max_token_length=16,
        ),
    )
    s = tokenizer.token_to_id("<s>")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B:1", special_tokens=[("<s>", s)]
    )
    return _fast(
        tokenizer,
        ["input_ids", "token_type_ids", "attention_mask"],
        bos_token="<s>",
        unk_token="<unk>",
        pad_token="<unk>",
    )


def minilm(minilm_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(minilm_dir))


def python_byt5():
    """A tokenizer without the ``tokenizers`` backend (no offsets): ByT5's, in Python."""
    from transformers import ByT5Tokenizer

    return ByT5Tokenizer()


KINDS = ["wordpiece", "byte-level-bpe", "metaspace-unigram", "whole-text-bpe", "python-byt5"]


def whole_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def documents_of_every_length(seed: int) -> list[str]:
    text = mixed_text(40_000, seed)
    rng = random.Random(seed)
    lengths = [1, 5, 40, 200, 600, 1500, 3000, 9000, 30_000]
    return [text[start : start + n] for n in lengths for start in (rng.randrange(0, 9000) for _ in range(2))]
