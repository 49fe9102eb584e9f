"""Accumulator drift stays bounded over 10,000 edits."""

from __future__ import annotations

import random

import torch

from incls.engine import Session, TokenEdit

from engine_testing import random_model


def test_ten_thousand_edits_do_not_drift():
    model = random_model(7, base_layers=(0,), window=4)
    rng = random.Random(0)
    session = Session(model, [rng.randrange(97) for _ in range(24)])
    refreshed = 0
    for _ in range(10_000):
        T = len(session.ids)
        a = rng.randrange(T + 1)
        b = min(T, a + rng.randrange(3)) if T > 12 else a  # keep the document near 24 tokens
        new = [rng.randrange(97) for _ in range(rng.randrange(3) if T < 36 else 0)]
        refreshed += session.apply([TokenEdit(a, b, new)]).refreshed_rows
    fresh = Session(model, session.ids)
    assert torch.equal(session.codes(), fresh.codes())
    drift = (session.head_outputs(0) - fresh.head_outputs(0)).abs().max()
    assert drift < 1e-9, "head outputs drifted"
    assert (session.running_logits() - fresh.running_logits()).abs().max() < 1e-9
