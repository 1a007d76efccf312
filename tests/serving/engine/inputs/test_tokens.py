"""Prefix-bounded tokenization (inputs/tokens.py): no more of a text is tokenized than the model
can use, and the ids are the ones tokenizing the whole text gives, on every kind of tokenizer
(the ``tokenizer`` fixture, conftest.py)."""

from __future__ import annotations

from reranker.engine.inputs.tokens import MIN_READ_CHARS, TokenReader, read_limit
from tests.serving.engine.inputs.sample_tokenizers import minilm, mixed_text, whole_ids

# --- the leading tokens of a prefix are the whole text's ----------------------------------------


def test_should_read_the_same_leading_tokens_as_the_whole_text(tokenizer):
    reader = TokenReader(tokenizer)
    base = mixed_text(12_000, seed=7)
    needs = list(range(1, 700, 3))
    # Shifting the text by k spaces moves every cut (need x 8 + 256 characters) across the
    # content: each kind of piece is cut in its middle somewhere.
    for shift in range(8):
        text = " " * shift + base
        whole = whole_ids(tokenizer, text)
        for need, read in zip(needs, reader.read([text] * len(needs), needs)):
            assert read.ids == whole[:need], (shift, need)
            assert read.complete is (len(whole) <= need)


def test_should_read_texts_without_spaces_and_tokenless_runs_exactly(tokenizer):
    reader = TokenReader(tokenizer)
    texts = [
        "x" * 20_000,  # one giant word
        "東京は日本の首都です" * 2000,  # no spaces at all
        "👨‍👩‍👧‍👦" * 3000,  # many tokens per character for byte-level BPE
        " " * 30_000 + mixed_text(8000, seed=3),  # a long run that makes no token (WordPiece)
        "\x01" * 20_000 + "paris is the capital",  # characters the normalizer drops
    ]
    for text in texts:
        assert len(text) < MIN_READ_CHARS  # within the read limit: read exactly
        whole = whole_ids(tokenizer, text)
        for need in (1, 50, 300):
            read = reader.read([text], [need])[0]
            assert read.ids == whole[:need]
            assert read.complete is (len(whole) <= need)


def test_should_stop_reading_at_the_read_limit(minilm_dir):
    reader = TokenReader(minilm(minilm_dir))
    text = " " * 200_000 + "paris " * 10  # WordPiece makes no token of spaces
    read = reader.read([text], [10])[0]
    assert not read.complete and read.ids == []
    assert read.chars_read == read_limit(10) < len(text)
