"""Disabling a file and ignoring a sentence stick across server restarts; bad state files never break the server."""

from __future__ import annotations

import os

from incls.bench.client import StdioClient, is_diagnostics
from incls.reading.choices import Choices

REVIEW = (
    "This film was a delight from start to finish.\n\n"
    "The plot was dull and the acting was wooden.\n\n"
    "I would watch it again."
)


def test_choices_round_trip(tmp_path):
    first = Choices(tmp_path / "choices.json")
    assert first.load() is None  # no file yet: nothing chosen
    assert first.disable("file:///a.txt") is None
    assert first.ignore("file:///b.txt", "k1") is None
    again = Choices(tmp_path / "choices.json")
    assert again.load() is None
    assert again.is_disabled("file:///a.txt") and not again.is_disabled("file:///b.txt")
    assert again.ignored_in("file:///b.txt") == {"k1"}
    assert again.enable("file:///a.txt") is None
    third = Choices(tmp_path / "choices.json")
    third.load()
    assert not third.is_disabled("file:///a.txt")


def test_corrupt_file_is_reported_and_starts_empty(tmp_path):
    path = tmp_path / "choices.json"
    path.write_text("{not json")
    choices = Choices(path)
    problem = choices.load()
    assert problem and str(path) in problem
    assert not choices.disabled and not choices.ignored


def test_failed_save_is_reported_and_the_choice_holds(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    choices = Choices(blocker / "choices.json")  # its directory cannot be made
    problem = choices.disable("file:///a.txt")
    assert problem and "could not save" in problem
    assert choices.is_disabled("file:///a.txt")


def session(state_dir) -> StdioClient:
    client = StdioClient(env={**os.environ, "INCLS_STATE": str(state_dir)})
    client.initialize({"incls": {"sentenceThreshold": 0.0}})
    return client


def diagnostics(client: StdioClient, uri: str, version: int = 1) -> list:
    return client.wait_for(is_diagnostics(uri, version))[1]["params"]["diagnostics"]


def code_actions(client: StdioClient, uri: str, line: int) -> dict:
    position = {"line": line, "character": 2}
    actions = client.request(
        "textDocument/codeAction",
        {"textDocument": {"uri": uri}, "range": {"start": position, "end": position}, "context": {"diagnostics": []}},
    )
    return {a["title"]: a["command"] for a in actions}


def execute(client: StdioClient, command: dict) -> None:
    client.request("workspace/executeCommand", {"command": command["command"], "arguments": command["arguments"]})


def test_disable_and_ignore_survive_a_restart(tmp_path):
    disabled, ignoring = "file:///keep/disabled.txt", "file:///keep/ignoring.txt"
    client = session(tmp_path)
    try:
        client.open(disabled, REVIEW)  # one at a time: waiting for one document skips the other's
        assert diagnostics(client, disabled)
        client.open(ignoring, REVIEW)
        before = diagnostics(client, ignoring)
        hinted = {d["range"]["start"]["line"] for d in before if (d.get("data") or {}).get("kind") == "sentence"}
        assert 2 in hinted, before
        execute(client, code_actions(client, disabled, 0)["Disable incls for this file"])
        execute(client, code_actions(client, ignoring, 2)["Ignore this sentence (incls)"])
    finally:
        client.close()

    client = session(tmp_path)
    try:
        client.open(disabled, REVIEW)
        assert diagnostics(client, disabled) == []
        assert "Enable incls for this file" in code_actions(client, disabled, 0)
        client.open(ignoring, REVIEW)
        after = diagnostics(client, ignoring)
        assert after and all(d["range"]["start"]["line"] != 2 for d in after)
        assert len(after) == len(before) - 1
    finally:
        client.close()
