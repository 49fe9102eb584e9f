"""Position-wise math gives each row the same bits whatever batch it is computed in.

The engine relies on this (see incls/engine/weights.py): after an edit it recomputes a
few rows alone, and they must equal the same rows of a fresh document computed all
together, on one thread or several, or codes could differ at near-ties.
"""

from __future__ import annotations

import pytest
import torch

from incls.engine import positionwise as pw
from incls.engine.weights import PW, engine_weights


def _rows(w, lw, x: torch.Tensor, codes: torch.Tensor):
    """Everything position-wise the engine computes for rows x (n, d) with codes (n, H)."""
    qW, k, v = pw.project(w, lw, x)
    after = pw.finish(w, lw, x, codes)
    return qW, k, v, after, pw.classify(w, after)


def _check(model, n_rows: int) -> None:
    w = engine_weights(model)
    lw = w.layers[-1]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(n_rows, w.d, generator=gen).to(PW) * 2.0                # (n, d)
    codes = torch.randint(0, w.K, (n_rows, w.H), generator=gen)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        reference = _rows(w, lw, x, codes)
        for threads in (1, 2):
            torch.set_num_threads(threads)
            for start, size in [(0, 1), (5, 2), (7, 3), (11, 5), (3, 9), (20, 17), (1, 40), (2, 33), (0, n_rows)]:
                part = _rows(w, lw, x[start:start + size], codes[start:start + size])
                for got, want in zip(part, reference):
                    assert torch.equal(got, want[start:start + size]), (threads, start, size)
    finally:
        torch.set_num_threads(before)


def test_rows_match_any_batch_tiny(tiny_model):
    _check(tiny_model, 64)


@pytest.mark.slow
def test_rows_match_any_batch_shipped():
    from incls.model.checkpoint import load_model

    _check(load_model(), 300)
