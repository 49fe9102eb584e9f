"""`incls train` as a user runs it: documented options, clear refusals, a run that stops,
resumes, scores its held-out 10% and prints one JSON summary on stdout."""

import argparse
import csv
import json
import random
import signal
import subprocess
import sys
import threading
import time

import pytest
import torch

from incls.cli import main
from incls.train import command

GOOD = ["wonderful", "great", "superb", "lovely"]
BAD = ["awful", "terrible", "dreadful", "boring"]
FILLER = "the film had a plot and some actors in it".split()
TINY = [
    "--recipe",
    "layers",
    "--layers",
    "1",
    "--frozen-layers",
    "0",
    "--steps",
    "3",
    "--batch-size",
    "8",
    "--max-tokens",
    "24",
    "--codebook-size",
    "8",
]


def write_csv(path, n=60, labels=("bad", "good")):
    rng = random.Random(0)
    with path.open("w", newline="", encoding="utf-8") as f:
        out = csv.writer(f)
        out.writerow(["text", "label"])
        for i in range(n):
            y = i % len(labels)
            words = rng.sample(FILLER, 5) + [rng.choice(GOOD if y else BAD)]
            rng.shuffle(words)
            out.writerow([" ".join(words), labels[y]])
    return path


def incls(*argv, cwd):
    return subprocess.run(
        [sys.executable, "-m", "incls.cli", *argv], capture_output=True, text=True, cwd=cwd, timeout=600
    )


def test_help_describes_every_option_with_its_default():
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    for action in parser._actions:
        if action.dest == "help":
            continue
        assert action.help and ("default" in action.help or action.required), action.dest
        if action.default not in (None, False):
            assert "%(default)s" in action.help, action.dest
    text = parser.format_help()
    assert "--resume [DIR]" in text and "(default: 50)" in text


def test_csv_with_one_class_names_the_file_and_the_fix(tmp_path, capsys):
    path = tmp_path / "one.csv"
    path.write_text("text,label\nfine day,ok\nnice one,ok\n", encoding="utf-8")
    assert main(["train", "--data", str(path), "--out", str(tmp_path / "m.safetensors")]) == 2
    err = capsys.readouterr().err
    assert f"{path} has a single class ('ok')" in err and "Fix: add examples of another class" in err
    assert not (tmp_path / "m.safetensors").exists()


def test_review_state_docs_with_a_users_file_names_the_option_and_the_fix(tmp_path, capsys):
    """IMDB reviews for the state vote are the tone data's: with --data the option is refused, not ignored."""
    data = write_csv(tmp_path / "two.csv")
    argv = ["train", "--recipe", "head", "--data", str(data), "--out", str(tmp_path / "m.safetensors")]
    assert main([*argv, "--review-state-docs", "64"]) == 2
    err = capsys.readouterr().err
    assert f"not {data}'s documents" in err and "Fix: pass --state-docs N" in err
    assert not (tmp_path / "m.safetensors").exists()


def test_a_run_checkpoints_into_its_run_folder_under_the_cache_and_resumes_from_it(tmp_path, monkeypatch, capsys):
    """With no --checkpoint-dir a run keeps its state in a folder under the cache named by
    --out; `--resume` alone continues it there, and a fresh start into it is refused."""
    monkeypatch.setenv("INCLS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(sys, "argv", ["incls", "train"])
    data = write_csv(tmp_path / "two.csv")
    run = ["train", "--data", str(data), "--out", str(tmp_path / "m.safetensors"), *TINY, "--eval-limit", "0"]
    assert main([*run, "--stop-after", "2"]) == 0
    stopped = json.loads(capsys.readouterr().out)
    folder = command.default_run_dir(tmp_path / "m.safetensors")
    assert folder.parent == tmp_path / "cache" / "runs" and folder.name.startswith("m-")
    assert stopped["stopped"] and stopped["resume"].endswith(f"--resume {folder}")
    assert (folder / "step-00000002.json").is_file() and (folder / "progress.jsonl").is_file()
    assert main(run) == 2
    assert "holds the checkpoints of an earlier run" in capsys.readouterr().err
    middle = tmp_path / "middle.safetensors"
    assert main(["train", "--recipe", "layers", "--export", "--checkpoint-dir", str(folder), "--out", str(middle)]) == 0
    assert json.loads(capsys.readouterr().out) == {"out": str(middle), "from": str(folder), "step": 2}
    from incls.model.checkpoint import load_model

    assert load_model(middle).cfg.labels == ("bad", "good")
    assert main([*run, "--resume"]) == 0
    finished = json.loads(capsys.readouterr().out)
    assert finished["steps"] == 3 and finished["out"] == str(tmp_path / "m.safetensors")


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory):
    """A tiny run on the real base (1 layer) stopped after step 2 with checkpoints in ck/."""
    folder = tmp_path_factory.mktemp("run")
    write_csv(folder / "two.csv")
    done = incls(
        "train",
        "--data",
        "two.csv",
        "--out",
        "m.safetensors",
        *TINY,
        "--checkpoint-dir",
        "ck",
        "--checkpoint-every",
        "1",
        "--stop-after",
        "2",
        cwd=folder,
    )
    assert done.returncode == 0, done.stderr
    return folder, json.loads(done.stdout)


@pytest.mark.slow
def test_stopped_run_prints_how_to_resume(stopped_run):
    folder, summary = stopped_run
    assert summary["stopped"] and summary["steps"] == 2 and summary["out"] is None
    assert summary["resume"].endswith("--resume ck") and "--stop-after" not in summary["resume"]
    assert (folder / "ck" / "step-00000002.json").is_file() and not (folder / "m.safetensors").exists()


@pytest.mark.slow
def test_resume_with_other_options_is_refused(stopped_run):
    folder, _ = stopped_run
    refused = incls(
        "train", "--data", "two.csv", "--out", "m.safetensors", *TINY, "--window", "32", "--resume", "ck", cwd=folder
    )
    assert refused.returncode == 2 and refused.stdout == ""
    assert "model_config.window: this run 32, checkpoint 64: ck/step-00000002.json" in refused.stderr
    assert (
        "Fix: resume with the options and data of the run that wrote it (it was written by: incls train"
        in refused.stderr
    )
    assert "Traceback" not in refused.stderr


@pytest.fixture(scope="module")
def finished_run(stopped_run):
    folder, _ = stopped_run
    done = incls("train", "--data", "two.csv", "--out", "m.safetensors", *TINY, "--resume", "ck", cwd=folder)
    assert done.returncode == 0, done.stderr
    return folder, done


@pytest.mark.slow
def test_resumed_run_scores_its_held_out_ten_percent(finished_run):
    folder, done = finished_run
    assert "resumed from step 2 of 3" in done.stderr and "held-out data (6 documents)" in done.stderr
    result = json.loads(done.stdout)  # stdout is the summary alone
    assert result["steps"] == 3 and result["out"] == "m.safetensors" and result["examples"] == 54
    assert result["held_out"]["data"]["n"] == 6 and 0.0 <= result["held_out"]["data"]["accuracy"] <= 1.0
    from safetensors import safe_open

    with safe_open(str(folder / "m.safetensors"), framework="pt") as f:
        assert json.loads(f.metadata()["held_out"]) == result["held_out"]


@pytest.mark.slow
def test_eval_of_a_users_model_sets_it_beside_the_baseline(finished_run):
    folder, _ = finished_run
    done = incls("eval", "--model", "m.safetensors", "--data", "two.csv", "--json", cwd=folder)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    data = result["sets"]["data"]
    assert result["twin"] is None and data["n"] == 6 and data["labels"] == ["bad", "good"]
    assert set(data) == {"n", "labels", "model", "tfidf"}
    assert result["baseline"]["trained_on"] == ["data train (90%)"] and result["baseline"]["examples"] == 54
    assert "baseline: TF-IDF (word 1-2 grams) on 54 training documents" in done.stderr
    table = incls("eval", "--model", "m.safetensors", "--data", "two.csv", cwd=folder).stdout.splitlines()
    assert table[0].split() == ["held-out", "set", "n", "model", "TF-IDF", "+", "LR"]
    assert table[1].split()[:2] == ["data", "6"]


@pytest.mark.slow
def test_eval_without_scikit_learn_reports_the_models_and_how_to_add_the_baseline(finished_run):
    folder, _ = finished_run
    hide = "import sys; sys.modules['sklearn'] = None; from incls.cli import main; sys.exit(main(sys.argv[1:]))"
    done = subprocess.run(
        [sys.executable, "-c", hide, "eval", "--model", "m.safetensors", "--data", "two.csv", "--json"],
        capture_output=True,
        text=True,
        cwd=folder,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert "Fix: pip install 'incls[train]' (or pip install scikit-learn)" in result["baseline"]["skipped"]
    assert set(result["sets"]["data"]) == {"n", "labels", "model"}
    assert "baseline skipped: scikit-learn is not installed" in done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_or_sigterm_ends_the_run_after_a_step_with_a_checkpoint(tmp_path, sig):
    write_csv(tmp_path / "two.csv")
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "incls.cli",
            "train",
            "--data",
            "two.csv",
            "--out",
            "m.safetensors",
            *TINY,
            "--steps",
            "500",
            "--checkpoint-dir",
            "ck",
            "--checkpoint-every",
            "1000",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    err = []
    reader = threading.Thread(target=lambda: err.extend(iter(lambda: run.stderr.read(1), "")), daemon=True)
    reader.start()
    deadline = time.time() + 300
    while '"step": ' not in "".join(err) and time.time() < deadline:  # the first step's progress line
        time.sleep(0.2)
    time.sleep(1.0)
    run.send_signal(sig)
    run.wait(timeout=300)  # stdout is one short line: no pipe to drain
    out = run.stdout.read()
    reader.join(timeout=10)
    assert run.returncode == 0, "".join(err)
    summary = json.loads(out)
    assert summary["stopped"] and 1 <= summary["steps"] < 500
    assert f"interrupted ({sig.name}): stopping after this step, with a checkpoint" in "".join(err)
    assert [p.name for p in (tmp_path / "ck").glob("*.json")] == [f"step-{summary['steps']:08d}.json"]


@pytest.mark.slow
def test_init_from_another_number_of_classes_starts_a_new_head(tmp_path):
    from incls.model.checkpoint import model_from_base, save_checkpoint
    from incls.model.config import ModelConfig

    quiet = lambda *_: None
    source = ModelConfig(base_layers=(0,), frozen_layers=0, codebook_size=8, labels=("bad", "good"))
    trained = model_from_base(source, log=quiet)
    with torch.no_grad():  # stands for what training changed
        trained.layers[0].q_proj.weight.add_(0.5)
        trained.classifier.weight.normal_()
    save_checkpoint(trained, tmp_path / "two-classes.safetensors", dtype=torch.float32)

    model = model_from_base(source.replace(labels=("negative", "neutral", "positive")), log=quiet)
    fresh_head = model.classifier.weight.detach().clone()
    messages = []
    command.init_from(model, tmp_path / "two-classes.safetensors", log=messages.append)
    assert len(messages) == 1
    assert "its head reads 2 classes (bad, good), this run trains 3 (negative, neutral, positive)" in messages[0]
    assert "(classifier.bias, classifier.weight) starts afresh" in messages[0]
    assert torch.equal(model.classifier.weight, fresh_head)
    assert torch.equal(model.layers[0].q_proj.weight, trained.layers[0].q_proj.weight)


@pytest.mark.slow
def test_warm_start_continues_from_a_checkpoint_file_with_its_codebooks(finished_run, tmp_path):
    """When a run's folder is gone, --warm-start continues from its weights file: the
    codebooks are the file's (not re-initialised), the optimizer starts afresh."""
    from incls.model.checkpoint import load_model

    folder, _ = finished_run
    start = load_model(folder / "m.safetensors")
    write_csv(tmp_path / "two.csv")
    done = incls(
        "train",
        "--data",
        "two.csv",
        "--out",
        "warm.safetensors",
        *TINY,
        "--steps",
        "1",
        "--lr",
        "0",
        "--warm-start",
        str(folder / "m.safetensors"),
        "--checkpoint-dir",
        "ck",
        "--eval-limit",
        "0",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    warm = load_model(tmp_path / "warm.safetensors")
    for mine, theirs in zip(warm.layers, start.layers):  # lr 0: nothing moved but what k-means would redo
        assert torch.equal(mine.codebooks.codes, theirs.codebooks.codes)
        assert torch.equal(mine.q_proj.weight, theirs.q_proj.weight)


@pytest.mark.slow
def test_a_users_data_trains_the_shipped_layers_for_a_few_passes_and_scores_tfidf_beside(tmp_path):
    """`incls train --data FILE` with its defaults: the layers recipe from the shipped model's
    layers (its shape, so an edit costs what it costs there), three passes over the 90%,
    and the held-out score printed beside TF-IDF's on the same split."""
    from incls.model.checkpoint import DEFAULT_MODEL, load_model, read_checkpoint

    write_csv(tmp_path / "two.csv", n=40)
    done = incls(
        "train",
        "--data",
        "two.csv",
        "--out",
        "m.safetensors",
        "--eval-limit",
        "10",
        "--checkpoint-dir",
        "ck",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["steps"] == -(-3 * 36 // 16)  # three passes over the 36 training rows
    assert set(summary["held_out"]["data"]["tfidf"]) >= {"accuracy", "macro_f1"}
    assert "TF-IDF + logistic regression on the same split" in done.stderr
    shipped, trained = read_checkpoint(DEFAULT_MODEL)[0], load_model(tmp_path / "m.safetensors").cfg
    assert (trained.window, trained.codebook_size, trained.local_layers) == (
        shipped.window,
        shipped.codebook_size,
        shipped.local_layers,
    )
    assert trained.labels == ("bad", "good")


def test_warm_start_of_another_shape_names_the_file_and_the_fix(tmp_path, capsys):
    """Starting weights whose layers have another shape are refused before training."""
    from incls.model.checkpoint import DEFAULT_MODEL

    data = write_csv(tmp_path / "two.csv")
    argv = ["train", "--data", str(data), "--out", str(tmp_path / "m.safetensors"), "--checkpoint-dir", str(tmp_path)]
    assert main([*argv, "--warm-start", str(DEFAULT_MODEL), "--codebook-size", "8"]) == 2
    err = capsys.readouterr().err
    assert "the starting weights do not fit this model (layers.0.codebooks.codes" in err
    assert str(DEFAULT_MODEL) in err and "Fix: pass the model options of the run that wrote it" in err
