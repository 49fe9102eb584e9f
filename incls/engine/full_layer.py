"""A layer attending beyond W: accumulators corrected key by key, codes searched only when needed.

After an edit, every query after the first change has its softmax accumulators corrected:
terms of removed or changed keys out, terms of new keys in, straddling pairs whose clipped
distance changed moved (`edits.straddling_pairs`); dirty queries, and rows whose mass cancelled,
are recomputed in full (`attention.full_rows`). A query's code can only change if its
output moved by at least half its margin (triangle inequality), so only such rows are
searched again. The attention math lives in `incls.engine.attention` (float64).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from . import positionwise as pw
from .attention import BLOCK_ELEMENTS, RowAccumulators, canonical_output, full_rows, key_scores, window_queries
from .cache import LayerCache
from .weights import DT, LayerWeights

if TYPE_CHECKING:
    from .update import LayerUpdate

EMPTY = torch.zeros(0, dtype=torch.long)

DENSE_FRACTION = 0.5  # above this share of dirty rows after the first change, recompute them all


@dataclass(frozen=True)
class KeyChanges:
    """What an edit changes among one layer's keys: those that leave (deleted tokens and the
    old state of dirty positions, in old coordinates, with their k and v) and those that
    come (the dirty positions, with their new k and v)."""

    removed: torch.Tensor  # (r,) old positions, sorted
    k_removed: torch.Tensor  # (r, Hkv, hd)
    v_removed: torch.Tensor  # (r, Hkv, hd)
    dirty: torch.Tensor  # (n,) new positions, sorted
    k_dirty: torch.Tensor  # (n, Hkv, hd)
    v_dirty: torch.Tensor  # (n, Hkv, hd)
    dirty_mask: torch.Tensor  # (T,) bool


def update(up: LayerUpdate, cache: LayerCache, lw: LayerWeights, dirty, x_dirty):
    """Store the dirty rows (n,) with their inputs x_dirty (n, d), correct the clean rows'
    accumulators, recompute dirty ones, search codes only where an output may have left
    its margin ball. Returns the next layer's dirty positions (sorted) and their residual
    streams after this layer."""
    edit, ops = up.edit, up.ops
    rows_of, src, T = edit.rows_of, edit.src, edit.T
    # keys that leave this layer: deleted tokens and the old state of dirty positions
    changed_old = src[dirty]
    removed = torch.cat([edit.deleted_old, changed_old[changed_old >= 0]]).sort().values
    # read before inserted tokens' rows (maybe freed ones) are written
    old_rows = edit.old_rows_of[removed]
    k_removed, v_removed = cache.k[old_rows].to(DT), cache.v[old_rows].to(DT)  # (r, Hkv, hd)
    first = edit.first_change(dirty, removed)
    if dirty.numel() > DENSE_FRACTION * (T - first):
        # most rows after the first change are dirty: recompute them all (exact, and
        # cheaper than correcting the few clean ones key by key)
        if cache.x is not None:
            cache.x[rows_of[dirty]] = x_dirty  # (layer 0 reads its inputs from the tokens)
        dirty = torch.arange(first, T)
        x_dirty = up.inputs(cache, dirty)
    d_rows = up.project(cache, lw, dirty, x_dirty)
    dirty_mask = torch.zeros(T, dtype=torch.bool)
    dirty_mask[dirty] = True
    changes = KeyChanges(
        removed, k_removed, v_removed, dirty, cache.k[d_rows].to(DT), cache.v[d_rows].to(DT), dirty_mask
    )
    search, o = _outputs(up, cache, first, changes)
    s_rows = rows_of[search]
    codes, margin = pw.search_codes(lw, o)
    ops.add("search", search.numel() * up.units.search)
    assert cache.o_ref is not None and cache.margin is not None  # a layer attending beyond W
    cache.o_ref[s_rows], cache.margin[s_rows] = o, margin
    moved = (codes != cache.codes[s_rows]).any(-1) & ~dirty_mask[search]
    cache.codes[s_rows] = codes.to(cache.codes.dtype)
    keep = moved | dirty_mask[search]
    dirty = search[keep]  # sorted: search is
    return dirty, up.finish(cache, lw, dirty)


def _outputs(up: LayerUpdate, cache: LayerCache, first: int, changes: KeyChanges):
    """Correct the accumulators of clean rows after the first change, recompute dirty rows (and rows whose mass cancelled) in full; returns the rows
    to search (sorted: dirty ones and clean ones whose output left the margin ball) and
    their head outputs."""
    w, units, ops, rows_of, dirty = up.w, up.units, up.ops, up.edit.rows_of, changes.dirty
    assert cache.m is not None and cache.Z is not None and cache.N is not None  # a layer attending beyond W
    assert cache.q is not None and cache.o_ref is not None and cache.margin is not None
    k_pos, v_pos = cache.k[rows_of].to(DT), cache.v[rows_of].to(DT)  # (T, Hkv, hd) position order
    rows = (~changes.dirty_mask[first:]).nonzero().squeeze(1) + first  # (nA,) clean rows to update
    refresh = EMPTY
    if rows.numel():
        refresh = _update_rows(up, cache, rows, changes, k_pos, v_pos)
        up.stats.refreshed_rows += int(refresh.numel())
    exact = torch.cat([dirty, refresh]).sort().values
    if exact.numel():
        e_rows = rows_of[exact]
        m, Z, N, terms = full_rows(w, exact, window_queries(w, cache.q[e_rows]), k_pos, v_pos)
        cache.m[e_rows], cache.Z[e_rows], cache.N[e_rows] = m, Z, N
        ops.add("attention", terms * units.term)
    # codes: only rows whose output may have left the margin ball are searched
    search = dirty
    if rows.numel():
        r_rows = rows_of[rows]
        o = canonical_output(cache.N[r_rows], cache.Z[r_rows])  # (nA, H, hd)
        stay = pw.still_nearest(o, cache.o_ref[r_rows], cache.margin[r_rows]).all(-1)
        ops.add("margin", rows.numel() * units.margin)
        search = torch.cat([dirty, rows[~stay]]).sort().values
    s_rows = rows_of[search]
    return search, canonical_output(cache.N[s_rows], cache.Z[s_rows])


def _update_rows(up: LayerUpdate, cache: LayerCache, rows, changes: KeyChanges, k_pos, v_pos) -> torch.Tensor:
    """Correct the accumulators of clean rows (nA,) for the keys that left and came, and for
    the pairs whose distance crossed W (k_pos, v_pos: (T, Hkv, hd) in position order);
    returns rows whose mass cancelled (to recompute)."""
    w, units, ops, rows_of, src = up.w, up.units, up.ops, up.edit.rows_of, up.edit.src
    removed, dirty, dirty_mask = changes.removed, changes.dirty, changes.dirty_mask
    assert cache.m is not None and cache.Z is not None and cache.N is not None  # a layer attending beyond W
    assert cache.q is not None
    r_rows = rows_of[rows]
    acc = RowAccumulators(cache.m[r_rows], cache.Z[r_rows], cache.N[r_rows])
    qW = window_queries(w, cache.q[r_rows])  # (nA, H, hd)
    n = rows.numel()
    key_block = max(1, BLOCK_ELEMENTS // max(1, n * w.H))
    if removed.numel():
        old_rows = src[rows]  # old positions of the rows
        for a in range(0, removed.numel(), key_block):
            keys = removed[a : a + key_block]  # old coordinates
            scores = key_scores(w, qW, old_rows, changes.k_removed[a : a + key_block], keys)
            acc.remove(w, scores, changes.v_removed[a : a + key_block])
        ops.add("attention", n * removed.numel() * units.term)
    st_i, st_j = up.edit.straddle
    if st_i.numel():
        keep = ~dirty_mask[st_i] & ~dirty_mask[st_j]
        i, j = st_i[keep], st_j[keep]
        if i.numel():
            row_of = torch.full((dirty_mask.numel(),), -1, dtype=torch.long)
            row_of[rows] = torch.arange(n)
            r = row_of[i]
            # dense scores of the few zone rows against the few keys, at old and new distances
            uq, qi = torch.unique(i, return_inverse=True)
            uk, kj = torch.unique(j, return_inverse=True)
            q_zone, k_zone = qW[row_of[uq]], k_pos[uk]
            s_new = key_scores(w, q_zone, uq, k_zone, uk)[qi, :, kj]  # (P, H)
            s_old = key_scores(w, q_zone, src[uq], k_zone, src[uk])[qi, :, kj]  # (P, H)
            acc.move_pairs(w, r, s_old, s_new, v_pos[j])
            ops.add("attention", 2 * uq.numel() * uk.numel() * units.term)
    if dirty.numel():
        for a in range(0, dirty.numel(), key_block):
            keys = dirty[a : a + key_block]
            acc.add(
                w, key_scores(w, qW, rows, changes.k_dirty[a : a + key_block], keys), changes.v_dirty[a : a + key_block]
            )
        ops.add("attention", n * dirty.numel() * units.term)
    cache.m[r_rows], cache.Z[r_rows], cache.N[r_rows] = acc.m, acc.Z, acc.N
    return rows[acc.lost]
