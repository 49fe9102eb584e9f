"""Sentence evidence on the real tokenizer and the shipped model: exact, current, and shown right.

The sentences' contributions add up to the document's logits (one session or chunks),
the evidence kept up to date edit by edit equals the evidence of a fresh open of the same
text, and the hints follow the rules of `incls.reading.tone` whatever the model reads.
"""

from __future__ import annotations

import time

import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from incls.model import pooling
from incls.reading import tone
from incls.reading.core import Change
from incls.reading.evidence import Evidence, Ledger, Span, Votes
from incls.reading.sessions import vote_blocks
from incls.reading.settings import Settings
from incls.text.sentences import GREETING, LINE, SIGNOFF

from lsp_helpers import COMPLAINT_LETTER, core, position, read, step


def assert_same(a: Evidence, b: Evidence) -> None:
    assert (a.starts, a.ends, a.kinds, a.t0, a.t1) == (b.starts, b.ends, b.kinds, b.t0, b.t1)
    assert torch.allclose(a.sums, b.sums, rtol=0, atol=1e-9)


def test_contributions_add_up_to_the_document_logits_in_one_session_and_in_chunks():
    for c in (core(), core(chunkTokens=24), core(fullRecompute=True)):
        report = read(c, "file:///sum.txt", COMPLAINT_LETTER)
        session = c.documents["file:///sum.txt"].model.session
        ev = report.evidence
        assert len(ev) == 6 and ev.n_tokens == len(session.ids)
        assert ev.t0[0] == 0 and ev.t1[-1] == ev.n_tokens and all(ev.t1[i] == ev.t0[i + 1] for i in range(len(ev) - 1))
        exact = ev.contributions().sum(0)  # (C,)
        assert torch.allclose(exact.float(), session.document_logits(), rtol=0, atol=1e-5)
        assert torch.allclose(ev.pull.sum(0), torch.zeros(ev.sums.shape[1], dtype=torch.float64), atol=1e-9)
    chunked = core(chunkTokens=24).documents["file:///sum.txt"].model.session
    assert len(chunked.sessions) > 1


def test_the_pull_is_the_leave_one_out_change_of_the_head():
    report = read(core(), "file:///loo.txt", COMPLAINT_LETTER)
    ev = report.evidence
    T, z = ev.n_tokens, ev.logits
    for i in range(len(ev)):
        n = ev.t1[i] - ev.t0[i]
        without = (ev.sums.sum(0) - ev.sums[i]) / (T - n)
        assert torch.allclose(z - without, T / (T - n) * ev.pull[i], atol=1e-12)


EDITS = st.lists(
    st.tuples(
        st.floats(0, 1),
        st.integers(0, 12),
        st.sampled_from(
            [
                "",
                "x",
                " bad",
                ". The",
                "\n\n",
                "\n",
                "Hi Sam,\n",
                " great!",
                "\nBest,\nDana",
                "- item\n",
                "é",
                "👍🏽",
                " Mr. Lee",
            ]
        ),
    ),
    min_size=1,
    max_size=6,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(EDITS, st.sampled_from([10_000, 24]))
def test_evidence_kept_up_to_date_equals_a_fresh_reading(edits, chunk_tokens):
    c = core(chunkTokens=chunk_tokens)
    uri, text = f"file:///edit-{chunk_tokens}.txt", COMPLAINT_LETTER
    read(c, uri, text)
    for version, (where, length, insert) in enumerate(edits, 2):
        a = int(where * len(text))
        b = min(len(text), a + length)
        c.change(uri, version, [Change(insert, (position(text, a), position(text, b)))])
        text = text[:a] + insert + text[b:]
        updated = step(c, uri).evidence
        fresh = read(c, uri + ".fresh", text).evidence
        assert_same(updated, fresh)


def test_a_keystroke_re_sums_only_what_changed():
    c = core()
    uri = "file:///long.txt"
    text = "\n\n".join([COMPLAINT_LETTER] * 8)
    read(c, uri, text)
    ledger: Ledger = c.documents[uri].model.ledger.ledger
    n_units = len(ledger.starts)
    c.change(uri, 2, [Change("!", (position(text, 40), position(text, 40)))])
    step(c, uri)
    assert 0 < ledger.summed <= 4 < n_units


def test_hints_never_land_on_greetings_sign_offs_or_lines_and_respect_ignore():
    report = read(core(), "file:///hints.txt", "Hi Sam,\n\n" + COMPLAINT_LETTER + "\n\nDana")
    ev = report.evidence
    t = tone.document_tone(report.labels, report.probabilities)
    every = tone.hints(ev, t, count=50, threshold=0.0, against=0.0, ignored=set())
    assert every, "the letter's sentences read one way or the other"
    assert all(ev.kinds[h.index] not in (GREETING, SIGNOFF, LINE) for h in every)
    assert {ev.kinds[i] for i in range(len(ev))} >= {GREETING, SIGNOFF, LINE}
    readings = ev.reading
    for h in every:
        assert readings[h.index].argmax() == report.labels.index(h.label)
        assert (h.role == tone.CARRIES) == (h.label == t.label)
    few = tone.hints(ev, t, count=2, threshold=0.0, against=0.0, ignored=set())
    assert len(few) == min(2, len(every))
    ignored = tone.hints(ev, t, count=50, threshold=0.0, against=0.0, ignored={few[0].key})
    assert few[0].key not in {h.key for h in ignored} and len(ignored) == len(every) - 1
    assert tone.hints(ev, t, count=50, threshold=1.0, against=1.0, ignored=set()) == []


def test_neutral_and_empty_documents_are_quiet():
    assert tone.is_quiet(tone.Tone(1, "neutral", 0.8)) and tone.is_quiet(None)
    assert not tone.is_quiet(tone.Tone(0, "negative", 0.8))
    for text in ("", "   \n\n\t"):
        report = read(core(), "file:///empty.txt", text)
        assert report.empty and len(report.evidence) == 0


def mean_rows(votes: torch.Tensor) -> torch.Tensor:
    """Votes (T, C) as the rows of a mean-pooled head (`incls.model.pooling`)."""
    return pooling.rows(votes, torch.ones(votes.shape[0], dtype=votes.dtype), None)


def test_votes_are_read_across_chunk_blocks():
    first, second = (
        mean_rows(torch.ones(3, 2, dtype=torch.float64)),
        mean_rows(2 * torch.ones(4, 2, dtype=torch.float64)),
    )
    votes = Votes([(0, first), (3, second)], 2)
    assert votes.total() == 7
    assert votes.sum(1, 5).tolist() == [2 * 1 + 2 * 2.0] * 2 + [4.0, 0.0, 0.0]
    assert votes.sum(0, 7).tolist() == [11.0, 11.0, 7.0, 0.0, 0.0] and votes.sum(4, 4).tolist() == [0.0] * 5


def test_attention_pooled_units_add_up_to_the_document_and_read_their_own_pooling():
    """With pooling weights, the units' contributions still add up to the document's logits,
    and a unit's reading pools its own positions as the document's are pooled."""
    text = "Awful start. Lovely end."
    state = torch.tensor([[3.0, -3.0] if i < 12 else [-1.0, 1.0] for i in range(len(text))], dtype=torch.float64)
    weight = torch.tensor([1.0 if i < 12 else 20.0 for i in range(len(text))], dtype=torch.float64)
    rows = pooling.rows(state, weight, None)
    ledger = Ledger(2)
    ledger.rebuild(text, list(range(1, len(text) + 1)), Votes([(0, rows)], 2))
    ev = ledger.snapshot(("negative", "positive"))
    z = (weight[:, None] * state).sum(0) / weight.sum()
    assert torch.allclose(ev.logits, z) and torch.allclose(ev.contributions().sum(0), z)
    assert ev.reading.argmax(-1).tolist() == [0, 1]  # each unit reads its own tone
    assert float(ev.logits[1]) > float(ev.logits[0])  # the heavy ending outweighs the opening


def test_spans_compose_like_edits_in_a_row():
    span = Span(10, 12, 15).then(20, 22, 0)  # after the first edit, delete [20, 22)
    assert span == Span(10, 19, 20)
    assert Span(10, 12, 15).then(0, 1, 3) == Span(0, 12, 17)


def test_evidence_costs_little_per_keystroke_at_2000_tokens(monkeypatch):
    """The ledger's update for one typed character in a 2,000-token document: well under a
    millisecond (measured: see the README); bounded here loosely for a busy machine."""
    c = core(chunkTokens=512)
    uri = "file:///2000.txt"
    read(c, uri, "\n\n".join([COMPLAINT_LETTER] * 27))
    doc = c.documents[uri]
    assert 1900 < len(doc.model.session.ids) < 2200
    timings, update = [], Ledger.update

    def timed(self, *args):
        started = time.perf_counter()
        update(self, *args)
        timings.append(time.perf_counter() - started)

    monkeypatch.setattr(Ledger, "update", timed)
    for k in range(20):
        at = 300 + 97 * k
        c.change(uri, k + 2, [Change("e", (position(doc.text, at), position(doc.text, at)))])
        assert c.compute(uri).probabilities
    assert len(timings) == 20
    timings.sort()
    print(
        f"evidence update per keystroke, 2,000 tokens: p50 {1000 * timings[len(timings) // 2]:.3f} ms, "
        f"max {1000 * timings[-1]:.3f} ms"
    )
    assert timings[len(timings) // 2] < 0.005, timings
    again = Ledger(c.model.cfg.n_classes)  # the same session's votes, summed from scratch: the same evidence
    tokens, session = doc.model.tokens, doc.model.session
    again.rebuild(tokens.text, tokens.char_ends, Votes(vote_blocks(session), c.model.cfg.n_classes))
    assert_same(doc.model.ledger.ledger.snapshot(("negative", "positive")), again.snapshot(("negative", "positive")))


LABELS3 = ("negative", "neutral", "positive")
NOTE = "Hi Sam,\n\nThe food was awful. The room was fine. The staff were lovely.\n\nBest,\nDana"
VOTE = {
    "The food was awful.": (6.0, 0.0, 0.0),
    "The room was fine.": (0.0, 3.0, 0.0),
    "The staff were lovely.": (0.0, 0.0, 2.0),
    "Hi Sam,": (0.0, 0.0, 3.0),
    "Best,\nDana": (0.0, 0.0, 3.0),
}


def three_class_evidence(text: str, votes_of) -> Evidence:
    """A real ledger over `text` with one token per character and the given vote per character."""
    votes = torch.tensor([votes_of(i) for i in range(len(text))], dtype=torch.float64)  # (T, 3)
    ledger = Ledger(3)
    ledger.rebuild(text, list(range(1, len(text) + 1)), Votes([(0, mean_rows(votes))], 3))
    return ledger.snapshot(LABELS3)


def note_votes(i: int) -> tuple[float, ...]:
    """Each unit's characters vote its class; the whitespace between them leans neutral."""
    for piece, vote in VOTE.items():
        at = NOTE.index(piece)
        if at <= i < at + len(piece):
            return vote
    return (0.0, 1.0, 0.0)


def test_three_classes_neutral_sentences_are_never_pointed_out_and_a_neutral_document_is_quiet():
    from incls.lsp import present
    from incls.reading.core import Report

    ev = three_class_evidence(NOTE, note_votes)
    assert [ev.kinds[i] for i in range(len(ev))] == [GREETING, "sentence", "sentence", "sentence", SIGNOFF]
    assert torch.allclose(ev.contributions().sum(0), ev.logits) and ev.logits.shape == (3,)
    probs = tuple(ev.logits.softmax(-1).tolist())
    t = tone.document_tone(LABELS3, probs)
    assert t.label == "negative"
    shown = tone.hints(ev, t, count=5, threshold=0.5, against=0.5, ignored=set())
    assert {(ev.unit_text(h.index), h.role) for h in shown} == {
        ("The food was awful.", tone.CARRIES),
        ("The staff were lovely.", tone.AGAINST),
    }
    # the bars are apart: "awful" reads negative 0.995; "lovely" positive 0.79, and of positive
    # and the document's negative, positive 0.88
    roles = lambda threshold, against: {  # noqa: E731
        h.role for h in tone.hints(ev, t, count=5, threshold=threshold, against=against, ignored=set())
    }
    assert roles(0.999, 0.85) == {tone.AGAINST} and roles(0.5, 0.9) == {tone.CARRIES}
    assert [h.message for h in shown if h.role == tone.CARRIES] == ["This sentence reads strongly negative"]
    report = Report("file:///n.txt", 1, NOTE, LABELS3, probs, evidence=ev)
    assert [d.message for d in present.diagnostics(report, Settings(), set(), "utf-16")][1:] == [
        h.message for h in shown
    ]

    flat = three_class_evidence(NOTE, lambda i: (0.0, 2.0, 0.0))
    probs = tuple(flat.logits.softmax(-1).tolist())
    assert tone.document_tone(LABELS3, probs).label == "neutral"
    assert (
        present.diagnostics(
            Report("file:///n.txt", 1, NOTE, LABELS3, probs, evidence=flat), Settings(), set(), "utf-16"
        )
        == []
    )
