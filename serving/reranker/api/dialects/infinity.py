"""Infinity's rerank API: ``POST /rerank`` with ``documents``.

Infinity's clients (``infinity_client``, langchain-community's InfinityRerank) read
``results[].index``, ``results[].relevance_score``, ``results[].document`` (a string) and
``usage.prompt_tokens`` / ``usage.total_tokens``. The answer is also the seed's shape, so seed
clients calling ``/rerank`` keep working.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from fastapi import Request
from pydantic import BaseModel, Field, StrictBool

from ..errors import validate_body
from ..ranking import from_rerank_body, rank
from ..schemas import RerankRequest
from ..state import ServerState, loaded_engine


class InfinityRerankRequest(RerankRequest):
    raw_scores: StrictBool = Field(False, description="Raw logits instead of sigmoid scores.")


class InfinityResult(BaseModel):
    index: int
    relevance_score: float
    document: str | None = None


class InfinityUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class InfinityRerankResponse(BaseModel):
    object: Literal["rerank"] = "rerank"
    id: str
    created: int
    model: str
    usage: InfinityUsage
    results: list[InfinityResult]


async def rerank(body: Any, request: Request, state: ServerState) -> dict[str, Any]:
    engine = loaded_engine(state)
    infinity = validate_body(InfinityRerankRequest, body)
    documents = infinity.document_texts()
    ranking = await rank(
        from_rerank_body(infinity, use_activation=False if infinity.raw_scores else None), state, engine
    )
    return InfinityRerankResponse(
        id=f"rerank-{uuid.uuid4()}",
        created=int(time.time()),
        model=ranking.model,
        usage=InfinityUsage(prompt_tokens=ranking.total_tokens, total_tokens=ranking.total_tokens),
        results=[
            InfinityResult(
                index=i, relevance_score=ranking.scores[i], document=documents[i] if infinity.return_documents else None
            )
            for i in ranking.order
        ],
    ).model_dump(exclude_none=True)
