"""An LLM reranker's prompt (inputs/prompt.py): the template's fixed parts tokenized once, and a
body wrapped between them as one model input."""

from __future__ import annotations

import numpy as np

from reranker.engine.families import PromptTemplate
from reranker.engine.inputs.prompt import Prompt

TEMPLATE = PromptTemplate(
    prefix="judge the pair", head="{instruction} {query}", suffix="answer now", default_instruction="rank"
)


class WordTokenizer:
    """One token per word (its vocabulary grows as it reads); counts its calls."""

    def __init__(self) -> None:
        self.vocabulary: dict[str, int] = {}
        self.calls = 0

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        assert not add_special_tokens  # a template's parts are plain text inside the prompt
        self.calls += 1
        return {"input_ids": [self.vocabulary.setdefault(word, len(self.vocabulary)) for word in text.split()]}


def test_should_tokenize_the_fixed_parts_once():
    tokenizer = WordTokenizer()
    prompt = Prompt.of(tokenizer, TEMPLATE)
    assert (prompt.prefix_ids, prompt.suffix_ids) == ([0, 1, 2], [3, 4])
    assert prompt.fixed == 5
    prompt.wrap([7])
    prompt.wrap([8, 9])
    assert tokenizer.calls == 2  # the prefix and the suffix, at start only


def test_should_wrap_a_body_between_prefix_and_suffix():
    prompt = Prompt.of(WordTokenizer(), TEMPLATE)
    wrapped = prompt.wrap([70, 71])
    assert wrapped.input_ids.tolist() == [0, 1, 2, 70, 71, 3, 4]
    assert wrapped.input_ids.dtype == np.int32
    assert wrapped.token_type_ids is None  # decoders have no segments
