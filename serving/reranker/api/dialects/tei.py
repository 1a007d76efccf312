"""Hugging Face Text Embeddings Inference (TEI): ``POST /rerank`` with ``texts``, ``GET /info``.

TEI's clients (llama-index, haystack's HuggingFaceTEIRanker, ``rerankers``) send
``{query, texts, raw_scores, return_text, truncate}`` and read a JSON list
``[{index, score, text?}]``, best first; TEI errors are ``{"error": "...", "error_type": ...}``.
``truncate``: true cuts documents to the model's limit, false refuses longer ones (TEI's own
default); absent, the server's ``--truncation`` decides.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field, StrictBool, StrictStr

from ... import __version__
from ...engine.base import ModelKind, TruncationPolicy
from ..errors import validate_body
from ..ranking import RankRequest, rank
from ..schemas import BoundedByMaxDocuments, Query
from ..state import ServerState, get_state, loaded_engine

router = APIRouter(tags=["tei"])

# TEI's error types (router/src/lib.rs ErrorType), by our status.
_ERROR_TYPES = {400: "Validation", 404: "Validation", 413: "Validation", 503: "Unhealthy"}


class TeiRerankRequest(BaseModel):
    query: Query = Field(..., description="The search query.")
    texts: Annotated[list[StrictStr], BoundedByMaxDocuments] = Field(..., min_length=1, description="The documents.")
    raw_scores: StrictBool = Field(False, description="Raw logits instead of sigmoid scores.")
    return_text: StrictBool = Field(False, description="Include each document's text.")
    truncate: StrictBool | None = Field(None, description="Cut long documents (true) or refuse them (false).")
    truncation_direction: Literal["Right", "right"] = Field("Right", description="Only Right (the end is cut).")


class TeiRank(BaseModel):
    index: int
    score: float
    text: str | None = None


class TeiErrorResponse(BaseModel):
    """TEI's error body (its ErrorResponse), with our message again under ``detail``."""

    error: str
    error_type: str = Field(..., description="TEI's ErrorType: Validation, Unhealthy, Backend...")
    detail: str


class TeiInfo(BaseModel):
    """``GET /info``: TEI's Info (its required fields, of its types) and ``ready``."""

    model_id: str
    served_model_name: str | None = None
    model_sha: str | None = None
    model_dtype: str = Field(..., description="The precision the model runs in (the --dtype flag until it has loaded).")
    model_type: dict[str, Any] = Field(..., description='{"embedding": ...} or {"reranker": ...}.')
    max_concurrent_requests: int
    max_input_length: int | None
    max_batch_tokens: int = Field(
        ..., description="Tokens of one model batch (torch) or scheduler step (vLLM); 0 until the model has loaded."
    )
    max_batch_requests: int | None = None
    max_client_batch_size: int
    auto_truncate: bool
    tokenization_workers: int
    version: str
    sha: str | None = None
    docker_label: str | None = None
    ready: bool = Field(..., description="Not TEI's: whether the model has loaded.")


def error_shape(status: int, message: str, param: str | None) -> dict[str, Any]:
    """TEI's error body, with our message also under ``detail``."""
    return {"error": message, "error_type": _ERROR_TYPES.get(status, "Backend"), "detail": message}


async def rerank(body: Any, request: Request, state: ServerState) -> list[dict[str, Any]]:
    request.state.error_shape = error_shape  # from here on, errors come in TEI's shape
    engine = loaded_engine(state)
    tei = validate_body(TeiRerankRequest, body)
    truncation = (
        None if tei.truncate is None else TruncationPolicy.TRUNCATE if tei.truncate else TruncationPolicy.REJECT
    )
    ranking = await rank(
        RankRequest(
            tei.query, tei.texts, use_activation=not tei.raw_scores, truncation=truncation, documents_param="texts"
        ),
        state,
        engine,
    )
    return [
        TeiRank(index=i, score=ranking.scores[i], text=tei.texts[i] if tei.return_text else None).model_dump(
            exclude_none=True
        )
        for i in ranking.order
    ]


@router.get(
    "/info",
    response_model=None,
    responses={200: {"model": TeiInfo, "description": "TEI's Info."}},
    summary="TEI: what this server serves (model, limits)",
)
async def info(state: ServerState = Depends(get_state)) -> dict[str, Any]:
    settings = state.settings
    engine = state.engine
    kind = engine.info.kind if engine is not None else None
    model_type: dict[str, Any] = (
        {"embedding": {"pooling": "mean"}}
        if kind is ModelKind.EMBEDDING
        else {"reranker": {"id2label": {"0": "LABEL_0"}, "label2id": {"LABEL_0": 0}}}
    )
    return {
        "model_id": settings.served_model_name,
        "served_model_name": settings.served_model_name,
        "model_sha": None,
        "model_dtype": (engine.dtype if engine is not None else None) or settings.dtype,  # auto resolved
        "model_type": model_type,
        "max_concurrent_requests": 512,  # TEI's default: this server sets no limit of its own
        "max_input_length": engine.info.max_model_len if engine is not None else None,
        # The engine's effective budget: the flag or the device's default, known once loaded.
        "max_batch_tokens": (engine.batch_tokens if engine is not None else None) or 0,
        "max_batch_requests": None,
        "max_client_batch_size": settings.max_documents,
        "auto_truncate": settings.truncation != "reject",  # chunk scores long texts too
        "tokenization_workers": 1,
        "version": __version__,
        "sha": None,
        "docker_label": None,
        "ready": engine is not None,
    }
