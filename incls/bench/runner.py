"""Replays edit streams through the engine and the baselines, one edit at a time.

For each edit: operations and wall-clock of (a) full recompute, (b) prefix reuse, (c) the
incremental engine, (d) the HF twin's full forward (wall-clock only; its operation count
is the same formula without VQ). Exactness: after an edit the session is compared with a
fresh session on the same tokens (codes and logits identical, bit for bit) — after every edit
on documents up to `check_every_up_to` tokens, after the last edit of the stream on longer
ones (the session carries every earlier edit, so a bug or drift still shows).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from incls.engine import Session
from incls.engine.ops import UnitCosts

from .baselines import PrefixReuse, full_recompute
from .streams import Stream


@dataclass
class EditRecord:
    kind: str
    length: int
    n_tokens: int
    ops_incremental: int
    ops_full: int
    ops_prefix: int
    ops_twin: int
    wall_incremental: float
    wall_full: float
    wall_prefix: float
    wall_twin: float | None
    checked: bool = False
    mismatch: bool = False
    dirty_per_layer: list = field(default_factory=list)


def twin_ops(units: UnitCosts, d: int, H: int, hd: int, T: int) -> int:
    """Full forward of the non-VQ twin: no code search or table, an output projection instead."""
    position = units.qkv + d * H * hd + units.mlp
    terms = T * (T + 1) // 2
    return units.n_layers * (T * position + terms * units.term) + T * units.classify


def matches_fresh(session: Session) -> bool:
    """Codes and logits (running and document) equal to a fresh session's, bit for bit."""
    fresh = Session(session.model, session.ids)
    return (
        torch.equal(session.codes(), fresh.codes())
        and torch.equal(session.running_logits(), fresh.running_logits())
        and torch.equal(session.document_logits(), fresh.document_logits())
    )


def memory_after(model, stream: Stream) -> dict:
    """Memory of a session on the stream's document after its edits: bytes in all, tokens,
    layers, and bytes per token and layer (storage grown by the insertions included)."""
    session = Session(model, stream.start_ids)
    for edit in stream.edits:
        session.apply([edit])
    total, tokens, layers = session.memory_bytes(), len(session), session.w.n_layers
    return {"bytes": total, "tokens": tokens, "layers": layers, "bytes_per_token_per_layer": total / (tokens * layers)}


def replay(model, stream: Stream, twin_forward=None, check_every_up_to: int = 400, log=None) -> list:
    """All edit records of one stream."""
    session = Session(model, stream.start_ids)
    prefix = PrefixReuse(model)
    prefix.update(stream.start_ids, 0)
    w = session.w
    records = []
    for k, edit in enumerate(stream.edits):
        stats = session.apply([edit])
        ids = session.ids
        t = time.perf_counter()
        full_recompute(model, ids)
        wall_full = time.perf_counter() - t
        t = time.perf_counter()
        prefix.update(ids, min(edit.start, len(ids)))
        wall_prefix = time.perf_counter() - t
        wall_twin = None
        if twin_forward is not None and ids:
            t = time.perf_counter()
            twin_forward(ids)
            wall_twin = time.perf_counter() - t
        last = k == len(stream.edits) - 1
        check = len(ids) <= check_every_up_to or last
        rec = EditRecord(
            kind=stream.kind,
            length=stream.length,
            n_tokens=len(ids),
            ops_incremental=stats.ops,
            ops_full=stats.ops_full,
            ops_prefix=stats.ops_prefix,
            ops_twin=twin_ops(session.units, w.d, w.H, w.hd, len(ids)),
            wall_incremental=stats.seconds,
            wall_full=wall_full,
            wall_prefix=wall_prefix,
            wall_twin=wall_twin,
            checked=check,
            mismatch=check and not matches_fresh(session),
            dirty_per_layer=stats.dirty_per_layer,
        )
        records.append(rec)
        if log:
            log(
                f"{stream.kind:6s} T={len(ids):5d} ops x{rec.ops_full / max(rec.ops_incremental, 1):7.1f} "
                f"wall inc {rec.wall_incremental * 1e3:7.1f} ms full {wall_full * 1e3:7.1f} ms "
                f"prefix {wall_prefix * 1e3:7.1f} ms dirty {stats.dirty_per_layer}{' MISMATCH' if rec.mismatch else ''}"
            )
    return records
