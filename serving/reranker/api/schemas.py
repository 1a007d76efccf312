"""Request and response bodies shared by the routes: the seed's rerank contract, vLLM's score
API, errors and the model list. Each other dialect keeps its own in ``api/dialects/``."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("query must not be empty")
    return value


# A query with something in it: every dialect refuses "" and whitespace alike.
Query = Annotated[StrictStr, AfterValidator(_not_blank)]


class _Request(BaseModel):
    # Clients of Cohere/Jina/vLLM send extra fields (rank_fields, ...): accept and ignore them.
    model_config = ConfigDict(extra="ignore")


class TextDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: StrictStr


class RerankRequest(_Request):
    model: StrictStr | None = Field(None, description="Served model name; other names get 404.")
    query: Query = Field(..., description="The search query.")
    documents: list[StrictStr | TextDocument] = Field(
        ..., min_length=1, description="Candidates: strings or {\"text\": ...} objects."
    )
    top_n: StrictInt | None = Field(
        None, ge=1, description="Return only the N best results; all when null or absent."
    )
    return_documents: StrictBool = Field(True, description="Include each document's text.")
    max_tokens_per_doc: StrictInt | None = Field(
        None, ge=1, description="Cut each document to this many tokens before scoring."
    )
    use_activation: StrictBool | None = Field(
        None,
        description="Cross-encoders: sigmoid scores in [0, 1] (true) or raw logits (false); "
        "default from the server's --raw_scores.",
    )

    def document_texts(self) -> list[str]:
        return [d if isinstance(d, str) else d.text for d in self.documents]


class RerankResult(BaseModel):
    index: int
    document: str | TextDocument | None = None
    relevance_score: float


class RerankUsage(BaseModel):
    total_tokens: int


class RerankResponse(BaseModel):
    id: str
    model: str
    usage: RerankUsage
    results: list[RerankResult]


class ScoreRequest(_Request):
    model: StrictStr | None = None
    text_1: StrictStr | list[StrictStr] = Field(..., description="Query, or queries for N:N.")
    text_2: StrictStr | list[StrictStr] = Field(..., description="Document(s) to score against text_1.")
    truncate_prompt_tokens: StrictInt | None = Field(
        None, ge=1, description="Cut each text_2 item to this many tokens before scoring."
    )
    use_activation: StrictBool | None = None

    def pairs(self) -> list[tuple[str, str]]:
        """vLLM's pairing rules: 1:1, 1:N (one text_1), or N:N (equal lengths)."""
        left = [self.text_1] if isinstance(self.text_1, str) else self.text_1
        right = [self.text_2] if isinstance(self.text_2, str) else self.text_2
        if not left or not right:
            raise ValueError("text_1 and text_2 must not be empty lists")
        if len(left) == 1:
            return [(left[0], r) for r in right]
        if len(left) != len(right):
            raise ValueError(
                f"text_1 has {len(left)} items and text_2 has {len(right)}: N:N scoring needs equal "
                "lengths (or a single text_1)"
            )
        return list(zip(left, right))


class ScoreData(BaseModel):
    index: int
    object: Literal["score"] = "score"
    score: float


class ScoreUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class ScoreResponse(BaseModel):
    id: str
    object: Literal["list"] = "list"
    created: int
    model: str
    data: list[ScoreData]
    usage: ScoreUsage


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: int


class ErrorResponse(BaseModel):
    error: ErrorBody
    detail: str = Field(..., description="The message again, where FastAPI-style clients read it.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "kserve-reranker"
    root: str
    max_model_len: int


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
