"""`incls eval --json` on the shipped model and twin: one JSON object with the documented keys."""

import json
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_eval_json_reports_both_models_on_held_out_reviews():
    done = subprocess.run([sys.executable, "-m", "incls.cli", "eval", "--limit", "6", "--json"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["n"] == 6 and result["model"].endswith("sentiment-vq.safetensors")
    assert 0.0 <= result["accuracy"] <= 1.0 and 0.0 <= result["baseline_accuracy"] <= 1.0
    assert result["config"]["window"] >= 1 and result["parameters_without_embedding"] > 0
    assert 0 < result["full_forward_tokens"] <= 300 and result["full_forward_ms"] > 0
