"""The shipped model: a few real edits of an IMDB review, session == fresh session."""

from __future__ import annotations

import pytest
import torch

from incls.engine import Session, TokenEdit

from engine_testing import assert_matches_fresh


@pytest.mark.slow
def test_shipped_model_edits_match_fresh():
    from incls.model.base import load_tokenizer
    from incls.model.checkpoint import load_model
    from incls.train.data import imdb_split

    model = load_model()
    tokenizer = load_tokenizer()
    ids = tokenizer.encode("\n\n".join(imdb_split("test").texts[:4])).ids[:160]
    assert len(ids) == 160
    session = Session(model, ids)
    out = model(torch.tensor([ids]))
    # the model's own forward vs the engine: codes agree except at float32 near-ties
    differ = (session.codes() != out.codes[0]).float().mean()
    assert differ < 0.01
    if differ == 0:
        assert (session.running_logits() - out.logits[0]).abs().max() < 1e-3
    word = tokenizer.encode(" wonderful").ids
    session.apply([TokenEdit(40, 40, word)])
    session.apply([TokenEdit(10, 12, [])])
    session.apply([TokenEdit(100, 101, word), TokenEdit(150, 150, word)])
    assert_matches_fresh(session)


@pytest.mark.slow
def test_shipped_model_memory_per_token_and_layer():
    """At most 4 KB per token and layer, storage grown by insertions included."""
    from incls.model.checkpoint import load_model

    model = load_model()
    session = Session(model, [(17 * i) % 5000 + 100 for i in range(1000)])
    for k in range(10):
        session.apply([TokenEdit(100 * k, 100 * k + 1, [300, 301])])
    assert session.memory_bytes() / (len(session) * session.w.n_layers) <= 4096
