"""End to end over stdio: the real `incls --stdio` server and the shipped model."""

from __future__ import annotations

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_helpers import CAPABILITIES, SERVER, change, diagnostics_for, open_doc

REVIEW = ("This film was a delight from start to finish.\n\n"
          "The acting is superb and the story kept me hooked.\n\n"
          "I would watch it again.")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), scope="module", loop_scope="module")
async def client(lsp_client: LanguageClient):
    await lsp_client.initialize_session(types.InitializeParams(
        capabilities=CAPABILITIES, initialization_options={"incls": {"paragraphThreshold": 0.0}}))
    yield
    await lsp_client.shutdown_session()


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
