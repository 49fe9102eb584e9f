"""The sentence splitter: the units a writer means, and paragraph-local re-splitting."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from incls.text.sentences import GREETING, ITEM, LINE, SENTENCE, SIGNOFF, paragraph_bounds, split_range, split_units


def pieces(text: str) -> list[tuple[str, str]]:
    return [(u.kind, text[u.start : u.end]) for u in split_units(text)]


def sentences(text: str) -> list[str]:
    return [t for _, t in pieces(text)]


def test_abbreviations_initials_and_number_references_do_not_end_sentences():
    text = "Dr. Smith met Mr. and Mrs. Jones at 5 p.m. on Main St. in the U.S. today. J. K. Rowling wrote it, e.g. book No. 5 of the set. Fine."
    assert sentences(text) == [
        "Dr. Smith met Mr. and Mrs. Jones at 5 p.m. on Main St. in the U.S. today.",
        "J. K. Rowling wrote it, e.g. book No. 5 of the set.",
        "Fine.",
    ]


def test_decimals_and_ellipses():
    assert sentences("It cost $3.50 and version 2.1 works. Next one.") == [
        "It cost $3.50 and version 2.1 works.",
        "Next one.",
    ]
    assert sentences("Well... maybe not. Wait… What?") == ["Well... maybe not.", "Wait…", "What?"]


def test_quotes_and_brackets_stay_with_their_sentence():
    assert sentences('He said "Stop." Then he left. (It was late.) "Really?" she asked.') == [
        'He said "Stop."',
        "Then he left.",
        "(It was late.)",
        '"Really?" she asked.',
    ]


def test_exclamations_and_questions():
    assert sentences("Great job! Are you sure? yes i am.") == ["Great job!", "Are you sure?", "yes i am."]


def test_hard_wrapped_lines_join_into_sentences():
    assert sentences("This sentence is wrapped\nacross two lines. And this\none too.") == [
        "This sentence is wrapped\nacross two lines.",
        "And this\none too.",
    ]


def test_list_items_start_at_their_line():
    text = "Problems:\n- the order was late. It was cold\n* the staff were rude\n1. no refund\n2) no reply"
    assert pieces(text) == [
        (SENTENCE, "Problems:"),
        (ITEM, "the order was late."),
        (ITEM, "It was cold"),
        (ITEM, "the staff were rude"),
        (ITEM, "no refund"),
        (ITEM, "no reply"),
    ]


def test_greetings_and_sign_offs_are_their_own_units():
    text = "Hi Sam,\n\nThe launch went well. Thanks for the help!\n\nBest,\nDana"
    assert pieces(text) == [
        (GREETING, "Hi Sam,"),
        (SENTENCE, "The launch went well."),
        (SENTENCE, "Thanks for the help!"),
        (SIGNOFF, "Best,\nDana"),
    ]
    assert pieces("To the recruitment team,\nI applied.")[0] == (GREETING, "To the recruitment team,")
    letter = (
        "To whom it may concern,\nDear Ms. Lee,\nI am writing about my order.\nKind regards,\nDana Smith\nAcme Inc."
    )
    assert pieces(letter) == [
        (GREETING, "To whom it may concern,"),
        (GREETING, "Dear Ms. Lee,"),
        (SENTENCE, "I am writing about my order."),
        (SIGNOFF, "Kind regards,\nDana Smith\nAcme Inc."),
    ]


def test_a_greeting_opening_a_line_is_split_from_the_rest():
    assert pieces("Hi Sam, thanks for the update. It was great.") == [
        (GREETING, "Hi Sam,"),
        (SENTENCE, "thanks for the update."),
        (SENTENCE, "It was great."),
    ]


def test_sign_off_words_inside_a_sentence_are_prose():
    assert pieces("Thanks for nothing, the product broke.") == [(SENTENCE, "Thanks for nothing, the product broke.")]
    assert pieces("Thanks, Dana") == [(SIGNOFF, "Thanks, Dana")]
    assert pieces("Love it!")[0][0] == SENTENCE


def test_a_lone_short_line_is_a_line_unit():
    assert pieces("Report\n\nSales rose. Costs fell.\n\nDana") == [
        (LINE, "Report"),
        (SENTENCE, "Sales rose."),
        (SENTENCE, "Costs fell."),
        (LINE, "Dana"),
    ]


def test_empty_and_whitespace_only():
    assert split_units("") == [] and split_units(" \n\n\t \r\n") == []


PIECES = [
    "Hi Sam,",
    "Best,",
    "Dana",
    " ",
    "\n",
    "\n\n",
    "\r\n",
    "\r\n\r\n",
    "Mr.",
    " bad.",
    " Good!",
    "...",
    " e.g.",
    "- item",
    "1. ",
    "3.5",
    '"',
    "ok",
    "?",
    "Thanks, Dana",
    " the end.",
    "é",
    "👍🏽",
]
texts = st.lists(st.sampled_from(PIECES), max_size=20).map("".join)


@settings(max_examples=300, deadline=None)
@given(texts, st.data())
def test_re_splitting_the_touched_paragraphs_equals_splitting_everything(text, data):
    """After any edit, the units of the paragraphs around it plus the old units elsewhere
    equal the units of the whole new text (what the evidence ledger relies on)."""
    a = data.draw(st.integers(0, len(text)))
    b = data.draw(st.integers(a, len(text)))
    insert = data.draw(texts)
    new = text[:a] + insert + text[b:]
    lo, hi = paragraph_bounds(new, a, a + len(insert))
    assert lo <= a and hi >= a + len(insert)
    old_units = split_units(text)
    shift = len(insert) - (b - a)
    before = [u for u in old_units if u.end <= lo]
    after = [(u.start + shift, u.end + shift, u.kind) for u in old_units if u.start >= hi - shift]
    middle = split_range(new, lo, hi)
    combined = [(u.start, u.end, u.kind) for u in before + middle] + after
    assert combined == [(u.start, u.end, u.kind) for u in split_units(new)]
