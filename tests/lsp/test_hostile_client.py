"""A hostile client against the real stdio server: every request answered, broken frames
survived, the exact text kept, bounded work, bearable messages, exit codes per the spec."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

import incls
from incls.bench.client import frame

from hostile import RawServer

INVALID_REQUEST, INVALID_PARAMS, SERVER_NOT_INITIALIZED = -32600, -32602, -32002
TEXT = "A fine film.\n\nI liked it a lot."
POSITION = {"line": 0, "character": 0}


@pytest.fixture(scope="module")
def server():
    s = RawServer()
    s.initialize({"incls": {"maxDocumentBytes": 300_000}})
    s.open("file:///h/doc.txt", TEXT)
    s.diagnostics("file:///h/doc.txt", 1)
    yield s
    s.close()


def error_code(reply: dict) -> int | None:
    return (reply.get("error") or {}).get("code")


def hover(uri: str, line: int = 0, character: int = 0) -> dict:
    return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}


# -- every request answered -----------------------------------------------------------------


@pytest.mark.parametrize(
    "params",
    [
        hover("file:///h/doc.txt", line=-1),
        None,
        {"textDocument": None, "position": POSITION},
        {"position": POSITION},
    ],
)
def test_invalid_hover_params_get_invalid_params(server, params):
    assert error_code(server.request("textDocument/hover", params, timeout=10)) == INVALID_PARAMS


@pytest.mark.parametrize(
    "method, params",
    [
        ("textDocument/codeAction", {"textDocument": None, "range": None, "context": None}),
        ("textDocument/codeAction", None),
        ("workspace/executeCommand", {"command": None}),
        ("workspace/executeCommand", {"command": "incls.disableForFile", "arguments": None}),
        ("workspace/executeCommand", {"command": "incls.disableForFile", "arguments": [None]}),
        ("workspace/executeCommand", {"command": "incls.ignoreParagraph", "arguments": ["file:///h/doc.txt"]}),
    ],
)
def test_invalid_action_and_command_params_get_invalid_params(server, method, params):
    assert error_code(server.request(method, params, timeout=10)) == INVALID_PARAMS


def test_a_valid_hover_still_works(server):
    reply = server.request("textDocument/hover", hover("file:///h/doc.txt"), timeout=10)
    assert "incls" in reply["result"]["contents"]["value"]


def test_requests_before_initialize_get_server_not_initialized():
    s = RawServer()
    try:
        assert error_code(s.request("textDocument/hover", hover("file:///x"), timeout=30)) == SERVER_NOT_INITIALIZED
        assert error_code(s.request("shutdown", None, timeout=10)) == SERVER_NOT_INITIALIZED
        s.initialize()  # and initialize still works afterwards
        assert (
            error_code(s.request("initialize", {"processId": None, "rootUri": None, "capabilities": {}}, timeout=10))
            == INVALID_REQUEST
        )
    finally:
        s.close()


def test_requests_after_shutdown_get_invalid_request_and_exit_is_zero():
    s = RawServer()
    try:
        s.initialize()
        assert "error" not in s.request("shutdown", None)
        assert error_code(s.request("textDocument/hover", hover("file:///x"), timeout=10)) == INVALID_REQUEST
        assert error_code(s.request("shutdown", None, timeout=10)) == INVALID_REQUEST
        s.notify("exit", None)
        assert s.wait(5) == 0
    finally:
        s.close()


def test_exit_without_shutdown_is_one():
    s = RawServer()
    try:
        s.initialize()
        s.notify("exit", None)
        assert s.wait(5) == 1
    finally:
        s.close()


# -- malformed frames: logged, the stream recovers ------------------------------------------


def alive(s: RawServer) -> bool:
    return "result" in s.request("textDocument/hover", hover("file:///h/doc.txt"), timeout=15)


@pytest.mark.parametrize(
    "broken", ["short-length", "lowercase", "lf-only", "no-length", "garbage", "not-json", "long-length"]
)
def test_a_malformed_frame_never_leaves_the_server_deaf(server, broken):
    good = server.request_message("textDocument/hover", hover("file:///h/doc.txt"))
    body = b'{"jsonrpc": "2.0", "method": "textDocument/didSave", "params": {}}'
    frames = {
        "short-length": f"Content-Length: {len(body) - 10}\r\n\r\n".encode() + body,
        "lowercase": f"content-length: {len(body)}\r\n\r\n".encode() + body,
        "lf-only": f"Content-Length: {len(body)}\n\n".encode() + body,
        "no-length": b"Content-Type: application/json\r\n\r\n" + body,
        "garbage": b"\x00\xffhello there\r\n\x13\x37 more noise",
        "not-json": b"Content-Length: 9\r\n\r\n{not json",
        "long-length": f"Content-Length: {len(body) + 15}\r\n\r\n".encode() + body,
    }
    server.write(frames[broken] + frame(good))
    assert "result" in server.response(good["id"], timeout=15)  # a length too long gives the swallowed header back
    assert alive(server)
    assert not any("malformed" in p for p in server.popups())


def test_lowercase_and_lf_only_frames_are_read():
    s = RawServer()
    try:
        body = b'{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"processId": null, "capabilities": {}}}'
        s.write(f"content-length: {len(body)}\n\n".encode() + body)
        assert "result" in s.response(1, timeout=30)
    finally:
        s.close()


# -- the process ends at once --------------------------------------------------------------

LONG = "\n\n".join(f"Paragraph {i}: the film was long, and the acting was fine, mostly." * 6 for i in range(120))


def test_closing_stdin_ends_the_process_within_a_second_even_mid_computation():
    s = RawServer()
    try:
        s.initialize()
        s.open("file:///h/long.txt", LONG)
        time.sleep(4.0)  # the model is loaded and busy with the long document now
        started = time.monotonic()
        s.process.stdin.close()
        assert s.wait(5) is not None
        assert time.monotonic() - started < 1.0
    finally:
        s.close()


def test_exit_ends_the_process_within_a_second_even_mid_computation():
    s = RawServer()
    try:
        s.initialize()
        s.open("file:///h/long.txt", LONG)
        time.sleep(4.0)
        s.request("shutdown", None)
        started = time.monotonic()
        s.notify("exit", None)
        assert s.wait(5) == 0
        assert time.monotonic() - started < 1.0
    finally:
        s.close()


# -- exact text ----------------------------------------------------------------------------


def test_a_lone_surrogate_is_kept_and_later_offsets_stay_the_clients(server):
    uri = "file:///h/lone.txt"
    server.open(uri, "ab, an awful, terrible mess")
    server.change(uri, 2, "\ud800", (0, 1), (0, 1))
    server.change(uri, 3, "X", (0, 3), (0, 3))  # after the lone half: a, \ud800, b count 3 units
    assert server.diagnostics(uri, 3)[0]["source"] == "incls"
    assert server.inspect(uri)["text"] == "a\ud800bX, an awful, terrible mess"


def test_an_emoji_sent_as_two_halves_becomes_the_emoji(server, tokenizer):
    uri = "file:///h/halves.txt"
    server.open(uri, "I love it")
    server.change(uri, 2, "\ud83d", (0, 9), (0, 9))
    server.change(uri, 3, "\ude00", (0, 10), (0, 10))
    server.change(uri, 4, "!", (0, 11), (0, 11))
    server.diagnostics(uri, 4)
    state = server.inspect(uri)
    assert state["text"] == "I love it\U0001f600!"
    assert state["ids"] == tokenizer.encode("I love it\U0001f600!").ids
    server.change(uri, 5, "", (0, 9), (0, 10))  # delete the first half only
    server.change(uri, 6, "\ud83d", (0, 9), (0, 9))  # and put it back
    server.diagnostics(uri, 6)
    assert server.inspect(uri)["text"] == "I love it\U0001f600!"


def test_a_change_that_cannot_be_applied_asks_for_the_whole_text(server):
    uri = "file:///h/sync.txt"
    server.open(uri, TEXT)
    server.diagnostics(uri, 1)
    server.change(uri, 2, "x", (9, 0), (9, 1))
    assert server.diagnostics(uri, 2) == []
    assert server.inspect(uri)["outOfSync"] is True
    server.change(uri, 3, "y", (0, 0), (0, 0))  # refused: the server cannot know the client's text
    assert server.inspect(uri)["text"] == TEXT
    server.change(uri, 4, "All new text, and an awful, terrible mess.")
    assert server.diagnostics(uri, 4)[0]["source"] == "incls"
    assert (
        server.inspect(uri)["text"] == "All new text, and an awful, terrible mess."
        and server.inspect(uri)["outOfSync"] is False
    )


# -- messages ------------------------------------------------------------------------------


def test_one_popup_per_problem_while_typing_in_an_oversized_document(server):
    uri = "file:///h/big.txt"
    before = len(server.popups())
    server.open(uri, "word " * 70_000)  # 350 KB, over the 300 KB set above
    for version in range(2, 7):
        server.change(uri, version, "x", (0, version), (0, version))
    assert server.diagnostics(uri, 6) == []
    new = [p for p in server.popups()[before:] if "big.txt" in p]
    assert len(new) == 1 and "maxDocumentBytes" in new[0]


# -- bounded work --------------------------------------------------------------------------


@pytest.mark.parametrize("huge", ["1 MB single line", "10 MB document"])
def test_a_huge_document_neither_starves_a_small_one_nor_takes_gigabytes_nor_delays_the_exit(huge):
    s = RawServer()
    try:
        s.initialize()
        s.open("file:///h/warm.txt", "Warm up.")
        s.diagnostics("file:///h/warm.txt", 1)
        words = ["good", "bad", "film", "the", "a", "great", "awful", "plot", "actor", "\U0001f600", "é"]
        line = " ".join(words[(i * 7) % len(words)] for i in range(200_000))[:999_000]
        text = line if huge == "1 MB single line" else "\n\n".join([line] * 10)
        s.open("file:///h/huge.txt", text)
        time.sleep(0.2)
        started = time.monotonic()
        s.open("file:///h/small.txt", TEXT)
        assert s.diagnostics("file:///h/small.txt", 1)[0]["source"] == "incls"
        assert time.monotonic() - started < 2.0
        assert s.diagnostics("file:///h/huge.txt", 1, timeout=60) == []  # over a limit: not classified
        limit = "maxDocumentTokens" if huge == "1 MB single line" else "maxDocumentBytes"
        assert [p for p in s.popups() if "huge.txt" in p and limit in p]
        assert s.peak_rss_mb() < 2048
        started = time.monotonic()
        s.process.stdin.close()
        assert s.wait(5) == 1 and time.monotonic() - started < 1.0
    finally:
        s.close()


def test_a_long_document_is_built_chunk_by_chunk_and_a_small_one_is_served_meanwhile():
    s = RawServer()
    try:
        s.initialize()
        s.open("file:///h/warm.txt", "Warm up.")
        s.diagnostics("file:///h/warm.txt", 1)
        s.open("file:///h/long.txt", LONG)  # about 9,000 tokens: seconds of model work
        time.sleep(0.3)
        started = time.monotonic()
        s.open("file:///h/small.txt", TEXT)
        s.diagnostics("file:///h/small.txt", 1)
        assert time.monotonic() - started < 2.0
        assert s.diagnostics("file:///h/long.txt", 1, timeout=180)[0]["source"] == "incls"
    finally:
        s.close()


# -- model path and full recompute -----------------------------------------------------------


def test_a_bad_model_path_falls_back_to_the_shipped_model_and_a_change_reloads(tmp_path):
    corrupt = tmp_path / "corrupt.safetensors"
    corrupt.write_bytes(b"\x00not a checkpoint" * 10)
    s = RawServer()
    try:
        s.initialize({"incls": {"modelPath": str(tmp_path / "missing.safetensors")}})
        s.open("file:///h/m.txt", TEXT)
        assert s.diagnostics("file:///h/m.txt", 1)[0]["source"] == "incls"  # the shipped model serves
        popups = s.popups()
        assert any("incls.modelPath" in p and "missing.safetensors" in p and "Fix" in p for p in popups)
        twin = Path(incls.__file__).parent / "weights" / "sentiment-twin.safetensors"  # not a VQ model
        for bad in (corrupt, tmp_path, twin):
            s.notify("workspace/didChangeConfiguration", {"settings": {"incls": {"modelPath": str(bad)}}})
            s.next(
                lambda m, bad=bad: m.get("method") == "window/showMessage" and str(bad) in m["params"]["message"], 60
            )
        assert s.diagnostics("file:///h/m.txt", None, timeout=60)[0]["source"] == "incls"
    finally:
        s.close()


def test_full_recompute_reads_an_empty_document_as_having_no_tone():
    s = RawServer()
    try:
        s.initialize({"incls": {"fullRecompute": True}})
        s.open("file:///h/empty.txt", "")
        assert s.diagnostics("file:///h/empty.txt", 1) == []  # an empty document shows no tone
        s.change("file:///h/empty.txt", 2, "The staff were rude and the food was cold.")
        assert s.diagnostics("file:///h/empty.txt", 2)[0]["source"] == "incls"
        assert not any("internal error" in p for p in s.popups())
    finally:
        s.close()
