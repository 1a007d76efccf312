"""POST /v1/rerank and /v2/rerank: the Cohere (v1, v2), Jina and vLLM rerank APIs.

Their clients send ``{model, query, documents, top_n, return_documents}`` and read
``results[].index``, ``results[].relevance_score`` and ``results[].document.text``: the document
comes back as ``{"text": ...}``. The answer carries each family's extras (``id``, ``model``,
``usage.total_tokens``, Cohere's ``meta``); each client ignores the others'.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, StrictBool, StrictStr

from ...engine.base import Engine
from ..ranking import from_rerank_body, rank
from ..schemas import Count, RerankRequest, TextDocument
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
    rank_fields: list[StrictStr] | None = Field(
        None, max_length=64, description='Cohere v1: ignored; documents\' "text" is ranked.'
    )
    return_documents: StrictBool = Field(True, description='Include each document as {"text": ...}.')


class CohereResult(BaseModel):
    index: int
    relevance_score: float
    document: TextDocument | None = None


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
        documents = body.document_texts()
        ranking = await rank(from_rerank_body(body), state, engine)
        return CohereRerankResponse(
            id=f"rerank-{uuid.uuid4()}",
            model=ranking.model,
            usage=Usage(total_tokens=ranking.total_tokens),
            results=[
                CohereResult(
                    index=i,
                    relevance_score=ranking.scores[i],
                    document=TextDocument(text=documents[i]) if body.return_documents else None,
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
