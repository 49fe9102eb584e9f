"""A report's outcome and status: one pure function each, and the extension's type of the
status generated from the dataclass (`npm run status` in vscode-client/ regenerates it)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from incls.reading.core import Report
from incls.reading.shown import Outcome, Status, outcome, status, typescript

STATUS_TS = Path(__file__).resolve().parents[2] / "vscode-client" / "src" / "status.ts"
LABELS = ("negative", "neutral", "positive")


def reading(**fields) -> Report:
    return Report("file:///a.txt", 3, "It works.", labels=LABELS, probabilities=(0.1, 0.2, 0.7), **fields)


def test_each_outcome_from_the_report_and_the_server():
    assert outcome(reading(), disabled=True, model_failed=False) is Outcome.DISABLED
    assert outcome(reading(skip_reason="too large"), disabled=False, model_failed=False) is Outcome.SKIPPED
    assert outcome(reading(empty=True), disabled=False, model_failed=False) is Outcome.EMPTY
    loading = Report("file:///a.txt", 3, "It works.")
    assert outcome(loading, disabled=False, model_failed=False) is Outcome.LOADING
    assert outcome(loading, disabled=False, model_failed=True) is Outcome.ERROR
    assert outcome(reading(), disabled=False, model_failed=False) is Outcome.READY


def test_the_status_of_a_reading_and_of_none():
    ready = status("file:///a.txt", Outcome.READY, reading(ops=10, ops_full=40, latency_ms=12.345))
    assert (ready.state, ready.tone, ready.confidence, ready.opsSaved, ready.latencyMs) == (
        "ready",
        "positive",
        0.7,
        4.0,
        12.35,
    )
    empty = status("file:///a.txt", Outcome.EMPTY, reading(empty=True))
    assert (empty.state, empty.version, empty.tone) == ("empty", 3, None)
    skipped = status("file:///a.txt", Outcome.SKIPPED, reading(), "too large")
    assert dataclasses.asdict(skipped) == dataclasses.asdict(Status("file:///a.txt", "skipped", "too large"))


def test_the_extension_type_is_generated_from_the_dataclass():
    assert STATUS_TS.read_text(encoding="utf-8") == typescript(), "run `npm run status` in vscode-client/"
