"""`incls check --json` carries the sentence evidence; `--explain` prints it for a person."""

from __future__ import annotations

import json
import math
import subprocess
import sys

LETTER = (
    "To whom it may concern,\n\n"
    "I am writing to complain about the service I received at your store on Main St. last week. "
    "The staff were rude, the order was wrong, and nobody apologised.\n\n"
    "Best regards,\nDana Smith\n"
)


def check(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "incls.cli", "check", *args], capture_output=True, text=True, timeout=300
    )


def test_json_carries_ranges_text_and_contributions_that_add_up(tmp_path):
    letter = tmp_path / "letter.txt"
    letter.write_text(LETTER)
    done = check("--json", str(letter))
    assert done.returncode == 0, done.stderr
    (first,) = json.loads(done.stdout)
    evidence = first["evidence"]
    assert evidence["tone"] == first["label"] and math.isclose(
        evidence["confidence"], max(first["probabilities"].values()), abs_tol=1e-4
    )
    sentences = evidence["sentences"]
    assert [s["kind"] for s in sentences] == ["greeting", "sentence", "sentence", "signoff"]
    assert sentences[1]["text"].startswith("I am writing") and sentences[3]["text"] == "Best regards,\nDana Smith"
    assert sentences[2]["range"]["start"]["line"] == 2 and sentences[3]["range"] == {
        "start": {"line": 4, "character": 0},
        "end": {"line": 5, "character": 10},
    }
    for label, logit in evidence["logits"].items():
        assert math.isclose(sum(s["contribution"][label] for s in sentences), logit, abs_tol=1e-9)
        assert math.isclose(sum(s["pull"][label] for s in sentences), 0.0, abs_tol=1e-9)
    assert all(sentences[h["sentence"]]["kind"] == "sentence" for h in evidence["hints"])


def test_explain_names_the_tone_and_the_sentences_pointed_out(tmp_path):
    letter = tmp_path / "letter.txt"
    letter.write_text(LETTER)
    done = check("--explain", str(letter))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"{letter}: reads ")
    assert "To whom" not in done.stdout and "Dana" not in done.stdout
    assert any("This sentence reads" in line for line in lines[1:]) or "no sentence reads clearly" in done.stdout
