"""The projection is linear in its input, pathological markup included (unclosed groups of
every kind, block quotes nested on every line): the time per character of an 8 times
larger input stays about the same (a quadratic projection would take 8 times as long per
character). The numbers themselves: `python -m incls.bench.projection_time`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from incls.bench.projection_time import INPUTS, growth
from incls.text.latex import Latex, _Masker
from incls.text.markdown import Markdown
from incls.text.projection import project_text


@pytest.mark.parametrize("kind", list(INPUTS))
def test_the_projection_of_pathological_markup_takes_linear_time(kind):
    result = growth(kind, (10_000, 80_000), repeats=2)
    assert result["growth"] < 3.0, result


class Searching(_Masker):
    """The masker as it was: every closer searched for from its opener (quadratic on
    unclosed groups). The linear masker must read every text exactly as it does."""

    def _group(self, pos: int, limit: int) -> tuple[int, int] | None:
        pos = self._spaces(pos)
        if pos >= limit or self.text[pos] != "{":
            return None
        depth, i = 0, pos
        while i < limit:
            ch = self.text[i]
            if ch == "\\":
                i += 2
                continue
            if ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return pos, i + 1
            i += 1
        return None

    def _find_closing(self, closer: str, start: int, limit: int, escaped: bool = False) -> int:
        i = start
        while True:
            i = self.text.find(closer, i, limit)
            if i < 0 or escaped or self.text[i - 1] != "\\":
                return i
            i += 1

    def _line_end(self, pos: int) -> int:
        ends = [i for i in (self.text.find("\n", pos), self.text.find("\r", pos)) if i >= 0]
        return min(ends or [self.n])


PIECES = ["\\cite", "\\label", "\\begin", "\\end", "\\emph", "\\verb", "\\(", "\\)", "\\[", "\\]", "\\", "{", "}"]
PIECES += ["[", "]", "$", "$$", "%", " ", "a", "equation", "\n", "\n\n", "\r\n", "|", "*"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_the_linear_masker_reads_every_text_as_the_searching_one(source):
    ours, theirs = _Masker(Latex(), source).run(), Searching(Latex(), source).run()
    assert [(g.text, g.src, g.length) for g in ours.segments] == [(g.text, g.src, g.length) for g in theirs.segments]
    assert ours.closed == theirs.closed


@pytest.mark.parametrize(
    "source, prose",
    [
        ("See \\cite{a and \\cite{b} here.", "See Xa and X here."),  # the inner group closes, the outer never does
        ("A \\label{x \\emph{kept} text.", "A x kept text."),
        ("A \\emph{b {c} d} e.", "A b c d e."),
        ("A \\emph{b \\{ c} d.", "A b { c d."),  # an escaped brace is text, not a group
        ("A \\cite[p. 3\\] x.", "A X x."),
        ("A \\(x and $y$ b.\n\nNext \\) c.", "A x and X b.\n\nNext  c."),  # math does not cross a paragraph
        ("A \\verb|x\nb| c.", "A |x\nb| c."),  # nor \\verb a line
        ("\\begin{equation} x", ""),  # an unclosed dropped environment runs to the end
    ],
)
def test_unclosed_groups_read_as_before(source, prose):
    assert project_text(Latex(), source) == prose


@pytest.mark.parametrize(
    "source, cell",
    [
        ("| a | a |\n|---|---|\n| b | b |\n", "b"),  # cells alike: each maps to its own source
        ("| x \\| y | z |\n|---|---|\n| p \\| q | r |\n", "p | q"),  # an escaped pipe in a cell
    ],
)
def test_table_cells_map_to_their_own_source(source, cell):
    segments = Markdown().project(source, True, "").segments
    text = "".join(s.text for s in segments)
    assert cell in text
    for seg in segments:
        for i, (start, src, linear) in enumerate(zip(seg.proj, seg.src, seg.linear)):
            end = seg.proj[i + 1] if i + 1 < len(seg.proj) else len(seg.text)
            if linear:
                assert seg.text[start:end] == source[src : src + end - start]
    assert segments[-1].source_offset(text.rindex(cell[-1])) == source.rindex(cell[-1])  # the last cell's own
