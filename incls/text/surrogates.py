"""Lone surrogates: what a client may send, kept exactly, never handed to the tokenizer.

JSON may carry half an emoji ("\\ud83d"), and a client that counts UTF-16 units may
insert or delete one half at a time. The server stores what the client sent, one code
point per UTF-16 unit for a lone half, so every later position means what the client
means; two halves that meet are joined into the one character they make. The model
reads U+FFFD in place of a lone half: one code point for one, so offsets agree.
"""

from __future__ import annotations

import re

from .edits import TextEdit

LONE = re.compile("[\ud800-\udfff]")
REPLACEMENT = "\ufffd"


def has_surrogates(text: str) -> bool:
    return LONE.search(text) is not None


def for_model(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD (same length, encodable)."""
    return LONE.sub(REPLACEMENT, text) if has_surrogates(text) else text


def join_pairs(text: str) -> str:
    """Adjacent high and low halves joined into one character; lone halves kept."""
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def split_pair(ch: str) -> str:
    """An astral character as its two UTF-16 halves (two code points)."""
    code = ord(ch) - 0x10000
    return chr(0xD800 + (code >> 10)) + chr(0xDC00 + (code & 0x3FF))


def joined(text: str, edit: TextEdit) -> TextEdit:
    """`edit` widened over a lone half on either side so that halves it brings together join."""
    start, end, new = edit.start, edit.end, edit.text
    left = start > 0 and "\ud800" <= text[start - 1] <= "\udbff"
    right = end < len(text) and "\udc00" <= text[end] <= "\udfff"
    if not (left or right or has_surrogates(new)):
        return edit
    if left:
        start, new = start - 1, text[start - 1] + new
    if right:
        end, new = end + 1, new + text[end]
    return TextEdit(start, end, join_pairs(new))
