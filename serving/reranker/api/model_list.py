"""The OpenAI model list: GET /openai/v1/models and /v1/models."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from .schemas import ModelCard, ModelList
from .state import ServerState, get_state

router = APIRouter(tags=["models"])


async def list_models(state: ServerState = Depends(get_state)) -> ModelList:
    cards = []
    if state.engine is not None:
        info = state.engine.info
        # root: the served name too; the model's source is a file system path the clients need not see.
        cards.append(
            ModelCard(id=info.name, created=state.started_at, root=info.name, max_model_len=info.max_model_len)
        )
    return ModelList(data=cards)


for _path in ("/openai/v1/models", "/v1/models"):
    router.add_api_route(
        _path,
        list_models,
        methods=["GET"],
        response_model=ModelList,
        summary="Models this server serves (empty until loaded)",
        operation_id="models" + _path.replace("/", "_"),
    )
