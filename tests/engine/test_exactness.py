"""After any sequence of edits, a session equals a fresh session on the final tokens."""

from __future__ import annotations

import random

import pytest
import torch
from hypothesis import given, settings, strategies as st

from incls.engine import Session, TokenEdit

from engine_testing import ATTENTION, NGRAMS, assert_matches_fresh, random_model

VOCAB = 97
token_lists = st.lists(st.integers(0, VOCAB - 1), max_size=12)


@st.composite
def edit_batches(draw, length: int):
    """A valid batch of non-overlapping edits for a sequence of `length` tokens."""
    cuts = sorted(draw(st.lists(st.integers(0, length), max_size=6)))
    edits, last = [], -1
    for a, b in zip(cuts[::2], cuts[1::2]):
        if a == last:  # at most one edit starts at a point where another ended empty
            continue
        edits.append(TokenEdit(a, b, draw(token_lists)))
        last = a if a == b else -1
    return edits


@settings(max_examples=80, deadline=None)
@given(st.data(), st.lists(st.integers(0, VOCAB - 1), max_size=40), st.integers(0, 5), st.integers(0, 2), st.booleans())
def test_random_edit_sequences_match_fresh(data, ids, seed, local_layers, sink):
    heads = [{}, dict(lexical_votes=True), NGRAMS, dict(NGRAMS, ngram_order=2), ATTENTION, dict(NGRAMS, **ATTENTION)]
    model = random_model(seed, local_layers=local_layers, sink=sink, **heads[seed])
    session = Session(model, ids)
    assert_matches_fresh(session)
    for _ in range(data.draw(st.integers(1, 4))):
        batch = data.draw(edit_batches(len(session.ids)))
        session.apply(batch)
        assert_matches_fresh(session)


@pytest.mark.parametrize("local_layers", [0, 1, 2])
@pytest.mark.parametrize(
    "head",
    [{}, dict(lexical_votes=True), NGRAMS, ATTENTION, dict(NGRAMS, **ATTENTION)],
    ids=["linear", "lexicon", "ngrams", "attention", "attention-ngrams"],
)
def test_fresh_session_equals_model_forward(local_layers, head):
    model = random_model(0, local_layers=local_layers, **head)
    ids = [random.Random(3).randrange(VOCAB) for _ in range(50)]
    session = Session(model, ids)
    out = model(torch.tensor([ids]))
    assert torch.equal(session.codes(), out.codes[0])
    assert (session.running_logits() - out.logits[0]).abs().max() < 1e-4
    assert (session.document_logits() - model.document_logits(ids)).abs().max() < 1e-4


def test_local_layers_keep_an_edit_within_their_reach():
    """With every layer local, a replaced token can change codes only within L x W positions after it."""
    model = random_model(1, local_layers=2)
    rng = random.Random(4)
    ids = [rng.randrange(VOCAB) for _ in range(120)]
    session = Session(model, ids)
    before = session.codes()
    session.apply([TokenEdit(30, 31, [(ids[30] + 1) % VOCAB])])
    changed = (session.codes() != before).any(-1).any(0).nonzero().squeeze(1)  # positions
    assert changed.numel() > 0
    assert int(changed.min()) >= 30 and int(changed.max()) < 30 + 2 * model.cfg.window
    assert session.last_stats.dirty_per_layer[1] <= model.cfg.window
    assert_matches_fresh(session)


def test_a_sink_layer_is_reached_by_every_change_of_the_first_key():
    """With a sink, replacing, deleting or inserting the first token reaches every position
    (every row's keys changed), and a session still equals a fresh one; an edit elsewhere
    reaches as far as without a sink."""
    model = random_model(3, window=4, local_layers=2, sink=True)
    rng = random.Random(6)
    ids = [rng.randrange(VOCAB) for _ in range(80)]
    session = Session(model, ids)
    for edit in (TokenEdit(0, 1, [(ids[0] + 1) % VOCAB]), TokenEdit(0, 1, []), TokenEdit(0, 0, [7, 8])):
        session.apply([edit])
        assert_matches_fresh(session)
        assert session.last_stats.dirty_per_layer[1] > 2 * model.cfg.window  # codes changed far away
    session.apply([TokenEdit(40, 41, [3])])
    assert session.last_stats.dirty_per_layer[1] <= model.cfg.window
    assert_matches_fresh(session)


def test_empty_document(tiny_model):
    session = Session(tiny_model, [])
    assert session.running_logits().shape == (0, tiny_model.cfg.n_classes)
    assert (session.document_logits() - tiny_model.document_logits([])).abs().max() < 1e-6
    session.apply([TokenEdit(0, 0, [5, 6, 7])])
    assert_matches_fresh(session)


def test_delete_everything_and_retype(tiny_model):
    rng = random.Random(1)
    ids = [rng.randrange(VOCAB) for _ in range(60)]
    session = Session(tiny_model, ids)
    session.apply([TokenEdit(0, 60, [])])
    assert session.ids == []
    assert_matches_fresh(session)
    for i, token in enumerate(ids[:20]):
        session.apply([TokenEdit(i, i, [token])])
    assert_matches_fresh(session)


def test_insert_thousand_tokens_at_once(tiny_model):
    rng = random.Random(2)
    session = Session(tiny_model, [rng.randrange(VOCAB) for _ in range(80)])
    session.apply([TokenEdit(40, 41, [rng.randrange(VOCAB) for _ in range(1000)])])
    assert len(session.ids) == 1079
    assert_matches_fresh(session)
    session.apply([TokenEdit(10, 900, [1, 2])])
    assert_matches_fresh(session)


@pytest.mark.parametrize("local_layers", [0, 2])
def test_long_window_straddling_edits(local_layers):
    """Window larger than the edit distances: many pairs change clipped distance (in a
    local layer, many pairs enter or leave the window)."""
    model = random_model(5, window=16, local_layers=local_layers)
    rng = random.Random(4)
    session = Session(model, [rng.randrange(VOCAB) for _ in range(120)])
    for _ in range(30):
        T = len(session.ids)
        a = rng.randrange(T + 1)
        b = min(T, a + rng.randrange(5))
        session.apply([TokenEdit(a, b, [rng.randrange(VOCAB) for _ in range(rng.randrange(5))])])
    assert_matches_fresh(session)


@settings(max_examples=40, deadline=None)
@given(st.data(), st.lists(st.integers(0, VOCAB - 1), min_size=1, max_size=30))
def test_ngram_votes_after_an_edit_follow_it(data, ids):
    """With one code per head the layers are position-wise, so only inserted tokens are
    recomputed: the n-gram votes of the positions after each edit must still change."""
    model = random_model(2, codebook_size=1, **NGRAMS)
    session = Session(model, ids)
    for _ in range(data.draw(st.integers(1, 3))):
        session.apply(data.draw(edit_batches(len(session.ids))))
        assert_matches_fresh(session)


@pytest.mark.parametrize(
    "changes",
    [
        dict(window=1, local_layers=2),
        dict(window=2, codebook_size=1, local_layers=1),
        dict(window=8, codebook_size=300, n_kv_heads=4, local_layers=2),  # codes past a byte; no key sharing
        dict(window=8, codebook_size=32, n_kv_heads=1, local_layers=0),
        dict(window=4, local_layers=2, sink=True, **ATTENTION),
        dict(window=1, local_layers=1, sink=True),
    ],
    ids=["W1-local", "W2-K1-mixed", "K300-mha-local", "mqa-global", "sink-local", "W1-sink-mixed"],
)
def test_other_configurations_match_fresh_and_the_model(changes):
    """Windows, codebook sizes and head layouts `incls train` can produce; 300 tokens, so a
    local layer recomputes queries in more than one chunk."""
    model = random_model(6, **changes)
    rng = random.Random(5)
    ids = [rng.randrange(VOCAB) for _ in range(300)]
    session = Session(model, ids)
    out = model(torch.tensor([ids]))
    assert torch.equal(session.codes(), out.codes[0])
    assert (session.running_logits() - out.logits[0]).abs().max() < 1e-4
    for _ in range(12):
        T = len(session.ids)
        a = rng.randrange(T + 1)
        b = min(T, a + rng.randrange(4))
        session.apply([TokenEdit(a, b, [rng.randrange(VOCAB) for _ in range(rng.randrange(4))])])
    assert_matches_fresh(session)
