"""Sentence evidence: each sentence's exact share of the document's logits, kept up to date.

The arithmetic. The head gives every position t a row r_t of additive terms and the
logits of any stretch of positions are a function of the sum of their rows and their
number (`incls.model.pooling`: the state votes pooled by the positions' weights, the
lexical votes averaged; with mean pooling, the mean of the votes v_t); across chunks too,
since rows add. Every token belongs to exactly one unit of `incls.text.sentences` (the unit
holding its last character, so the whitespace between two units goes to the first). With
R_u the sum of unit u's n_u rows, R the sum of all T rows and z = logits(R, T):

- **contribution** c_u, its exact share of z (`pooling.contributions`: its weighted state
  votes over all the weight, plus its lexical votes over T); the contributions add up to
  z exactly. S_u = T c_u is the unit's *vote sum* (with mean pooling, the sum of its
  votes), the scale the pulls and shares below are computed in;
- **pull** p_u = c_u - (n_u / T) z = (n_u / T)(S_u / n_u - z): what the unit adds beyond
  an average stretch of the same length. The pulls add up to 0, and z minus the logits
  of the document without u (every other vote unchanged) is T / (T - n_u) p_u, so the
  pull is the unit's leave-one-out effect as the head computes it. Unlike the
  contribution it does not grow with a sentence's length alone, and unlike the old
  paragraph "pull" (a difference of running means) it does not favour the opening
  paragraph;
- **reading**: the softmax of logits(R_u, n_u), the unit's own positions pooled as the
  document's are (with mean pooling, its mean vote S_u / n_u): the model's verdict on that
  sentence in its context;
- **share** of the evidence for the document's class k: with the contributions centred
  over the classes (logits are defined up to a constant), ĉ_u = c_u[k] - mean_c c_u[c],
  a unit's share is ĉ_u over the sum of the positive ĉ: the units that push toward k
  share 100% between them, and a unit pushing away has a negative share (how much of
  that push it cancels).

Keeping it current. `Ledger.update` takes what changed since the last update: the text
range (pre-edit start, end, and the new end), the token range, and the positions whose
vote the engine recomputed (`UpdateStats.voted`). The paragraphs that the text and token
ranges touch are re-split, units after them are renumbered, and only the sums of units
that are new, lost or gained tokens, or hold a recomputed vote are summed again from the
rows; no model pass. (The vote sums S_u depend on the document's total weight: a reading
derives them from the row sums when they are first read, one vector operation over the
units.) Per keystroke that is O(changed positions) of arithmetic plus a
renumbering of the later units' offsets: the units' character and token ranges are int64
arrays, so that is one vector add per array (like the engine's renumbering of positions),
not a Python loop over the document's sentences.
"""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import torch

from ..model import pooling
from ..text.projection import SourceMap
from ..text.sentences import paragraph_bounds, split_range

DT = torch.float64


@dataclass(frozen=True)
class Span:
    """What an update changed: [start, old_end) became [start, new_end) (any units)."""

    start: int
    old_end: int
    new_end: int

    def then(self, start: int, end: int, length: int) -> Span:
        """This change followed by replacing [start, end) (coordinates after this one) with `length` items."""
        lo = min(self.start, start)
        reach = max(self.new_end, end)
        old_end = reach - (self.new_end - self.old_end)
        return Span(lo, old_end, reach + length - (end - start))


def then(span: Span | None, start: int, end: int, length: int) -> Span:
    """`span` (None: nothing changed yet) followed by replacing [start, end) with `length` items."""
    return Span(start, end, start + length) if span is None else span.then(start, end, length)


class Votes:
    """The document's per-position rows (`incls.model.pooling`), read by range: one block per chunk."""

    def __init__(self, blocks: list[tuple[int, torch.Tensor]], n_classes: int) -> None:
        self.blocks = [(a, v) for a, v in blocks if v.shape[0]]  # (first position, (n, 2C + 1) rows)
        self.firsts = [a for a, _ in self.blocks]
        self.C = n_classes

    def total(self) -> int:
        return self.blocks[-1][0] + self.blocks[-1][1].shape[0] if self.blocks else 0

    def sum(self, start: int, end: int) -> torch.Tensor:
        """(2C + 1,) float64 sum of the rows of positions [start, end)."""
        out = torch.zeros(pooling.width(self.C), dtype=DT)  # (2C + 1,)
        k = max(0, bisect_right(self.firsts, start) - 1)
        while start < end and k < len(self.blocks):
            a, v = self.blocks[k]
            n = v.shape[0]
            lo, hi = max(start, a) - a, min(end, a + n) - a
            if lo < hi:
                out += v[lo:hi].to(DT).sum(0)  # (2C + 1,)
            k += 1
            if a + n >= end:
                break
        return out


def unit_key(text: str) -> str:
    """Identifies a unit's text (whitespace-insensitive), to remember "ignore this sentence"."""
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()[:16]


@dataclass(frozen=True)
class Evidence:
    """An immutable view of one document version's units, their row sums and vote sums."""

    text: str
    labels: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    kinds: tuple[str, ...]
    t0: tuple[int, ...]
    t1: tuple[int, ...]
    rows: torch.Tensor  # (n_units, 2C + 1) float64 row sums R_u
    n_tokens: int
    own: tuple[int, ...]  # each unit's own class (argmax of its reading) ...
    own_p: tuple[float, ...]  # ... and its probability
    own_logits: tuple[tuple[float, ...], ...]  # each unit's reading, as logits
    # the map back to the source, when the model reads a projection of it (Markdown, LaTeX;
    # `incls.text.projection.SourceMap`); None: the text is the source. A unit's source range
    # is mapped when it is asked for (a hint, a hover), not for every unit on every reading.
    source: SourceMap | None = None
    _ranges: dict = field(default_factory=dict, compare=False, repr=False)
    # what is computed from the units and sums alone (the hints chosen, by `incls.reading.tone`):
    # shared by every source mapping of this reading, so a keystroke that changes no prose
    # (in a code block) reuses it
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    def __len__(self) -> int:
        return len(self.starts)

    @cached_property
    def counts(self) -> torch.Tensor:
        """(n,) float64 tokens of each unit."""
        return torch.tensor(self.t1, dtype=DT) - torch.tensor(self.t0, dtype=DT)

    @cached_property
    def sums(self) -> torch.Tensor:
        """(n, C) float64 vote sums S_u = T c_u, derived from the row sums when first read
        (they depend on the document's total pooling weight)."""
        T = self.n_tokens
        if not len(self) or not T:
            return torch.zeros(len(self), pooling.classes(self.rows.shape[-1]), dtype=DT)
        return T * pooling.contributions(self.rows, self.rows.sum(0), T)

    @cached_property
    def centred(self) -> tuple[tuple[float, ...], ...]:
        """S_u minus its mean over the classes, per unit (plain floats for `incls.reading.tone`)."""
        return tuple(map(tuple, (self.sums - self.sums.mean(-1, keepdim=True)).tolist()))

    @cached_property
    def sums_total(self) -> tuple[float, ...]:
        """The sum of all votes per class (T times the document's logits)."""
        return tuple(self.sums.sum(0).tolist())

    @cached_property
    def logits(self) -> torch.Tensor:
        """(C,) the document's logits as the sum of the units' contributions."""
        return self.sums.sum(0) / max(1, self.n_tokens)

    def contributions(self) -> torch.Tensor:
        """(n, C) c_u = S_u / T."""
        return self.sums / max(1, self.n_tokens)

    @cached_property
    def pull(self) -> torch.Tensor:
        """(n, C) p_u = c_u - (n_u / T) z."""
        return (self.sums - self.counts[:, None] * self.logits[None, :]) / max(1, self.n_tokens)

    @cached_property
    def reading(self) -> torch.Tensor:
        """(n, C) each unit's own class probabilities (the softmax of its reading)."""
        return torch.tensor(self.own_logits, dtype=DT).reshape(len(self), -1).softmax(-1)

    def shares(self, k: int) -> torch.Tensor:
        """(n,) each unit's share of the evidence for class k (see the module's docstring)."""
        c = self.contributions()  # (n, C)
        centred = c[:, k] - c.mean(-1)  # (n,)
        total = float(centred.clamp(min=0).sum())
        return centred / total if total > 0 else torch.zeros_like(centred)

    def in_source(self, source_map: SourceMap) -> Evidence:
        """This evidence with its units' ranges in the source, through the projection's map
        of this version (`IncrementalProjection.source_map()`)."""
        return replace(self, source=source_map, _ranges={}, memo=self.memo)

    def range_of(self, i: int) -> tuple[int, int]:
        """Unit i's range in the source."""
        if self.source is None:
            return self.starts[i], self.ends[i]
        if (hit := self._ranges.get(i)) is None:
            hit = self._ranges[i] = self.source.source_range(self.starts[i], self.ends[i])
        return hit

    def at(self, offset: int) -> int | None:
        """Index of the unit holding source offset `offset` (its end included), or None.

        The map is monotone, so the units are in source order too: a bisection that maps
        O(log n) units."""
        if self.source is None:
            i = bisect_right(self.starts, offset) - 1
        else:
            i = bisect_right(range(len(self)), offset, key=lambda j: self.range_of(j)[0]) - 1
        if i >= 0 and offset <= self.range_of(i)[1]:
            return i
        return None

    def unit_text(self, i: int) -> str:
        return self.text[self.starts[i] : self.ends[i]]

    def key(self, i: int) -> str:
        return unit_key(self.unit_text(i))


class Ledger:
    """One document's units and per-unit vote sums, updated from what each edit changed."""

    def __init__(self, n_classes: int) -> None:
        self.C = n_classes
        self._clear()

    def _clear(self) -> None:
        n_classes = self.C
        # (n_units,) each unit's characters [starts, ends) and tokens [t0, t1)
        self.starts, self.ends = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self.kinds: list[str] = []
        self.t0, self.t1 = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        self.sums = torch.zeros(0, pooling.width(n_classes), dtype=DT)  # (n_units, 2C + 1) row sums
        self.own: list[int] = []
        self.own_p: list[float] = []
        self.own_logits: list[tuple[float, ...]] = []
        self.text = ""
        self.n_tokens = 0
        self.summed = 0  # units summed again by the last update (for tests and measurement)

    # -- updating ----------------------------------------------------------------------

    def rebuild(self, text: str, char_ends, votes: Votes) -> None:
        """Split and sum everything (a new document or session)."""
        self._clear()
        self.update(text, char_ends, votes, Span(0, 0, len(text)), Span(0, 0, len(char_ends)), None)

    def update(
        self, text: str, char_ends, votes: Votes, chars: Span | None, tokens: Span | None, voted: torch.Tensor | None
    ) -> None:
        """Bring the units up to date with `text`, whose tokens end at code points `char_ends`
        (a sequence or an array; a character split between tokens counts in the first).

        `chars`: the text range changed since the last update (code points), `tokens`: the
        token range, `voted`: (n,) positions whose vote was recomputed (None: none).
        """
        ends = np.asarray(char_ends, dtype=np.int64)  # (T,)
        T = len(ends)
        todo: set[int] = set()
        if chars is not None or tokens is not None:
            lo, hi = paragraph_bounds(text, *self._dirty_chars(text, ends, chars, tokens))
            shift_chars = (chars.new_end - chars.old_end) if chars else 0
            shift_tokens = (tokens.new_end - tokens.old_end) if tokens else 0
            i0 = int(np.searchsorted(self.starts, lo, side="left"))
            i1 = int(np.searchsorted(self.starts, hi - shift_chars, side="left"))  # old units [i0, i1) lay in the range
            fresh = split_range(text, lo, hi)
            n_new = len(fresh)
            starts = np.array([u.start for u in fresh], dtype=np.int64)  # (n_new,)
            self.starts = _spliced(self.starts, i0, i1, starts, shift_chars)
            self.ends = _spliced(self.ends, i0, i1, np.array([u.end for u in fresh], dtype=np.int64), shift_chars)
            self.kinds[i0:i1] = [u.kind for u in fresh]
            self.t0 = _spliced(self.t0, i0, i1, np.searchsorted(ends, starts, side="right"), shift_tokens)
            self.t1 = _spliced(self.t1, i0, i1, np.zeros(n_new, dtype=np.int64), shift_tokens)
            self.sums = torch.cat([self.sums[:i0], torch.zeros(n_new, self.sums.shape[1], dtype=DT), self.sums[i1:]])
            self.own[i0:i1], self.own_p[i0:i1], self.own_logits[i0:i1] = [0] * n_new, [0.0] * n_new, [()] * n_new
            todo.update(range(i0, i0 + n_new))
            # a shifted first token is wrong where the old one was not the unit's own (the
            # first unit also holds the tokens before it): realign the units after the new
            # ones until one agrees (usually the first)
            j = i0 + n_new
            while j < len(self.starts):
                first = int(np.searchsorted(ends, int(self.starts[j]), side="right")) if j else 0
                if first == self.t0[j]:
                    break
                self.t0[j] = first
                j += 1
            # a unit ends where the next begins: the new units, and the one before them (it
            # holds the whitespace up to them) may have gained or lost tokens
            n = len(self.starts)
            for i in range(max(0, i0 - 1), min(n, j + 1)):
                self._set_span(i, int(self.t0[i]), int(self.t0[i + 1]) if i + 1 < n else T, todo)
        n = len(self.starts)
        if n:  # tokens before the first unit and after the last belong to them
            self._set_span(0, 0, int(self.t0[1]) if n > 1 else T, todo)
            self._set_span(n - 1, int(self.t0[-1]) if n > 1 else 0, T, todo)
        if voted is not None and len(voted) and n:
            t = np.unique(np.asarray(voted, dtype=np.int64))  # (m,) positions
            holder = np.searchsorted(self.t0, t, side="right") - 1  # (m,) the unit holding each
            inside = (holder >= 0) & (t < self.t1[np.maximum(holder, 0)])
            todo.update(np.unique(holder[inside]).tolist())
        if todo:
            rows = sorted(todo)
            spans = [(int(self.t0[i]), int(self.t1[i])) for i in rows]
            sums = torch.stack([votes.sum(a, b) for a, b in spans])  # (m, 2C + 1)
            self.sums[rows] = sums
            counts = torch.tensor([max(1, b - a) for a, b in spans], dtype=DT)
            reading = pooling.logits(sums, counts)  # (m, C)
            p, best = reading.softmax(-1).max(-1)  # (m,), (m,)
            for i, own, own_p, r in zip(rows, best.tolist(), p.tolist(), reading.tolist()):
                self.own[i], self.own_p[i], self.own_logits[i] = own, own_p, tuple(r)
        self.summed = len(todo)
        self.text, self.n_tokens = text, T

    def _set_span(self, i: int, t0: int, t1: int, todo: set[int]) -> None:
        if self.t0[i] != t0 or self.t1[i] != t1:
            self.t0[i], self.t1[i] = t0, t1
            todo.add(i)

    def _dirty_chars(self, text: str, ends: np.ndarray, chars: Span | None, tokens: Span | None) -> tuple[int, int]:
        """The new text's range that the changed text and the changed tokens cover."""
        lo, hi = (chars.start, chars.new_end) if chars else (len(text), 0)
        if tokens is not None:
            first = int(ends[tokens.start - 1]) - 1 if tokens.start > 0 else 0  # a split character: from its start
            last = int(ends[tokens.new_end - 1]) if tokens.new_end > 0 else 0
            lo, hi = min(lo, max(0, first)), max(hi, max(first, last))
        return max(0, min(lo, len(text))), max(0, min(max(hi, lo), len(text)))

    # -- reading -------------------------------------------------------------------------

    def logits(self) -> torch.Tensor | None:
        """(C,) float64 logits of the document, from the units' sums (they tile the tokens:
        the first unit holds the tokens before it, the last those after it); None when
        there are no units (an empty or all-whitespace text), whose votes no unit holds."""
        if not len(self.starts) or not self.n_tokens:
            return None
        return pooling.logits(self.sums.sum(0), self.n_tokens)  # (C,)

    def snapshot(self, labels: tuple[str, ...]) -> Evidence:
        return Evidence(
            self.text,
            labels,
            tuple(self.starts.tolist()),
            tuple(self.ends.tolist()),
            tuple(self.kinds),
            tuple(self.t0.tolist()),
            tuple(self.t1.tolist()),
            self.sums.clone(),
            self.n_tokens,
            tuple(self.own),
            tuple(self.own_p),
            tuple(self.own_logits),
        )


def _spliced(array: np.ndarray, i: int, j: int, values: np.ndarray, shift: int) -> np.ndarray:
    """`array` with [i:j] replaced by `values` and `shift` added to everything after them."""
    tail = array[j:] + shift if shift else array[j:]
    return np.concatenate((array[:i], values.astype(np.int64, copy=False), tail))
