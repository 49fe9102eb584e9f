"""Random changes to Markdown documents on the server's core, with the real tokenizer and model:
the text, the prose the model reads, its token ids and the diagnostics (ranges mapped back to
the source) equal those of a fresh open of the same text."""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from incls.reading.core import Change
from incls.text.markdown import Markdown
from incls.text.projection import project_text

from lsp_helpers import PIECES, change_for, expected_after, fresh_core, model_and_tokenizer, shown

MARKDOWN_PIECES = PIECES + [
    "```\n",
    "```",
    "# ",
    "- ",
    "> ",
    "`",
    "*",
    "[",
    "](http://x)",
    "---\n",
    "| a | b |\n|---|---|\n",
    "<div>",
]
markdown_texts = st.lists(st.sampled_from(MARKDOWN_PIECES), max_size=14).map("".join)


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_random_markdown_changes_match_a_fresh_open(data):
    tokenizer, _ = model_and_tokenizer()
    core = fresh_core()
    core.close("file:///a.md")
    text = data.draw(markdown_texts)
    core.open("file:///a.md", text, 1, "markdown")
    for version in range(2, 2 + data.draw(st.integers(1, 6))):
        change = data.draw(change_for(text, markdown_texts))
        text = expected_after(text, change)
        core.change("file:///a.md", version, [change])
        doc = core.document("file:///a.md")
        assert doc.text == text  # at once, on the event loop; the projection follows on the worker
        if data.draw(st.booleans()):
            continue  # a burst: the worker follows several changes at once
        core.compute("file:///a.md")
        assert doc.prose == project_text(Markdown(), text)
    report, diags = shown(core, "file:///a.md")
    doc = core.document("file:///a.md")
    if report.skip_reason is None:
        assert doc.model.tokens.ids == tokenizer.encode(doc.prose, add_special_tokens=False).ids
    core.open("file:///b.md", text, 1, "markdown")
    fresh_report, fresh_diags = shown(core, "file:///b.md")
    core.close("file:///b.md")
    assert diags == fresh_diags and report.skip_reason == fresh_report.skip_reason
    assert all(abs(a - b) < 1e-3 for a, b in zip(report.probabilities, fresh_report.probabilities))


def test_a_line_typed_in_a_code_block_moves_the_hints_after_it_without_reading_again():
    """No model work for a keystroke in code, yet the hints' ranges follow the source: the
    hints chosen are reused and mapped through the new version's map."""
    from lsp_helpers import COMPLAINT_LETTER

    core = fresh_core()
    uri = "file:///letter.md"
    text = "```\nprint('awful')\n```\n\n" + COMPLAINT_LETTER
    core.open(uri, text, 1, "markdown")
    report, diags = shown(core, uri)
    hints = [d for d in diags if d[3] == "This sent"]
    assert hints
    core.change(uri, 2, [Change("x = 1\n", ((1, 0), (1, 0)))])
    moved, moved_diags = shown(core, uri)
    assert moved.ops is None and moved.evidence.memo is report.evidence.memo  # the last reading, reused
    assert [(r.start.line, r.start.character, r.end.line, r.end.character) for r, *_ in moved_diags[1:]] == [
        (r.start.line + 1, r.start.character, r.end.line + 1, r.end.character) for r, *_ in diags[1:]
    ]
    core.close(uri)
