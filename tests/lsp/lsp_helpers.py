"""Helpers for the language-server tests: the real server over stdio, real messages."""

from __future__ import annotations

import asyncio
import sys

from lsprotocol import types

SERVER = [sys.executable, "-m", "incls.cli", "--stdio"]


CAPABILITIES = types.ClientCapabilities(
    window=types.WindowClientCapabilities(work_done_progress=True),
    workspace=types.WorkspaceClientCapabilities(configuration=True),
    text_document=types.TextDocumentClientCapabilities(
        hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
        publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True),
        code_action=types.CodeActionClientCapabilities(),
    ),
)


async def diagnostics_for(client, uri: str, version: int, timeout: float = 30.0):
    """Wait for the diagnostics the server publishes for `version` of `uri` (earlier ones are skipped)."""
    async def wait():
        while True:
            params = await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            if params.uri == uri and params.version == version:
                return params.diagnostics

    return await asyncio.wait_for(wait(), timeout)


def open_doc(client, uri: str, text: str, version: int = 1) -> None:
    client.text_document_did_open(types.DidOpenTextDocumentParams(
        types.TextDocumentItem(uri=uri, language_id="plaintext", version=version, text=text)))


def change(client, uri: str, version: int, *changes) -> None:
    """changes: (text,) for the whole text, or (text, (l0, c0), (l1, c1)) for a range."""
    events = []
    for c in changes:
        if len(c) == 1:
            events.append(types.TextDocumentContentChangeWholeDocument(text=c[0]))
        else:
            (l0, c0), (l1, c1) = c[1], c[2]
            events.append(types.TextDocumentContentChangePartial(
                range=types.Range(types.Position(l0, c0), types.Position(l1, c1)), text=c[0]))
    client.text_document_did_change(types.DidChangeTextDocumentParams(
        types.VersionedTextDocumentIdentifier(uri=uri, version=version), events))
