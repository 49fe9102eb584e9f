"""Operation counts: multiply-adds of matmuls, attention terms and code searches.

One unit is one multiply-add. The same unit costs are used for the incremental update
(counted as the engine works) and for the closed-form cost of a full forward of the same
sequence, so their ratio is a measured reduction, not an estimate. Element-wise work
(norms, activations, exponentials) is not counted on either side.

Per position and layer: q/k/v projection d*(H+2Hkv)*hd (a local layer counts k, v of its
dirty rows and q of the rows it recomputes: in a fresh session, every row once), code
search H*K*hd, table sum H*d, MLP 3*d*dff; per attention term (one query, one key, one head) 2*hd (score and value);
per margin test hd per head; the classifier d*C per position whose logits are produced.
A query of a local layer has min(i + 1, W) attention terms (one more from i = W on with a
sink key), of any other layer i + 1.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class UnitCosts:
    qkv: int  # one position's q, k, v projection
    q: int  # its q part alone (a local layer recomputes queries apart from keys and values)
    kv: int  # its k, v part
    search: int  # one position's code search over all heads
    table: int  # one position's table sum
    mlp: int  # one position's MLP
    term: int  # one attention term, all heads
    margin: int  # one position's margin test, all heads
    classify: int  # one position's class logits
    n_layers: int
    n_local: int  # layers attending only to keys closer than W
    W: int
    sink: bool  # local layers' queries from W on also see key 0

    @classmethod
    def of(cls, w) -> UnitCosts:
        return cls(
            qkv=w.d * (w.H + 2 * w.Hkv) * w.hd,
            q=w.d * w.H * w.hd,
            kv=w.d * 2 * w.Hkv * w.hd,
            search=w.H * w.K * w.hd,
            table=w.H * w.d,
            mlp=3 * w.d * w.dff,
            term=2 * w.H * w.hd,
            margin=w.H * w.hd,
            classify=w.d * w.C,
            n_layers=w.n_layers,
            n_local=sum(lw.local for lw in w.layers),
            W=w.W,
            sink=w.sink,
        )

    @property
    def position(self) -> int:
        """Position-wise cost of one position in one layer (everything but attention)."""
        return self.qkv + self.search + self.table + self.mlp

    def suffix_forward(self, T: int, start: int) -> int:
        """Cost of computing positions start..T-1 of a T-token sequence, keys 0..i each."""
        n = max(T - start, 0)
        terms = (T * (T + 1) - start * (start + 1)) // 2  # sum of (i + 1) for i in start..T-1
        # sum of min(i + 1, W): the ramp up to W, then W per query
        ramp_end = min(max(start, self.W), T)
        local_terms = (
            (ramp_end * (ramp_end + 1) - start * (start + 1)) // 2 + (self.W + self.sink) * (T - ramp_end) if n else 0
        )
        attention = (self.n_layers - self.n_local) * terms + self.n_local * local_terms
        return self.n_layers * n * self.position + attention * self.term + n * self.classify

    def full_forward(self, T: int) -> int:
        return self.suffix_forward(T, 0)


@dataclass
class OpCounter:
    """Counts an update's work as it happens, by kind."""

    by_kind: dict = field(default_factory=dict)

    def add(self, kind: str, amount: int) -> None:
        self.by_kind[kind] = self.by_kind.get(kind, 0) + int(amount)

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())


@dataclass
class UpdateStats:
    """What one `Session.apply` did and cost, next to the cost of the alternatives."""

    ops: int = 0  # multiply-adds of the incremental update
    ops_full: int = 0  # a full forward of the new sequence
    ops_prefix: int = 0  # prefix reuse: recompute from the first changed position
    ops_by_kind: dict = field(default_factory=dict)
    dirty_per_layer: list = field(default_factory=list)  # positions whose residual changed, per layer
    refreshed_rows: int = 0  # accumulator rows recomputed exactly to bound drift
    voted: object = None  # (n,) long: positions whose vote was recomputed (new coordinates)
    n_tokens: int = 0
    seconds: float = 0.0

    @property
    def reduction(self) -> float:
        return self.ops_full / self.ops if self.ops else float("inf")
