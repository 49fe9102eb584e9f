"""Per-layer state of a session: what an update reads that is not cheap to recompute."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .weights import CODE, DT, PW, EngineWeights


@dataclass
class LayerCache:
    """One layer's state, one row per token, in storage order (see `incls.engine.slots`).

    Stored in the narrowest types that hold the numbers exactly: k and v come out of float32
    math and are stored as such (widened to float64 where attention reads them, the same
    values); codes are int16.

    x: residual input, or None in layer 0, whose inputs are the token embeddings (a lookup);
    k, v: unrotated keys and values; codes: the chosen code of each head.

    A local layer keeps nothing else: it recomputes every row a change reaches (W terms
    each), queries included (one matmul row for each of the few rows an edit reaches), and
    searches their codes again. A layer attending beyond W corrects the rows after a change
    instead of recomputing them, and for that keeps q, the queries (float32, as computed;
    every row after a change reads them, rotated by W on reading); m, Z, N, the softmax accumulators of each query
    head (running max, denominator, numerator); o_ref, the head output (float32) at which
    the code was chosen; margin, distance to the second-nearest code minus distance to the
    nearest, measured at o_ref.
    """

    x: torch.Tensor | None  # (S, d) float32
    k: torch.Tensor  # (S, Hkv, hd) float32
    v: torch.Tensor  # (S, Hkv, hd) float32
    codes: torch.Tensor  # (S, H) int16
    q: torch.Tensor | None = None  # (S, H, hd) float32
    m: torch.Tensor | None = None  # (S, H) float64
    Z: torch.Tensor | None = None  # (S, H) float64
    N: torch.Tensor | None = None  # (S, H, hd) float64
    o_ref: torch.Tensor | None = None  # (S, H, hd) float32
    margin: torch.Tensor | None = None  # (S, H) float64

    @classmethod
    def empty(cls, w: EngineWeights, local: bool, first: bool) -> LayerCache:
        z = lambda *shape, dtype=DT: torch.zeros(0, *shape, dtype=dtype)
        cache = cls(
            x=None if first else z(w.d, dtype=PW),
            k=z(w.Hkv, w.hd, dtype=PW),
            v=z(w.Hkv, w.hd, dtype=PW),
            codes=z(w.H, dtype=CODE),
        )
        if not local:
            cache.q, cache.m, cache.Z, cache.N = z(w.H, w.hd, dtype=PW), z(w.H), z(w.H), z(w.H, w.hd)
            cache.o_ref, cache.margin = z(w.H, w.hd, dtype=torch.float32), z(w.H)
        return cache

    def _tensors(self):
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None]

    def reserve(self, capacity: int) -> None:
        """Grow the storage to `capacity` rows, keeping the rows it holds."""
        if self.k.shape[0] >= capacity:
            return
        for name, old in self._tensors():
            grown = old.new_zeros((capacity, *old.shape[1:]))
            grown[: old.shape[0]] = old
            setattr(self, name, grown)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for _, t in self._tensors())
