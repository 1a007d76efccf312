#!/usr/bin/env bash
# GPU check: on a machine with an NVIDIA GPU and no network, install the server with its `vllm`
# extra from carried wheels, serve a model through the vLLM engine, send the seed's rerank request
# and a short load (200 requests x 16 documents, 16 in flight), and print scores and throughput.
#
# Usage: scripts/gpu-check.sh [MODEL_DIR]
#   MODEL_DIR  a local model directory (e.g. a copy of BAAI/bge-reranker-base); default: the
#              embedded all-MiniLM-L6-v2 that the package ships.
# Environment:
#   WHEELS=DIR     carried wheels (default: .whl/ at the repository root; git ignores it)
#   VENV=DIR       environment to create or reuse (default: .venv-gpu)
#   PORT=N         server port (default: 8080)
#   REQUESTS=N DOCS=N CONCURRENCY=N   the load (defaults 200, 16, 16)
#   SERVER_ARGS="..."                 more server flags, e.g. "--dtype float16 --max_model_len 512"
#
# Filling WHEELS, on a machine with network, the same CPU architecture and the same Python
# minor version as the GPU machine (from the repository root):
#   python -m pip wheel --wheel-dir .whl '.[vllm]'
# That builds this package's wheel and downloads every dependency (vLLM, CUDA torch: several GB).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODEL_DIR="${1:-}"
WHEELS="${WHEELS:-$ROOT/.whl}"
VENV="${VENV:-$ROOT/.venv-gpu}"
PORT="${PORT:-8080}"
REQUESTS="${REQUESTS:-200}"
DOCS="${DOCS:-16}"
CONCURRENCY="${CONCURRENCY:-16}"
SERVER_ARGS="${SERVER_ARGS:-}"
PYTHON="${PYTHON:-python3}"
LOG="${LOG:-$VENV/gpu-check-server.log}"

fail() {
  echo "gpu-check: $*" >&2
  exit 1
}

command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: this check needs an NVIDIA GPU and its driver"
echo "== GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== install (offline, from $WHEELS)"
if [[ ! -x "$VENV/bin/python" ]]; then
  "$PYTHON" -m venv "$VENV"
fi
if "$VENV/bin/python" -c 'import reranker, vllm' 2>/dev/null; then
  echo "already installed in $VENV"
else
  [[ -d "$WHEELS" ]] || fail "no wheel folder at $WHEELS (see the header of this script to fill it)"
  "$VENV/bin/python" -m pip install --no-index --find-links "$WHEELS" 'kserve-reranker[vllm]'
fi
"$VENV/bin/python" -c 'import torch, vllm; print("vllm", vllm.__version__, "| torch", torch.__version__, "| CUDA", torch.cuda.is_available())'

echo "== serve (vLLM engine) on port $PORT; log: $LOG"
server_args=(--backend vllm --http_port "$PORT")
[[ -n "$MODEL_DIR" ]] && server_args+=(--model_id "$MODEL_DIR")
# SERVER_ARGS is a flag list: split on spaces on purpose.
read -r -a extra_args <<<"$SERVER_ARGS"
server_args+=("${extra_args[@]}")
# Offline: the model is local; never let a library try the hub.
HF_HUB_OFFLINE=1 "$VENV/bin/reranker-server" "${server_args[@]}" >"$LOG" 2>&1 &
server_pid=$!
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true' EXIT

echo "== seed request and load"
if ! "$VENV/bin/python" "$ROOT/scripts/gpu_check_load.py" --url "http://127.0.0.1:$PORT" --server-pid "$server_pid" \
  --requests "$REQUESTS" --docs "$DOCS" --concurrency "$CONCURRENCY"; then
  echo "--- last lines of the server log:" >&2
  tail -n 40 "$LOG" >&2
  fail "the check failed"
fi
echo "== engine chosen (from the server log)"
grep -E "vLLM engine:|backend (vllm|auto|torch)" "$LOG" || true
echo "gpu-check: OK"
