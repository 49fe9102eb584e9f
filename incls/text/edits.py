"""Text edits in pre-edit coordinates, and the smallest edit between two texts.

Offsets are code points of the text *before* the edit, so a list of changes from one
didChange message is applied one after the other, each against the result of the last.
A client that sends the whole text (Vim's ALE does) is turned into the single smallest
replacement by `diff_texts`, so its edits cost no more than an incremental client's.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TextEdit:
    """Replace text[start:end] (code points, pre-edit) by `text`."""

    start: int
    end: int
    text: str

    def apply(self, old: str) -> str:
        return old[: self.start] + self.text + old[self.end :]


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by bisection over C-speed slice comparisons."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


def diff_texts(old: str, new: str) -> TextEdit:
    """The single replacement turning `old` into `new` that keeps the longest prefix and suffix."""
    prefix = _common_prefix(old, new)
    limit = min(len(old), len(new)) - prefix
    suffix = _common_prefix(old[::-1][:limit], new[::-1][:limit])
    return TextEdit(prefix, len(old) - suffix, new[prefix : len(new) - suffix])
