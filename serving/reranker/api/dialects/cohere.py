"""POST /v1/rerank and /v2/rerank: the Cohere (v1, v2), Jina and vLLM rerank APIs.

Their clients send ``{model, query, documents, top_n, return_documents}`` and read
``results[].index``, ``results[].relevance_score`` and ``results[].document.text``: the document
comes back as ``{"text": ...}``. The answer carries each family's extras (``id``, ``model``,
``usage.total_tokens``, Cohere's ``meta``); each client ignores the others'.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, StrictBool, StrictStr

from ...engine.base import Engine
from ..errors import APIError
from ..ranking import from_rerank_body, rank
from ..schemas import TRUNCATE_PROMPT_TOKENS_DESCRIPTION, BoundedByMaxDocuments, Count, PromptTokens, RerankRequest
from ..state import ServerState, get_state, ready_engine
from .kserve_openai import ERRORS

PATHS = {"/v1/rerank": "1", "/v2/rerank": "2"}  # path -> Cohere API version in meta

router = APIRouter(tags=["rerank"])


class CohereRerankRequest(RerankRequest):
    # Cohere v1's chunking: long documents cut into windows of what the model's limit leaves
    # beside the query, each scored, the document scored by its best (as Cohere does); reading
    # stops after this many windows.
    max_chunks_per_doc: Count | None = Field(
        None,
        description="Cohere v1: split each document longer than the model's limit into up to this "
        "many chunks and score it by its best chunk (the rest of the document is not read).",
    )
    # Cohere v1: a document may be an object of any fields, returned as sent; its "text" is
    # ranked, or the fields rank_fields names, in that order, as "field: value" lines.
    documents: Annotated[list[StrictStr | dict[str, Any]], BoundedByMaxDocuments] = Field(  # type: ignore[assignment]
        ...,
        min_length=1,
        description='Candidates: strings, or objects ranked by their "text" (or by rank_fields) and '
        "returned as sent (at most --max_documents).",
    )
    rank_fields: list[StrictStr] | None = Field(
        None,
        min_length=1,
        max_length=64,
        description='Cohere v1: the fields of object documents to rank on, in order (default: "text"); '
        'one field is ranked as its value, several as "field: value" lines. A string document is '
        '{"text": ...}.',
    )
    truncate_prompt_tokens: PromptTokens | None = Field(None, description=TRUNCATE_PROMPT_TOKENS_DESCRIPTION)
    return_documents: StrictBool = Field(
        True, description='Include each document: a string as {"text": ...}, an object as sent.'
    )

    def document_objects(self) -> list[dict[str, Any]]:
        return [{"text": d} if isinstance(d, str) else d for d in self.documents]

    def document_texts(self) -> list[str]:
        """Each document's ranked text; 400 for a document without a string in a ranked field."""
        fields = self.rank_fields or ["text"]
        texts = []
        for index, document in enumerate(self.document_objects()):
            missing = next((f for f in fields if not isinstance(document.get(f), str)), None)
            if missing is not None:
                where = "rank_fields" if self.rank_fields else "documents"
                raise APIError(
                    400,
                    f"documents[{index}] has no string field {missing!r} to rank on"
                    + (
                        " (rank_fields names it)"
                        if self.rank_fields
                        else ': give its text as "text", or name the fields in rank_fields'
                    ),
                    where,
                )
            texts.append(document[fields[0]] if len(fields) == 1 else "\n".join(f"{f}: {document[f]}" for f in fields))
        return texts


class CohereResult(BaseModel):
    index: int
    relevance_score: float
    document: dict[str, Any] | None = None  # {"text": ...} for a string, an object as sent


class ApiVersion(BaseModel):
    version: str


class Meta(BaseModel):
    api_version: ApiVersion


class Usage(BaseModel):
    total_tokens: int


class CohereRerankResponse(BaseModel):
    id: str
    model: str
    usage: Usage
    results: list[CohereResult]
    meta: Meta


def _route(api_version: str):
    async def rerank(
        body: CohereRerankRequest,
        state: ServerState = Depends(get_state),
        engine: Engine = Depends(ready_engine),
    ) -> CohereRerankResponse:
        documents = body.document_objects()
        ranking = await rank(from_rerank_body(body), state, engine)
        return CohereRerankResponse(
            id=f"rerank-{uuid.uuid4()}",
            model=ranking.model,
            usage=Usage(total_tokens=ranking.total_tokens),
            results=[
                CohereResult(
                    index=i,
                    relevance_score=ranking.scores[i],
                    document=documents[i] if body.return_documents else None,
                )
                for i in ranking.order
            ],
            meta=Meta(api_version=ApiVersion(version=api_version)),
        )

    return rerank


for _path, _version in PATHS.items():
    router.add_api_route(
        _path,
        _route(_version),
        methods=["POST"],
        response_model=CohereRerankResponse,
        response_model_exclude_none=True,
        responses=ERRORS,
        summary=f'Rerank documents (Cohere v{_version}, Jina, vLLM): document as {{"text": ...}}',
        operation_id="rerank" + _path.replace("/", "_"),
    )
