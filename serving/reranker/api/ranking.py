"""The one rerank call every dialect makes: documents scored against a query, best first.

A dialect (``api/dialects/``) translates its request into a ``RankRequest`` and the ``Ranking``
back into its own response; the checks (model name, document count), the engine call and the
metrics live here once.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..engine.base import Engine, ScoreOptions, TruncationPolicy
from .errors import APIError
from .schemas import RerankRequest
from .state import ServerState


@dataclass(frozen=True)
class RankRequest:
    query: str
    documents: list[str]
    model: str | None = None  # the name the client sent; None: any
    top_n: int | None = None  # None: every document
    use_activation: bool | None = None  # None: the server's --raw_scores decides
    max_tokens_per_doc: int | None = None
    truncation: TruncationPolicy | None = None  # None: the server's --truncation
    documents_param: str = "documents"  # the request field errors about documents name


@dataclass(frozen=True)
class Ranking:
    order: list[int]  # document indices, best first (ties in request order), cut to top_n
    scores: list[float]  # one per document, in request order
    total_tokens: int
    model: str  # the name the server reports


def from_rerank_body(body: RerankRequest, use_activation: bool | None = None) -> RankRequest:
    """The call for a body in the seed's fields (seed, Cohere/Jina/vLLM, Infinity);
    ``use_activation`` overrides the body's (Infinity's ``raw_scores``)."""
    return RankRequest(
        body.query, body.document_texts(), body.model, body.top_n,
        body.use_activation if use_activation is None else use_activation, body.max_tokens_per_doc,
    )


def check_document_count(count: int, state: ServerState, field: str) -> None:
    limit = state.settings.max_documents
    if count > limit:
        raise APIError(400, f"too many documents: {count} (the limit is {limit}, --max_documents)", field)


def score_options(
    use_activation: bool | None,
    max_tokens_per_doc: int | None,
    state: ServerState,
    truncation: TruncationPolicy | None = None,
) -> ScoreOptions:
    if use_activation is None:
        use_activation = not state.settings.raw_scores
    return ScoreOptions(use_activation=use_activation, max_tokens_per_doc=max_tokens_per_doc, truncation=truncation)


async def rank(request: RankRequest, state: ServerState, engine: Engine) -> Ranking:
    state.check_model_name(request.model)
    check_document_count(len(request.documents), state, request.documents_param)
    options = score_options(request.use_activation, request.max_tokens_per_doc, state, request.truncation)
    scored = await engine.score([(request.query, d) for d in request.documents], options)
    state.metrics.documents.inc(len(request.documents))
    state.metrics.tokens.inc(scored.total_tokens)
    order = sorted(range(len(request.documents)), key=lambda i: (-scored.scores[i], i))
    if request.top_n is not None:
        order = order[: request.top_n]
    return Ranking(order, scored.scores, scored.total_tokens, state.settings.served_model_name)
