"""Request and response bodies shared by the routes: the seed's rerank contract, vLLM's score
API, errors and the model list. Each other dialect keeps its own in ``api/dialects/``."""

from __future__ import annotations

import re
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    StrictBool,
    StrictInt,
    StrictStr,
    field_validator,
    model_validator,
)
from pydantic_core import CoreSchema

# One character that is not whitespace, spelled out: Python's str.isspace() set (what the server
# strips), as an explicit class so that every regex engine reads it alike (ECMA-262's \s, which
# JSON Schema validators use, and pydantic's Rust engine each draw the line elsewhere).
NOT_BLANK_PATTERN = "[^\\t-\\r \\x1c-\\x1f\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
_NOT_BLANK = re.compile(NOT_BLANK_PATTERN)


@dataclass(frozen=True)
class SchemaOnly:
    """Keywords added to a field's JSON schema alone: the check itself stays a Python validator,
    so that the document and the server apply one rule (pydantic's ``pattern`` would run its own
    regex engine)."""

    keywords: tuple[tuple[str, Any], ...]

    def __get_pydantic_json_schema__(self, core_schema: CoreSchema, handler: GetJsonSchemaHandler) -> dict[str, Any]:
        schema = handler(core_schema)
        schema.update(self.keywords)
        return schema


def is_blank(value: str) -> bool:
    return _NOT_BLANK.search(value) is None


def _not_blank(value: str) -> str:
    if is_blank(value):
        raise ValueError("query must not be empty")
    return value


def _instruction_not_blank(value: str) -> str:
    if is_blank(value):
        raise ValueError("instruction must not be empty: leave it out for the server's default")
    return value


# A query with something in it: every dialect refuses "" and whitespace alike.
NotBlankStr = Annotated[StrictStr, SchemaOnly((("pattern", NOT_BLANK_PATTERN),))]
Query = Annotated[NotBlankStr, AfterValidator(_not_blank)]
# An LLM reranker's task instruction; models that take none answer 400 to a request with one.
Instruction = Annotated[NotBlankStr, AfterValidator(_instruction_not_blank)]
INSTRUCTION_DESCRIPTION = (
    "LLM rerankers (such as Qwen3-Reranker): the task instruction in their prompt; default: the "
    "server's --instruction, else the model card's. Other models take none (400)."
)


def _whole_number(value: Any) -> Any:
    # JSON has one number type: 2.0 is the integer 2 to JSON Schema (and to JavaScript clients).
    if type(value) is float and value.is_integer():
        return int(value)
    return value


# A count (1 or more): an integer, or a float with no fraction (2.0); never a bool, a string or 2.5.
# The bound sits inside, so that the JSON schema says "minimum" (a Field(ge=...) beside a
# BeforeValidator would not be).
Count = Annotated[StrictInt, Field(ge=1), BeforeValidator(_whole_number)]
# vLLM's truncate_prompt_tokens: each pair's prompt (query, document and special tokens) cut to this
# many tokens, -1 for the model's limit (vllm/entrypoints/pooling: TokenizeParams).
PromptTokens = Annotated[StrictInt, Field(ge=-1), BeforeValidator(_whole_number)]
TRUNCATE_PROMPT_TOKENS_DESCRIPTION = (
    "vLLM: cut each pair's prompt (query, document and the model's special tokens) to this many "
    "tokens, the document's end first; -1: the model's limit. Over the limit: 400."
)
# A list with at least one item, in the JSON schema; the model's validator says so in a message.
NonEmptyStrList = Annotated[list[StrictStr], SchemaOnly((("minItems", 1),))]


# --max_documents of the server answering this request (request_guards.RequestLimits sets it). Lists
# of documents are measured against it before their items are validated: a body of a million
# items then costs one comparison, not a million validation errors.
MAX_DOCUMENTS: ContextVar[int | None] = ContextVar("max_documents", default=None)


def _at_most_max_documents(value: Any) -> Any:
    limit = MAX_DOCUMENTS.get()
    if limit is not None and isinstance(value, list) and len(value) > limit:
        raise ValueError(f"too many documents: {len(value)} (the limit is {limit}, --max_documents)")
    return value


BoundedByMaxDocuments = BeforeValidator(_at_most_max_documents)


class _Request(BaseModel):
    # Clients of Cohere/Jina/vLLM send extra fields (rank_fields, ...): accept and ignore them.
    model_config = ConfigDict(extra="ignore")


class TextDocument(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: StrictStr


class RerankRequest(_Request):
    model: StrictStr | None = Field(None, description="Served model name; other names get 404.")
    query: Query = Field(..., description="The search query.")
    documents: Annotated[list[StrictStr | TextDocument], BoundedByMaxDocuments] = Field(
        ...,
        min_length=1,
        description='Candidates: strings or {"text": ...} objects (at most --max_documents).',
    )
    top_n: Count | None = Field(None, description="Return only the N best results; all when null or absent.")
    return_documents: StrictBool = Field(True, description="Include each document's text.")
    max_tokens_per_doc: Count | None = Field(None, description="Cut each document to this many tokens before scoring.")
    use_activation: StrictBool | None = Field(
        None,
        description="Cross-encoders: sigmoid scores in [0, 1] (true) or raw logits (false); "
        "default from the server's --raw_scores.",
    )
    instruction: Instruction | None = Field(None, description=INSTRUCTION_DESCRIPTION)

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


# vLLM's score request in its four spellings (vllm/entrypoints/pooling/score/protocol.py): each
# pair of fields means text_1 and text_2.
SCORE_SPELLINGS = (("text_1", "text_2"), ("data_1", "data_2"), ("queries", "documents"), ("queries", "items"))


class ScoreRequest(_Request):
    model: StrictStr | None = None
    text_1: Annotated[StrictStr | NonEmptyStrList, BoundedByMaxDocuments] = Field(
        ...,
        description="Query, or queries for N:N: a list of N needs text_2 a list of N (vLLM's "
        "data_1, or queries, also name it).",
    )
    text_2: Annotated[StrictStr | NonEmptyStrList, BoundedByMaxDocuments] = Field(
        ...,
        description="Document(s) to score against text_1 (at most --max_documents; vLLM's data_2, "
        "or documents or items beside queries, also name it).",
    )
    truncate_prompt_tokens: PromptTokens | None = Field(None, description=TRUNCATE_PROMPT_TOKENS_DESCRIPTION)
    use_activation: StrictBool | None = None
    instruction: Instruction | None = Field(None, description=INSTRUCTION_DESCRIPTION)

    @model_validator(mode="before")
    @classmethod
    def _vllm_spellings(cls, data: Any) -> Any:
        """data_1/data_2, queries/documents or queries/items as text_1/text_2, as vLLM takes them."""
        if not isinstance(data, dict) or "text_1" in data or "text_2" in data:
            return data
        for left, right in SCORE_SPELLINGS[1:]:
            if left in data and right in data:
                data = dict(data)
                data["text_1"], data["text_2"] = data.pop(left), data.pop(right)
                return data
        return data

    @field_validator("text_1", "text_2")
    @classmethod
    def _not_empty(cls, value: str | list[str]) -> str | list[str]:
        if isinstance(value, list) and not value:
            raise ValueError("must not be empty: a string, or a list of at least one string")
        return value

    def pairs(self) -> list[tuple[str, str]]:
        """vLLM's pairing rules: 1:1, 1:N (one text_1), or N:N (equal lengths)."""
        left = [self.text_1] if isinstance(self.text_1, str) else self.text_1
        right = [self.text_2] if isinstance(self.text_2, str) else self.text_2
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
    id: str = Field(..., description='The served model name: what clients send as "model".')
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "kserve-reranker"
    root: str = Field(..., description="The model this card derives from: the served name again, never a file path.")
    max_model_len: int


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
