"""A misbehaving editor over raw stdio, second round: nesting that would exhaust the stack,
batches, lengths that lie, versions that go backwards, crafted checkpoints and settings
values of a megabyte. Every request is answered, the reader always goes back to reading
frames, and the process ends when its input closes."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from incls.lsp.wire import MAX_DEPTH, STALL

from hostile import RawServer, serving

INVALID_REQUEST = -32600
TEXT = "A fine film.\n\nI liked it a lot."
URI = "file:///f/doc.txt"
HOVER = {"textDocument": {"uri": URI}, "position": {"line": 0, "character": 0}}


@pytest.fixture(scope="module")
def server():
    yield from serving(URI, TEXT)


def raw(body: bytes, length: int | None = None) -> bytes:
    """A frame of `body` whose header declares `length` (by default, the truth)."""
    return f"Content-Length: {len(body) if length is None else length}\r\n\r\n".encode() + body


def body_of(message: dict) -> bytes:
    return json.dumps(message).encode()


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def deep_hover(msg_id: int, depth: int) -> bytes:
    """An ordinary hover request whose params carry `depth` nested arrays (about 2 KB at 990)."""
    return (
        b'{"jsonrpc": "2.0", "id": %d, "method": "textDocument/hover", "params": '
        b'{"textDocument": {"uri": "%s"}, "position": {"line": 0, "character": 0}, "deep": %s}}'
        % (msg_id, URI.encode(), nested(depth))
    )


def alive(s: RawServer) -> bool:
    return "result" in s.request("textDocument/hover", HOVER, timeout=15)


def error_code(reply: dict) -> int | None:
    return (reply.get("error") or {}).get("code")


# -- nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [MAX_DEPTH + 6, 984, 990, 20_000])
def test_a_deeply_nested_request_gets_invalid_request_with_its_id_and_the_server_hears_on(server, depth):
    """At 982-986 the request went unanswered; at 990 the reader died and the server went deaf."""
    msg_id = 10_000 + depth
    server.write(raw(deep_hover(msg_id, depth)))
    reply = server.response(msg_id, timeout=15)
    assert error_code(reply) == INVALID_REQUEST and str(MAX_DEPTH) in reply["error"]["message"]
    assert alive(server)


def test_a_request_nested_after_its_params_still_gets_its_id_back(server):
    body = b'{"jsonrpc": "2.0", "method": "textDocument/hover", "params": {"x": %s}, "id": "late"}' % nested(5000)
    server.write(raw(body))
    assert error_code(server.response("late", timeout=15)) == INVALID_REQUEST
    assert alive(server)


@pytest.mark.parametrize("depth", [990, 100_000])
def test_a_body_that_is_only_nested_arrays_is_logged_and_the_reader_goes_on(server, depth):
    server.write(raw(nested(depth)))
    assert alive(server)


def test_the_process_ends_when_its_input_closes_whatever_came_before():
    s = RawServer()
    try:
        s.initialize()
        s.write(raw(nested(990)) + raw(deep_hover(7, 990)))
        assert error_code(s.response(7, timeout=15)) == INVALID_REQUEST
        started = time.monotonic()
        s.process.stdin.close()
        assert s.wait(10) == 1 and time.monotonic() - started < 2.0
    finally:
        s.close()


# -- batches ---------------------------------------------------------------------------------


def test_a_batch_gets_an_error_for_each_of_its_requests(server):
    a = server.request_message("textDocument/hover", HOVER)
    b = server.request_message("textDocument/hover", HOVER)
    note = {"jsonrpc": "2.0", "method": "textDocument/didSave", "params": {}}
    server.write(raw(body_of([a, note, b])))  # type: ignore[arg-type]
    reply = server.next(lambda m: isinstance(m, list), timeout=15)
    assert sorted(r["id"] for r in reply) == sorted([a["id"], b["id"]])
    assert all(r["error"]["code"] == INVALID_REQUEST and "batch" in r["error"]["message"] for r in reply)
    assert alive(server)


@pytest.mark.parametrize("batch", [[], [1, 2], [{"jsonrpc": "2.0", "method": "textDocument/didSave", "params": {}}]])
def test_a_batch_without_requests_gets_one_error_with_a_null_id(server, batch):
    server.write(raw(json.dumps(batch).encode()))
    reply = server.next(lambda m: isinstance(m, dict) and "error" in m and m.get("id") is None, timeout=15)
    assert reply["error"]["code"] == INVALID_REQUEST
    assert alive(server)


# -- lengths that lie ------------------------------------------------------------------------


@pytest.mark.parametrize("extra", [3, 15, 40])
def test_a_length_a_few_bytes_too_long_gives_the_next_frame_its_header_back(server, extra):
    first = server.request_message("textDocument/hover", HOVER)
    second = server.request_message("textDocument/hover", HOVER)
    data = body_of(first)
    server.write(raw(data, len(data) + extra) + raw(body_of(second)))
    assert "result" in server.response(first["id"], timeout=15)
    assert "result" in server.response(second["id"], timeout=15)


@pytest.mark.parametrize("declared", [10_000, 300_000_000])
def test_a_length_whose_bytes_never_come_is_given_up_and_the_reader_resynchronises(server, declared):
    """Before: the server waited for those bytes for ever, deaf to every later frame."""
    stuck = server.request_message("textDocument/hover", HOVER)
    server.write(raw(body_of(stuck), declared))
    assert "result" in server.response(stuck["id"], timeout=STALL + 15)  # what came is read, once it stops coming
    assert alive(server)


# -- versions ----------------------------------------------------------------------------------


def test_a_change_with_an_older_version_is_applied_the_clients_text_wins(server):
    uri = "file:///f/versions.txt"
    server.open(uri, TEXT)
    server.change(uri, 5, "Awful", (0, 2), (0, 6))
    server.change(uri, 3, "The food was cold and the staff were rude.")  # the whole text, marked older
    assert server.diagnostics(uri, 3)[0]["source"] == "incls"
    state = server.inspect(uri)
    assert state["text"] == "The food was cold and the staff were rude." and state["version"] == 3
    server.change(uri, 2, "Lovely", (0, 4), (0, 8))  # a range edit marked older still
    server.diagnostics(uri, 2)
    assert server.inspect(uri)["text"] == "The Lovely was cold and the staff were rude."
    assert server.inspect(uri)["outOfSync"] is False
    server.notify("textDocument/didChange", {"textDocument": {"uri": uri, "version": 9}, "contentChanges": []})
    assert server.diagnostics(uri, 9)[0]["source"] == "incls"  # a new version, the same text: published for it


# -- settings and checkpoints ------------------------------------------------------------------


def test_a_bad_setting_is_quoted_short_and_shown_once_whatever_its_values(server):
    before = len(server.popups())
    huge = "x" * 1_000_000
    for k in range(50):
        value = huge if k == 25 else f"loud-{k}"
        server.notify("workspace/didChangeConfiguration", {"settings": {"incls": {"severity": value}}})
    server.notify("workspace/didChangeConfiguration", {"settings": {"incls": {"nope" + huge: 1, "modelPath": huge}}})
    assert alive(server)
    deadline = time.monotonic() + 30
    while not any("modelPath" in p for p in server.popups()[before:]) and time.monotonic() < deadline:
        time.sleep(0.2)
    popups = server.popups()[before:]
    assert len([p for p in popups if "incls.severity" in p]) == 1
    assert [p for p in popups if "modelPath" in p and "Fix" in p]
    assert all(len(m) < 1000 for m in popups + server.log_messages()), max(map(len, popups))
    server.notify("workspace/didChangeConfiguration", {"settings": {"incls": {"modelPath": ""}}})
    server.notify("workspace/didChangeConfiguration", {"settings": {"incls": {"severity": "information"}}})


def crafted(tmp_path: Path, **config) -> Path:
    """The shipped checkpoint with its config changed (its n-gram table beside it)."""
    from safetensors.torch import load_file, safe_open, save_file

    from incls.model.checkpoint import DEFAULT_MODEL, ngram_table_path

    with safe_open(str(DEFAULT_MODEL), framework="pt") as f:
        metadata = dict(f.metadata())
    metadata["config"] = json.dumps({**json.loads(metadata["config"]), **config})
    path = tmp_path / "crafted.safetensors"
    save_file(load_file(str(DEFAULT_MODEL)), str(path), metadata=metadata)
    ngram_table_path(path).write_bytes(ngram_table_path(DEFAULT_MODEL).read_bytes())
    return path


@pytest.mark.parametrize(
    "config", [{"d_model": -1}, {"ngram_buckets": 2**40}, {"vocab_size": 2**34}, {"window": "wide"}]
)
def test_a_checkpoint_whose_config_cannot_serve_falls_back_to_the_shipped_model_at_once(tmp_path, config):
    path = crafted(tmp_path, **config)
    s = RawServer()
    try:
        started = time.monotonic()
        s.initialize({"incls": {"modelPath": str(path)}})
        s.open(URI, TEXT)
        assert s.diagnostics(URI, 1, timeout=30)[0]["source"] == "incls"  # the shipped model serves
        assert time.monotonic() - started < 30
        popups = [p for p in s.popups() if "modelPath" in p]
        assert len(popups) == 1 and "Fix" in popups[0] and "shipped model is used" in popups[0], popups
    finally:
        s.close()
