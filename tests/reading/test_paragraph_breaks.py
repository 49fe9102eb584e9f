"""Long documents are cut at blank lines, however the tokenizer splits them into tokens."""

from __future__ import annotations

import pytest

from incls.reading.sessions import paragraph_breaks
from incls.text.tokens import TokenBytes


def _breaks_after(tokenizer, text: str) -> list[str]:
    """The text up to each token that ends a paragraph."""
    breaks = paragraph_breaks(TokenBytes.of(tokenizer))
    ids = tokenizer.encode(text).ids
    ends = [i for i, token in enumerate(ids) if breaks.at(ids[i - 1] if i else None, token)]
    return [tokenizer.decode(ids[: i + 1]) for i in ends]


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_blank_lines_are_breaks_and_single_line_breaks_are_not(tokenizer, newline):
    first = f'It is no "North by Northwest"...{newline}{newline}'  # "\n\n" here is two tokens
    second = f"I won't give anything away.{newline}It is slow.{newline}{newline}"
    got = _breaks_after(tokenizer, first + second + "The end.")
    assert got == [first, first + second]
