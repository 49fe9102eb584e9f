"""LSP positions <-> offsets into a Python string (code points).

LSP addresses text as (line, character), where `character` counts code units of the
negotiated encoding: UTF-16 unless the client offers UTF-8 or UTF-32. Lines end at
"\\n", "\\r\\n" or "\\r" and nothing else (unlike `str.splitlines`). A character past the
end of its line means the end of the line (the protocol says so); a line past the last
line, or a negative number, is a client error and raises `InvalidPosition`.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from itertools import accumulate

LINE_BREAK = re.compile(r"\r\n|\r|\n")
ENCODINGS = ("utf-16", "utf-8", "utf-32")


class InvalidPosition(ValueError):
    """A position that does not address the document (the client and server disagree)."""


def _units(ch: str, encoding: str) -> int:
    code = ord(ch)
    if encoding == "utf-16":
        return 2 if code > 0xFFFF else 1
    if encoding == "utf-8":
        return 1 if code < 0x80 else 2 if code < 0x800 else 3 if code < 0x10000 else 4
    return 1


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
        if self.encoding == "utf-32" or self.text[start:end].isascii():
            return min(start + character, end)
        units = 0
        for i in range(start, end):
            if units >= character:
                return i
            units += _units(self.text[i], self.encoding)
            if units > character:  # inside a multi-unit character: keep it whole
                return i
        return end

    def position(self, offset: int) -> tuple[int, int]:
        """LSP (line, character) of a code-point offset (clamped to the text)."""
        offset = max(0, min(offset, len(self.text)))
        line = bisect_right(self.starts, offset) - 1
        start = self.starts[line]
        segment = self.text[start:offset]
        if self.encoding == "utf-32" or segment.isascii():
            return line, len(segment)
        return line, sum(_units(ch, self.encoding) for ch in segment)

    def end_position(self) -> tuple[int, int]:
        return self.position(len(self.text))
