"""Model families: how a model turns a (query, document) pair into a score, and the prompt it reads.

A family is what ``--model_family`` names (or start-up detects, see ``model_source``). Its
prompt template lives here, once, as the model card writes it: both engines get their token ids
from ``inputs.policy.encode_prompted_pairs``, which applies it, so they feed the model the same ids.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .base import ModelKind


class ScoreHead(str, enum.Enum):
    """Where a pair's raw score (a logit) comes from."""

    CLASSIFIER = "classifier"  # sequence classification with one label: its logit
    YES_NO = "yes-no"  # a causal LM: logit("yes") - logit("no") at the last token
    EMBEDDING = "embedding"  # cosine of two embeddings (no logit)


@dataclass(frozen=True)
class PromptTemplate:
    """An LLM reranker's prompt: ``prefix + body + suffix``, the body ending with the document.

    The body is tokenized whole (the model card tokenizes it as one text), then cut at its end
    (the document's end) to fit; prefix and suffix are tokenized apart, as the card does.
    """

    prefix: str
    head: str  # the body up to the document: format fields {instruction} and {query}
    suffix: str
    default_instruction: str

    def body_head(self, query: str, instruction: str | None) -> str:
        chosen = instruction if instruction is not None else self.default_instruction
        return self.head.format(instruction=chosen, query=query)


# Qwen3-Reranker's model card (Qwen/Qwen3-Reranker-0.6B, "Transformers Usage"): a system prompt,
# the user turn with the instruction, query and document, and an assistant turn whose (empty)
# thinking is already closed, so that the next token is the answer: "yes" or "no".
QWEN3_RERANKER_TEMPLATE = PromptTemplate(
    prefix=(
        "<|im_start|>system\nJudge whether the Document meets the requirements based on the Query "
        'and the Instruct provided. Note that the answer can only be "yes" or "no".<|im_end|>\n'
        "<|im_start|>user\n"
    ),
    head="<Instruct>: {instruction}\n<Query>: {query}\n<Document>: ",
    suffix="<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n",
    default_instruction="Given a web search query, retrieve relevant passages that answer the query",
)
# The answer tokens, in the order vLLM's classifier_from_token takes them (the score is the second's).
QWEN3_ANSWER_TOKENS = ("no", "yes")


@dataclass(frozen=True)
class Family:
    name: str  # the --model_family value
    kind: ModelKind
    head: ScoreHead
    template: PromptTemplate | None = None
    answer_tokens: tuple[str, str] | None = None  # (negative, positive) for ScoreHead.YES_NO
    form: str = ""  # what the files hold, for the log and /v1/models: "causal LM", ...

    @property
    def takes_instruction(self) -> bool:
        return self.template is not None


CROSS_ENCODER = Family("cross-encoder", ModelKind.CROSS_ENCODER, ScoreHead.CLASSIFIER, form="sequence classifier")
EMBEDDING = Family("embedding", ModelKind.EMBEDDING, ScoreHead.EMBEDDING, form="embedding model")
# The original Qwen3-Reranker checkpoints: Qwen3ForCausalLM, scored by the yes/no logits.
QWEN3_RERANKER_CAUSAL = Family(
    "qwen3-reranker",
    ModelKind.CROSS_ENCODER,
    ScoreHead.YES_NO,
    QWEN3_RERANKER_TEMPLATE,
    QWEN3_ANSWER_TOKENS,
    form="causal LM",
)
# Its sequence-classification conversions (one label whose logit is the yes/no difference, e.g.
# tomaarsen/Qwen3-Reranker-0.6B-seq-cls): the same template, a plain classifier head.
QWEN3_RERANKER_SEQ_CLS = Family(
    "qwen3-reranker",
    ModelKind.CROSS_ENCODER,
    ScoreHead.CLASSIFIER,
    QWEN3_RERANKER_TEMPLATE,
    form="sequence-classification conversion",
)
