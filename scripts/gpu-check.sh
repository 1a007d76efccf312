#!/usr/bin/env bash
# The air-gapped GPU check: benchmarks/gpu/gpu-check.sh, whose header lists its settings.
exec "$(dirname "${BASH_SOURCE[0]}")/../benchmarks/gpu/gpu-check.sh" "$@"
