"""The prose projection: a document's source -> the text the model reads, kept up to date by edits.

Markup is not prose. A language (`markdown.py`, `latex.py`) projects a *region* of the
source, a run of whole lines, into `Segment`s: each holds the projected text of a few
blocks and a map from that text back to the source. A region is cut into segments only
at lines where the language's parse is in its start state (no fence, math environment or
front matter open), so a segment reads the same whether it is parsed alone or as part of
the whole document. That is what makes the projection incremental: an edit re-projects the
segments it touches, widened by one segment before it (the line an edit starts on may
change how the line before it ends) and, until the parse of the region ends at one of the
old cuts in the start state, by ever more segments after it (an edit that opens a fence
re-projects everything the fence now swallows, and no more). A segment may also begin inside
a block whose later lines depend only on a few lines before them (a table's rows on its
header): it then carries those lines as its `context`, parsed before it and not projected. The result reaches the
engine as the smallest text edit of the projection (`diff_texts`), which the text layer
turns into a token edit; an edit inside a code block changes no projected text at all.

Invariant (tested with hypothesis on random edits, delimiters included): after any
sequence of edits, `IncrementalProjection.text` equals the projection of the full text.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .edits import TextEdit, diff_texts

LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n|$)")
PLACEHOLDER = "X"  # what inline code and inline math read as: one short, tone-free word
MODES = ("ignore", "placeholder", "keep")


@dataclass
class Segment:
    """Projected text of source[start : start + length] (offsets relative to `start` inside).

    `pieces` maps the text back: piece i covers text[proj[i]:proj[i + 1]]; when `linear[i]`
    it is a copy of the source from `src[i]`, otherwise it stands for the source at `src[i]`
    (a placeholder, a decoded entity, a paragraph break).
    """

    length: int
    text: str = ""
    proj: list[int] = field(default_factory=list)
    src: list[int] = field(default_factory=list)
    linear: list[bool] = field(default_factory=list)
    context: str | None = None  # lines the segment continues (a table's header): parsed before it, not projected

    def source_offset(self, offset: int) -> int:
        """Source offset (relative) of projected offset `offset` (relative, < len(text))."""
        i = bisect_right(self.proj, offset) - 1
        return self.src[i] + (offset - self.proj[i] if self.linear[i] else 0)


class SegmentBuilder:
    """Accumulates a segment's text and its map, merging adjacent copies."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.proj: list[int] = []
        self.src: list[int] = []
        self.linear: list[bool] = []

    def copy(self, text: str, src: int) -> None:
        """Text that is a verbatim copy of the source at relative offset `src`."""
        if not text:
            return
        if self.linear and self.linear[-1] and self.src[-1] + (self.size - self.proj[-1]) == src:
            self.parts.append(text)
            self.size += len(text)
            return
        self._piece(text, src, True)

    def synth(self, text: str, src: int) -> None:
        """Text that stands for the source at relative offset `src` without copying it."""
        if text:
            self._piece(text, src, False)

    def _piece(self, text: str, src: int, linear: bool) -> None:
        self.proj.append(self.size)
        self.src.append(src)
        self.linear.append(linear)
        self.parts.append(text)
        self.size += len(text)

    def ends_with(self, suffix: str) -> bool:
        tail = "".join(self.parts[-len(suffix) :])
        return tail.endswith(suffix)

    def build(self, length: int, context: str | None = None) -> Segment:
        return Segment(length, "".join(self.parts), self.proj, self.src, self.linear, context)


@dataclass
class Region:
    """A projected region: its segments in order, and whether its parse ended in the start state."""

    segments: list[Segment]
    closed: bool


class Language(Protocol):
    """What a markup language provides to the incremental projection."""

    def project(
        self, source: str, at_start: bool, probe: str, context: str | None = None, probe_context: str | None = None
    ) -> Region:
        """Project `source` (whole lines; at the document's start if `at_start`).

        `probe` is the line that follows the region in the document ("" at its end): the
        region is `closed` when that line would start a fresh block (or, when the segment
        that begins there continues a block, `probe_context`, when it would continue that
        block), so the region can be projected without what follows it. The probe itself
        is not projected. `context` is what the region's first segment continues.
        """

    def may_cut(self, source: str, offset: int) -> bool:
        """Whether a segment may begin at `offset` (a line start) as far as the lines
        around it tell: the parse state decides the rest."""

    def may_join(self, source: str, offset: int) -> bool:
        """Whether the line at `offset`, which follows a segment that ended in the start
        state, may continue that segment's last block."""


def previous_line_blank(source: str, offset: int) -> bool:
    """Whether the line before the line starting at `offset` holds only spaces and tabs."""
    j = offset - 1  # the previous line's break
    if j > 0 and source[j] == "\n" and source[j - 1] == "\r":
        j -= 1
    k = j
    while k > 0 and source[k - 1] not in "\r\n":
        k -= 1
        if source[k] not in " \t":
            return False
    return j >= 0


class SourceMap:
    """The map from one version of a projection back to its source: immutable, so a reading
    taken now maps its ranges later, after more edits, at no cost until it asks.

    `src_starts[i]` and `proj_starts[i]` are where segment i begins in the source and in the
    projection (int64 arrays, never changed in place: an edit builds new ones).
    """

    __slots__ = ("proj_starts", "segments", "source_length", "src_starts", "text_length")

    def __init__(
        self,
        segments: list[Segment],
        src_starts: np.ndarray,
        proj_starts: np.ndarray,
        text_length: int,
        source_length: int,
    ) -> None:
        self.segments, self.src_starts, self.proj_starts = segments, src_starts, proj_starts
        self.text_length, self.source_length = text_length, source_length

    def source_offset(self, offset: int) -> int:
        """Source offset of the projected character at `offset` (the end maps to the source's end)."""
        if offset >= self.text_length or not self.segments:
            return self.source_length
        offset = max(0, offset)
        i = int(np.searchsorted(self.proj_starts, offset, side="right")) - 1
        while i < len(self.segments) - 1 and not self.segments[i].text:
            i += 1
        return int(self.src_starts[i]) + self.segments[i].source_offset(offset - int(self.proj_starts[i]))

    def source_range(self, start: int, end: int) -> tuple[int, int]:
        """Source range of the projected range [start, end) (an empty range maps to a point)."""
        a = self.source_offset(start)
        if end <= start:
            return a, a
        return a, max(a, self.source_offset(end - 1) + 1)


def _starts(segments: list[Segment], src: int, proj: int) -> tuple[np.ndarray, np.ndarray]:
    """Where each segment begins in the source and in the projection, from (src, proj) on."""
    n = len(segments)
    src_starts = np.empty(n, dtype=np.int64)
    proj_starts = np.empty(n, dtype=np.int64)
    for i, seg in enumerate(segments):
        src_starts[i], proj_starts[i] = src, proj
        src += seg.length
        proj += len(seg.text)
    return src_starts, proj_starts


class IncrementalProjection:
    """One document's source, its projection and the segments between them.

    Per edit nothing here walks the document in Python: the segments an edit touches are
    parsed again, and the later segments' start offsets move by one vector add.
    """

    def __init__(self, language: Language, source: str = "") -> None:
        self.language = language
        self.source = source
        segments = language.project(source, True, "").segments
        self.text = "".join(seg.text for seg in segments)
        self.map = SourceMap(segments, *_starts(segments, 0, 0), len(self.text), len(source))

    @property
    def segments(self) -> list[Segment]:
        return self.map.segments

    @property
    def src_starts(self) -> np.ndarray:
        return self.map.src_starts

    @property
    def proj_starts(self) -> np.ndarray:
        return self.map.proj_starts

    # -- edits ----------------------------------------------------------------------------

    def apply(self, edit: TextEdit) -> TextEdit:
        """Apply a source edit; return the edit of the projection it caused (maybe a no-op)."""
        old = self.source
        new = edit.apply(old)
        delta = len(new) - len(old)
        segments, src_starts, proj_starts = self.segments, self.src_starts, self.proj_starts
        n = len(segments)
        first = max(0, int(np.searchsorted(src_starts, edit.start, side="right")) - 1)
        if first > 0:
            start = int(src_starts[first])
            if (
                segments[first].context is None
                and edit.start <= _line_end(old, start)
                and self.language.may_join(new, start)
            ):
                first -= 1  # the segment's first line changed into one that may continue the segment before
        last = max(first, int(np.searchsorted(src_starts, edit.end, side="right")) - 1)
        start = int(src_starts[first]) if n else 0
        context = segments[first].context if n else None
        grow = 1
        while True:
            end = (int(src_starts[last + 1]) + delta) if last + 1 < n else len(new)
            if end < len(new):
                probe = new[end : _line_end(new, end) + 1]
                after = segments[last + 1].context
                region = self.language.project(new[start:end], start == 0, probe, context, after)
                if region.closed and (after is not None or self.language.may_cut(new, end)):
                    break
                if after is not None:  # the block those segments continue changed: they all go
                    while last + 1 < n and segments[last + 1].context == after:
                        last += 1
                    continue
                last = min(n - 1, last + grow)
                grow *= 2
                continue
            last = n - 1  # to the end of the text: empty segments left there go too
            region = self.language.project(new[start:end], start == 0, "", context)
            break
        proj_start = int(proj_starts[first]) if n else 0
        proj_end = (int(proj_starts[last + 1]) if last + 1 < n else len(self.text)) if n else 0
        old_text = self.text
        new_region = "".join(seg.text for seg in region.segments)
        proj_delta = len(new_region) - (proj_end - proj_start)
        src, proj = _starts(region.segments, start, proj_start)
        self.source = new
        self.text = old_text[:proj_start] + new_region + old_text[proj_end:]
        self.map = SourceMap(
            segments[:first] + region.segments + segments[last + 1 :],
            np.concatenate((src_starts[:first], src, src_starts[last + 1 :] + delta)),
            np.concatenate((proj_starts[:first], proj, proj_starts[last + 1 :] + proj_delta)),
            len(self.text),
            len(new),
        )
        local = diff_texts(old_text[proj_start:proj_end], new_region)
        return TextEdit(proj_start + local.start, proj_start + local.end, local.text)

    # -- the map back to the source --------------------------------------------------------

    def source_map(self) -> SourceMap:
        """The map of this version (it stays valid for this version after later edits)."""
        return self.map

    def source_offset(self, offset: int) -> int:
        """Source offset of the projected character at `offset` (the end maps to the source's end)."""
        return self.map.source_offset(offset)

    def source_range(self, start: int, end: int) -> tuple[int, int]:
        """Source range of the projected range [start, end) (an empty range maps to a point)."""
        return self.map.source_range(start, end)


def _line_end(text: str, offset: int) -> int:
    """Offset of the last character of the line at `offset` (its line break, or the text's end)."""
    m = LINE.match(text, offset)
    return max(offset, m.end() - 1) if m else offset


def project_text(language: Language, source: str) -> str:
    """The projection of a whole text, parsed in one piece (the reference the incremental one equals)."""
    return "".join(seg.text for seg in language.project(source, True, "").segments)
