"""Server settings: one pydantic model, filled from flags and environment variables.

Every field is a command-line flag spelled as KServe spells them (``--model_name``) and an
environment variable ``RERANKER_<FIELD>`` (``RERANKER_MODEL_NAME``); a flag wins over the
variable, the variable over the default. ``cli.py`` builds the parser from these fields, so a
field's description is its ``--help`` text.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

ENV_PREFIX = "RERANKER_"
DEFAULT_MODEL_DIR = "/mnt/models"


class Settings(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    # --- what to serve -------------------------------------------------------------------
    model_name: str = Field(
        "reranker",
        description='Name clients send as "model", or several separated by commas (as vLLM\'s '
        "--served-model-name takes several) so that clients' default names are answered too; the "
        "first is the one responses and /v1/models report.",
    )
    model_dir: str = Field(
        DEFAULT_MODEL_DIR,
        description="Directory holding the model (KServe's storage initializer writes it to "
        "/mnt/models). When it is the default and absent, the embedded all-MiniLM-L6-v2 is served.",
    )
    model_id: str | None = Field(
        None,
        description="Model to load instead of --model_dir: a local path or a Hugging Face hub id "
        "(needs network or a filled HF cache).",
    )
    task: str = Field("score", description="Serving task. Only 'score' (rerank and score APIs).")
    backend: Literal["auto", "torch", "vllm"] = Field(
        "auto",
        description="Engine: vllm, torch, or auto (vLLM when installed and it loads the model, else torch).",
    )
    trust_remote_code: bool = Field(False, description="Allow model code from the model directory.")
    model_family: Literal["auto", "cross-encoder", "embedding", "qwen3-reranker"] = Field(
        "auto",
        description="How the model scores a pair. auto: detected from the model's files (a "
        "one-label sequence classifier is a cross-encoder, or with a Qwen3 config a "
        "Qwen3-Reranker conversion; a bare encoder or sentence-transformers directory an "
        "embedding model). qwen3-reranker: the Qwen3-Reranker prompt template, and for a causal "
        'LM the score P("yes") = sigmoid(logit yes - logit no) at the last token (the original '
        "checkpoints are plain causal LMs, so their files cannot say it). cross-encoder: a "
        "decoder's classification conversion scored on bare pairs, without a template.",
    )
    instruction: str | None = Field(
        None,
        description="Default task instruction for models that take one (LLM rerankers); a "
        'request\'s "instruction" field overrides it. Refused at start for models without one.',
    )

    # --- model execution ---------------------------------------------------------------------
    dtype: Literal["auto", "float32", "float16", "bfloat16"] = Field(
        "auto",
        description="Weights dtype. auto: the model's own on GPU (float16/bfloat16); on CPU "
        "(torch engine) bfloat16 where the CPU computes it natively (AMX or AVX512-BF16, as torch "
        "reports), else float32 (bfloat16 would be emulated, several times slower).",
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="Torch engine device; auto picks CUDA when present."
    )
    max_model_len: int | None = Field(None, ge=8, description="Token limit per pair; default: the model's own limit.")
    raw_scores: bool = Field(
        False,
        description="Return raw cross-encoder logits instead of sigmoid scores in [0, 1] by "
        "default (a request can still set use_activation).",
    )
    truncation: Literal["truncate", "reject", "chunk"] = Field(
        "truncate",
        description="Pairs longer than the model's limit: truncate the document, reject the "
        "request with 400, or chunk (cross-encoders and LLM rerankers): score each window of the "
        "document that fits beside the query (no overlap) and give the document the best "
        "window's score; usage counts every window's tokens and --max_request_tokens bounds them.",
    )

    # --- batching (torch engine) -------------------------------------------------------------
    max_batch_tokens: int | None = Field(
        None,
        ge=64,
        description="Token budget of one model batch (padded length x pairs, or the tokens of a "
        "packed batch, see --packed_batches); pairs from "
        "concurrent requests share batches up to it. Default: 16384 on CUDA (large batches fill a "
        "GPU); on CPU 8192 for packed batches and 2048 for padded ones (small padded batches stay "
        "in the caches and let the next batch's tokenizing overlap the model; make bench measured "
        "both faster on 2 cores).",
    )

    model_workers: int | None = Field(
        None,
        ge=1,
        description="Torch engine: model batches run at once, each on its share of the CPU threads "
        "(a small request's pairs are split between them). Default: 2 on CPU with 2 threads or "
        "more (two batches on one thread each kept both cores busy where one batch on two threads "
        "left them idle between operations), 1 on CUDA. Each runs batches of up to "
        "--max_batch_tokens.",
    )
    packed_batches: Literal["auto", "on", "off"] = Field(
        "auto",
        description="Torch engine: lay a batch's pairs end to end without padding, so that documents "
        "of varied length cost their own tokens only (BERT, RoBERTa and XLM-RoBERTa cross-encoders, "
        "Qwen3/Qwen2/Llama rerankers; other models are padded). auto: on CPU; on CUDA, padded "
        "batches (fewer, larger kernels). With packing, --max_batch_tokens counts real tokens.",
    )
    prepacked_weights: Literal["auto", "off"] = Field(
        "auto",
        description="Torch engine on CPU: reorder the linear layers' weights once at load into "
        "oneDNN's blocked layout, instead of on every batch (as vLLM's CPU backend does); the same "
        "memory. auto: on CPU where torch's oneDNN supports the precision, for model code from "
        "transformers, checked at load layer by layer against the plain weights (up to the batch "
        "budget's rows, on each model worker's threads) and by a forward pass; any difference keeps "
        "the plain weights.",
    )
    prefix_reuse: bool = Field(
        True,
        description="LLM rerankers: compute the prompt prefix a request's documents share (system "
        "prompt, instruction, query) once per batch instead of once per document: the torch engine "
        "in packed batches, vLLM through its prefix caching where vLLM supports it for the model.",
    )

    # --- vLLM engine -------------------------------------------------------------------------
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="vLLM: fraction of GPU memory the engine may use."
    )
    max_num_seqs: int | None = Field(None, ge=1, description="vLLM: most sequences per step.")
    max_num_batched_tokens: int | None = Field(None, ge=1, description="vLLM: most tokens per scheduler step.")
    enforce_eager: bool = Field(False, description="vLLM: disable CUDA graphs.")
    tensor_parallel_size: int = Field(1, ge=1, description="vLLM: GPUs to shard the model over.")

    # --- HTTP API ----------------------------------------------------------------------------
    http_port: int = Field(8080, ge=0, le=65535, description="Port to listen on.")
    host: str = Field("0.0.0.0", description="Address to bind.")
    max_documents: int = Field(
        1000, ge=1, description="Most documents in one rerank request (and text_2 items in score)."
    )
    max_body_bytes: int = Field(
        16 * 1024 * 1024, ge=1024, description="Largest request body accepted, in bytes (413 above)."
    )
    document_format: Literal["string", "object"] = Field(
        "string",
        description='Shape of "document" in rerank results: a plain string (KServe guide) or '
        '{"text": ...} (vLLM/Jina clients).',
    )
    cors_allow_origin: str | None = Field(
        None,
        description="Origins (scheme://host[:port]) whose browser pages may call the API, "
        "separated by commas, or * for any; off by default (no CORS headers, preflight refused).",
    )

    # --- logs and traces (docs/operations.md) ----------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    log_format: Literal["text", "json"] = Field(
        "text",
        description="Log lines as plain text, or json: one object per line (time, level, logger, "
        "message, and the request's request_id, trace_id and span_id), uvicorn's lines included.",
    )
    access_log: bool = Field(
        True,
        description="One log line per request: route, dialect, status, duration_ms, documents, "
        "tokens and its request id (never query or document text).",
    )
    otlp_traces_endpoint: str | None = Field(
        None,
        description="Send traces over OTLP to this URL (http/protobuf: the full URL, e.g. "
        "http://collector:4318/v1/traces; grpc: http://collector:4317). Tracing is also on when "
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT is set; "
        "OTEL_EXPORTER_OTLP_(TRACES_)PROTOCOL picks http/protobuf (default) or grpc.",
    )

    # --- load, deadlines and shutdown ----------------------------------------------------------
    request_timeout: float = Field(
        20,
        gt=0,
        description="Seconds a scoring request may take, queueing included; past it the answer is "
        "504 and its remaining work is dropped.",
    )
    max_queued_pairs: int = Field(
        16384,
        ge=1,
        description="Most pairs admitted and not yet scored, all requests together; a request that "
        "would pass it gets 429 with Retry-After (as does one arriving while the queue would take "
        "over half of --request_timeout).",
    )
    max_concurrent_requests: int = Field(
        512,
        ge=1,
        description="Most scoring requests in progress at once (TEI's default); past it: 429 with "
        "Retry-After, before the body is read.",
    )
    max_concurrent_body_bytes: int = Field(
        48 * 1024 * 1024,
        ge=1024,
        description="Most request-body bytes held by scoring requests in progress, all together (a "
        "body without Content-Length counts as --max_body_bytes); a request that would pass it gets "
        "429 with Retry-After before its body is read. A request alone is always let in. Bounds "
        "memory: each body is held, parsed, until its answer.",
    )
    max_queued_chars: int = Field(
        256 * 1024 * 1024,
        ge=1024,
        description="Most characters of query and document text held by admitted requests, all "
        "together (each is kept until answered); past it: 429 with Retry-After.",
    )
    max_request_tokens: int = Field(
        524288,
        ge=64,
        description="Most tokens the model may process for one request (pairs x tokens after "
        "truncation); above it the answer is 413.",
    )
    drain_seconds: float = Field(
        5,
        ge=0,
        description="On SIGTERM: readiness answers 503 at once and the server keeps serving this "
        "long (while Kubernetes removes the pod from its endpoints), then stops accepting, finishes "
        "what it accepted and exits.",
    )
    header_timeout: float = Field(
        10,
        gt=0,
        description="Seconds a connection may take to send a request's headers (the first request "
        "included); slower connections are closed.",
    )
    body_timeout: float = Field(30, gt=0, description="Seconds to wait for each part of a request body (408 past it).")
    # Above the idle timeout of the proxies in front (60 s is common to load balancers and
    # gateways): the proxy must close an idle upstream connection first, or a request it sends as
    # the server closes comes back as a 503 (KServe's own server: 65 s, kserve#5448).
    keep_alive_timeout: float = Field(
        75,
        gt=0,
        description="Seconds an idle keep-alive connection is held open. Keep it above the idle "
        "timeout of the proxy or gateway in front (60 s is common), so that the proxy, not the "
        "server, closes idle connections.",
    )

    # --- security ----------------------------------------------------------------------------
    api_key: str | None = Field(
        None,
        description="Require 'Authorization: Bearer <key>' on every route but the health probes; "
        "several keys separated by commas (rotation). Set it from a Secret through the environment, "
        "never on a command line.",
        repr=False,
    )
    protect_metrics: bool = Field(False, description="Require the API key on /metrics too.")
    disable_docs: bool = Field(False, description="Serve no /docs, /redoc or /openapi.json.")

    @field_validator("task")
    @classmethod
    def _only_score(cls, value: str) -> str:
        if value != "score":
            raise ValueError(
                f"unsupported task {value!r}: this server only serves --task=score (rerank and score APIs)"
            )
        return value

    @field_validator("model_name")
    @classmethod
    def _non_empty_names(cls, value: str) -> str:
        names = [name.strip() for name in value.split(",")]
        if not all(names):
            raise ValueError(f"model names must not be empty: {value!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"model names repeat: {value!r}")
        return ",".join(names)

    @field_validator("api_key")
    @classmethod
    def _keys(cls, value: str | None) -> str | None:
        if value is None:
            return None
        keys = [key.strip() for key in value.split(",")]
        if not all(keys):
            raise ValueError("API keys must not be empty (several are separated by commas)")
        return ",".join(keys)

    @field_validator("cors_allow_origin")
    @classmethod
    def _origins(cls, value: str | None) -> str | None:
        if value is None:
            return None
        origins = [origin.strip() for origin in value.split(",")]
        if not all(origins):
            raise ValueError("CORS origins must not be empty (several are separated by commas)")
        return ",".join(origins)

    @property
    def cors_origins(self) -> list[str]:
        return self.cors_allow_origin.split(",") if self.cors_allow_origin else []

    @property
    def api_keys(self) -> list[str]:
        return self.api_key.split(",") if self.api_key else []

    @property
    def served_model_names(self) -> list[str]:
        """Every name this server answers to, the reported one first."""
        return self.model_name.split(",")

    @property
    def served_model_name(self) -> str:
        """The name responses and the model list report."""
        return self.served_model_names[0]


def env_var(field_name: str) -> str:
    return ENV_PREFIX + field_name.upper()
