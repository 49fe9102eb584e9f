"""The must-show readings end to end over stdio, at the settings a user starts with.

The other server tests lower `sentenceThreshold` to see every hint; these use none of that:
a user who installs incls and opens a complaint letter or a cheerful update with one
annoyed sentence sees what is asserted here.
"""

from __future__ import annotations

import pytest
from pytest_lsp import LanguageClient

from lsp_helpers import COMPLAINT_LETTER, TEAM_UPDATE, diagnostics_for, open_doc

LETTER = COMPLAINT_LETTER


pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.mark.trained
async def test_a_complaint_letter_reads_negative_with_its_complaint_pointed_out(client: LanguageClient):
    uri = "file:///tmp/letter-trained.txt"
    open_doc(client, uri, LETTER)
    diags = await diagnostics_for(client, uri, 1)
    assert diags[0].code == "negative"
    carrying = [d for d in diags if d.data and d.data.get("role") == "carries"]
    assert any(d.range.start.line == 2 for d in carrying)


@pytest.mark.trained
async def test_a_cheerful_update_reads_positive_with_the_annoyed_sentence_against_it(client: LanguageClient):
    uri = "file:///tmp/update.txt"
    open_doc(client, uri, TEAM_UPDATE)
    diags = await diagnostics_for(client, uri, 1)
    assert diags[0].code == "positive"
    against = [d for d in diags if d.data and d.data.get("role") == "against"]
    assert [d.range.start.line for d in against] == [4] and against[0].code == "negative"
