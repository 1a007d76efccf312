"""POST /openai/v1/score and /v1/score: vLLM's score API (text_1 against text_2)."""

from __future__ import annotations

import time
import uuid

from fastapi import APIRouter, Depends

from ..engine.base import Engine
from .errors import APIError
from .openapi import error_responses
from .ranking import check_document_count, check_instruction, check_unicode, score_options, score_pairs
from .schemas import ScoreData, ScoreRequest, ScoreResponse, ScoreUsage
from .state import ServerState, get_state, ready_engine

SCORE_PATHS = ("/openai/v1/score", "/v1/score")

router = APIRouter(tags=["score"])


async def score(
    body: ScoreRequest,
    state: ServerState = Depends(get_state),
    engine: Engine = Depends(ready_engine),
) -> ScoreResponse:
    state.check_model_name(body.model)
    try:
        pairs = body.pairs()
    except ValueError as exc:
        raise APIError(400, str(exc), "text_2") from None
    check_document_count(len(pairs), state, "text_2")
    for name, texts in (("text_1", body.text_1), ("text_2", body.text_2)):
        check_unicode([texts] if isinstance(texts, str) else texts, name, indexed=not isinstance(texts, str))
    check_instruction(body.instruction, engine)
    options = score_options(
        body.use_activation,
        None,
        state,
        instruction=body.instruction,
        truncate_prompt_tokens=body.truncate_prompt_tokens,
        engine=engine,
    )
    scored = await score_pairs(pairs, options, state, engine)
    return ScoreResponse(
        id=f"score-{uuid.uuid4()}",
        created=int(time.time()),
        model=state.settings.served_model_name,
        data=[ScoreData(index=i, score=s) for i, s in enumerate(scored.scores)],
        usage=ScoreUsage(prompt_tokens=scored.total_tokens, total_tokens=scored.total_tokens),
    )


for _path in SCORE_PATHS:
    router.add_api_route(
        _path,
        score,
        methods=["POST"],
        response_model=ScoreResponse,
        responses=error_responses(),
        summary="Score text_1 against text_2 (1:1, 1:N or N:N)",
        operation_id="score" + _path.replace("/", "_"),
    )
