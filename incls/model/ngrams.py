"""Hashed token n-grams: the rows of the n-gram lexicon that each position votes with.

A position's lexical vote is its token's row of the lexicon plus, for n = 2..order, the
row of the n-gram of tokens ending there ("not good", "waste of time"): phrases carry
tone that their tokens alone do not. The n-grams are hashed into `buckets` rows per
order, so the table has a fixed size whatever the vocabulary of phrases.

A position's n-grams depend on its token and the order - 1 tokens before it, so the
document's logits stay an exact mean of per-position votes, and an edit changes the
lexical votes of its new tokens and of the order - 1 positions after it only. Tokens
before the start of a sequence are read as `vocab_size` (no real token), so the first
positions of a document (or of an independent chunk) have n-grams of their own.

The hash is integer arithmetic on int64, the same in training, the model's forward pass
and the engine, so all three read the same rows.
"""

from __future__ import annotations

import torch

MULTIPLIER = 1_000_003  # odd, so successive tokens mix; key * MULTIPLIER < 2**51 fits in int64
KEY_MASK = (1 << 31) - 1


def ngram_rows(window: torch.Tensor, buckets: int) -> torch.Tensor:
    """Token windows (..., order) ending at each position (earliest first; `vocab_size`
    before the start) -> table rows (..., order - 1) of its n-grams, n = 2..order.

    Row of the n-gram of order n: (n - 2) * buckets + hash(last n tokens) % buckets.
    """
    order = window.shape[-1]
    key = window[..., -1] + 1  # (...)
    rows = []
    for n in range(2, order + 1):
        key = ((key * MULTIPLIER) ^ (window[..., -n] + 1)) & KEY_MASK
        rows.append((n - 2) * buckets + key % buckets)
    return torch.stack(rows, -1) if rows else window.new_zeros(*window.shape[:-1], 0)


def windows(ids: torch.Tensor, order: int, vocab_size: int) -> torch.Tensor:
    """ids (..., T) -> (..., T, order): the tokens ending at each position, earliest first,
    with `vocab_size` standing for tokens before the start."""
    start = torch.full((*ids.shape[:-1], order - 1), vocab_size, dtype=ids.dtype, device=ids.device)
    padded = torch.cat([start, ids], -1)  # (..., T + order - 1)
    return padded.unfold(-1, order, 1)  # (..., T, order)


def sequence_rows(ids: torch.Tensor, order: int, vocab_size: int, buckets: int) -> torch.Tensor:
    """ids (..., T) -> (..., T, order - 1): the n-gram rows of every position."""
    return ngram_rows(windows(ids, order, vocab_size), buckets)


def rows_at(ids: torch.Tensor, positions: torch.Tensor, order: int, vocab_size: int, buckets: int) -> torch.Tensor:
    """A sequence's ids (T,) and some of its positions (n,) -> their n-gram rows (n, order - 1),
    reading only the order tokens ending at each position."""
    back = positions[:, None] - torch.arange(order - 1, -1, -1)  # (n, order), earliest first
    window = torch.where(back >= 0, ids[back.clamp(min=0)], torch.tensor(vocab_size))  # (n, order)
    return ngram_rows(window, buckets)
