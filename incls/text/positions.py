"""LSP positions <-> offsets into a Python string (code points).

LSP addresses text as (line, character), where `character` counts code units of the
negotiated encoding: UTF-16 unless the client offers UTF-8 or UTF-32. Lines end at
"\\n", "\\r\\n" or "\\r" and nothing else (unlike `str.splitlines`). A character past the
end of its line means the end of the line (the protocol says so); a line past the last
line, or a negative number, is a client error and raises `InvalidPosition`.

A lone surrogate (a client may send half an emoji) is one UTF-16 unit, as the client
counts it. A `LineIndex` is the index of one version of a text: `edited` makes the next
version's from it, scanning only the lines around the edit and moving the later line
starts with one vector add, and leaves the old one intact for whoever still reads the
old text (a report being shown while the next keystroke arrives). Conversions inside a
line count code units with C-speed encodes, so a 1 MB line costs milliseconds.
"""

from __future__ import annotations

import re
from itertools import accumulate

import numpy as np

LINE_BREAK = re.compile(r"\r\n|\r|\n")
ENCODINGS = ("utf-16", "utf-8", "utf-32")


class InvalidPosition(ValueError):
    """A position that does not address the document (the client and server disagree)."""


def units(text: str, encoding: str) -> int:
    """Code units of `text` in the encoding (lone surrogates: one UTF-16 unit, three UTF-8 bytes)."""
    if encoding == "utf-32" or text.isascii():
        return len(text)
    if encoding == "utf-16":
        return len(text.encode("utf-16-le", "surrogatepass")) // 2
    return len(text.encode("utf-8", "surrogatepass"))


def normalize_encoding(name: object) -> str:
    """The codec name for an LSP `PositionEncodingKind` value (default UTF-16)."""
    text = str(getattr(name, "value", name) or "utf-16").lower()
    return text if text in ENCODINGS else "utf-16"


class LineIndex:
    """Where each line of one text starts, to convert positions in O(line length).

    The line starts are an int64 array that is never written in place: `edited` returns a
    new index with a new array, so an index handed to another thread stays the index of
    its text (`edit` rebinds this index's own, for a caller that keeps one version only).
    """

    def __init__(self, text: str, encoding: str = "utf-16", _starts: np.ndarray | None = None) -> None:
        self.text = text
        self.encoding = normalize_encoding(encoding)
        if _starts is not None:
            self._starts = _starts
        elif "\r" in text:
            self._starts = np.array([0] + [m.end() for m in LINE_BREAK.finditer(text)], dtype=np.int64)
        else:  # the common case, several times faster than the regular expression
            lengths = accumulate((len(line) + 1 for line in text.split("\n")), initial=0)
            self._starts = np.fromiter(lengths, dtype=np.int64)[:-1]

    def edited(self, start: int, end: int, new_text: str) -> LineIndex:
        """The index of `new_text`, which is this text with [start, end) replaced (this index is unchanged).

        Only the lines around the edit are scanned: from the line holding start - 1 (a
        "\\r" before the edit may join a "\\n" it inserts) to the first line starting
        after end + 1, whose start and every later one only move by the edit's length.
        """
        starts, n = self._starts, len(self._starts)
        delta = len(new_text) - len(self.text)
        first = int(np.searchsorted(starts, max(0, start - 1), side="right")) - 1
        tail = int(np.searchsorted(starts, end + 1, side="right"))
        a = int(starts[first])
        b = int(starts[tail]) + delta if tail < n else len(new_text)
        region = [a] + [m.end() for m in LINE_BREAK.finditer(new_text, a, b) if m.end() < b or tail == n]
        moved = starts[tail:] + delta if delta else starts[tail:]
        new_starts = np.concatenate((starts[:first], np.array(region, dtype=np.int64), moved))
        return LineIndex(new_text, self.encoding, new_starts)

    def edit(self, start: int, end: int, new_text: str) -> None:
        """In place, what `edited` returns: for a caller that never reads an older version."""
        new = self.edited(start, end, new_text)
        self.text, self._starts = new.text, new._starts

    @property
    def starts(self) -> list[int]:
        """The offset where each line starts (a copy: for inspection, not per keystroke)."""
        return self._starts.tolist()

    @property
    def line_count(self) -> int:
        return len(self._starts)

    def line_start(self, line: int) -> int:
        return int(self._starts[line])

    def line_bounds(self, line: int) -> tuple[int, int]:
        """[start, end) of the line's content, its line break excluded."""
        start = int(self._starts[line])
        if line + 1 == len(self._starts):
            return start, len(self.text)  # the last line has no line break
        end = int(self._starts[line + 1])
        if self.text[end - 1] == "\n":
            end -= 1
        if end > start and self.text[end - 1] == "\r":
            end -= 1
        return start, end

    def offset(self, line: int, character: int) -> int:
        """Code-point offset of an LSP position; clamps the character to its line."""
        if line < 0 or character < 0:
            raise InvalidPosition(f"negative position ({line}:{character})")
        if line >= len(self._starts):
            raise InvalidPosition(f"line {line} is past the last line ({len(self._starts) - 1})")
        start, end = self.line_bounds(line)
        # every code point is at least one unit: the answer is within `character` of the start
        head = self.text[start : min(end, start + character)]
        if self.encoding == "utf-32" or head.isascii():
            return start + len(head)
        lo, hi = 0, len(head)  # the longest prefix of head within `character` units
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if units(head[:mid], self.encoding) <= character:
                lo = mid
            else:
                hi = mid - 1
        return start + lo  # inside a multi-unit character: the character stays whole

    def position(self, offset: int) -> tuple[int, int]:
        """LSP (line, character) of a code-point offset (clamped to the text)."""
        offset = max(0, min(offset, len(self.text)))
        line = int(np.searchsorted(self._starts, offset, side="right")) - 1
        start = int(self._starts[line])
        return line, units(self.text[start:offset], self.encoding)

    def end_position(self) -> tuple[int, int]:
        return self.position(len(self.text))
