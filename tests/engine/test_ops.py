"""The operation counter: a fresh session costs exactly a full forward; an edit costs less."""

from __future__ import annotations

import random

import pytest

from incls.engine import Session, TokenEdit

from engine_testing import random_model


@pytest.mark.parametrize("local_layers,sink", [(0, False), (1, False), (2, False), (1, True), (2, True)])
def test_fresh_session_costs_a_full_forward(local_layers, sink):
    ids = [random.Random(0).randrange(97) for _ in range(64)]
    session = Session(random_model(0, local_layers=local_layers, sink=sink), ids)
    stats = session.last_stats
    assert stats.ops == stats.ops_full == session.units.full_forward(64)
    # a local layer's queries see at most W keys, and the sink beyond them
    terms = stats.ops_by_kind["attention"] // session.units.term
    W = session.w.W
    local = sum(min(i + 1, W) + (sink and i >= W) for i in range(64))
    assert terms == (2 - local_layers) * 64 * 65 // 2 + local_layers * local


def test_edit_costs_less_than_full_and_prefix_counts_the_suffix(tiny_model):
    rng = random.Random(1)
    session = Session(tiny_model, [rng.randrange(97) for _ in range(400)])
    stats = session.apply([TokenEdit(399, 400, [5])])
    assert 0 < stats.ops < stats.ops_full
    assert stats.ops_prefix == session.units.suffix_forward(400, 399)
    assert stats.ops_prefix < stats.ops_full
    kinds = set(stats.ops_by_kind)
    assert {"qkv", "attention", "search", "mlp", "classify"} <= kinds
