"""Vector quantization of each head's attention output.

One codebook of K vectors per head. The forward replaces a head's output by its nearest
code, so a position's attention result changes only when it crosses into another code's
cell: that discreteness is what lets the engine stop propagating small changes.
Training uses the straight-through gradient, a commitment loss, k-means initialisation on
real activations and re-seeding of codes that fall out of use.
"""

from __future__ import annotations

import torch
from torch import nn


class HeadCodebooks(nn.Module):
    """K codes of dimension head_dim for each of H heads."""

    usage: torch.Tensor  # (H, K) times each code was chosen since the last reseed (a buffer)

    def __init__(self, n_heads: int, codebook_size: int, head_dim: int, beta: float = 0.25) -> None:
        super().__init__()
        self.codes = nn.Parameter(torch.randn(n_heads, codebook_size, head_dim) * 0.02)  # (H, K, hd)
        self.beta = beta
        self.register_buffer("usage", torch.zeros(n_heads, codebook_size), persistent=False)

    @property
    def codebook_size(self) -> int:
        return self.codes.shape[1]

    def distances(self, o: torch.Tensor) -> torch.Tensor:
        """Squared distances (..., H, K) from head outputs o (..., H, hd) to every code."""
        cross = torch.einsum("...hc,hkc->...hk", o, self.codes)  # (..., H, K)
        return o.pow(2).sum(-1, keepdim=True) - 2 * cross + self.codes.pow(2).sum(-1)  # (..., H, K)

    def nearest(self, o: torch.Tensor) -> torch.Tensor:
        """Index (..., H) of the nearest code; ties go to the lower index."""
        return self.distances(o).argmin(-1)

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """Code vectors (..., H, hd) for indices (..., H)."""
        heads = torch.arange(self.codes.shape[0], device=codes.device)
        return self.codes[heads, codes]

    def forward(self, o: torch.Tensor):
        """Quantize o (..., H, hd): returns (straight-through output, codes, commitment loss)."""
        codes = self.nearest(o.detach())  # (..., H)
        quantized = self.lookup(codes)  # (..., H, hd)
        loss = torch.zeros((), device=o.device)
        if self.training:
            loss = (o - quantized.detach()).pow(2).mean() * self.beta + (o.detach() - quantized).pow(2).mean()
            with torch.no_grad():
                flat = codes.reshape(-1, codes.shape[-1])  # (N, H)
                self.usage += torch.nn.functional.one_hot(flat, self.codebook_size).sum(0).to(self.usage.dtype)
        return o + (quantized - o).detach(), codes, loss

    @torch.no_grad()
    def init_kmeans(self, samples: torch.Tensor, iterations: int = 20, seed: int = 0) -> None:
        """Set each head's codes by k-means on real outputs `samples` (N, H, hd)."""
        gen = torch.Generator().manual_seed(seed)
        N, H, _ = samples.shape
        K = self.codebook_size
        for h in range(H):
            x = samples[:, h].float()  # (N, hd)
            centroids = x[torch.randperm(N, generator=gen)[:K]].clone()
            if centroids.shape[0] < K:
                extra = centroids[torch.randint(0, N, (K - N,), generator=gen)]
                centroids = torch.cat([centroids, extra + 1e-3 * torch.randn(extra.shape, generator=gen)])
            for _ in range(iterations):
                assign = torch.cdist(x, centroids).argmin(1)  # (N,)
                for k in range(K):
                    members = x[assign == k]
                    if len(members):
                        centroids[k] = members.mean(0)
                    else:
                        centroids[k] = x[torch.randint(0, N, (1,), generator=gen)][0]
            self.codes[h] = centroids.to(self.codes.dtype)

    @torch.no_grad()
    def reseed_dead(self, recent: torch.Tensor, seed: int = 0) -> int:
        """Move codes unused since the last call onto random recent outputs (N, H, hd)."""
        gen = torch.Generator().manual_seed(seed)
        dead = self.usage == 0  # (H, K)
        n_dead = int(dead.sum())
        for h, k in dead.nonzero().tolist():
            pick = torch.randint(0, recent.shape[0], (1,), generator=gen)
            self.codes[h, k] = recent[pick, h][0].to(self.codes.dtype)
        self.usage.zero_()
        return n_dead
