"""Token batches for training and evaluation: length-bucketed, right-padded.

Right padding is harmless for a causal model: real positions never attend to pads, and
each document's logits are read at its own last position.
"""

from __future__ import annotations

import random

import torch

PAD_ID = 2  # the tokenizer's <|im_end|>; never attended to by real positions


def encode_all(
    tokenizer, texts: list[str], max_tokens: int | None, tail_share: float = 0.0, seed: int = 0
) -> list[list[int]]:
    """Token ids of each text (at least one token), truncated to its first `max_tokens`; or,
    for a seeded `tail_share` of the documents, to its last: a review's verdict is often in
    its closing lines, which a reading of its first tokens never sees."""
    rng = random.Random(seed)
    out = []
    for x in (e.ids for e in tokenizer.encode_batch(texts)):
        from_end = rng.random() < tail_share  # drawn for every document: the choice of one never moves another's
        if max_tokens and len(x) > max_tokens:
            x = x[-max_tokens:] if from_end else x[:max_tokens]
        out.append(x or [PAD_ID])
    return out


def pad(batch: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(ids (B, T) right-padded, lengths (B,))."""
    lengths = torch.tensor([len(x) for x in batch])
    out = torch.full((len(batch), int(lengths.max())), PAD_ID, dtype=torch.long)
    for row, x in enumerate(batch):
        out[row, : len(x)] = torch.tensor(x)
    return out, lengths


def bucketed(indices: list[int], lengths: list[int], batch_size: int, rng: random.Random | None):
    """Batches of indices with similar lengths; shuffled batch order when `rng` is given."""
    order = sorted(indices, key=lambda i: lengths[i])
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    if rng is not None:
        rng.shuffle(batches)
    return batches
