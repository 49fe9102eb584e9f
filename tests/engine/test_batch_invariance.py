"""Position-wise math gives each row the same bits whatever batch it is computed in.

The engine relies on this (see incls/engine/weights.py): after an edit it recomputes a
few rows alone, and they must equal the same rows of a fresh document computed all
together, on one thread or several, or codes could differ at near-ties.
"""

from __future__ import annotations

import pytest
import torch

from incls.engine import native, positionwise as pw
from incls.engine.cache import LayerCache
from incls.engine.weights import PW, engine_weights

from engine_testing import random_model


def _rows(w, lw, x: torch.Tensor, codes: torch.Tensor):
    """Everything position-wise the engine computes for rows x (n, d) with codes (n, H),
    through the entry points a session uses (storage rows 0..n-1). The lexical votes are
    table rows chosen by a position's tokens, not arithmetic on its row: the exactness
    tests cover them."""
    n = x.shape[0]
    rows = torch.arange(n)
    cache = LayerCache.empty(w, local=False, first=False)  # keeps queries: the full projection
    cache.reserve(n)
    struct = native.cache_struct(w, cache, torch.zeros(n, dtype=torch.int32), rows)
    native.project(w, lw, struct, x, rows)
    cache.codes.copy_(codes)
    after = native.finish(w, lw, struct, rows)
    return cache.q, cache.k, cache.v, after, pw.state_rows(w, after)


def _check(model, n_rows: int) -> None:
    w = engine_weights(model)
    lw = w.layers[-1]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n_rows, w.d, generator=gen).to(PW) * 2.0  # (n, d)
    codes = torch.randint(0, w.K, (n_rows, w.H), generator=gen)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        reference = _rows(w, lw, x, codes)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for start, size in [(0, 1), (5, 2), (7, 3), (11, 5), (3, 9), (20, 17), (1, 40), (2, 33), (0, n_rows)]:
                part = _rows(w, lw, x[start : start + size], codes[start : start + size])
                for got, want in zip(part, reference):
                    assert torch.equal(got, want[start : start + size]), (threads, start, size)
    finally:
        torch.set_num_threads(before)


def test_rows_match_any_batch_tiny(tiny_model):
    _check(tiny_model, 64)


def test_rows_match_any_batch_tiny_half_weights():
    """Weights that are exact float16 values (as trained layers ship) take the float16 path."""
    model = random_model(3)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.half().float())
    lw = engine_weights(model).layers[-1]
    assert lw.w_qkv.dtype == lw.w_gate_up.dtype == lw.w_down.dtype == torch.float16
    _check(model, 64)


@pytest.mark.parametrize("n_rows", [1, 3, 4, 7, 37])
@pytest.mark.parametrize("reduction", [8, 13, 576])
def test_half_weights_give_the_float32_products(n_rows, reduction):
    """A float16-stored matrix gives bit for bit the products of the same values in float32."""
    gen = torch.Generator().manual_seed(n_rows * 100 + reduction)
    weight = torch.randn(50, reduction, generator=gen).half()
    x = torch.randn(n_rows, reduction, generator=gen)
    assert torch.equal(pw.rows_matmul(x, weight), pw.rows_matmul(x, weight.float()))
    assert torch.allclose(pw.rows_matmul(x, weight), x @ weight.float().t(), rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_rows_match_any_batch_shipped():
    from incls.model.checkpoint import load_model

    _check(load_model(), 300)


def test_rows_match_any_batch_with_attention_pooling():
    """The pooling weight of a position is computed from its row alone too."""
    _check(random_model(4, pooling="attention"), 64)
