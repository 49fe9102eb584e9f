"""LSP positions in UTF-16, UTF-8 and UTF-32 against an independent reference."""

import pytest
from hypothesis import given, strategies as st

from incls.text import InvalidPosition, LineIndex, diff_texts

ALPHABET = st.sampled_from(["a", "é", "e\u0301", "👍", "👍🏽", "\n", "\r\n", "\r", " ", "中"])
texts = st.lists(ALPHABET, max_size=25).map("".join)


def reference_offset(text, line, character, encoding):
    """Line by line, unit by unit: what the protocol describes."""
    import re

    lines = re.split(r"(\r\n|\r|\n)", text)
    contents, breaks = lines[0::2], lines[1::2] + [""]
    offset = sum(len(c) + len(b) for c, b in zip(contents[:line], breaks[:line]))
    units = 0
    for ch in contents[line]:
        size = (
            len(ch.encode("utf-16-le")) // 2 if encoding == "utf-16" else len(ch.encode()) if encoding == "utf-8" else 1
        )
        if units + size > character:
            break
        units += size
        offset += 1
    return offset


@given(text=texts, data=st.data(), encoding=st.sampled_from(["utf-16", "utf-8", "utf-32"]))
def test_offsets_match_the_reference_and_round_trip(text, data, encoding):
    index = LineIndex(text, encoding)
    line = data.draw(st.integers(0, index.line_count - 1))
    character = data.draw(st.integers(0, 12))
    offset = index.offset(line, character)
    assert offset == reference_offset(text, line, character, encoding)
    assert index.offset(*index.position(offset)) == offset


def test_crlf_is_one_line_break_and_the_character_is_clamped():
    index = LineIndex("ab\r\ncd\re", "utf-16")
    assert index.line_count == 3
    assert index.offset(1, 0) == 4
    assert index.offset(0, 99) == 2  # past the end of the line: the end of the line
    assert index.position(len("ab\r\ncd\re")) == (2, 1)


def test_surrogate_pairs_count_two_utf16_units():
    index = LineIndex("x👍y", "utf-16")
    assert index.offset(0, 3) == 2 and index.position(2) == (0, 3)
    assert index.offset(0, 2) == 1  # inside the pair: the character stays whole


@pytest.mark.parametrize("line, character", [(5, 0), (-1, 0), (0, -2)])
def test_positions_outside_the_document_are_rejected(line, character):
    with pytest.raises(InvalidPosition):
        LineIndex("one\ntwo", "utf-16").offset(line, character)


@given(old=texts, new=texts)
def test_diff_is_minimal_and_exact(old, new):
    edit = diff_texts(old, new)
    assert edit.apply(old) == new
    assert old[: edit.start] == new[: edit.start]


@given(text=texts, data=st.data())
def test_an_edited_index_equals_a_fresh_one(text, data):
    index = LineIndex(text, "utf-16")
    for _ in range(data.draw(st.integers(1, 4))):
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, len(text)))
        new = text[:start] + data.draw(texts) + text[end:]
        index.edit(start, end, new)
        text = new
        assert index.starts == LineIndex(text, "utf-16").starts and index.text == text


def test_a_lone_surrogate_is_one_utf16_unit():
    index = LineIndex("a\ud800b👍c", "utf-16")
    assert index.offset(0, 2) == 2 and index.position(3) == (0, 3)
    assert index.offset(0, 5) == 4 and index.position(5) == (0, 6)


def test_a_long_line_converts_quickly():
    import time

    text = "é👍 word " * 120_000  # about 1 MB on one line
    index = LineIndex(text, "utf-16")
    started = time.perf_counter()
    offset = index.offset(0, 900_000)
    assert index.position(offset) == (0, 900_000)
    assert time.perf_counter() - started < 0.5


@given(text=texts, data=st.data())
def test_an_edited_index_is_a_new_one_and_the_old_stays_the_old_texts(text, data):
    index = LineIndex(text, "utf-16")
    start = data.draw(st.integers(0, len(text)))
    end = data.draw(st.integers(start, len(text)))
    new = text[:start] + data.draw(texts) + text[end:]
    edited = index.edited(start, end, new)
    assert edited.starts == LineIndex(new, "utf-16").starts and edited.text == new
    assert index.starts == LineIndex(text, "utf-16").starts and index.text == text
    assert edited.line_bounds(edited.line_count - 1)[1] == len(new)
