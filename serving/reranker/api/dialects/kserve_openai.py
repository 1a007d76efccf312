"""POST /openai/v1/rerank: KServe's OpenAI-style rerank API, as the KServe reranker guide sends it.

``document`` is a plain string, as the guide shows, or ``{"text": ...}`` with
``--document_format object``.
"""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends

from ...engine.base import Engine
from ..openapi import error_responses
from ..ranking import from_rerank_body, rank
from ..schemas import RerankRequest, RerankResponse, RerankResult, RerankUsage, TextDocument
from ..state import ServerState, get_state, ready_engine

PATHS = ("/openai/v1/rerank",)
ERRORS = error_responses()

router = APIRouter(tags=["rerank"])


async def rerank(
    body: RerankRequest,
    state: ServerState = Depends(get_state),
    engine: Engine = Depends(ready_engine),
) -> RerankResponse:
    documents = body.document_texts()
    ranking = await rank(from_rerank_body(body), state, engine)
    as_object = state.settings.document_format == "object"
    results = [
        RerankResult(
            index=i,
            document=(TextDocument(text=documents[i]) if as_object else documents[i])
            if body.return_documents
            else None,
            relevance_score=ranking.scores[i],
        )
        for i in ranking.order
    ]
    return RerankResponse(
        id=f"rerank-{uuid.uuid4()}",
        model=ranking.model,
        usage=RerankUsage(total_tokens=ranking.total_tokens),
        results=results,
    )


for _path in PATHS:
    router.add_api_route(
        _path,
        rerank,
        methods=["POST"],
        response_model=RerankResponse,
        response_model_exclude_none=True,
        responses=ERRORS,
        summary="Rerank documents (KServe guide): document as a string",
        operation_id="rerank" + _path.replace("/", "_"),
    )
