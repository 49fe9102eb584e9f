"""Per-layer state of a session: everything needed to update a layer without recomputing it."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .weights import DT, PW, EngineWeights


@dataclass
class LayerCache:
    """One layer's state, one row per token, in storage order (see `incls.engine.slots`).

    x: residual input; qW: query rotated by the window; k, v: unrotated keys and values;
    codes: the chosen code of each head. A layer attending beyond W also keeps what lets
    it correct a row instead of recomputing it: m, Z, N, the softmax accumulators of each
    query head (running max, denominator, numerator); o_ref, the head output (float32) at
    which the code was chosen; margin, distance to the second-nearest code minus distance
    to the nearest, measured at o_ref. A local layer recomputes every row a change reaches
    (W terms each) and searches its codes again, so it needs none of these.
    """

    x: torch.Tensor  # (S, d) float32
    qW: torch.Tensor  # (S, H, hd) float64
    k: torch.Tensor  # (S, Hkv, hd) float64
    v: torch.Tensor  # (S, Hkv, hd) float64
    codes: torch.Tensor  # (S, H) long
    m: torch.Tensor | None = None  # (S, H) float64
    Z: torch.Tensor | None = None  # (S, H) float64
    N: torch.Tensor | None = None  # (S, H, hd) float64
    o_ref: torch.Tensor | None = None  # (S, H, hd) float32
    margin: torch.Tensor | None = None  # (S, H) float64

    @classmethod
    def empty(cls, w: EngineWeights, local: bool) -> LayerCache:
        z = lambda *shape, dtype=DT: torch.zeros(0, *shape, dtype=dtype)
        cache = cls(
            x=z(w.d, dtype=PW), qW=z(w.H, w.hd), k=z(w.Hkv, w.hd), v=z(w.Hkv, w.hd), codes=z(w.H, dtype=torch.long)
        )
        if not local:
            cache.m, cache.Z, cache.N = z(w.H), z(w.H), z(w.H, w.hd)
            cache.o_ref, cache.margin = z(w.H, w.hd, dtype=torch.float32), z(w.H)
        return cache

    def _tensors(self):
        return [(f.name, getattr(self, f.name)) for f in fields(self) if getattr(self, f.name) is not None]

    def reserve(self, capacity: int) -> None:
        """Grow the storage to `capacity` rows, keeping the rows it holds."""
        if self.x.shape[0] >= capacity:
            return
        for name, old in self._tensors():
            if old.shape[0] < capacity:
                grown = old.new_zeros((capacity, *old.shape[1:]))
                grown[: old.shape[0]] = old
                setattr(self, name, grown)

    def nbytes(self) -> int:
        return sum(t.numel() * t.element_size() for _, t in self._tensors())
