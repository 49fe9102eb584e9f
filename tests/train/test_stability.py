"""The code-stability term: one replaced token per row, and the move of later outputs."""

import torch

from incls.train.stability import output_shift, replace_one_token


def test_one_token_per_row_is_replaced_inside_the_document():
    gen = torch.Generator().manual_seed(0)
    ids = torch.arange(40).reshape(4, 10)  # every token distinct, so a replacement shows
    lengths = torch.tensor([10, 3, 7, 1])
    for _ in range(20):
        perturbed, at = replace_one_token(ids, lengths, gen)
        assert ((perturbed != ids).sum(1) <= 1).all()
        assert (at < lengths).all() and (at >= 0).all()
        changed = (perturbed != ids).nonzero()
        assert all(int(at[row]) == int(col) for row, col in changed)


def test_shift_counts_only_later_positions_of_the_document():
    before = [torch.ones(1, 6, 2, 4)]
    after = [before[0].clone()]
    after[0][0, 1] += 5.0  # the replaced position itself: ignored
    after[0][0, 5] += 5.0  # padding beyond the length: ignored
    at, lengths = torch.tensor([1]), torch.tensor([5])
    assert float(output_shift(before, after, at, lengths)) == 0.0
    after[0][0, 3] += 1.0  # a later position moved
    assert float(output_shift(before, after, at, lengths)) > 0.0
