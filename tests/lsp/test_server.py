"""End to end over stdio: the real `incls --stdio` server and the shipped model."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import (
    COMPLAINT_LETTER,
    change,
    diagnostics_for,
    mark,
    open_doc,
    status_for,
)

REVIEW = (
    "This film was a delight from start to finish.\n\n"
    "The acting is superb and the story kept me hooked.\n\n"
    "I would watch it again."
)


INITIALIZATION_OPTIONS = {"incls": {"sentenceThreshold": 0.0}}  # for the `client` fixture (conftest.py)


pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_open_then_edit_updates_the_diagnostic(client: LanguageClient):
    uri = "file:///tmp/review.txt"
    open_doc(client, uri, REVIEW)
    diags = await diagnostics_for(client, uri, 1)
    document = diags[0]
    assert document.source == "incls" and document.code in ("negative", "positive")
    assert document.message.startswith("Reads ") and document.range.start.line == 0
    assert document.severity == types.DiagnosticSeverity.Information
    change(client, uri, 2, (" Not really.", (4, 0), (4, 0)))
    diags = await diagnostics_for(client, uri, 2)
    assert diags[0].source == "incls"


async def test_model_loading_reports_progress(client: LanguageClient):
    assert client.progress_reports, "no $/progress while the model loaded"
    kinds = [getattr(p, "kind", None) for reports in client.progress_reports.values() for p in reports]
    assert "begin" in kinds and "end" in kinds


async def test_hover_shows_the_sentence_reading_and_on_the_first_line_the_document(client: LanguageClient):
    uri = "file:///tmp/hover.txt"
    open_doc(client, uri, REVIEW)
    await diagnostics_for(client, uri, 1)
    result = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(2, 5))
    )
    text = result.contents.value
    assert text.startswith("This sentence reads") and "negative" in text and "positive" in text
    assert "share of the evidence for" in text and "Document:" not in text
    first = (
        await client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(0, 3))
        )
    ).contents.value
    assert "Document: negative" in first and "positive" in first and "This sentence reads" in first


async def test_code_actions_disable_the_file_and_ignore_a_sentence(client: LanguageClient):
    uri = "file:///tmp/actions.txt"
    open_doc(client, uri, REVIEW)
    diags = await diagnostics_for(client, uri, 1)
    hinted = [d for d in diags if d.data and d.data.get("kind") == "sentence"]
    assert hinted, diags
    line = hinted[0].range.start.line
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uri),
            types.Range(types.Position(line, 3), types.Position(line, 3)),
            types.CodeActionContext(diagnostics=[]),
        )
    )
    # the client library may read a CodeAction that carries a command as that Command
    titles = {a.title: as_command(a) for a in actions}
    assert "Disable incls for this file" in titles and "Ignore this sentence (incls)" in titles
    ignore = titles["Ignore this sentence (incls)"]
    await client.workspace_execute_command_async(types.ExecuteCommandParams(ignore.command, ignore.arguments))
    after = client.diagnostics[uri]  # published before the command's reply
    assert all(d.range.start.line != line for d in after if d.data and d.data.get("kind") == "sentence")
    assert after[0].data["kind"] == "document"
    disable = titles["Disable incls for this file"]
    await client.workspace_execute_command_async(types.ExecuteCommandParams(disable.command, disable.arguments))
    assert list(client.diagnostics[uri]) == []


def as_command(action) -> types.Command:
    """lsprotocol's client-side hook reads any CodeAction that has a command as a Command
    (its `command` then holds the nested object's repr): recover the nested command."""
    import ast

    inner = action.command
    if isinstance(inner, str) and inner.startswith("{"):
        inner = ast.literal_eval(inner)
    if isinstance(inner, dict):
        return types.Command(title=inner["title"], command=inner["command"], arguments=inner.get("arguments"))
    return action if isinstance(inner, str) else inner


async def test_configuration_change_applies_to_open_documents(client: LanguageClient):
    uri = "file:///tmp/config.txt"
    open_doc(client, uri, REVIEW)
    await diagnostics_for(client, uri, 1)
    since = mark(client)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"incls": {"severity": "warning", "sentenceHints": 0}})
    )
    diags = await diagnostics_for(client, uri, 1, since)
    assert [d.severity for d in diags] == [types.DiagnosticSeverity.Warning]
    since = mark(client)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(
            settings={"incls": {"severity": "information", "sentenceHints": 3, "sentenceSeverity": "warning"}}
        )
    )
    diags = await diagnostics_for(client, uri, 1, since)
    assert diags[0].severity == types.DiagnosticSeverity.Information
    assert len(diags) > 1 and all(d.severity == types.DiagnosticSeverity.Warning for d in diags[1:])
    since = mark(client)
    client.workspace_did_change_configuration(
        types.DidChangeConfigurationParams(settings={"incls": {"sentenceSeverity": "hint"}})
    )
    await diagnostics_for(client, uri, 1, since)


async def test_status_notification_carries_label_latency_and_savings(client: LanguageClient):
    uri = "file:///tmp/status.txt"
    open_doc(client, uri, REVIEW)
    await diagnostics_for(client, uri, 1)
    change(client, uri, 2, ("!", (4, 22), (4, 22)))
    status = await status_for(client, uri, 2)
    assert status["state"] == "ready" and status["label"] in ("negative", "positive")
    assert status["tone"] == status["label"] and status["confidence"] == round(max(status["probabilities"].values()), 4)
    assert set(status["probabilities"]) == {"negative", "neutral", "positive"}
    assert status["latencyMs"] > 0 and status["tokens"] > 10


async def test_close_clears_the_diagnostics(client: LanguageClient):
    uri = "file:///tmp/close.txt"
    open_doc(client, uri, REVIEW)
    await diagnostics_for(client, uri, 1)
    client.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri)))
    state = await client.workspace_execute_command_async(types.ExecuteCommandParams("incls.inspect", [uri]))
    assert list(client.diagnostics[uri]) == []
    state = await client.workspace_execute_command_async(types.ExecuteCommandParams("incls.inspect", [uri]))
    assert state is None


@pytest.mark.trained
async def test_typing_a_contrary_sentence_flips_the_label(client: LanguageClient):
    uri = "file:///tmp/flip.txt"
    text = "A dull, lifeless film. The plot is a mess and the acting is wooden. I was bored throughout."
    open_doc(client, uri, text)
    assert (await diagnostics_for(client, uri, 1))[0].code == "negative"
    # every position votes, so the typed text has to outweigh the review it follows
    sentence = (
        " But the ending changed everything: wonderful, moving, brilliant, I loved it and would watch it again!"
        " A great film, superbly acted, beautifully told: one of the best I have seen this year."
    )
    version = 1
    for ch in sentence:
        version += 1
        change(client, uri, version, (ch, (0, len(text)), (0, len(text))))
        text += ch
    diags = await diagnostics_for(client, uri, version)
    assert diags[0].code == "positive"


LETTER = COMPLAINT_LETTER


async def test_a_complaint_letters_hints_never_land_on_its_greeting_or_signature(client: LanguageClient):
    uri = "file:///tmp/letter.txt"
    open_doc(client, uri, "Hi Sam,\n\n" + LETTER)
    diags = await diagnostics_for(client, uri, 1)
    hints = [d for d in diags if d.data and d.data.get("kind") == "sentence"]
    assert hints and all(d.severity == types.DiagnosticSeverity.Hint and d.source == "incls" for d in hints)
    lines = {d.range.start.line for d in hints} | {d.range.end.line for d in hints}
    assert not lines & {0, 2, 8, 9}, [(d.range, d.message) for d in hints]  # greetings, sign-off, name
    assert all(d.message.startswith("This sentence reads ") for d in hints)
    for d in hints:  # a hint covers one sentence of the letter's body, exactly
        assert d.range.start.line == d.range.end.line and d.range.end.character > d.range.start.character


async def test_an_empty_document_shows_no_tone(client: LanguageClient):
    uri = "file:///tmp/empty.txt"
    open_doc(client, uri, "")
    assert list(await diagnostics_for(client, uri, 1)) == []
    assert (await status_for(client, uri, 1))["state"] == "empty"
    change(client, uri, 2, ("  \n\n\t", (0, 0), (0, 0)))
    assert list(await diagnostics_for(client, uri, 2)) == []
    status = await status_for(client, uri, 2)
    assert status["state"] == "empty" and status["tone"] is None
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(0, 0))
    )
    assert hover is None
    change(client, uri, 3, ("The staff were rude and the food was cold.", (2, 1), (2, 1)))
    diags = await diagnostics_for(client, uri, 3)
    assert diags and diags[0].message.startswith("Reads ")
