"""Sentences and line-based items of a text: the units the model's evidence is read over.

A small module rather than a library: the units a writer means in a letter or an email
are partly lines, not sentences ("Hi Sam," on its own line, "Best,\\nDana" at the end,
list items), which sentence splitters (pysbd, syntok, Punkt) do not model; the server
re-splits the paragraphs an edit touches on every keystroke, which has to cost
microseconds; and nothing may be fetched at run time (Punkt's NLTK models are).

Every rule is local to a paragraph (text between blank lines), so re-splitting the
paragraphs an edit touches gives the same units as splitting the whole text
(`paragraph_bounds` finds them). Inside a paragraph:

- a **greeting** line ("Hi Sam,", "Dear Ms. Lee,", "To whom it may concern,", "To the
  hiring team,") is its own
  unit; a line that opens with a short greeting and a comma ("Hi Sam, thanks for...")
  gives a greeting unit and the rest;
- a **sign-off** line ("Best,", "Kind regards", "Thanks, Dana") together with the short
  name lines after it ("Best,\\nDana\\nAcme Inc.") is one unit;
- a **list item** ("- ", "* ", "• ", "1. ", "2) ", "a) ") starts at its line;
- a short paragraph that is a single line without sentence punctuation (a name, a
  heading, an address line) is a **line** unit;
- other line breaks join lines (hard-wrapped prose), and sentences end after ".", "!",
  "?", "…" or a run of them (closing quotes and brackets included) before whitespace,
  except after an abbreviation ("Mr.", "e.g.", "U.S."), an initial ("J. K."), a number
  reference ("No. 5"), or a "." or ellipsis followed by a lowercase word. Decimals
  ("3.5") have no whitespace after the dot and never end a sentence.

Offsets are code points; a unit's end excludes trailing whitespace.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SENTENCE, GREETING, SIGNOFF, ITEM, LINE = "sentence", "greeting", "signoff", "item", "line"

BLANK_LINE = re.compile(r"(?:\r\n|\r|\n)[ \t]*(?:\r\n|\r|\n)")
LINE_BREAK = re.compile(r"\r\n|\r|\n")
END = re.compile(r"(?:\.{2,}|…|[.!?])+[\"'”’)\]»]*(?=\s)")
WORD_BEFORE = re.compile(r"\S+$")
NEXT = re.compile(r"\s*[\"'“‘(\[«]*(\S?)")
BULLET = re.compile(r"[ \t]*(?:[-*•‣◦–]|\d{1,3}[.)]|[A-Za-z][)])[ \t]+(?=\S)")
GREETING_LINE = re.compile(
    r"(?:hi|hello|hey|hiya|dear|greetings|good\s+(?:morning|afternoon|evening|day)|morning|"
    r"to\s+whom\s+it\s+may\s+concern|to\s+the\s+[\w ]{0,30}?(?:team|committee|department|manager|board))"
    r"\b[^!?\n]{0,40}?[,:!]?",
    re.I,
)
GREETING_OPENER = re.compile(r"(?:hi|hello|hey|hiya|dear)\b[^,.!?\n]{0,30},(?=[ \t]+\S)", re.I)
SIGNOFF_LINE = re.compile(
    r"(?:best(?:\s+wishes|\s+regards)?|(?:kind|warm|warmest|best|many)\s+(?:regards|thanks|wishes)|regards|"
    r"cheers|thanks(?:\s+again|\s+so\s+much|\s+a\s+lot|\s+in\s+advance)?|thank\s+you(?:\s+again|\s+so\s+much)?|"
    r"sincerely(?:\s+yours)?|yours(?:\s+(?:truly|sincerely|faithfully))?|all\s+the\s+best|take\s+care|"
    r"love|cordially|respectfully|talk\s+soon|see\s+you(?:\s+soon)?|speak\s+soon|xo+)"
    r"[ \t]*[,.!]*(?:[ \t]*[,–—-][ \t]*\S+(?:[ \t]+\S+){0,2})?[ \t]*",
    re.I,
)

ABBREVIATIONS = frozenset(
    """
mr mrs ms mx dr prof sr jr st mt ft vs e.g i.e eg ie cf al approx appt apt dept est inc ltd co corp
jan feb mar apr jun jul aug sep sept oct nov dec mon tue tues wed thu thurs fri sat sun
gen col lt sgt capt cmdr gov sen rep rev hon pres supt u.s u.k u.s.a ph.d a.m p.m min max misc ref
""".split()
)
NUMBER_ABBREVIATIONS = frozenset("no nos p pp vol vols fig figs ch sec art nr".split())
GREETING_WORDS, NAME_WORDS, SIGNATURE_LINES, LINE_WORDS = 6, 6, 4, 4


@dataclass(frozen=True)
class Unit:
    """One sentence or line-based item: text[start:end] (code points)."""

    start: int
    end: int
    kind: str = SENTENCE


def split_units(text: str) -> list[Unit]:
    """Every unit of `text`, in order."""
    return split_range(text, 0, len(text))


def split_range(text: str, start: int, end: int) -> list[Unit]:
    """The units of the paragraphs in text[start:end]; `start` and `end` must lie between
    paragraphs (or at the text's ends), as `paragraph_bounds` returns them."""
    units, at = [], start
    for m in BLANK_LINE.finditer(text, start, end):
        units += _paragraph(text, at, m.start())
        at = m.end()
    units += _paragraph(text, at, end)
    return units


def paragraph_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """A range around text[start:end] whose ends lie between paragraphs (or at the text's
    ends): the text to re-split after an edit there. Looks outward in doubling windows."""
    lo, span = start, 256
    while lo > 0:
        window = max(0, start - span)
        last = None
        for last in BLANK_LINE.finditer(text, window, start):  # noqa: B007 (keeps the last match)
            pass
        if last is not None:
            lo = last.end()
            break
        if window == 0:
            lo = 0
        span *= 2
    hi, span = end, 256
    while hi < len(text):
        m = BLANK_LINE.search(text, end, min(len(text), end + span))
        if m is not None:
            hi = m.start()
            break
        if end + span >= len(text):
            hi = len(text)
        span *= 2
    return lo, hi


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each line of text[start:end], line breaks excluded."""
    out, at = [], start
    for m in LINE_BREAK.finditer(text, start, end):
        out.append((at, m.start()))
        at = m.end()
    out.append((at, end))
    return out


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _words(text: str, start: int, end: int) -> int:
    return len(text[start:end].split())


def _whole(pattern: re.Pattern, text: str, start: int, end: int) -> bool:
    return pattern.fullmatch(text, start, end) is not None


def _paragraph(text: str, start: int, end: int) -> list[Unit]:
    """Units of one paragraph: line-based items first, prose runs split into sentences."""
    lines = [_trim(text, a, b) for a, b in _lines(text, start, end)]
    lines = [(a, b) for a, b in lines if a < b]
    if not lines:
        return []
    if (
        len(lines) == 1
        and _words(text, *lines[0]) <= LINE_WORDS
        and not _has_end(text, *lines[0])
        and not _whole(GREETING_LINE, text, *lines[0])
        and not _whole(SIGNOFF_LINE, text, *lines[0])
    ):
        return [Unit(*lines[0], LINE)]
    units: list[Unit] = []
    run: list[int] | None = None  # [start, end] of the prose run being gathered
    run_kind = SENTENCE
    i = 0

    def flush() -> None:
        nonlocal run
        if run is not None:
            units.extend(_sentences(text, run[0], run[1], run_kind))
            run = None

    while i < len(lines):
        a, b = lines[i]
        if _words(text, a, b) <= GREETING_WORDS and _whole(GREETING_LINE, text, a, b):
            flush()
            units.append(Unit(a, b, GREETING))
            i += 1
            continue
        if _whole(SIGNOFF_LINE, text, a, b):
            flush()
            last = i
            while (
                last + 1 < len(lines)
                and last + 1 - i <= SIGNATURE_LINES
                and _words(text, *lines[last + 1]) <= NAME_WORDS
                and text[lines[last + 1][1] - 1] not in "!?"
            ):
                last += 1
            units.append(Unit(a, lines[last][1], SIGNOFF))
            i = last + 1
            continue
        bullet = BULLET.match(text, a, b)
        if bullet is not None:
            flush()
            run, run_kind = [bullet.end(), b], ITEM
            i += 1
            continue
        opener = GREETING_OPENER.match(text, a, b) if run is None or (i > 0 and _ends_sentence(text, run[1])) else None
        if opener is not None and _words(text, a, opener.end()) <= GREETING_WORDS:
            flush()
            units.append(Unit(a, opener.end(), GREETING))
            a = _trim(text, opener.end(), b)[0]
        if run is None:
            run, run_kind = [a, b], SENTENCE
        else:
            run[1] = b
        i += 1
    flush()
    return units


def _has_end(text: str, start: int, end: int) -> bool:
    return any(ch in ".!?…" for ch in text[start:end])


def _ends_sentence(text: str, end: int) -> bool:
    return end > 0 and text[end - 1] in ".!?…"


def _sentences(text: str, start: int, end: int, kind: str) -> list[Unit]:
    """Sentences of one prose run text[start:end] (its lines joined), each of `kind`."""
    out, at = [], start
    for m in END.finditer(text, start, end):
        if _breaks(text, m, end):
            out.append(Unit(at, m.end(), kind))
            at = _trim(text, m.end(), end)[0]
    if at < end:
        out.append(Unit(at, end, kind))
    return [u for u in out if u.start < u.end]


def _breaks(text: str, m: re.Match, end: int) -> bool:
    """Whether the punctuation run `m` ends a sentence."""
    nxt = NEXT.match(text, m.end(), end)
    following = nxt.group(1) if nxt else ""
    if not following:
        return True
    punct = m.group(0).rstrip("\"'”’)]»")
    lower = following.islower()
    if "!" in punct or "?" in punct:
        return not (lower and punct != m.group(0))  # '"Really?" she asked' continues
    if lower:
        return False
    if len(punct) > 1 or punct == "…":  # an ellipsis before a capital ends a sentence
        return True
    before = WORD_BEFORE.search(text, max(0, m.start() - 40), m.start())
    word = before.group(0).lstrip("\"'“‘([«").lower() if before else ""
    if word in ABBREVIATIONS:
        return False
    if word in NUMBER_ABBREVIATIONS and following.isdigit():
        return False
    if len(word) == 1 and word.isalpha():  # an initial: "J. K. Rowling"
        return False
    return True
