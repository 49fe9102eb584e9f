"""An editor restoring a workspace: 200 documents of about 2,000 tokens opened at once.

Memory stays bounded (first passes under way count against maxSessions like kept
sessions), the document opened last is read first, and closing them all gives the
model thread back at once. The server runs in its own process; its peak memory is read
from /proc. (A few minutes on a 2-core machine: the model reads all 200; `-s` prints the numbers.)"""

from __future__ import annotations

import time

from hostile import RawServer

WORDS = (
    "the film was long and the acting fine but the plot dragged on; I liked the music, "
    "hated the ending, and would see it again with friends"
).split()
SMALL = "A fine film.\n\nI liked it a lot."
DOCUMENTS = 200


def document(i: int) -> str:
    """About 2,000 tokens of prose in 22 paragraphs, different for each i."""
    words = [WORDS[(i * 7 + k * 13) % len(WORDS)] for k in range(1760)]
    return "\n\n".join(" ".join(words[j : j + 80]) + "." for j in range(0, 1760, 80))


def test_two_hundred_documents_opened_at_once_stay_under_2_gb_and_the_newest_is_read_first():
    s = RawServer()
    try:
        s.initialize()
        s.open("file:///w/warm.txt", "Warm up.")
        s.diagnostics("file:///w/warm.txt", 1)
        uris = [f"file:///w/{i}.txt" for i in range(DOCUMENTS)]
        for i, uri in enumerate(uris):
            s.open(uri, document(i))
        started = time.monotonic()
        s.open("file:///w/last.txt", SMALL)
        assert s.diagnostics("file:///w/last.txt", 1, timeout=60)[0]["source"] == "incls"
        last = time.monotonic() - started
        for uri in uris:
            assert s.diagnostics(uri, 1, timeout=600)[0]["source"] == "incls"
        read_all, peak = time.monotonic() - started, s.peak_rss_mb()
        for uri in uris:
            s.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
        started = time.monotonic()
        s.open("file:///w/after.txt", SMALL)
        assert s.diagnostics("file:///w/after.txt", 1, timeout=60)[0]["source"] == "incls"
        after = time.monotonic() - started
        print(
            f"{DOCUMENTS} documents: the one opened last read in {last:.2f} s, all in {read_all:.0f} s, "
            f"peak RSS {peak:,.0f} MB; a document opened after closing them all read in {after:.2f} s"
        )
        assert last < 5.0 and peak < 2048 and after < 5.0
    finally:
        s.close()
