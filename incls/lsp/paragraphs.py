"""Paragraphs of a text and what the running prediction says about each.

A paragraph is a run of text between blank lines. The model's running prediction
(the classifier applied at every position) is read just before a paragraph and at its
last token: the difference is how strongly that paragraph pulls the document toward
each class. Reading it costs nothing beyond the update the document needed anyway.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

BLANK_LINES = re.compile(r"(?:\r\n|\r|\n)[ \t]*(?:(?:\r\n|\r|\n)[ \t]*)+")


@dataclass(frozen=True)
class Paragraph:
    start: int  # code points
    end: int
    key: str    # identifies the paragraph's text (to ignore it)


@dataclass(frozen=True)
class ParagraphReading:
    paragraph: Paragraph
    before: tuple[float, ...]  # running class probabilities just before the paragraph
    after: tuple[float, ...]   # ... at its last token

    @property
    def pull(self) -> tuple[float, ...]:
        return tuple(a - b for a, b in zip(self.after, self.before))


def paragraph_key(text: str) -> str:
    return hashlib.sha1(" ".join(text.split()).encode("utf-8")).hexdigest()[:16]


def split_paragraphs(text: str) -> list[Paragraph]:
    out, start = [], 0
    for m in list(BLANK_LINES.finditer(text)) + [None]:
        end = m.start() if m else len(text)
        chunk = text[start:end]
        if chunk.strip():
            lead = len(chunk) - len(chunk.lstrip())
            trail = len(chunk.rstrip())
            out.append(Paragraph(start + lead, start + trail, paragraph_key(chunk)))
        if m:
            start = m.end()
    return out


def read_paragraphs(paragraphs: list[Paragraph], char_ends: list[int], running: list[tuple[float, ...]],
                    prior: tuple[float, ...]) -> list[ParagraphReading]:
    """Running probabilities before and after each paragraph (`running[t]` for token t)."""
    readings = []
    for p in paragraphs:
        before = bisect_right(char_ends, p.start) - 1
        last = min(bisect_left(char_ends, p.end), len(running) - 1)
        if last < 0 or last <= before:
            continue
        readings.append(ParagraphReading(p, running[before] if before >= 0 else prior, running[last]))
    return readings
