"""End to end over stdio: Markdown and LaTeX are read through their projections by the real
server and the shipped model. What the model reads is asserted through `incls.inspect`
(the prose and its token ids) and the label, never exact probabilities."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import CODE, PROSE, change, diagnostics_for, mark, open_doc, status_for

RELEASE_NOTES = (
    "---\ntitle: awful terrible horrible\nmood: worst\n---\n"
    + PROSE
    + "\n"
    + CODE
    + "\nSee [the notes](https://example.com/awful-terrible-bug) for more.\n"
)
PAPER = (
    "\\documentclass{article}\n\\begin{document}\n"
    "\\section{A wonderful result}\n"
    "We are \\emph{delighted}: the method is elegant, simple and works beautifully. % awful, terrible, horrible\n"
    "\\begin{equation}\n\\text{awful} = \\text{terrible}\n\\end{equation}\n"
    "Run \\verb|worst_crash()| to see it.\n\\end{document}\n"
)


INITIALIZATION_OPTIONS = {"incls": {"sentenceThreshold": 0.0}}  # for the `client` fixture (conftest.py)


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def inspect(client, uri: str) -> dict:
    return await client.workspace_execute_command_async(types.ExecuteCommandParams("incls.inspect", [uri]))


async def reading(client, uri: str, text: str, language: str) -> tuple[str, list, dict]:
    """Open a document; its label, its diagnostics and the server's view of it."""
    open_doc(client, uri, text, language=language)
    diags = await diagnostics_for(client, uri, 1)
    return diags[0].code, diags, await inspect(client, uri)


def lines_of(text: str, needle: str) -> set[int]:
    return {i for i, line in enumerate(text.splitlines()) if needle in line}


async def test_markdown_with_code_front_matter_and_a_link_reads_like_its_prose(client: LanguageClient):
    label, diags, state = await reading(client, "file:///tmp/notes.md", RELEASE_NOTES, "markdown")
    for word in ("awful", "terrible", "worst", "example.com", "```", "---"):
        assert word not in state["prose"]
    assert "delighted" in state["prose"] and "the notes" in state["prose"]
    prose_label, _, prose_state = await reading(
        client, "file:///tmp/prose.md", PROSE + "\nSee [the notes](https://x.org) for more.\n", "markdown"
    )
    assert state["ids"] == prose_state["ids"] and label == prose_label
    code_lines = set(range(RELEASE_NOTES.splitlines().index("```python"), len(RELEASE_NOTES.splitlines())))
    code_lines &= set(
        range(0, RELEASE_NOTES.splitlines().index("See [the notes](https://example.com/awful-terrible-bug) for more."))
    )
    front = set(range(0, 4))
    assert diags[0].range.start.line == 4  # the first prose line, not the front matter
    for d in diags[1:]:
        covered = set(range(d.range.start.line, d.range.end.line + 1))
        assert not covered & (code_lines | front), d


async def test_the_same_markdown_read_as_plain_text_reads_the_code_too(client: LanguageClient):
    _, _, state = await reading(client, "file:///tmp/notes-plain.txt", RELEASE_NOTES, "plaintext")
    assert "awful" in state["prose"]


async def test_adding_moving_and_deleting_a_code_block_never_changes_what_is_read(client: LanguageClient):
    uri = "file:///tmp/moves.md"
    label, _, state = await reading(client, uri, PROSE, "markdown")
    text, version = PROSE, 1
    block = "\n" + CODE + "\n"
    places = [text.index("We are"), text.index("Thanks"), len(text)]
    for at in places:  # add it, then delete it, at each place (a move is a delete and an add)
        for edit in ("add", "delete"):
            version += 1
            if edit == "add":
                start, end, new = at, at, block
            else:
                start, end, new = at, at + len(block), ""
            lines = text[:start].split("\n")
            end_lines = text[:end].split("\n")
            change(
                client, uri, version, (new, (len(lines) - 1, len(lines[-1])), (len(end_lines) - 1, len(end_lines[-1])))
            )
            text = text[:start] + new + text[end:]
            diags = await diagnostics_for(client, uri, version)
            assert diags[0].code == label
            now = await inspect(client, uri)
            assert now["text"] == text and now["ids"] == state["ids"]


async def test_a_keystroke_in_a_code_block_costs_no_model_work(client: LanguageClient):
    uri = "file:///tmp/keystroke.md"
    await reading(client, uri, PROSE + "\n" + CODE, "markdown")
    code_line = (PROSE + "\n" + CODE).splitlines().index("# awful awful awful terrible terrible terrible")
    change(client, uri, 2, ("x", (code_line, 2), (code_line, 2)))
    status = await status_for(client, uri, 2)
    assert status["state"] == "ready" and status["ops"] is None
    change(client, uri, 3, ("!", (2, 10), (2, 10)))
    status = await status_for(client, uri, 3)
    assert status["ops"] and status["ops"] > 0


async def test_hover_in_a_code_block_names_no_sentence(client: LanguageClient):
    uri = "file:///tmp/hover.md"
    await reading(client, uri, RELEASE_NOTES, "markdown")
    line = RELEASE_NOTES.splitlines().index("# awful awful awful terrible terrible terrible")
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(line, 3))
    )
    assert "Document:" in hover.contents.value and "This sentence" not in hover.contents.value
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(6, 5))
    )
    assert "This sentence reads" in hover.contents.value


async def test_latex_reads_the_prose_and_not_comments_math_or_verb(client: LanguageClient):
    for language in ("latex", "tex"):
        label, _, state = await reading(client, f"file:///tmp/paper-{language}.tex", PAPER, language)
        assert "delighted" in state["prose"] and "wonderful" in state["prose"]
        for word in ("awful", "terrible", "worst", "documentclass", "\\"):
            assert word not in state["prose"]


async def test_a_document_that_is_all_code_says_there_is_nothing_to_read(client: LanguageClient):
    uri = "file:///tmp/code.md"
    open_doc(client, uri, CODE, language="markdown")
    assert list(await diagnostics_for(client, uri, 1)) == []
    status = await status_for_state(client, uri, "skipped")
    assert "nothing is left to read" in status["message"]
    change(client, uri, 2, ("Now some lovely prose.\n\n", (0, 0), (0, 0)))
    diags = await diagnostics_for(client, uri, 2)
    assert diags and diags[0].source == "incls"


async def test_node_settings_change_what_is_read(client: LanguageClient):
    uri = "file:///tmp/nodes.md"
    _, _, state = await reading(client, uri, PROSE + "\n" + CODE, "markdown")
    assert "terrible" not in state["prose"]
    since = mark(client)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"incls": {"markdownNodes": {"code_block": "keep"}}})
    )
    await diagnostics_for(client, uri, 1, since)
    prose = (await inspect(client, uri))["prose"]
    assert "terrible" in prose and "```" not in prose
    since = mark(client)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"incls": {"markdownNodes": {}}})
    )  # back to the defaults
    await diagnostics_for(client, uri, 1, since)
    assert "terrible" not in (await inspect(client, uri))["prose"]


NOTES = '---\ntitle: Release 2.4\ntags: [awful, terrible, broken, worst, crash]\n---\n# Release 2.4\n\nWe are delighted with this release. The new editor is wonderful, fast and a joy to use,\nand the team did a brilliant job. Thank you all, we love it.\n\n```python\nraise Error("terrible failure, awful bug, worst crash, horrible, hateful, disgusting")\n# awful awful awful terrible terrible terrible, the worst code ever written\n```\n\nEverything feels smoother and happier: a great, delightful release we are proud of.\nSee [the terrible awful bug list](https://example.com/awful-terrible-worst) for details.\n'
INCIDENT = "---\nsummary: wonderful, delightful, amazing, brilliant, perfect, great\nmood: happy, joyful, fantastic\n---\n# Incident review: the outage of March 3\n\nThe outage was a disaster. Customers lost data, the recovery was slow and painful,\nand our alerts failed completely. It was the worst failure we have had, and it was\nentirely avoidable. We let our users down badly, and we are ashamed of it.\n\n| status | feeling |\n|---|---|\n| great | wonderful |\n| amazing | delightful |\n\nThe response was chaotic, confusing and frustrating. This must never happen again.\n"
PAPER_PRAISE = "\\documentclass{article}\n\\usepackage{amsmath} % terrible, awful package\n\\begin{document}\n\\section{A wonderful result}\nWe are \\emph{delighted} to present an elegant, simple and beautiful method that works\nremarkably well. The results are excellent and we are proud of them.\n% this is terrible, awful, horrible, the worst paper ever, hateful and disgusting\n\\begin{equation}\n  \\text{awful} + \\text{terrible} = \\text{worst}\n\\end{equation}\nRun \\verb|awful_terrible_crash()| to reproduce it; the experience is a pleasure.\n\\end{document}\n"


@pytest.mark.trained
async def test_the_tone_of_the_prose_wins_over_the_markup(client: LanguageClient):
    """The issue's cases: delighted release notes with loaded code, front matter and a link;
    a grim incident review with cheerful YAML and a cheerful table; a praising paper whose
    comments, math and \\verb insult."""
    for name, text, language, label in (
        ("notes.md", NOTES, "markdown", "positive"),
        ("incident.md", INCIDENT, "markdown", "negative"),
        ("paper.tex", PAPER_PRAISE, "latex", "positive"),
    ):
        got, _, _ = await reading(client, f"file:///tmp/tone-{name}", text, language)
        assert got == label, name


async def status_for_state(client, uri: str, state: str, timeout: float = 30.0) -> dict:
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = [s for s in client.statuses if s["uri"] == uri and s.get("state") == state]
        if found:
            return found[-1]
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no incls/status {state} for {uri}")
