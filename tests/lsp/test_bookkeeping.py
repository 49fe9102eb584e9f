"""The server's per-keystroke bookkeeping: what it reads without the whole document.

A report carries the line index of its own version (the document's, not a second one),
an edit leaves an earlier report's index intact, hover and code actions read positions
against the report shown (`DocumentState`), and a chunked document's probabilities,
read from the sentence ledger's sums instead of every chunk's votes, are the session's own.
"""

from __future__ import annotations

import random

import torch

from incls.engine import ChunkedSession
from incls.lsp.state import DocumentState
from incls.reading.core import Change

from lsp_helpers import COMPLAINT_LETTER, core, position, read, step


def test_a_report_carries_its_versions_line_index_and_an_edit_does_not_change_it():
    c = core()
    uri = "file:///index.txt"
    first = read(c, uri, COMPLAINT_LETTER)
    doc = c.documents[uri]
    assert first.lines is doc.lines and first.lines.text is first.text
    c.change(uri, 2, [Change("Dear all,\n", ((0, 0), (0, 0)))])
    assert doc.lines is not first.lines and doc.lines.text == doc.text
    assert first.lines.text == COMPLAINT_LETTER and first.lines.starts == [0] + [
        i + 1 for i, ch in enumerate(COMPLAINT_LETTER) if ch == "\n"
    ]
    second = step(c, uri)
    assert second.lines is doc.lines and second.line_index(c.encoding) is doc.lines


def test_hover_on_an_older_report_reads_that_reports_text():
    c = core()
    uri = "file:///hover.txt"
    report = read(c, uri, COMPLAINT_LETTER)
    state = DocumentState(uri, c.encoding, report)
    line = COMPLAINT_LETTER.split("\n").index(next(s for s in COMPLAINT_LETTER.split("\n") if len(s) > 40))
    now = state.hover(line, 3, report.version, c.settings, set())
    later = state.hover(line, 3, report.version + 1, c.settings, set())
    assert now is not None and later == now + "\n\n_(updating…)_"
    key = state.sentence_key(line, 3)
    i = report.evidence.at(report.lines.offset(line, 3))
    assert key == report.evidence.key(i)
    assert state.hover(10_000, 0, report.version, c.settings, set()) is None  # not on the report's text


def test_a_chunked_documents_probabilities_from_the_ledger_are_the_sessions_own():
    c = core(chunkTokens=512)
    uri = "file:///long.txt"
    text = "\n\n".join([COMPLAINT_LETTER] * 12)
    read(c, uri, text)
    doc = c.documents[uri]
    assert isinstance(doc.model.session, ChunkedSession)
    rng = random.Random(3)
    for version in range(2, 14):
        at = rng.randrange(len(doc.text) + 1)
        where = position(doc.text, at)
        edit = rng.choice(["e", " not", "\n\n", ""])
        end = where if edit else position(doc.text, min(len(doc.text), at + 5))
        c.change(uri, version, [Change(edit, (where, end))])
        report = step(c, uri)
        with torch.no_grad():
            own = doc.model.session.document_logits().float().softmax(-1).tolist()
        assert max(abs(a - b) for a, b in zip(report.probabilities, own)) < 1e-6
        assert report.tokens == len(doc.model.session.ids)
