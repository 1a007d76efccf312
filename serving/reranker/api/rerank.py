"""POST /openai/v1/rerank and its aliases: the seed's contract, also as vLLM/Jina/Cohere call it."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Depends

from ..engine.base import Engine, ScoreOptions
from .errors import APIError
from .schemas import ErrorResponse, RerankRequest, RerankResponse, RerankResult, RerankUsage, TextDocument
from .state import ServerState, get_state, ready_engine

RERANK_PATHS = ("/openai/v1/rerank", "/v1/rerank", "/v2/rerank", "/rerank")

router = APIRouter(tags=["rerank"])
_ERRORS = {code: {"model": ErrorResponse} for code in (400, 404, 413, 503)}


def check_document_count(count: int, state: ServerState, field: str) -> None:
    limit = state.settings.max_documents
    if count > limit:
        raise APIError(400, f"too many documents: {count} (the limit is {limit}, --max_documents)", field)


def score_options(use_activation: bool | None, max_tokens_per_doc: int | None, state: ServerState) -> ScoreOptions:
    if use_activation is None:
        use_activation = not state.settings.raw_scores
    return ScoreOptions(use_activation=use_activation, max_tokens_per_doc=max_tokens_per_doc)


async def rerank(
    body: RerankRequest,
    state: ServerState = Depends(get_state),
    engine: Engine = Depends(ready_engine),
) -> RerankResponse:
    state.check_model_name(body.model)
    documents = body.document_texts()
    check_document_count(len(documents), state, "documents")
    options = score_options(body.use_activation, body.max_tokens_per_doc, state)
    scored = await engine.score([(body.query, d) for d in documents], options)
    state.metrics.documents.inc(len(documents))
    state.metrics.tokens.inc(scored.total_tokens)

    # Best first; equal scores keep the order the client sent.
    ranking = sorted(range(len(documents)), key=lambda i: (-scored.scores[i], i))
    if body.top_n is not None:
        ranking = ranking[: body.top_n]
    results = [
        RerankResult(
            index=i,
            document=_document(documents[i], state) if body.return_documents else None,
            relevance_score=scored.scores[i],
        )
        for i in ranking
    ]
    return RerankResponse(
        id=f"rerank-{uuid.uuid4()}",
        model=state.settings.model_name,
        usage=RerankUsage(total_tokens=scored.total_tokens),
        results=results,
    )


def _document(text: str, state: ServerState) -> str | TextDocument:
    return TextDocument(text=text) if state.settings.document_format == "object" else text


for _path in RERANK_PATHS:
    router.add_api_route(
        _path, rerank, methods=["POST"], response_model=RerankResponse, response_model_exclude_none=True,
        responses=_ERRORS, summary="Rerank documents by relevance to a query",
        operation_id="rerank" + _path.replace("/", "_"),
    )
