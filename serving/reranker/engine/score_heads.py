"""The torch engine's model, by where a pair's raw score comes from (``families.ScoreHead``): one
small class per head says how its model and tokenizer load and how a padded batch runs.

- ``Classifier``: a sequence classifier's one logit (cross-encoders, LLM rerankers' conversions);
- ``YesNoAnswer``: a causal LM's logit("yes") - logit("no") at each pair's last token;
- ``Embedder``: a sentence-transformers model's normalized embedding of each text (the cosines
  are taken later, on the event loop: ``scoring.py``).

``load_head`` picks the class once, from the model's family.
"""

from __future__ import annotations

import abc
from typing import Any

import torch

from .families import ScoreHead
from .model_source import ResolvedModel
from .packing import Packing, packing_for


class LoadedHead(abc.ABC):
    """A model on its device, ready to run padded batches, and its tokenizer."""

    def __init__(self, model: torch.nn.Module, tokenizer: Any, device: torch.device):
        self.model: Any = model.to(device).eval()
        self.tokenizer = tokenizer
        self.device = device

    @classmethod
    @abc.abstractmethod
    def load(
        cls, source: ResolvedModel, dtype: torch.dtype, device: torch.device, trust_remote_code: bool
    ) -> LoadedHead:
        """The model at ``source.path`` in ``dtype`` on ``device``, with its tokenizer."""

    @abc.abstractmethod
    def forward(self, items: list[Any]) -> list[Any]:
        """One raw score per encoded pair (an embedding per tokenized text) of a padded batch."""

    @property
    def transformer(self) -> Any:
        """The transformer inside the head (what ``prepack_transformer`` reorders)."""
        return self.model.base_model

    def packing(self) -> Packing | None:
        """How batches run without padding, or None where they stay padded."""
        return packing_for(self.model, None)

    def _pad(self, columns: dict[str, list[Any]]) -> dict[str, torch.Tensor]:
        padded = self.tokenizer.pad(columns, return_tensors="pt")
        return {key: value.to(self.device) for key, value in padded.items()}


class Classifier(LoadedHead):
    @classmethod
    def load(
        cls, source: ResolvedModel, dtype: torch.dtype, device: torch.device, trust_remote_code: bool
    ) -> LoadedHead:
        from transformers import AutoModelForSequenceClassification, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(source.path, trust_remote_code=trust_remote_code)
        model = AutoModelForSequenceClassification.from_pretrained(
            source.path, dtype=dtype, trust_remote_code=trust_remote_code
        )
        tokenizer = right_padding(tokenizer)
        # A decoder classifier reads its last token that is not padding; it must know padding.
        if model.config.pad_token_id is None:
            model.config.pad_token_id = tokenizer.pad_token_id
        return cls(model, tokenizer, device)

    def forward(self, items: list[Any]) -> list[Any]:
        segments = items[0].token_type_ids is not None
        features = self._pad(
            {"input_ids": [e.input_ids for e in items]}
            | ({"token_type_ids": [e.token_type_ids for e in items]} if segments else {})
        )
        return self.model(**features).logits[:, 0].float().cpu().tolist()


class YesNoAnswer(LoadedHead):
    def __init__(self, model: torch.nn.Module, tokenizer: Any, device: torch.device, answer: torch.Tensor):
        super().__init__(model, tokenizer, device)
        self.answer = answer  # the LM head's positive answer row minus its negative's

    @classmethod
    def load(
        cls, source: ResolvedModel, dtype: torch.dtype, device: torch.device, trust_remote_code: bool
    ) -> LoadedHead:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = right_padding(AutoTokenizer.from_pretrained(source.path, trust_remote_code=trust_remote_code))
        model = AutoModelForCausalLM.from_pretrained(source.path, dtype=dtype, trust_remote_code=trust_remote_code)
        answer = answer_direction(model, tokenizer, source.family.answer_tokens).to(device)
        return cls(model, tokenizer, device, answer)

    def forward(self, items: list[Any]) -> list[Any]:
        features = self._pad({"input_ids": [e.input_ids for e in items]})
        # The decoder's last hidden state at each pair's last real token, times the two answer
        # rows of the LM head: the logits of the whole vocabulary are never made.
        hidden = self.model.base_model(**features).last_hidden_state
        mask = features["attention_mask"]
        last = (torch.arange(mask.shape[1], device=mask.device) * mask).argmax(dim=1)
        states = hidden[torch.arange(len(items), device=hidden.device), last]
        return (states.float() @ self.answer).cpu().tolist()

    def packing(self) -> Packing | None:
        return packing_for(self.model, self.answer)


class Embedder(LoadedHead):
    @classmethod
    def load(
        cls, source: ResolvedModel, dtype: torch.dtype, device: torch.device, trust_remote_code: bool
    ) -> LoadedHead:
        from sentence_transformers import SentenceTransformer

        model = SentenceTransformer(
            source.path, device=str(device), trust_remote_code=trust_remote_code, model_kwargs={"dtype": dtype}
        )
        return cls(model, model.tokenizer, device)

    def forward(self, items: list[Any]) -> list[Any]:
        features = self._pad({"input_ids": items})
        embeddings = self.model(features)["sentence_embedding"].float()
        # Arrays, made here: the event loop then computes cosines without touching torch.
        return list(torch.nn.functional.normalize(embeddings, dim=-1).cpu().numpy())

    @property
    def transformer(self) -> Any:
        return self.model[0].auto_model

    def packing(self) -> Packing | None:
        return None  # embedding models stay padded


HEADS: dict[ScoreHead, type[LoadedHead]] = {
    ScoreHead.CLASSIFIER: Classifier,
    ScoreHead.YES_NO: YesNoAnswer,
    ScoreHead.EMBEDDING: Embedder,
}


def load_head(source: ResolvedModel, dtype: torch.dtype, device: torch.device, trust_remote_code: bool) -> LoadedHead:
    """The model of ``source`` loaded for its family's score head."""
    return HEADS[source.family.head].load(source, dtype, device, trust_remote_code)


def right_padding(tokenizer: Any) -> Any:
    """Pad after each prompt, so that every real token keeps its position (the pairs' last
    tokens are found from the attention mask); a tokenizer without a pad token pads with EOS."""
    tokenizer.padding_side = "right"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def answer_direction(model: Any, tokenizer: Any, answers: tuple[str, str] | None) -> torch.Tensor:
    """The LM head's row for the positive answer minus the negative's: a hidden state times it is
    logit("yes") - logit("no"), whose sigmoid is softmax([no, yes])[yes], the model card's score."""
    assert answers is not None
    ids = []
    for token in answers:
        token_id = tokenizer.convert_tokens_to_ids(token)
        if token_id is None or token_id == tokenizer.unk_token_id:
            raise RuntimeError(f"the tokenizer has no token {token!r}: not an LLM reranker of this family")
        ids.append(token_id)
    head = model.get_output_embeddings()
    if getattr(head, "bias", None) is not None:
        raise RuntimeError("an LM head with a bias is not supported for yes/no scoring")
    weight = head.weight.detach()  # rows taken before the cast: no float32 copy of the whole head
    return weight[ids[1]].float() - weight[ids[0]].float()
