"""The rerank dialects: one module per API family, each translating its request into the one
internal call (``api/ranking.py``) and the answer back into the shape its clients parse.

| route | dialect |
|---|---|
| ``POST /openai/v1/rerank`` | ``kserve_openai``: KServe's OpenAI-style API, as its reranker guide sends it (a string) |
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
from pydantic import BaseModel

from ...observability.context import note_dialect
from ..openapi import error_responses
from ..schemas import ErrorResponse
from ..score import SCORE_PATHS
from ..state import ServerState, get_state
from . import cohere, infinity, kserve_openai, nim, tei

router = APIRouter(tags=["rerank"])


def _inline(model: type[BaseModel], **keywords: Any) -> dict[str, Any]:
    """A request model's schema inline, its nested models from the document's components."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schema.pop("$defs", None)  # TextDocument: already a component (the seed's request)
    return {**schema, **keywords}


@router.post(
    "/rerank",
    summary='Rerank documents: TEI when the body has "texts", else Infinity (and the seed\'s shape)',
    response_model=None,
    responses={
        200: {
            "model": list[tei.TeiRank] | infinity.InfinityRerankResponse,
            "description": "TEI: a list, best first; Infinity: an object.",
        },
        # TEI's error shape once the body has "texts"; ours before (a body that is not JSON).
        **error_responses(ErrorResponse | tei.TeiErrorResponse),
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {
                        # The body decides: "texts" makes it TEI's, so Infinity's never has it.
                        "oneOf": [
                            _inline(tei.TeiRerankRequest),
                            _inline(infinity.InfinityRerankRequest, **{"not": {"required": ["texts"]}}),
                        ]
                    }
                }
            },
        }
    },
)
async def rerank_by_body(
    request: Request, body: dict[str, Any] = Body(...), state: ServerState = Depends(get_state)
) -> Any:
    if "texts" in body:
        note_dialect("tei")
        return await tei.rerank(body, request, state)
    note_dialect("infinity")
    return await infinity.rerank(body, request, state)


ROUTERS = [kserve_openai.router, cohere.router, router, tei.router, nim.router]

# The dialect each scoring route speaks, for access logs and spans (POST /rerank: its body decides).
DIALECT_OF_ROUTE = {
    **{path: "kserve_openai" for path in kserve_openai.PATHS},
    **{path: "cohere" for path in cohere.PATHS},
    "/v1/ranking": "nim",
    **{path: "score" for path in SCORE_PATHS},
}
