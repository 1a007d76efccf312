"""An LLM reranker's prompt: its template's fixed parts tokenized once, and a body wrapped in them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..families import PromptTemplate
from .tokens import EncodedPair


@dataclass(frozen=True)
class Prompt:
    """An LLM reranker's prompt template, its fixed parts tokenized once (``families.py``)."""

    template: PromptTemplate
    prefix_ids: list[int]
    suffix_ids: list[int]

    @classmethod
    def of(cls, tokenizer: Any, template: PromptTemplate) -> Prompt:
        def ids(text: str) -> list[int]:
            return list(tokenizer(text, add_special_tokens=False)["input_ids"])

        return cls(template, ids(template.prefix), ids(template.suffix))

    @property
    def fixed(self) -> int:
        return len(self.prefix_ids) + len(self.suffix_ids)

    def wrap(self, body: Sequence[int]) -> EncodedPair:
        return EncodedPair(np.asarray([*self.prefix_ids, *body, *self.suffix_ids], np.int32), None)
