"""`UpdateStats.voted`: every position whose vote an update changed is reported (the
sentence evidence re-sums only those), in one session and across chunks.

Token ids are kept distinct, so that where the edit lies is not ambiguous (inserting
"a" next to an "a" is the same sequence whichever side it goes, and chunks re-diff).
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st

from incls.engine import ChunkedSession, Session, TokenEdit
from incls.engine.chunked import ParagraphBreaks

from engine_testing import NGRAMS, random_model

BREAKS = ParagraphBreaks(blank=frozenset({0}))


@pytest.fixture(scope="module")
def lexicon_model():
    """A tiny model whose votes add per-token and n-gram lexicon entries (random, so they
    matter): an edit changes the votes of the positions just after it too."""
    return random_model(1, **NGRAMS)


ids_ = st.lists(st.integers(0, 60), min_size=0, max_size=40, unique=True)


def votes_of(session) -> torch.Tensor:
    if isinstance(session, ChunkedSession):
        return torch.cat([s.votes for s in session.sessions])
    return session.votes.clone()


@settings(max_examples=40, deadline=None)
@given(
    ids_,
    st.lists(st.tuples(st.floats(0, 1), st.integers(0, 6), st.integers(0, 5)), min_size=1, max_size=4),
    st.booleans(),
    st.booleans(),
)
def test_every_changed_vote_is_reported(tiny_model, lexicon_model, ids, edits, chunked, lexicon):
    model = lexicon_model if lexicon else tiny_model
    session = ChunkedSession(model, ids, breaks=BREAKS, max_chunk_tokens=12) if chunked else Session(model, ids)
    unused = iter(range(61, 97))
    for where, length, n_new in edits:
        new = [next(unused) for _ in range(n_new)]
        T = len(session.ids)
        start = int(where * T)
        end = min(T, start + length)
        before = votes_of(session)
        stats = session.apply([TokenEdit(start, end, tuple(new))])
        after = votes_of(session)
        # the old votes, renumbered: positions before the edit keep their index, after it shift
        shift = len(new) - (end - start)
        kept = [(t, t if t < start else t + shift) for t in range(T) if t < start or t >= end]
        voted = set(stats.voted.tolist()) if stats.voted is not None else set()
        for old, new_t in kept:
            if new_t not in voted:
                assert torch.equal(before[old], after[new_t]), (old, new_t)
        assert all(0 <= t < len(session.ids) for t in voted)
        assert set(range(start, start + len(new))) <= voted
