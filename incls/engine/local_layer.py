"""A local layer's update: every row whose W keys include a changed one is recomputed outright.

W terms per row are cheaper than correcting accumulators key by key, and recomputing means
the layer stores no accumulators, no reference outputs and no queries: a reached row's
query is one matmul row from its cached residual input. Attention and code search run in
the native kernels (`native.window_update`), one row at a time in float64, so a
recomputed row equals a fresh one bit for bit.

Which rows: the dirty positions and the W - 1 after each, plus the kept positions that had
a deleted key among their W; with a sink (key 0 seen by every row), every row when the
first key changed (its position dirty, or another token now first). That is every position
whose keys changed: new or recomputed keys reach the W positions from themselves on,
deleted keys the kept positions that were within W after them. The old state of a
recomputed key needs nothing more: a kept position that had it among its keys and no
longer does has an inserted (so recomputed) token closer than W before it. Nor do
straddling pairs: a kept pair's distance changes only through a key inserted or deleted
between them, which is then within W of the query.
"""

from __future__ import annotations

import torch

from . import native
from .cache import LayerCache
from .update import LayerUpdate
from .weights import LayerWeights


def update(up: LayerUpdate, cache: LayerCache, lw: LayerWeights, dirty, x_dirty):
    """Store the dirty rows (n,) with their inputs x_dirty (n, d), choose the codes of every
    row they reach afresh; returns the next layer's dirty positions (those whose codes
    changed, and the dirty ones; sorted) and their residual streams after this layer."""
    units, ops = up.units, up.ops
    up.project(cache, lw, dirty, x_dirty)
    next_dirty, searched, terms = native.window_update(
        up.w, lw, up.cache_struct(cache), dirty, reached_otherwise(up, dirty), up.threads.all
    )
    ops.add("qkv", searched * units.q)
    ops.add("attention", terms * units.term)
    ops.add("search", searched * units.search)
    return next_dirty, up.finish(cache, lw, next_dirty)


def reached_otherwise(up: LayerUpdate, dirty: torch.Tensor) -> torch.Tensor:
    """Rows (e,) a change reaches besides the W from each dirty one: those that lost a key,
    or every row when the sink key changed."""
    sink_changed = up.w.sink and (up.edit.first_replaced or (dirty.numel() > 0 and int(dirty[0]) == 0))
    return torch.arange(up.edit.T) if sink_changed else up.edit.deleted_reach
