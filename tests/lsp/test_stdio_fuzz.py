"""The same random change sequences as test_core_fuzz, through the real server over stdio.

Incremental and whole-text didChange notifications with emoji, combining marks and CRLF:
afterwards the server's text equals the expected text, its token ids equal the
tokenizer's, and the diagnostics it published for the last version equal those of a
fresh didOpen of the same text.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import Phase, given, settings, strategies as st

from incls.bench.client import StdioClient, is_diagnostics

from lsp_helpers import change_for, expected_after, model_and_tokenizer, texts

_server: dict = {}
_uris = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def server():
    client = StdioClient()
    client.initialize({"incls": {"sentenceThreshold": 0.0}})
    _server["client"] = client
    yield client
    client.close()


def as_message(change) -> dict:
    if change.range is None:
        return {"text": change.text}
    (l0, c0), (l1, c1) = change.range
    return {
        "text": change.text,
        "range": {"start": {"line": l0, "character": c0}, "end": {"line": l1, "character": c1}},
    }


def published(client: StdioClient, uri: str, version: int) -> list:
    _, message = client.wait_for(is_diagnostics(uri, version))
    return [(d["range"], d.get("code"), d.get("severity"), d["message"]) for d in message["params"]["diagnostics"]]


@settings(
    max_examples=12, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate]
)  # shrinking over stdio takes minutes
@given(data=st.data())
def test_random_changes_over_stdio_match_a_fresh_open(data):
    client = _server["client"]
    tokenizer, _ = model_and_tokenizer()
    uri, fresh_uri = f"file:///fuzz/{next(_uris)}.txt", f"file:///fuzz/{next(_uris)}.txt"
    text = data.draw(texts)
    client.open(uri, text)
    version, diagnostics = 1, None
    for version in range(2, 2 + data.draw(st.integers(1, 5))):
        batch = []  # several changes in one notification apply in order, each to the text before it
        for _ in range(data.draw(st.integers(1, 2))):
            batch.append(data.draw(change_for(text)))
            text = expected_after(text, batch[-1])
        client.change(uri, version, [as_message(c) for c in batch])
        diagnostics = None
        if data.draw(st.booleans()):  # sometimes the model sees each version, sometimes a burst
            diagnostics = published(client, uri, version)
    if diagnostics is None:
        diagnostics = published(client, uri, version)
    state = client.request("workspace/executeCommand", {"command": "incls.inspect", "arguments": [uri]})
    assert state["text"] == text
    assert state["ids"] == tokenizer.encode(text).ids
    client.open(fresh_uri, text)
    assert diagnostics == published(client, fresh_uri, 1)
    for done in (uri, fresh_uri):
        client.notify("textDocument/didClose", {"textDocument": {"uri": done}})
