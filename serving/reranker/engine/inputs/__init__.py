"""Turn (query, document) pairs into model inputs within the model's token limit.

Shared by the engines so that truncation, rejection and token counts mean the same whichever
engine serves:

- ``tokens``: prefix-bounded tokenization (``TokenReader``), the model's special-token layout;
- ``policy``: the truncate / reject / chunk policy, applied once for cross-encoder pairs, LLM
  reranker prompts and embedding texts, and the request's token budget (``InputLimits``);
- ``prompt``: an LLM reranker's prompt template, tokenized once.
"""

from .policy import (
    EmbeddingInputs,
    InputLimits,
    ScoringInputs,
    encode_embedding_pairs,
    encode_pair_inputs,
    encode_prompted_pairs,
)
from .prompt import Prompt
from .tokens import EncodedPair, TokenReader, chars_holding

__all__ = [
    "EmbeddingInputs",
    "EncodedPair",
    "InputLimits",
    "Prompt",
    "ScoringInputs",
    "TokenReader",
    "chars_holding",
    "encode_embedding_pairs",
    "encode_pair_inputs",
    "encode_prompted_pairs",
]
