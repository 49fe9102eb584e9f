"""`incls bench --quick --json` runs end to end on the shipped model and finds no mismatch."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

KEYS = {
    "ops_reduction_median",
    "ops_reduction_vs_prefix_median",
    "wall_speedup_median",
    "mismatch_rate",
    "by_kind_and_length",
    "memory_bytes_per_document",
    "memory_bytes_per_token_per_layer",
}


@pytest.mark.slow
def test_bench_quick_json(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "incls.cli", "bench", "--quick", "--json", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert KEYS <= set(summary)
    assert summary["mismatch_rate"] == 0
    assert summary["edits_checked"] == summary["edits"] > 0
    assert summary["ops_reduction_median"] > 1
    assert set(summary["memory_bytes_per_document"]) == {"300", "1000", "4000"}
    assert 0 < summary["memory_bytes_per_token_per_layer"] <= 4096
    assert (tmp_path / "bench.json").is_file() and (tmp_path / "bench.png").stat().st_size > 0
