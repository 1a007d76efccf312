"""NVIDIA NIM's ranking API: ``POST /v1/ranking``.

NVIDIA's rerankers (langchain, llama-index, haystack) send
``{model, query: {text}, passages: [{text}], truncate}`` and read ``rankings[].index`` and
``rankings[].logit``, best first. ``logit`` is the raw score (the cross-encoder's logit; the
cosine similarity for an embedding model). ``truncate``: ``END`` cuts long passages, ``NONE``
refuses them; absent, the server's ``--truncation`` decides.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field, StrictStr, field_validator

from ...engine.base import Engine, TruncationPolicy
from ..ranking import RankRequest, rank
from ..schemas import BoundedByMaxDocuments, NotBlankStr, is_blank
from ..state import ServerState, get_state, ready_engine
from .kserve_openai import ERRORS

router = APIRouter(tags=["nim"])


class NimText(BaseModel):
    model_config = ConfigDict(extra="ignore")
    text: StrictStr


class NimQuery(NimText):
    text: NotBlankStr  # not blank: the request's validator below says so


class NimRankingRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")
    model: StrictStr | None = Field(None, description="Served model name; other names get 404.")
    query: NimQuery
    passages: Annotated[list[NimText], BoundedByMaxDocuments] = Field(
        ..., min_length=1, description="At most --max_documents."
    )
    truncate: Literal["NONE", "END"] | None = Field(None, description="END: cut long passages; NONE: refuse them.")

    @field_validator("query")
    @classmethod
    def _query_not_blank(cls, value: NimQuery) -> NimQuery:
        if is_blank(value.text):
            raise ValueError("query.text must not be empty")
        return value


class NimRanking(BaseModel):
    index: int
    logit: float


class NimRankingResponse(BaseModel):
    rankings: list[NimRanking]


_TRUNCATION = {"END": TruncationPolicy.TRUNCATE, "NONE": TruncationPolicy.REJECT, None: None}


@router.post(
    "/v1/ranking",
    response_model=NimRankingResponse,
    responses=ERRORS,
    summary="Rank passages (NVIDIA NIM): raw scores as logit",
)
async def ranking(
    body: NimRankingRequest,
    state: ServerState = Depends(get_state),
    engine: Engine = Depends(ready_engine),
) -> NimRankingResponse:
    passages = [p.text for p in body.passages]
    ranked = await rank(
        RankRequest(
            body.query.text,
            passages,
            body.model,
            use_activation=False,
            truncation=_TRUNCATION[body.truncate],
            documents_param="passages",
        ),
        state,
        engine,
    )
    return NimRankingResponse(rankings=[NimRanking(index=i, logit=ranked.scores[i]) for i in ranked.order])
