"""The rerank dialects: one module per API family, each translating its request into the one
internal call (``api/ranking.py``) and the answer back into the shape its clients parse.

| route | dialect |
|---|---|
| ``POST /openai/v1/rerank`` | ``seed``: the KServe guide (document a string) |
| ``POST /v1/rerank``, ``/v2/rerank`` | ``cohere``: Cohere v1/v2, Jina, vLLM (document ``{"text"}``) |
| ``POST /rerank`` with ``texts`` | ``tei``: Text Embeddings Inference (a list answer); ``GET /info`` |
| ``POST /rerank`` with ``documents`` | ``infinity``: Infinity (usage with ``prompt_tokens``) |
| ``POST /v1/ranking`` | ``nim``: NVIDIA NIM (``rankings[].logit``) |

TEI and Infinity share ``POST /rerank``: the body decides, ``texts`` (TEI's field) before
anything else. Adding a dialect is one module here and one line below.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Depends, Request

from ..schemas import ErrorResponse
from ..state import ServerState, get_state
from . import cohere, infinity, nim, seed, tei

router = APIRouter(tags=["rerank"])


@router.post(
    "/rerank",
    summary="Rerank documents: TEI when the body has \"texts\", else Infinity (and the seed's shape)",
    responses={code: {"model": ErrorResponse} for code in (400, 404, 413, 503)},
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "oneOf": [tei.TeiRerankRequest.model_json_schema(), infinity.InfinityRerankRequest.model_json_schema(
            ref_template="#/components/schemas/{model}")]
    }}}}},
)
async def rerank_by_body(
    request: Request, body: dict[str, Any] = Body(...), state: ServerState = Depends(get_state)
) -> Any:
    if "texts" in body:
        return await tei.rerank(body, request, state)
    return await infinity.rerank(body, request, state)


ROUTERS = [seed.router, cohere.router, router, tei.router, nim.router]
