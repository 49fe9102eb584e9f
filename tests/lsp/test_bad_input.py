"""A client's mistakes: the server logs or shows an error, keeps serving, loses nothing."""

from __future__ import annotations

import pytest
from lsprotocol import types
from pytest_lsp import LanguageClient

from lsp_helpers import change, diagnostics_for, mark, open_doc

TEXT = "A fine film.\n\nI liked it a lot."
pytestmark = pytest.mark.asyncio(loop_scope="module")


INITIALIZATION_OPTIONS = {"incls": {"maxDocumentBytes": 200_000}}  # for the `client` fixture (conftest.py)


async def server_text(client, uri):
    state = await client.workspace_execute_command_async(types.ExecuteCommandParams("incls.inspect", [uri]))
    return None if state is None else (state["text"] if isinstance(state, dict) else state.text)


def messages(client) -> str:
    return "\n".join(m.message for m in list(client.messages) + list(client.log_messages))


async def test_invalid_range_marks_the_document_out_of_sync_until_the_whole_text_comes(client: LanguageClient):
    """A range outside the text means the client's text is not the server's: no guessing."""
    uri = "file:///bad/range.txt"
    open_doc(client, uri, TEXT)
    await diagnostics_for(client, uri, 1)
    since = mark(client)
    change(client, uri, 2, ("x", (40, 0), (40, 1)))
    change(client, uri, 3, ("!", (2, 17), (2, 17)))
    assert list(await diagnostics_for(client, uri, 3, since)) == []  # not classified meanwhile
    assert "invalid range" in messages(client) and "out of sync" in messages(client)
    since = mark(client)
    change(client, uri, 4, (TEXT + "?",))
    assert (await diagnostics_for(client, uri, 4, since))[0].source == "incls"
    assert await server_text(client, uri) == TEXT + "?"


async def test_an_out_of_order_version_is_applied_the_clients_text_wins(client: LanguageClient):
    """The client's text is what it is whatever version it gives: dropping the change would
    leave the server a text the client does not have."""
    uri = "file:///bad/version.txt"
    open_doc(client, uri, TEXT, version=5)
    await diagnostics_for(client, uri, 5)
    change(client, uri, 3, ("zzz", (0, 0), (0, 0)))
    assert await server_text(client, uri) == "zzz" + TEXT


async def test_change_to_an_unopened_document(client: LanguageClient):
    change(client, "file:///bad/never-opened.txt", 2, ("x", (0, 0), (0, 0)))
    assert await server_text(client, "file:///bad/never-opened.txt") is None
    assert "not open" in messages(client)


async def test_binary_and_huge_documents_get_a_message_not_a_crash(client: LanguageClient):
    binary, huge = "file:///bad/blob.bin", "file:///bad/huge.txt"
    open_doc(client, binary, "\x00\x01\x02 binary \x00" * 100)
    open_doc(client, huge, "word " * 420_000)  # about 2 MB, ten times the limit set above
    assert list(await diagnostics_for(client, binary, 1)) == []
    assert list(await diagnostics_for(client, huge, 1)) == []
    text = messages(client)
    assert "looks binary" in text and "maxDocumentBytes" in text
    # shrinking the huge document below the limit brings it back
    since = mark(client)
    change(client, huge, 2, ("A lovely film.",))
    assert (await diagnostics_for(client, huge, 2, since))[0].source == "incls"
    assert await server_text(client, huge) == "A lovely film."


@pytest.mark.asyncio(loop_scope="function")
async def test_malformed_params_do_not_stop_the_server():
    """Raw JSON (a typed client library refuses to send such messages)."""
    import asyncio
    import queue

    from incls.bench.client import StdioClient, is_diagnostics

    raw = StdioClient()
    try:
        raw.initialize()
        raw.notify("textDocument/didChange", {"textDocument": {"uri": 7}, "contentChanges": "nope"})
        raw.notify("textDocument/didOpen", {"textDocument": None})
        raw.notify("textDocument/didOpen", {"textDocument": {"uri": "file:///x", "text": 3, "version": "one"}})
        # pygls logs a request it cannot read and sends no reply: wait briefly, then carry on
        with pytest.raises((RuntimeError, queue.Empty)):
            await asyncio.to_thread(raw.request, "textDocument/hover", {"position": "here"}, 3)
        raw.open("file:///bad/after-malformed.txt", TEXT)
        _, message = await asyncio.to_thread(raw.wait_for, is_diagnostics("file:///bad/after-malformed.txt", 1), 120)
        assert message["params"]["diagnostics"][0]["source"] == "incls"
    finally:
        raw.close()
