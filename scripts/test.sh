#!/usr/bin/env bash
# Set up from scratch and run the whole test suite: Python packages, the base model,
# the editors for the live tests (apt, npm, code-server), the VS Code extension, pytest.
# Usage: scripts/test.sh [extra pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --test
. .venv/bin/activate
scripts/install-editors.sh
mkdir -p test-artifacts
python -m pytest -ra --durations=15 "$@"
