"""Documents a misbehaving (or merely unlucky) editor opens, over raw stdio: pathological
markup costs its own latency and never another document's or a hover's, and many
documents opened at once stay within memory, the newest served first."""

from __future__ import annotations

import statistics
import time

import pytest

from incls.lsp.client import end_position

from hostile import RawServer

TEXT = "A fine film.\n\nI liked it a lot."
URI = "file:///d/small.txt"
HOVER_MS = 250  # a hover's round trip, at most, while another document is processed (measured: docs/server.md)


@pytest.fixture(scope="module")
def server():
    s = RawServer()
    s.initialize()
    s.open(URI, TEXT)
    s.diagnostics(URI, 1)
    yield s
    s.close()


def hovers_until_published(s: RawServer, uri: str, version: int, timeout: float = 180.0) -> list[float]:
    """Hover on the small document again and again until `uri` publishes `version`: the round trips (ms)."""
    times, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        times.append(s.hover_ms(URI, timeout=15))
        try:
            s.diagnostics(uri, version, timeout=0.05)
            return times
        except TimeoutError:
            continue
    raise TimeoutError(f"{uri} version {version} was not published")


@pytest.mark.parametrize("command", ["\\cite{", "\\label{", "\\begin{"])
def test_fifty_thousand_unclosed_commands_cost_only_their_own_latency(server, command):
    """Placeholder, ignored and environment commands whose group never closes: before, the
    projection took minutes where the server reads its messages, and hovers went unanswered."""
    uri = "file:///d/paper.tex"
    server.open(uri, "Intro.\n" + command * 50_000, language="latex")
    times = hovers_until_published(server, uri, 1)
    assert max(times) < HOVER_MS, times
    started = time.monotonic()
    server.open("file:///d/later.txt", TEXT)  # opened after the pathological one: not delayed by it
    assert server.diagnostics("file:///d/later.txt", 1, timeout=30)[0]["source"] == "incls"
    assert time.monotonic() - started < 5.0
    for done in (uri, "file:///d/later.txt"):
        server.notify("textDocument/didClose", {"textDocument": {"uri": done}})


def test_a_keystroke_in_twenty_thousand_lines_of_nested_quotes_delays_no_hover(server):
    """Block quotes 0..29 deep, one paragraph: a keystroke re-projects all of it (seconds),
    beside the model work; hovers on another document are answered meanwhile."""
    uri = "file:///d/quotes.md"
    text = "".join(">" * (i % 30) + " a line of quoted text\n" for i in range(20_000))
    server.open(uri, text, language="markdown")
    server.diagnostics(uri, 1, timeout=180)
    end = end_position(text)
    server.change(uri, 2, "x", (end["line"], end["character"]), (end["line"], end["character"]))
    times = hovers_until_published(server, uri, 2)
    assert len(times) > 2  # hovers were sent while the keystroke was processed
    assert max(times) < HOVER_MS and statistics.median(times) < 100, times
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
