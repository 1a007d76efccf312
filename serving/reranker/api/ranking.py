"""The one rerank call every dialect makes: documents scored against a query, best first.

A dialect (``api/dialects/``) translates its request into a ``RankRequest`` and the ``Ranking``
back into its own response; the checks (model name, document count), the engine call and the
metrics live here once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from ..engine.base import Engine, ModelKind, ScoreOptions, ScoreResult, TruncationPolicy
from ..observability import context, tracing
from .admission import work_of
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
    instruction: str | None = None  # LLM rerankers' task instruction; None: the server's default
    max_chunks_per_doc: int | None = None  # Cohere v1: chunk long documents, score the best chunk
    truncate_prompt_tokens: int | None = None  # vLLM: each pair cut to this many tokens (-1: the limit)


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
        body.query,
        body.document_texts(),
        body.model,
        body.top_n,
        body.use_activation if use_activation is None else use_activation,
        body.max_tokens_per_doc,
        instruction=body.instruction,
        max_chunks_per_doc=getattr(body, "max_chunks_per_doc", None),
        truncate_prompt_tokens=getattr(body, "truncate_prompt_tokens", None),
    )


def check_document_count(count: int, state: ServerState, field: str) -> None:
    limit = state.settings.max_documents
    if count > limit:
        raise APIError(400, f"too many documents: {count} (the limit is {limit}, --max_documents)", field)


def check_instruction(instruction: str | None, engine: Engine, field: str = "instruction") -> None:
    """400 for an instruction sent to a model that reads none (it would be ignored silently);
    text UTF-8 cannot encode, as for every text."""
    if instruction is None:
        return
    info = engine.info
    if not info.takes_instruction:
        raise APIError(
            400,
            f"{field}: the served model ({info.family}) takes no instruction; only LLM rerankers do. "
            "Leave the field out",
            field,
        )
    check_unicode([instruction], field, indexed=False)


def score_options(
    use_activation: bool | None,
    max_tokens_per_doc: int | None,
    state: ServerState,
    truncation: TruncationPolicy | None = None,
    instruction: str | None = None,
    max_chunks_per_doc: int | None = None,
    truncate_prompt_tokens: int | None = None,
    engine: Engine | None = None,
) -> ScoreOptions:
    if use_activation is None:
        use_activation = not state.settings.raw_scores
    if max_chunks_per_doc is not None:  # Cohere v1 chunks long documents whatever the server's policy
        truncation = TruncationPolicy.CHUNK
    max_prompt_tokens = None
    if truncate_prompt_tokens is not None and engine is not None:  # vLLM truncates, whatever the policy
        max_prompt_tokens = check_prompt_tokens(truncate_prompt_tokens, engine)
        truncation = TruncationPolicy.TRUNCATE
    return ScoreOptions(
        use_activation=use_activation,
        max_tokens_per_doc=max_tokens_per_doc,
        truncation=truncation,
        instruction=instruction,
        max_chunks_per_doc=max_chunks_per_doc,
        max_prompt_tokens=max_prompt_tokens,
    )


def check_prompt_tokens(value: int, engine: Engine) -> int:
    """vLLM's truncate_prompt_tokens as tokens per pair: -1 the model's limit; over it, or 0, a
    400 (as vLLM answers)."""
    limit = engine.info.max_model_len
    if value == -1:
        return limit
    if value == 0 or value > limit:
        raise APIError(
            400,
            f"truncate_prompt_tokens: {value} is not between 1 and the model's limit of {limit} tokens "
            "(-1 for the limit)",
            "truncate_prompt_tokens",
        )
    return value


def check_chunking(max_chunks_per_doc: int | None, engine: Engine) -> None:
    """400 for chunking asked of an embedding model: its score is one cosine of two texts, with
    no windows to take the best of (the server refuses --truncation chunk for it too)."""
    if max_chunks_per_doc is not None and engine.info.kind is ModelKind.EMBEDDING:
        raise APIError(
            400,
            "max_chunks_per_doc: the served model is an embedding model, which scores each document "
            "whole (cut to its limit) and does not chunk; leave the field out",
            "max_chunks_per_doc",
        )


def check_unicode(texts: Sequence[str], field: str, indexed: bool = True) -> None:
    """400 for text UTF-8 cannot encode (a lone surrogate such as "\\ud800", which JSON allows
    as an escape): no tokenizer takes it, and it must not reach one."""
    for index, text in enumerate(texts):
        if text.isascii():
            continue
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            where = f"{field}[{index}]" if indexed else field
            code = ord(text[exc.start])
            raise APIError(
                400, f"{where}: not valid Unicode text: lone surrogate U+{code:04X} at character {exc.start}", field
            ) from None


def max_chars_per_pair(engine: Engine, options: ScoreOptions, server_policy: str) -> int | None:
    """The most characters of a pair the model reads (admission's unit of work): what its token
    limit holds, generously; None when chunking, which reads whole documents."""
    policy = options.truncation or TruncationPolicy(server_policy)
    if policy is TruncationPolicy.CHUNK:
        return None
    return engine.info.max_pair_chars


async def score_pairs(
    pairs: list[tuple[str, str]], options: ScoreOptions, state: ServerState, engine: Engine
) -> ScoreResult:
    """The engine call behind every scoring route: admitted (429 when the server is full),
    bounded by the request deadline (504, and the work is dropped), counted in the metrics."""
    timeout = state.settings.request_timeout
    chars = sum(len(query) + len(document) for query, document in pairs)
    work = work_of(pairs, max_chars_per_pair(engine, options, state.settings.truncation))
    async with contextlib.AsyncExitStack() as admitted:
        with tracing.span("admission", {"reranker.pairs": len(pairs), "reranker.work": work}):
            await admitted.enter_async_context(state.admission.admit(len(pairs), chars, work))
        try:
            with tracing.span("score", {"reranker.pairs": len(pairs)}):
                async with asyncio.timeout(timeout):
                    scored = await engine.score(pairs, options)
        except TimeoutError:
            state.metrics.expired.inc()
            raise APIError(
                504, f"request did not finish within {timeout:g} s (--request_timeout); its work was dropped"
            ) from None
    state.metrics.documents.inc(len(pairs))
    state.metrics.tokens.inc(scored.total_tokens)
    context.count(len(pairs), scored.total_tokens)
    return scored


async def rank(request: RankRequest, state: ServerState, engine: Engine) -> Ranking:
    state.check_model_name(request.model)
    check_document_count(len(request.documents), state, request.documents_param)
    check_unicode([request.query], "query", indexed=False)
    check_unicode(request.documents, request.documents_param)
    check_instruction(request.instruction, engine)
    check_chunking(request.max_chunks_per_doc, engine)
    options = score_options(
        request.use_activation,
        request.max_tokens_per_doc,
        state,
        request.truncation,
        request.instruction,
        request.max_chunks_per_doc,
        request.truncate_prompt_tokens,
        engine,
    )
    scored = await score_pairs([(request.query, d) for d in request.documents], options, state, engine)
    order = sorted(range(len(request.documents)), key=lambda i: (-scored.scores[i], i))
    if request.top_n is not None:
        order = order[: request.top_n]
    return Ranking(order, scored.scores, scored.total_tokens, state.settings.served_model_name)
