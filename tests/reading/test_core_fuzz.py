"""Random change sequences on the server's core: text, tokens and diagnostics stay exact.

After any sequence of incremental and whole-text changes (emoji, combining marks,
CRLF), the core's text equals the expected text, its token ids equal the tokenizer's,
and its diagnostics equal those of a fresh open of the same text.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from lsp_helpers import change_for, expected_after, fresh_core, model_and_tokenizer, shown, texts


@settings(max_examples=15, deadline=None)
@given(data=st.data())
def test_random_changes_match_a_fresh_open(data):
    tokenizer, _ = model_and_tokenizer()
    core = fresh_core()
    core.close("file:///a")
    text = data.draw(texts)
    core.open("file:///a", text, 1)
    for version in range(2, 2 + data.draw(st.integers(1, 5))):
        changes = [data.draw(change_for(text))]
        text = expected_after(text, changes[0])
        core.change("file:///a", version, changes)
        assert core.document("file:///a").text == text  # at once, on the event loop
        if data.draw(st.booleans()):
            continue  # sometimes the model sees each version, sometimes a burst
        core.compute("file:///a")
        tokens = core.document("file:///a").model.tokens
        assert tokens is None or tokens.ids == tokenizer.encode(text).ids
    report, diags = shown(core, "file:///a")
    assert core.document("file:///a").model.tokens.ids == tokenizer.encode(text).ids
    core.open("file:///b", text, 1)
    fresh_report, fresh_diags = shown(core, "file:///b")
    core.close("file:///b")
    assert diags == fresh_diags
    assert all(abs(a - b) < 1e-3 for a, b in zip(report.probabilities, fresh_report.probabilities))
