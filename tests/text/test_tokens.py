"""The token ids of an edited text always equal the tokenizer's ids of the whole text."""

from hypothesis import given, settings, strategies as st

from incls.model.base import load_tokenizer
from incls.text import TextEdit, TokenizedText, apply_token_edit, diff_texts

PIECES = [
    "a",
    "b",
    "the",
    " ",
    "  ",
    "\t",
    "\n",
    "\r\n",
    "\r",
    "\n\n",
    "'s",
    "'",
    "12",
    "3",
    ".",
    ",",
    "!",
    "é",
    "e\u0301",
    "\u0301",
    "👍",
    "👍🏽",
    "🇫🇷",
    "中文",
    "ß",
    "\u200d",
    "<|im_end|>",
    "<|",
    "\x00",
    "Hello",
    " world",
    "don't",
    "    ",
    "--",
    "\u2028",
    "\x04",
    "\U00040000",
    "\x1d",
]

tokenizer = load_tokenizer()  # module level: hypothesis reports stay readable

text_strategy = st.lists(st.one_of(st.sampled_from(PIECES), st.text(max_size=3)), max_size=30).map("".join)


@st.composite
def edits(draw, text):
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + draw(st.sampled_from([0, 1, 3, 20])))))
    return TextEdit(start, end, draw(text_strategy))


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_random_edits_keep_ids_equal_to_full_tokenization(data):
    doc = TokenizedText(tokenizer, data.draw(text_strategy))
    mirror = list(doc.ids)
    for _ in range(data.draw(st.integers(1, 6))):
        edit = data.draw(edits(doc.text))
        expected_text = edit.apply(doc.text)
        token_edit = doc.apply(edit)
        apply_token_edit(mirror, token_edit)
        assert doc.text == expected_text
        assert doc.ids == tokenizer.encode(expected_text).ids
        assert mirror == doc.ids  # the token edit alone reproduces the new ids
        fresh = TokenizedText(tokenizer, expected_text)
        assert (doc.ends.tolist(), doc.char_ends.tolist(), doc.inside) == (
            fresh.ends.tolist(),
            fresh.char_ends.tolist(),
            fresh.inside,
        )
        assert doc.utf8_length == len(expected_text.encode("utf-8"))


@settings(max_examples=150, deadline=None)
@given(old=text_strategy, new=text_strategy)
def test_full_text_changes_become_the_smallest_edit(old, new):
    edit = diff_texts(old, new)
    assert edit.apply(old) == new
    doc = TokenizedText(tokenizer, old)
    token_edit = doc.apply(edit)
    assert doc.ids == tokenizer.encode(new).ids
    old_ids = tokenizer.encode(old).ids
    assert old_ids[: token_edit.start] == doc.ids[: token_edit.start]


def test_typing_a_word_changes_only_the_tokens_near_it():
    text = "The film was good. " * 50
    doc = TokenizedText(tokenizer, text)
    position = len("The film was good. ") * 20 + len("The film was")
    edit = doc.apply(TextEdit(position, position, " not"))
    assert edit.end - edit.start <= 2 and len(edit.new_ids) <= 3
    assert doc.ids == tokenizer.encode(doc.text).ids


def test_long_whitespace_runs_resynchronise():
    doc = TokenizedText(tokenizer, "x" + " " * 90 + "y")
    doc.apply(TextEdit(91, 92, " "))
    assert doc.ids == tokenizer.encode(doc.text).ids
    doc.apply(TextEdit(1, 1, "\n"))
    assert doc.ids == tokenizer.encode(doc.text).ids


def test_empty_document_and_deleting_everything():
    doc = TokenizedText(tokenizer, "")
    assert doc.ids == []
    doc.apply(TextEdit(0, 0, "Hello 👍🏽"))
    assert doc.ids == tokenizer.encode("Hello 👍🏽").ids
    edit = doc.apply(TextEdit(0, len(doc.text), ""))
    assert doc.ids == [] and doc.ends.tolist() == [] and edit.new_ids == ()


def test_text_after_trailing_dropped_bytes_takes_them_into_its_span():
    """A byte the tokenizer drops belongs to the token after it, even when that token is
    typed after the byte at the very end of the text."""
    doc = TokenizedText(tokenizer, "ok\x04")
    doc.apply(TextEdit(3, 3, "a"))
    fresh = TokenizedText(tokenizer, "ok\x04a")
    assert (doc.ids, doc.ends.tolist()) == (fresh.ids, fresh.ends.tolist())
    empty = TokenizedText(tokenizer, "\x04")
    empty.apply(TextEdit(1, 1, "a"))
    assert empty.ends.tolist() == TokenizedText(tokenizer, "\x04a").ends.tolist() == [2]


def test_token_ends_read_before_an_edit_are_not_changed_by_it():
    """A reader (the model thread) holds the arrays of one version without copying them."""
    text = "The film was good. " * 20
    doc = TokenizedText(tokenizer, text)
    for edit in (TextEdit(5, 6, "i"), TextEdit(40, 40, " not"), TextEdit(0, 19, "")):  # same count, more, fewer
        ends, char_ends = doc.ends, doc.char_ends
        before = (ends.tolist(), char_ends.tolist())
        doc.apply(edit)
        assert (ends.tolist(), char_ends.tolist()) == before
        assert doc.char_ends.tolist() == TokenizedText(tokenizer, doc.text).char_ends.tolist()
