"""Per-layer state of a session: everything needed to update a layer without recomputing it."""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from .weights import DT, PW, EngineWeights


@dataclass
class LayerCache:
    """One layer's state for every position, in the current coordinates.

    x: residual input; qW: query rotated by the window; k, v: unrotated keys and values;
    m, Z, N: softmax accumulators of each query head (running max, denominator,
    numerator); codes: the chosen code of each head; o_ref: the head output (float32) at
    which that code was chosen; margin: distance to the second-nearest code minus distance
    to the nearest, measured at o_ref.
    """

    x: torch.Tensor        # (T, d) float32
    qW: torch.Tensor       # (T, H, hd) float64
    k: torch.Tensor        # (T, Hkv, hd) float64
    v: torch.Tensor        # (T, Hkv, hd) float64
    m: torch.Tensor        # (T, H) float64
    Z: torch.Tensor        # (T, H) float64
    N: torch.Tensor        # (T, H, hd) float64
    codes: torch.Tensor    # (T, H) long
    o_ref: torch.Tensor    # (T, H, hd) float32
    margin: torch.Tensor   # (T, H) float64

    @classmethod
    def empty(cls, w: EngineWeights) -> "LayerCache":
        z = lambda *shape, dtype=DT: torch.zeros(0, *shape, dtype=dtype)
        return cls(x=z(w.d, dtype=PW), qW=z(w.H, w.hd), k=z(w.Hkv, w.hd), v=z(w.Hkv, w.hd), m=z(w.H), Z=z(w.H),
                   N=z(w.H, w.hd), codes=z(w.H, dtype=torch.long), o_ref=z(w.H, w.hd, dtype=torch.float32),
                   margin=z(w.H))

    def relayout(self, src: torch.Tensor) -> None:
        """Move every row to its new position; rows of inserted tokens (src == -1) hold garbage
        until the update fills them (they are always dirty)."""
        index = src.clamp(min=0)
        for f in fields(self):
            old = getattr(self, f.name)
            setattr(self, f.name, old[index] if old.shape[0] else old.new_zeros((src.numel(), *old.shape[1:])))

    def nbytes(self) -> int:
        return sum(getattr(self, f.name).numel() * getattr(self, f.name).element_size() for f in fields(self))
