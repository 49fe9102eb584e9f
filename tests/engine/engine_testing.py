"""Helpers shared by the engine tests: small random VQ models and the exactness assertion."""

from __future__ import annotations

import torch

from incls.engine import Session
from incls.model.config import tiny_config
from incls.model.transformer import VQTransformer

NGRAMS = dict(lexical_votes=True, ngram_order=3, ngram_buckets=64)  # few buckets: hash collisions too
ATTENTION = dict(pooling="attention")


def random_model(seed: int = 0, **changes) -> VQTransformer:
    """A tiny VQ transformer with random weights; codebooks spread like real outputs."""
    torch.manual_seed(seed)
    model = VQTransformer(tiny_config(**changes)).eval()
    with torch.no_grad():
        for block in model.layers:
            block.codebooks.codes.mul_(10.0)  # comparable to head outputs, so codes vary
        if model.lexicon is not None:
            model.lexicon.weight.normal_()  # per-token votes that matter
        if model.ngram_lexicon is not None:
            model.ngram_lexicon.weight.normal_()  # and n-gram votes
        if model.pool is not None:
            model.pool.weight.normal_(std=2.0)  # pooling weights far apart (scores past the bound too)
    return model


def assert_matches_fresh(session: Session) -> None:
    """The session equals a fresh session on its tokens: same codes, and logits bit for bit
    (a position's residual stream is a function of its inputs and codes alone, computed in
    a fixed order whatever the batch)."""
    fresh = Session(session.model, session.ids)
    assert session.ids == fresh.ids
    assert torch.equal(session.codes(), fresh.codes()), "codes differ from a fresh session"
    assert torch.equal(session.votes, fresh.votes), "votes differ from a fresh session"
    assert torch.equal(session.running_logits(), fresh.running_logits())
    assert torch.equal(session.document_logits(), fresh.document_logits())
