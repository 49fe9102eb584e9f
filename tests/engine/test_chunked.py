"""ChunkedSession: paragraph-aligned chunks, each a Session, equal to a fresh one after edits."""

from __future__ import annotations

import random

import pytest
import torch

from incls.engine import ChunkedSession, Session, TokenEdit
from incls.engine.chunked import ParagraphBreaks, split_chunks, token_diff, token_edits
from incls.engine.edits import plan_edits

from engine_testing import random_model

BREAK = 0
BREAKS = ParagraphBreaks(blank=frozenset({BREAK}))


def document(rng: random.Random, n: int) -> list[int]:
    return [BREAK if rng.random() < 0.08 else rng.randrange(1, 97) for _ in range(n)]


def test_split_rule():
    ids = [1] * 5 + [BREAK] + [1] * 2 + [BREAK] + [1] * 30
    assert split_chunks(ids, BREAKS, 10) == [(0, 6), (6, 16), (16, 26), (26, 36), (36, 39)]
    assert split_chunks([], BREAKS, 10) == [(0, 0)]


def test_a_blank_line_split_over_two_newline_tokens_is_a_break():
    newline, ends_line, other = 5, 6, 1  # "\n", "word\n", a word
    breaks = ParagraphBreaks(ends_line=frozenset({newline, ends_line}), starts_line=frozenset({newline}))
    ids = [other] * 6 + [ends_line, newline] + [other] * 6 + [newline] + [other] * 12
    # a single newline (after a word that does not end a line) is not a break
    assert split_chunks(ids, breaks, 16) == [(0, 8), (8, 24), (24, 27)]


def test_token_diff_roundtrip():
    rng = random.Random(0)
    for _ in range(200):
        old = [rng.randrange(5) for _ in range(rng.randrange(8))]
        new = [rng.randrange(5) for _ in range(rng.randrange(8))]
        edit = token_diff(old, new)
        got = old if edit is None else old[: edit.start] + list(edit.new_ids) + old[edit.end :]
        assert got == new


def test_token_edits_turn_old_into_new():
    rng = random.Random(2)
    for _ in range(200):
        old = [rng.randrange(6) for _ in range(rng.randrange(120))]
        cut = rng.randrange(len(old) + 1)
        new = old[cut:] + [rng.randrange(6) for _ in range(rng.randrange(40))]  # a moved chunk cut, often
        if rng.random() < 0.5:
            new = [rng.randrange(6) for _ in range(rng.randrange(80))]
        assert plan_edits(token_edits(old, new), old, 6).ids == new


def test_a_moved_cut_is_two_small_edits():
    old = list(range(1, 200))
    edits = token_edits(old, old[2:] + [7, 8])
    assert [(e.start, e.end, list(e.new_ids)) for e in edits] == [(0, 2, []), (199, 199, [7, 8])]


def test_moved_cuts_cost_what_they_change():
    """One token inserted early in a document without paragraph breaks moves every later
    hard cut by one token; the later chunks must be updated, not recomputed."""
    model = random_model(3, local_layers=2, window=4)
    rng = random.Random(3)
    ids = [rng.randrange(1, 97) for _ in range(256)]
    chunked = ChunkedSession(model, ids, breaks=BREAKS, max_chunk_tokens=64)
    stats = chunked.apply([TokenEdit(5, 5, [3])])
    assert len(chunked.sessions) == 5
    assert stats.ops * 4 < stats.ops_full
    fresh = ChunkedSession(model, chunked.ids, breaks=BREAKS, max_chunk_tokens=64)
    for mine, ref in zip(chunked.sessions, fresh.sessions):
        assert torch.equal(mine.codes(), ref.codes())


# blank lines only across two tokens: tokens 1-29 end a line, 20-49 start one
PAIR_BREAKS = ParagraphBreaks(ends_line=frozenset(range(1, 30)), starts_line=frozenset(range(20, 50)))


@pytest.mark.parametrize("breaks", [BREAKS, PAIR_BREAKS], ids=["in-token", "across-tokens"])
def test_chunked_session_matches_fresh_after_edits(tiny_model, breaks):
    rng = random.Random(1)
    chunked = ChunkedSession(tiny_model, document(rng, 300), breaks=breaks, max_chunk_tokens=64)
    for _ in range(12):
        T = len(chunked.ids)
        a = rng.randrange(T + 1)
        b = min(T, a + rng.randrange(6))
        chunked.apply([TokenEdit(a, b, document(rng, rng.randrange(8)))])
    fresh = ChunkedSession(tiny_model, chunked.ids, breaks=breaks, max_chunk_tokens=64)
    assert chunked.chunk_spans() == fresh.chunk_spans()
    for mine, ref in zip(chunked.sessions, fresh.sessions):
        assert torch.equal(mine.codes(), ref.codes())
    assert (chunked.running_logits() - fresh.running_logits()).abs().max() < 1e-4
    assert (chunked.document_logits() - fresh.document_logits()).abs().max() < 1e-4
    assert chunked.running_logits().shape == (len(chunked.ids), tiny_model.cfg.n_classes)


def test_document_logits_are_the_token_weighted_mean_of_chunks(tiny_model):
    ids = document(random.Random(2), 200)
    chunked = ChunkedSession(tiny_model, ids, breaks=BREAKS, max_chunk_tokens=50)
    parts = [(b - a, Session(tiny_model, ids[a:b]).document_logits()) for a, b in chunked.chunk_spans()]
    expected = sum(n * logits for n, logits in parts) / len(ids)
    assert (chunked.document_logits() - expected).abs().max() < 1e-6
    assert chunked.memory_bytes() == sum(s.memory_bytes() for s in chunked.sessions) > 0


def test_empty_and_invalid(tiny_model):
    chunked = ChunkedSession(tiny_model, [], breaks=BREAKS, max_chunk_tokens=16)
    assert chunked.running_logits().shape == (0, tiny_model.cfg.n_classes)
    try:
        chunked.apply([TokenEdit(0, 3, [])])
    except ValueError:
        pass
    else:
        raise AssertionError("out-of-range edit accepted")
    chunked.apply([TokenEdit(0, 0, [1, 2, BREAK, 3])])
    assert chunked.ids == [1, 2, BREAK, 3]


@pytest.mark.parametrize("breaks", [BREAKS, PAIR_BREAKS], ids=["in-token", "across-tokens"])
def test_resplit_after_an_edit_equals_a_fresh_split(breaks):
    from incls.engine.chunked import resplit, split_chunks

    rng = random.Random(7)
    for _ in range(300):
        old = document(rng, rng.randrange(0, 400))
        spans = split_chunks(old, breaks, 32)
        a = rng.randrange(len(old) + 1)
        b = min(len(old), a + rng.randrange(10))
        new = old[:a] + document(rng, rng.randrange(12)) + old[b:]
        assert resplit(spans, new, breaks, 32, a, b) == split_chunks(new, breaks, 32)
