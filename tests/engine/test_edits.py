"""Edit batches: how a list is read, and invalid edits rejected without changing anything."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

from incls.engine import Session, TokenEdit
from incls.engine.edits import plan_edits

from engine_testing import assert_matches_fresh


def test_batch_is_read_in_pre_edit_coordinates():
    plan = plan_edits([TokenEdit(4, 5, [9, 9]), TokenEdit(0, 1, [])], [0, 1, 2, 3, 4, 5], vocab_size=97)
    assert plan.ids == [1, 2, 3, 9, 9, 5]
    assert plan.src.tolist() == [1, 2, 3, -1, -1, 5]
    assert plan.first_change == 0


@pytest.mark.parametrize(
    "edits",
    [
        [TokenEdit(-1, 0, [])],
        [TokenEdit(0, 11, [])],
        [TokenEdit(3, 2, [])],
        [TokenEdit(0, 0, [97])],
        [TokenEdit(0, 0, [-1])],
        [TokenEdit(0, 0, ["a"])],
        [TokenEdit(1, 4, [1]), TokenEdit(3, 5, [2])],
        [TokenEdit(2, 2, [1]), TokenEdit(2, 2, [2])],
        [TokenEdit(2, 2, [1]), TokenEdit(2, 4, [2])],
    ],
)
def test_invalid_edits_raise_and_change_nothing(tiny_model, edits):
    ids = list(range(10))
    session = Session(tiny_model, ids)
    before_codes, before_logits = session.codes().clone(), session.running_logits().clone()
    with pytest.raises(ValueError):
        session.apply(edits)
    assert session.ids == ids
    assert torch.equal(session.codes(), before_codes)
    assert torch.equal(session.running_logits(), before_logits)
    session.apply([TokenEdit(3, 4, [50])])  # still usable afterwards
    assert_matches_fresh(session)


def test_unknown_token_in_initial_document(tiny_model):
    with pytest.raises(ValueError):
        Session(tiny_model, [1, 2, 500])


def test_adjacent_edits_and_any_edit_type(tiny_model):
    @dataclass
    class OtherEdit:  # e.g. the text layer's own edit type
        start: int
        end: int
        new_ids: tuple

    session = Session(tiny_model, list(range(20)))
    session.apply([TokenEdit(2, 4, [7]), OtherEdit(4, 6, (8, 8, 8)), TokenEdit(19, 20, [])])
    assert session.ids == [0, 1, 7, 8, 8, 8] + list(range(6, 19))
    assert_matches_fresh(session)


def test_noop_batch_costs_nothing(tiny_model):
    session = Session(tiny_model, list(range(20)))
    stats = session.apply([TokenEdit(5, 5, [])])
    assert stats.ops == 0 and session.ids == list(range(20))
