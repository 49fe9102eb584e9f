"""LSP positions <-> offsets into a Python string (code points).

LSP addresses text as (line, character), where `character` counts code units of the
negotiated encoding: UTF-16 unless the client offers UTF-8 or UTF-32. Lines end at
"\\n", "\\r\\n" or "\\r" and nothing else (unlike `str.splitlines`). A character past the
end of its line means the end of the line (the protocol says so); a line past the last
line, or a negative number, is a client error and raises `InvalidPosition`.

A lone surrogate (a client may send half an emoji) is one UTF-16 unit, as the client
counts it. One `LineIndex` serves a document for its whole life: `edit` updates the
line starts around an edit instead of scanning the text again, and conversions inside a
line count code units with C-speed encodes, so a 1 MB line costs milliseconds.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate

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
    """Where each line of one text starts, to convert positions in O(line length)."""

    def __init__(self, text: str, encoding: str = "utf-16") -> None:
        self.text = text
        self.encoding = normalize_encoding(encoding)
        if "\r" in text:
            self.starts = [0] + [m.end() for m in LINE_BREAK.finditer(text)]
        else:  # the common case, several times faster than the regular expression
            self.starts = list(accumulate((len(line) + 1 for line in text.split("\n")), initial=0))[:-1]

    def edit(self, start: int, end: int, new_text: str) -> None:
        """The index of `new_text`, which is this text with [start, end) replaced.

        Only the lines around the edit are scanned: from the line holding start - 1 (a
        "\\r" before the edit may join a "\\n" it inserts) to the first line starting
        after end + 1, whose start and every later one only move by the edit's length.
        """
        delta = len(new_text) - len(self.text)
        first = bisect_right(self.starts, max(0, start - 1)) - 1
        tail = bisect_right(self.starts, end + 1)
        a = self.starts[first]
        b = self.starts[tail] + delta if tail < len(self.starts) else len(new_text)
        region = [a] + [m.end() for m in LINE_BREAK.finditer(new_text, a, b) if m.end() < b or tail == len(self.starts)]
        self.starts[first:] = region + [s + delta for s in self.starts[tail:]]
        self.text = new_text

    @property
    def line_count(self) -> int:
        return len(self.starts)

    def _line_bounds(self, line: int) -> tuple[int, int]:
        """[start, end) of the line's content, its line break excluded."""
        start = self.starts[line]
        if line + 1 == len(self.starts):
            return start, len(self.text)  # the last line has no line break
        end = self.starts[line + 1]
        if self.text[end - 1] == "\n":
            end -= 1
        if end > start and self.text[end - 1] == "\r":
            end -= 1
        return start, end

    def offset(self, line: int, character: int) -> int:
        """Code-point offset of an LSP position; clamps the character to its line."""
        if line < 0 or character < 0:
            raise InvalidPosition(f"negative position ({line}:{character})")
        if line >= len(self.starts):
            raise InvalidPosition(f"line {line} is past the last line ({len(self.starts) - 1})")
        start, end = self._line_bounds(line)
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
        line = bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        return line, units(self.text[start:offset], self.encoding)

    def end_position(self) -> tuple[int, int]:
        return self.position(len(self.text))
