"""Documents a misbehaving (or merely unlucky) editor opens, over raw stdio: pathological
markup costs its own latency and never another document's or a hover's (`-s` prints
the numbers)."""

from __future__ import annotations

import statistics
import time

import pytest

from incls.bench.client import end_position

from hostile import RawServer, serving

TEXT = "A fine film.\n\nI liked it a lot."
URI = "file:///d/small.txt"
HOVER_MS = 250  # a hover's round trip, at most, while another document is processed (measured: docs/server.md)


@pytest.fixture(scope="module")
def server():
    yield from serving(URI, TEXT)


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


def report(what: str, seconds: float, times: list[float]) -> None:
    """The numbers docs/server.md quotes (shown with pytest -s)."""
    print(
        f"{what}: published in {seconds:.1f} s; {len(times)} hovers meanwhile, "
        f"p50 {statistics.median(times):.1f} ms, max {max(times):.1f} ms"
    )


@pytest.mark.parametrize("command", ["\\cite{", "\\label{", "\\begin{"])
def test_fifty_thousand_unclosed_commands_cost_only_their_own_latency(server, command):
    """Placeholder, ignored and environment commands whose group never closes: before, the
    projection took minutes where the server reads its messages, and hovers went unanswered."""
    uri, later = "file:///d/paper.tex", "file:///d/later.txt"
    opened = time.monotonic()
    server.open(uri, "Intro.\n" + command * 50_000, language="latex")
    server.open(later, TEXT)  # opened meanwhile: read first, not after the pathological one
    assert server.diagnostics(later, 1, timeout=5)[0]["source"] == "incls"
    times = hovers_until_published(server, uri, 1)
    report(f"50,000 {command}", time.monotonic() - opened, times)
    assert max(times) < HOVER_MS, times
    for done in (uri, later):
        server.notify("textDocument/didClose", {"textDocument": {"uri": done}})


def test_a_keystroke_in_twenty_thousand_lines_of_nested_quotes_delays_no_hover(server):
    """Block quotes 0..29 deep, one paragraph: a keystroke re-projects all of it (seconds),
    beside the model work; hovers on another document are answered meanwhile."""
    uri = "file:///d/quotes.md"
    text = "".join(">" * (i % 30) + " a line of quoted text\n" for i in range(20_000))
    server.open(uri, text, language="markdown")
    server.diagnostics(uri, 1, timeout=180)
    end = end_position(text)
    typed = time.monotonic()
    server.change(uri, 2, "x", (end["line"], end["character"]), (end["line"], end["character"]))
    times = hovers_until_published(server, uri, 2)
    report("a keystroke after 20,000 lines of nested quotes", time.monotonic() - typed, times)
    assert len(times) > 2  # hovers were sent while the keystroke was processed
    assert max(times) < HOVER_MS and statistics.median(times) < 100, times
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
