"""The prose projection: what each Markdown node and LaTeX construct becomes, the map back
to the source, incremental edits equal to a full projection, and bad input."""

from __future__ import annotations

import functools
import re
import time

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from incls.text import TextEdit
from incls.text.latex import Latex
from incls.text.markdown import Markdown
from incls.text.projection import PLACEHOLDER, IncrementalProjection, project_text
from incls.text.prose import kind_of, kind_of_path


def md(text: str, **nodes) -> str:
    return project_text(Markdown(nodes), text)


def tex(text: str, commands=None, environments=None) -> str:
    return project_text(Latex(commands, environments), text)


def words(text: str) -> list[str]:
    return text.split()


# -- Markdown, node by node ------------------------------------------------------------------


def test_paragraphs_and_headings_keep_their_text_and_end_in_a_blank_line():
    out = md("# Title here\n\nA first paragraph\nwrapped over two lines.\n\nSetext\n===\n")
    assert out == "Title here\n\nA first paragraph\nwrapped over two lines.\n\nSetext\n\n"


def test_fenced_and_indented_code_are_dropped():
    out = md("Happy.\n\n```py\nraise Error('awful')\n```\n\n    terrible = 1\n\nGlad.\n")
    assert words(out) == ["Happy.", "Glad."]


def test_yaml_and_toml_front_matter_are_dropped():
    assert words(md("---\nmood: awful\n---\nFine day.\n")) == ["Fine", "day."]
    assert words(md("+++\nmood = 'awful'\n+++\n\nFine day.\n")) == ["Fine", "day."]
    assert words(md("---\nmood: awful\n...\nFine day.\n")) == ["Fine", "day."]


def test_unclosed_front_matter_runs_to_the_end_like_an_open_fence():
    assert md("---\nmood: awful\n\nstill yaml\n").strip() == ""


def test_front_matter_is_only_at_the_top():
    assert "Intro" in md("Intro\n\n---\nnot: front matter\n---\n")


def test_html_blocks_and_inline_tags_are_dropped_but_text_between_tags_stays():
    out = md("<div>\nawful html\n</div>\n\nA <b>bold</b> move.\n")
    assert words(out) == ["A", "bold", "move."]


def test_links_keep_their_text_and_drop_the_target():
    out = md('See [the lovely docs](https://example.com/awful "awful title") and [ref][r].\n\n[r]: http://x/awful\n')
    assert words(out) == ["See", "the", "lovely", "docs", "and", "ref."]


def test_images_autolinks_and_bare_urls_are_dropped():
    out = md("An ![awful chart](a.png) view <https://awful.example> at https://x.org/awful today.\n")
    assert words(out) == ["An", "view", "at", "today."]


def test_inline_code_becomes_a_placeholder_word():
    assert md("Call `crash_badly()` now.\n") == f"Call {PLACEHOLDER} now.\n\n"


def test_lists_quotes_and_table_cells_keep_their_text_and_drop_the_syntax():
    out = md("- one\n- two\n\n1. three\n\n> four\n> > five\n\n| six | seven |\n|---|:-:|\n| eight | `x` |\n")
    assert words(out) == ["one", "two", "three", "four", "five", "six", "seven", "eight", PLACEHOLDER]
    assert "|" not in out and "-" not in out


def test_emphasis_markers_go_and_literal_punctuation_stays():
    assert (
        md("A **bold** and *calm* ~~old~~ snake_case_name, 2 * 3.\n")
        == "A bold and calm old snake_case_name, 2 * 3.\n\n"
    )


def test_escapes_and_entities_read_as_the_characters_they_stand_for():
    assert md("Fish \\& chips &amp; peas\\!\n") == "Fish & chips & peas!\n\n"


def test_node_settings_choose_ignore_placeholder_or_keep():
    src = "Good.\n\n```\nterrible\n```\n\nUse `x`, see [docs](u).\n\n| a |\n|---|\n| b |\n"
    assert "terrible" in md(src, code_block="keep")
    assert md(src, code_block="placeholder").count(PLACEHOLDER) == 2
    assert "docs" not in md(src, link="ignore")
    assert "Use , see docs." in md(src, code_inline="ignore")
    assert "b" not in words(md(src, table="ignore"))
    assert "mood" in md("---\nmood: ok\n---\nHi\n", front_matter="keep")


def test_crlf_and_cr_line_breaks_read_like_lf():
    out = md("# T\r\n\r\nOne\r\ntwo\r\n")
    assert "\r" not in out and out.replace(" \n", "\n") == md("# T\n\nOne\ntwo\n")
    assert words(md("Hi\r\rthere\r")) == ["Hi", "there"]


# -- the map back to the source ----------------------------------------------------------------


@pytest.mark.parametrize("word", ["lovely", "docs", "cell", "quoted", "Title", "wrapped"])
def test_projected_words_map_back_onto_the_same_words_in_the_source(word):
    src = (
        "---\na: b\n---\n# Title\n\nA *lovely* [docs](http://u) line\n  wrapped here.\n\n"
        "> quoted text\n\n| head | cell |\n|---|---|\n| x | y |\n"
    )
    p = IncrementalProjection(Markdown(), src)
    at = p.text.index(word)
    start, end = p.source_range(at, at + len(word))
    assert src[start:end] == word


def test_latex_words_map_back_onto_the_source():
    src = "\\section{Great news}\nWe are \\emph{happy} % sad\nwith $x$ results.\n"
    p = IncrementalProjection(Latex(), src)
    for word in ("Great", "happy", "results"):
        at = p.text.index(word)
        assert src[slice(*p.source_range(at, at + len(word)))] == word


# -- LaTeX ------------------------------------------------------------------------------------


def test_latex_drops_comments_math_verbatim_and_command_names():
    src = (
        "\\documentclass{article}\n\\usepackage{amsmath}\n\\begin{document}\n"
        "\\section{A wonderful result}\nWe are \\emph{delighted} that $x$ works \\cite{k}. % awful\n"
        "% terrible, horrible\n\\begin{equation}\n\\text{awful} = 1\n\\end{equation}\n"
        "Use \\verb|awful()| with \\textbf{joy}\\label{sec:awful}.\n"
        "\\begin{verbatim}\nworst crash\n\\end{verbatim}\n\\[ \\text{bad} \\]\n\\end{document}\n"
    )
    out = tex(src)
    assert words(out) == [
        "A",
        "wonderful",
        "result",
        "We",
        "are",
        "delighted",
        "that",
        PLACEHOLDER,
        "works",
        f"{PLACEHOLDER}.",
        "Use",
        PLACEHOLDER,
        "with",
        "joy.",
    ]


def test_latex_special_characters_and_spacing():
    assert tex("Fish \\& chips, 50\\% off~now\\\\next") == "Fish & chips, 50% off now\nnext"


def test_latex_command_and_environment_settings_extend_the_lists():
    src = "Hello \\todo{awful note} and \\begin{lstlisting}\nawful\n\\end{lstlisting} bye"
    assert "awful" not in tex(src, {"\\todo{}": "ignore"}, {"lstlisting": "ignore"})
    assert "awful" in tex(src)
    assert tex("Hi \\mycmd{x} there", {"mycmd": "placeholder"}) == f"Hi {PLACEHOLDER} there"


def test_an_unclosed_math_or_group_ends_at_the_paragraph():
    out = tex("Price is $5 today.\n\nA \\textbf{bold\n\nmove} here.")
    assert "today." in out and "move" in out and "here." in out


# -- languages --------------------------------------------------------------------------------


def test_language_ids_and_file_extensions_choose_the_projection():
    assert [kind_of(x) for x in ("markdown", "latex", "tex", "plaintext", None, "python")] == [
        "markdown",
        "latex",
        "latex",
        "plaintext",
        "plaintext",
        "plaintext",
    ]
    assert [kind_of_path(x) for x in ("a.md", "b.markdown", "c.tex", "d.txt")] == [
        "markdown",
        "markdown",
        "latex",
        "plaintext",
    ]


# -- incremental --------------------------------------------------------------------------------

DOC = "".join(f"## Part {i}\n\nThe team did *great* work on {i}.\n\n```\nawful {i}\n```\n\n" for i in range(40))


def test_a_keystroke_in_a_code_block_changes_nothing_the_model_reads():
    p = IncrementalProjection(Markdown(), DOC)
    before = p.text
    at = DOC.index("awful 20")
    edit = p.apply(TextEdit(at, at, "really "))
    assert edit.start == edit.end and edit.text == "" and p.text == before


def test_a_keystroke_in_a_paragraph_is_a_one_character_edit_of_the_projection():
    p = IncrementalProjection(Markdown(), DOC)
    at = DOC.index("great* work on 20")
    edit = p.apply(TextEdit(at, at, "s"))
    assert edit.text == "s" and edit.end == edit.start
    assert p.text == project_text(Markdown(), p.source)


def test_opening_a_fence_swallows_what_follows_and_closing_it_gives_it_back():
    p = IncrementalProjection(Markdown(), DOC)
    at = DOC.index("## Part 30")
    p.apply(TextEdit(at, at, "```\n"))
    assert "Part 31" not in p.text and "Part 29" in p.text
    p.apply(TextEdit(at, at + 4, ""))
    assert p.text == project_text(Markdown(), DOC)


def test_segments_stay_small_under_edits():
    p = IncrementalProjection(Markdown(), DOC)
    count = len(p.segments)
    for i in range(20):
        at = p.source.index(f"work on {i}")
        p.apply(TextEdit(at, at, "x"))
    assert len(p.segments) >= count - 1


def test_a_map_taken_before_edits_still_maps_its_own_version():
    p = IncrementalProjection(Markdown(), DOC)
    source, text, before = p.source, p.text, p.source_map()
    expected = [before.source_range(k, k + 5) for k in range(0, len(text), 7)]
    for i in range(10):
        at = p.source.index(f"work on {i}")
        p.apply(TextEdit(at, at + 4, "progress"))
    assert [before.source_range(k, k + 5) for k in range(0, len(text), 7)] == expected
    assert all(source[slice(*before.source_range(m.start(), m.end()))] == m.group() for m in re.finditer(r"\w+", text))


MD_ATOMS = [
    "\n",
    "\n\n",
    "```",
    "~~~",
    "---",
    "+++",
    "...",
    "# ",
    "- ",
    "1. ",
    "> ",
    "    ",
    "|",
    "|---|",
    "| a | b |\n|---|---|\n",
    "`",
    "*",
    "**",
    "_",
    "[",
    "]",
    "(",
    ")",
    "](u)",
    "<div>",
    "</div>",
    "<!--",
    "-->",
    "<pre>",
    "</pre>",
    "word ",
    "great ",
    "\\",
    "&amp;",
    "http://x.y ",
    "\r\n",
    "\r",
    "\t",
    "==\n",
    "[x]: /u\n",
    " ",
    "é",
    "😀",
]
TEX_ATOMS = [
    "\n",
    "\n\n",
    "\\begin{equation}",
    "\\end{equation}",
    "\\begin{verbatim}",
    "\\end{verbatim}",
    "\\begin{itemize}",
    "\\end{itemize}",
    "\\item ",
    "$",
    "$$",
    "\\(",
    "\\)",
    "\\[",
    "\\]",
    "%",
    "\\verb|",
    "|",
    "\\section{",
    "{",
    "}",
    "\\cite{a}",
    "\\emph",
    "[",
    "]",
    "word ",
    "great ",
    "\\",
    "\\\\",
    "~",
    "&",
    "\r\n",
    "\r",
    " ",
    "\\newcommand{\\x}[1]{y}",
    "\\%",
    "é",
]


def edits(atoms):
    chunk = st.lists(st.sampled_from(atoms), max_size=4).map("".join)
    return st.tuples(
        st.lists(st.sampled_from(atoms), max_size=40).map("".join),
        st.lists(st.tuples(st.floats(0, 1), st.sampled_from([0, 0, 1, 2, 5, 30]), chunk), min_size=1, max_size=12),
    )


def check_equal_under_edits(lang, case):
    text, steps = case
    p = IncrementalProjection(lang, text)
    assert p.text == project_text(lang, text)
    for where, length, insert in steps:
        start = int(where * len(text))
        edit = TextEdit(start, min(len(text), start + length), insert)
        before = p.text
        prose_edit = p.apply(edit)
        text = edit.apply(text)
        assert p.source == text
        assert p.text == project_text(lang, text)
        assert prose_edit.apply(before) == p.text
        fresh = IncrementalProjection(lang, text)
        assert [p.source_offset(k) for k in range(len(p.text) + 1)] == [
            fresh.source_offset(k) for k in range(len(p.text) + 1)
        ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits(MD_ATOMS))
def test_incremental_markdown_projection_equals_the_full_projection(case):
    check_equal_under_edits(Markdown(), case)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits(TEX_ATOMS))
def test_incremental_latex_projection_equals_the_full_projection(case):
    check_equal_under_edits(Latex(), case)


TABLE_ATOMS = [
    "| a | b |\n",
    "| c |\n",
    "|---|---|\n",
    "|:-:|\n",
    "|",
    "\n",
    "\n\n",
    "```",
    "```\n",
    "- ",
    "> ",
    "x",
    " ",
    "# ",
    "    ",
    "`",
    "\\|",
    "<div>",
    "para\n",
    "-",
    ":",
]


@st.composite
def table_documents(draw):
    """A table of up to 12 rows in random Markdown, and edits (long tables are cut every row here)."""
    rows = "".join(f"| r{k} | {k} |\n" for k in range(draw(st.integers(0, 12))))
    around = st.lists(st.sampled_from(TABLE_ATOMS), max_size=10).map("".join)
    text = draw(around) + "| h | i |\n|---|---|\n" + rows + draw(around)
    return text, draw(edits(TABLE_ATOMS))[1]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table_documents(), st.integers(1, 3))
def test_incremental_markdown_tables_cut_by_rows_equal_the_full_projection(case, rows):
    check_equal_under_edits(Markdown(table_rows=rows), case)


# -- bad input ---------------------------------------------------------------------------------


def test_unterminated_constructs_deep_nesting_and_all_code_do_not_break_it():
    assert md("Hi\n\n```\nnever closed") == "Hi\n\n"
    assert tex("Hi\n\n\\begin{equation}\nnever closed") == "Hi\n\n"
    assert "deep" in md("> " * 30 + "deep\n\nafter\n") and "after" in md("> " * 30 + "deep\n\nafter\n")
    assert "after" in md("".join("  " * i + "- x\n" for i in range(15)) + "\nafter\n")
    started = time.perf_counter()
    md("> " * 5000 + "deep\n")  # beyond the parser's nesting limit: no crash, bounded time
    md("".join("  " * i + "- x\n" for i in range(1000)))
    assert time.perf_counter() - started < 30
    assert md("```\nonly code\n```\n").strip() == ""


def test_a_large_table_projects_in_bounded_time_and_edits_stay_cheap():
    table = "| name | note |\n|---|---|\n" + "".join(f"| row {i} | fine |\n" for i in range(20000))
    started = time.perf_counter()
    p = IncrementalProjection(Markdown(), "Intro.\n\n" + table + "\nOutro.\n")
    assert time.perf_counter() - started < 60
    for word in ("Outro", "row 10000 ", "row 0 "):  # after the table, and in its rows: a few rows re-read
        at = p.source.index(word)
        started = time.perf_counter()
        p.apply(TextEdit(at, at, "x"))
        assert time.perf_counter() - started < 0.5
    assert "row 19999" in p.text and "xrow 10000" in p.text
    at = p.source.index("name")  # the header: every row is read again
    p.apply(TextEdit(at, at, "x"))
    assert p.text == project_text(Markdown(), p.source)


@functools.lru_cache(maxsize=1)
def real_tokenizer():
    from incls.model.base import load_tokenizer

    return load_tokenizer()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(edits(MD_ATOMS))
def test_token_ids_of_the_projection_follow_its_edits(case):
    """What reaches the engine: the projection's edits, through the real tokenizer's windowed
    re-tokenization, keep the ids equal to the ids of the full text's projection."""
    from incls.text import TokenizedText

    tokenizer = real_tokenizer()
    text, steps = case
    lang = Markdown()
    p = IncrementalProjection(lang, text)
    tokens = TokenizedText(tokenizer, p.text)
    for where, length, insert in steps:
        start = int(where * len(text))
        edit = TextEdit(start, min(len(text), start + length), insert)
        text = edit.apply(text)
        tokens.apply(p.apply(edit))
        assert tokens.ids == tokenizer.encode(project_text(lang, text), add_special_tokens=False).ids


def copied_pieces_equal_the_source(lang, text: str, source: str) -> None:
    p = IncrementalProjection(lang, text)
    for base, seg in zip(p.src_starts, p.segments):
        ends = seg.proj[1:] + [len(seg.text)]
        for start, end, src, linear in zip(seg.proj, ends, seg.src, seg.linear):
            if linear:
                assert seg.text[start:end] == source[base + src : base + src + end - start]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(MD_ATOMS), max_size=60).map("".join))
def test_the_map_names_the_source_of_every_copied_piece_markdown(text):
    from incls.text.markdown import normalize

    copied_pieces_equal_the_source(Markdown(), text, normalize(text))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(TEX_ATOMS), max_size=60).map("".join))
def test_the_map_names_the_source_of_every_copied_piece_latex(text):
    copied_pieces_equal_the_source(Latex(), text, text)
