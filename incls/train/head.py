"""Fitting the head of a frozen network from cached features, in seconds instead of hours.

The head's document logits are the mean of the positions' votes. A vote is linear in the
position's normed final state, plus, with `lexical_votes`, its token's row of a lexicon:

    logits(doc) = W . mean_t(state_t) + b + mean_t(lexicon[token_t])

so a document enters training only through its mean state (cached once by
`incls.train.features`) and its bag of token ids: the whole head is a multinomial
logistic regression, fitted here by full passes of AdamW over all documents.
"""

from __future__ import annotations

import math
import random
import sys
from dataclasses import dataclass

import torch
from torch.nn import functional as F


@dataclass(frozen=True)
class HeadConfig:
    epochs: int = 30
    batch_size: int = 256
    lr: float = 3e-3
    lexicon_lr: float = 3e-2
    state_decay: float = 1e-4      # L2 weight on the linear part (per document, averaged)
    lexicon_decay: float = 1e-6    # L2 weight on the lexicon's entries
    seed: int = 0


@dataclass
class HeadExamples:
    """What the head sees of N training documents."""

    mean: torch.Tensor            # (N, d) mean normed final state
    ids: list[list[int]]          # token ids read per document
    labels: torch.Tensor          # (N,) class index
    weights: torch.Tensor         # (N,) loss weight (balances sources and classes)


def bag(ids: list[list[int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(flat ids, offsets) for `F.embedding_bag` over documents."""
    flat = torch.tensor([t for doc in ids for t in doc], dtype=torch.long)
    offsets = torch.tensor([0] + [len(d) for d in ids[:-1]], dtype=torch.long).cumsum(0)
    return flat, offsets


def head_logits(w: torch.Tensor, b: torch.Tensor, lexicon: torch.Tensor | None, mean: torch.Tensor,
                ids: list[list[int]]) -> torch.Tensor:
    """(N, C) document logits of the head (w (C, d), b (C,), lexicon (V, C)) on cached features."""
    logits = mean @ w.T + b                                             # (N, C)
    if lexicon is not None:
        flat, offsets = bag(ids)
        logits = logits + F.embedding_bag(flat, lexicon, offsets, mode="mean")  # (N, C)
    return logits


def fit_head(model, data: HeadExamples, cfg: HeadConfig = HeadConfig(), log=None) -> dict:
    """Fit `model.classifier` (and `model.lexicon`) in place on cached features; returns a summary."""
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    w = model.classifier.weight.detach().clone().zero_().requires_grad_(True)   # (C, d)
    b = model.classifier.bias.detach().clone().zero_().requires_grad_(True)     # (C,)
    lexicon = None
    groups = [{"params": [w, b], "lr": cfg.lr}]
    if model.lexicon is not None:
        lexicon = torch.zeros_like(model.lexicon.weight, requires_grad=True)    # (V, C)
        groups.append({"params": [lexicon], "lr": cfg.lexicon_lr})
    opt = torch.optim.Adam(groups)
    n = len(data.ids)
    order = list(range(n))
    steps = cfg.epochs * ((n + cfg.batch_size - 1) // cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    loss_value = 0.0
    for epoch in range(cfg.epochs):
        rng.shuffle(order)
        total = 0.0
        for start in range(0, n, cfg.batch_size):
            index = order[start: start + cfg.batch_size]
            logits = head_logits(w, b, lexicon, data.mean[index], [data.ids[i] for i in index])
            losses = F.cross_entropy(logits, data.labels[index], reduction="none")       # (B,)
            loss = (losses * data.weights[index]).sum() / data.weights[index].sum()
            loss = loss + cfg.state_decay * w.pow(2).sum()
            if lexicon is not None:
                loss = loss + cfg.lexicon_decay * lexicon.pow(2).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(index)
        loss_value = total / n
        if log:
            log(f"head epoch {epoch + 1}/{cfg.epochs}: loss {loss_value:.4f}")
    with torch.no_grad():
        model.classifier.weight.copy_(w)
        model.classifier.bias.copy_(b)
        if lexicon is not None:
            model.lexicon.weight.copy_(lexicon)
    return {"head_epochs": cfg.epochs, "head_final_loss": round(loss_value, 4), "documents": n}


@torch.no_grad()
def predict_cached(model, mean: torch.Tensor, ids: list[list[int]]) -> torch.Tensor:
    """(N, C) document logits of `model`'s head on cached features (equal to its forward's)."""
    lexicon = None if model.lexicon is None else model.lexicon.weight
    return head_logits(model.classifier.weight, model.classifier.bias, lexicon, mean, ids)


def stderr_log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
