"""Bench pieces: edit streams reproduce the tokenizer's ids; baselines equal the model."""

from __future__ import annotations

import random

import pytest
import torch

from incls.bench.baselines import PrefixReuse, full_recompute
from incls.bench.streams import KINDS, build_stream
from incls.model.config import tiny_config
from incls.model.transformer import VQTransformer


@pytest.fixture(
    scope="module",
    params=[dict(local_layers=0), dict(local_layers=1), dict(local_layers=2, sink=True)],
    ids=["global", "local-bottom-layer", "local-with-sink"],
)
def tiny(request):
    torch.manual_seed(0)
    model = VQTransformer(tiny_config(window=8, **request.param)).eval()
    with torch.no_grad():
        for block in model.layers:
            block.codebooks.codes.mul_(10.0)
    return model


def test_full_recompute_equals_model_forward(tiny):
    ids = [random.Random(0).randrange(97) for _ in range(300)]
    out = tiny(torch.tensor([ids]))
    assert (full_recompute(tiny, ids) - out.logits[0]).abs().max() < 1e-4


def test_prefix_reuse_equals_full_recompute(tiny):
    rng = random.Random(1)
    ids = [rng.randrange(97) for _ in range(200)]
    prefix = PrefixReuse(tiny)
    prefix.update(ids, 0)
    for _ in range(5):
        a = rng.randrange(len(ids))
        ids = ids[:a] + [rng.randrange(97)] + ids[a + 2 :]
        got = prefix.update(ids)
        assert (got - full_recompute(tiny, ids)).abs().max() < 1e-5


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_streams_replay_to_the_tokenizers_ids(kind):
    from incls.model.base import load_tokenizer
    from incls.train.data import imdb_split

    tokenizer = load_tokenizer()
    texts = imdb_split("test").texts[:50]
    stream = build_stream(kind, texts, tokenizer, 300, 6, seed=3)
    assert 280 <= len(stream.start_ids) <= 300
    assert stream.edits
    ids = list(stream.start_ids)
    for edit in stream.edits:
        ids = ids[: edit.start] + list(edit.new_ids) + ids[edit.end :]
    assert ids == tokenizer.encode(stream.final_text).ids
