"""Markers and the `client` fixture for the language-server tests."""

import pytest_lsp
from pytest_lsp import ClientServerConfig, LanguageClient

from lsp_helpers import SERVER, start_session


def pytest_configure(config):
    config.addinivalue_line("markers", "trained: needs the trained model's judgement (run once trained weights ship)")


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER), scope="module", loop_scope="module")
async def client(lsp_client: LanguageClient, request):
    """The real server over stdio, one per test module, initialized with the module's
    `INITIALIZATION_OPTIONS` (none if it has none)."""
    await start_session(lsp_client, getattr(request.module, "INITIALIZATION_OPTIONS", None))
    yield
    await lsp_client.shutdown_session()
