#!/usr/bin/env bash
# GPU check: on an NVIDIA machine without network whose Python has CUDA torch, transformers and
# sentence-transformers (and no vLLM, FastAPI or uvicorn), install our server from the wheels
# carried in .whl/, build a random-weight model in bge-reranker-base's shape, and run the benchmark's
# side-by-side there: sentence-transformers in-process against our server's torch engine on the
# same GPU, float16 and bfloat16, concurrency 1, 16 and 64 (1 query + 20 documents of 30 tokens),
# and the seed request alone, both systems loaded together and measured in turns (2 rounds per
# point, medians). Prints the table (docs/s, p50/p99, ratio to in-process, GPU memory) and writes
# it as JSON. About 5 minutes on an H100 (estimated: not yet run on one).
#
# Usage: scripts/gpu-check.sh   (from anywhere; the repository travels with it)
# Fill .whl/ first, on a machine with network: make gpu-wheels (about 4 MiB).
# Environment:
#   PYTHON=python3        the machine's Python, the one with CUDA torch
#   WHEELS=DIR            the carried wheels (default: .whl/ at the repository root)
#   SITE=DIR              where they are installed, afresh each run (default: $TMPDIR/kserve-reranker-gpu-site)
#   RESULTS=DIR           bench.json and the server logs (default: $TMPDIR/kserve-reranker-gpu-check)
#   SHAPE=NAME            the model's shape (default bge-reranker-base; tiny-xlm-roberta: a small
#                         stand-in of the same architecture for CPU runs)
#   DEVICE=cuda           cpu runs the same check without a GPU (the CI run)
#   DTYPES="float16 bfloat16"  CONCURRENCY="1 16 64"  POINT_SECONDS=5  REPEAT=2  WARMUP=2
#   BENCH_ARGS="..."      more benchmarks.bench flags (e.g. --server-args "--max_batch_tokens 32768")
#
# Why a --target folder on PYTHONPATH and not a virtual environment: on some GPU hosts the
# Python that has torch is itself a venv (/opt/torch/.venv), and a venv made from it with
# --system-site-packages sees the base interpreter's packages, not torch; some distributions'
# Pythons also lack ensurepip. Packages in the folder shadow the machine's own; pip installs with
# --no-deps from the folder alone (--no-index), so it never reaches for torch or the network.
#
# vLLM on a GPU is not part of this check (its wheel and CUDA torch are several GB). On a GPU
# machine with network, the same side-by-side with vLLM's own server and our vLLM engine:
#   python3 -m venv .venv-gpu && .venv-gpu/bin/pip install -e '.[vllm]' tokenizers
#   .venv-gpu/bin/python -m benchmarks.bench --vllm-venv .venv-gpu --shape bge-reranker-base \
#     --workloads cross-encoder seed --dtype float16 bfloat16 --concurrency 1 16 64 --json gpu-bench.json
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PYTHON="${PYTHON:-python3}"
WHEELS="${WHEELS:-$ROOT/.whl}"
SITE="${SITE:-${TMPDIR:-/tmp}/kserve-reranker-gpu-site}"
RESULTS="${RESULTS:-${TMPDIR:-/tmp}/kserve-reranker-gpu-check}"
SHAPE="${SHAPE:-bge-reranker-base}"
DEVICE="${DEVICE:-cuda}"
DTYPES="${DTYPES:-float16 bfloat16}"
CONCURRENCY="${CONCURRENCY:-1 16 64}"
POINT_SECONDS="${POINT_SECONDS:-5}"
REPEAT="${REPEAT:-2}"
WARMUP="${WARMUP:-2}"
BENCH_ARGS="${BENCH_ARGS:-}"

fail() {
  echo "gpu-check: $*" >&2
  exit 1
}

command -v nvidia-smi >/dev/null || fail "nvidia-smi not found: this check needs an NVIDIA GPU and its driver"
echo "== GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

echo "== install (offline, from $WHEELS into $SITE)"
shopt -s nullglob
wheels=("$WHEELS"/*.whl)
shopt -u nullglob
((${#wheels[@]})) || fail "no wheels in $WHEELS (make gpu-wheels, on a machine with network)"
rm -rf "$SITE"
"$PYTHON" -m pip install --quiet --no-index --no-deps --no-compile --no-cache-dir --disable-pip-version-check \
  --target "$SITE" "${wheels[@]}"
export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
# Offline: every model is local; never let a library try the hub.
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
"$PYTHON" - <<'EOF' || fail "the server does not import with the machine's packages and the carried wheels"
import fastapi, sentence_transformers, torch, transformers, uvicorn
import reranker.server, reranker.engine.torch_engine  # noqa: F401  (everything the torch engine's server needs)
print(f"torch {torch.__version__} (CUDA {torch.cuda.is_available()}) | transformers {transformers.__version__}"
      f" | sentence-transformers {sentence_transformers.__version__} | fastapi {fastapi.__version__}"
      f" | uvicorn {uvicorn.__version__}")
EOF

echo "== bench: in-process sentence-transformers vs our server (torch engine), $SHAPE on $DEVICE"
mkdir -p "$RESULTS"
# Space-separated lists and flags: split on purpose.
read -r -a dtypes <<<"$DTYPES"
read -r -a concurrency <<<"$CONCURRENCY"
read -r -a extra_args <<<"$BENCH_ARGS"
(cd "$ROOT" && "$PYTHON" -m benchmarks.bench --systems in-process server --workloads cross-encoder seed \
  --shape "$SHAPE" --device "$DEVICE" --dtype "${dtypes[@]}" --concurrency "${concurrency[@]}" \
  --seconds "$POINT_SECONDS" --repeat "$REPEAT" --warmup "$WARMUP" --log-dir "$RESULTS/logs" --json "$RESULTS/bench.json" \
  "${extra_args[@]}") || fail "the bench failed (server logs in $RESULTS/logs)"
echo "gpu-check: OK ($RESULTS/bench.json)"
