"""`incls eval`: what it asks for, what it refuses, and its report of the model, the twin
and the TF-IDF baseline side by side."""

import json
import subprocess
import sys

import pytest

from incls.cli import main
from incls.model.checkpoint import save_checkpoint
from incls.model.config import tiny_config
from incls.model.transformer import VQTransformer


def test_data_without_model_says_what_to_pass(tmp_path, capsys):
    data = tmp_path / "mine.csv"
    data.write_text("text,label\nlovely,pos\nawful,neg\n", encoding="utf-8")
    assert main(["eval", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert f"--data {data}" in err and "Fix: pass --model PATH of a model trained on this data" in err
    assert "Traceback" not in err


def test_unknown_set_lists_the_known_ones(capsys):
    assert main(["eval", "--sets", "imdb,reddit"]) == 2
    assert (
        "unknown held-out set reddit. Fix: pass --sets with names among imdb, tweets, rt, everyday, drugs"
        in capsys.readouterr().err
    )


def test_a_set_the_model_cannot_read_is_refused_before_any_work(tmp_path, capsys):
    path = tmp_path / "sentiment.safetensors"
    save_checkpoint(VQTransformer(tiny_config(labels=("negative", "positive"))), path)
    assert main(["eval", "--model", str(path), "--sets", "everyday", "--no-baseline"]) == 2
    err = capsys.readouterr().err
    assert "held-out set `everyday` has labels ['negative', 'neutral', 'positive']" in err
    assert f"{path} reads ['negative', 'positive'] (no neutral)" in err and "Fix:" in err


@pytest.mark.slow
def test_eval_json_reports_both_models_on_held_out_reviews():
    done = subprocess.run(
        [sys.executable, "-m", "incls.cli", "eval", "--limit", "6", "--no-baseline", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    imdb = result["sets"]["imdb"]
    assert imdb["n"] == 6 and result["model"].endswith("sentiment-vq.safetensors")
    assert 0.0 <= imdb["model"]["accuracy"] <= 1.0 and 0.0 <= imdb["twin"]["accuracy"] <= 1.0
    assert result["baseline"] is None and "tfidf" not in imdb
    assert result["config"]["window"] >= 1 and result["parameters_without_embedding"] > 0
    assert 0 < result["full_forward_tokens"] <= 300 and result["full_forward_ms"] > 0


def test_csv_with_one_class_names_the_file_and_the_fix(tmp_path, capsys):
    model = tmp_path / "sentiment.safetensors"
    save_checkpoint(VQTransformer(tiny_config(labels=("negative", "positive"))), model)
    data = tmp_path / "one.csv"
    data.write_text("text,label\n" + "".join(f"nice thing {i},positive\n" for i in range(20)), encoding="utf-8")
    assert main(["eval", "--model", str(model), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert f"{data} has a single class ('positive')" in err and "Fix: add examples of another class" in err
