"""Token edits and the plan that maps an edited sequence onto the old one.

A list of `TokenEdit`s is read as one batch in the coordinates of the sequence *before*
the batch: each edit replaces the tokens `ids[start:end]` with `new_ids`. Edits must not
overlap (one may end where the next starts) and at most one edit may insert at any one
position, so the result never depends on the order of the list. An invalid batch raises
`ValueError` before anything changes.

The plan is what the engine needs from the edit: for every new position, the old position
it came from (or -1 for an inserted token), and the regions whose length changed (they
move clipped distances of pairs that straddle them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from incls.text.tokens import TokenEdit

NONE = torch.zeros(0, dtype=torch.long)  # no positions

__all__ = ["EditPlan", "TokenEdit", "check_token_ids", "plan_edits"]


@dataclass
class EditPlan:
    """How the new sequence is made of the old one."""

    ids: list[int]  # the new token ids
    src: torch.Tensor  # (T,) long: old position of each new position, -1 if inserted
    inserted: torch.Tensor  # (n_ins,) long: new positions holding inserted tokens
    deleted_old: torch.Tensor  # (n_del,) long: old positions that are gone
    shifted: list[tuple[int, int]] = field(default_factory=list)  # (new start, new end) of length-changing edits
    n_inserted: int = 0
    first_change: int = 0  # first new position whose token or left context differs
    edit_ends: list[int] = field(default_factory=list)  # new position just after each edit

    def followers(self, n: int) -> torch.Tensor:
        """(m,) sorted new positions among the n after each edit: the kept positions whose
        n tokens before them changed (their n-gram votes do), in O(edits x n)."""
        after = [p for end in self.edit_ends for p in range(end, min(end + n, len(self.ids)))]
        return torch.tensor(sorted(set(after)), dtype=torch.long)

    @property
    def identity_layout(self) -> bool:
        """True when no position moved (only same-length replacements)."""
        return not self.shifted

    @property
    def is_noop(self) -> bool:
        return self.inserted.numel() == 0 and self.deleted_old.numel() == 0


def _check_ids(new_ids, vocab_size: int) -> None:
    for token in new_ids:
        if isinstance(token, bool) or not isinstance(token, int):
            raise ValueError(f"token ids must be ints, got {token!r}")
        if not 0 <= token < vocab_size:
            raise ValueError(f"token id {token} is outside the vocabulary (0..{vocab_size - 1})")


def check_token_ids(ids, vocab_size: int) -> list[int]:
    """Validate a whole document's ids; returns them as a list."""
    ids = [int(t) if hasattr(t, "__index__") and not isinstance(t, bool) else t for t in ids]
    _check_ids(ids, vocab_size)
    return ids


def plan_edits(edits, old_ids: list[int], vocab_size: int) -> EditPlan:
    """Validate a batch of edits against `old_ids` and build its plan (raises ValueError)."""
    if isinstance(edits, TokenEdit):
        edits = [edits]
    edits = list(edits)
    T_old = len(old_ids)
    for k, edit in enumerate(edits):
        if not isinstance(edit, TokenEdit):
            # any object with start, end and new_ids is read as a TokenEdit
            if not all(hasattr(edit, name) for name in ("start", "end", "new_ids")):
                raise ValueError(f"expected TokenEdit, got {type(edit).__name__}")
            edits[k] = edit = TokenEdit(edit.start, edit.end, edit.new_ids)
        for name in ("start", "end"):
            value = getattr(edit, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"edit {name} must be an int, got {value!r}")
        if not 0 <= edit.start <= edit.end <= T_old:
            raise ValueError(f"edit range {edit.start}..{edit.end} is invalid for a sequence of {T_old} tokens")
        _check_ids(edit.new_ids, vocab_size)
    edits = sorted(edits, key=lambda e: (e.start, e.end))
    for prev, nxt in zip(edits, edits[1:]):
        if nxt.start < prev.end or nxt.start == prev.start == prev.end:
            raise ValueError(f"edits {prev.start}..{prev.end} and {nxt.start}..{nxt.end} overlap")

    ids: list[int] = []
    src_parts, inserted, deleted, shifted, ends = [], [], [], [], []
    cursor = 0
    first_change = None
    for edit in edits:
        if edit.start == edit.end and not edit.new_ids:
            continue
        src_parts.append(torch.arange(cursor, edit.start))
        ids.extend(old_ids[cursor : edit.start])
        new_start = len(ids)
        if first_change is None:
            first_change = new_start
        n = len(edit.new_ids)
        ids.extend(edit.new_ids)
        src_parts.append(torch.full((n,), -1, dtype=torch.long))
        inserted.append(torch.arange(new_start, new_start + n))
        deleted.append(torch.arange(edit.start, edit.end))
        if n != edit.end - edit.start:
            shifted.append((new_start, new_start + n))
        ends.append(new_start + n)
        cursor = edit.end
    src_parts.append(torch.arange(cursor, T_old))
    ids.extend(old_ids[cursor:])
    cat = lambda parts: torch.cat(parts).long() if parts else torch.zeros(0, dtype=torch.long)
    ins = cat(inserted)
    return EditPlan(
        ids=ids,
        src=cat(src_parts),
        inserted=ins,
        deleted_old=cat(deleted),
        shifted=shifted,
        n_inserted=int(ins.numel()),
        first_change=len(ids) if first_change is None else first_change,
        edit_ends=ends,
    )


def straddling_pairs(plan: EditPlan, T_old: int, W: int):
    """Pairs (query i, key j) of kept positions whose clipped distance the edit changed.

    Returns (i, j), two (P,) long tensors in new coordinates. Only pairs
    within W of each other (before or after) straddling a length-changing edit qualify:
    O(W^2) per edit. See DESIGN.md, "The incremental engine".
    """
    T = len(plan.ids)
    if not plan.shifted or T == 0 or W <= 1:
        return NONE, NONE
    src = plan.src
    kept = src >= 0
    zone = torch.zeros(T, dtype=torch.bool)
    for new_start, new_end in plan.shifted:
        zone[new_end : min(T, new_start + W + plan.n_inserted)] = True
    q = (zone & kept).nonzero().squeeze(1)  # (nq,)
    t = torch.arange(1, W)  # (W - 1,)
    # pairs now closer than W
    j1 = q[:, None] - t[None, :]  # (nq, W - 1)
    ok1 = j1 >= 0
    j1 = j1.clamp(min=0)
    ok1 &= kept[j1]
    t_old1 = (src[q][:, None] - src[j1]).clamp(max=W)
    ok1 &= t_old1 != t[None, :]
    # pairs closer than W before the edit, at W or more now
    new_of_old = torch.full((T_old,), -1, dtype=torch.long)
    kept_pos = kept.nonzero().squeeze(1)
    new_of_old[src[kept_pos]] = kept_pos
    r = src[q][:, None] - t[None, :]  # (nq, W - 1) old positions
    ok2 = r >= 0
    j2 = new_of_old[r.clamp(min=0)]
    ok2 &= j2 >= 0
    ok2 &= (q[:, None] - j2) >= W
    qq = q[:, None].expand_as(j1)
    i = torch.cat([qq[ok1], qq[ok2]])
    j = torch.cat([j1[ok1], j2[ok2]])
    return i, j
