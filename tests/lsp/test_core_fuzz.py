"""Random change sequences on the server's core: text, tokens and diagnostics stay exact.

After any sequence of incremental and whole-text changes (emoji, combining marks,
CRLF), the core's text equals the expected text, its token ids equal the tokenizer's,
and its diagnostics equal those of a fresh open of the same text.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from incls.lsp import present
from incls.reading.core import Change, Core
from incls.reading.settings import Settings

from lsp_helpers import random_range, utf16_position

PIECES = [
    "good",
    " bad",
    " film",
    ".",
    " ",
    "\n",
    "\r\n",
    "\n\n",
    "\r\n\r\n",
    "é",
    "e\u0301",
    "👍🏽",
    "🇫🇷",
    "中文",
    "'s",
    " not",
    "!",
]
texts = st.lists(st.sampled_from(PIECES), max_size=12).map("".join)
SETTINGS = Settings(sentenceThreshold=0.0)

_loaded = {}


def model_and_tokenizer():
    if not _loaded:
        from incls.model.base import load_tokenizer
        from incls.model.checkpoint import load_model

        _loaded["tokenizer"], _loaded["model"] = load_tokenizer(), load_model()
    return _loaded["tokenizer"], _loaded["model"]


def fresh_core() -> Core:
    if "core" not in _loaded:
        _loaded["core"] = Core(SETTINGS)
        _loaded["core"].load(*model_and_tokenizer())
    return _loaded["core"]


@st.composite
def change_for(draw, text: str):
    if draw(st.integers(0, 4)) == 0:
        return Change(draw(texts))  # a whole-text change, as Vim's ALE sends
    return Change(draw(texts), random_range(draw, text, 6))


def expected_after(text: str, change: Change) -> str:
    if change.range is None:
        return change.text
    (l0, c0), (l1, c1) = change.range

    def offset(line, character):
        for k in range(len(text) + 1):
            if utf16_position(text, k) == (line, character) and not (
                0 < k < len(text) and text[k - 1] == "\r" and text[k] == "\n"
            ):
                return k
        raise AssertionError("position not found")

    return text[: offset(l0, c0)] + change.text + text[offset(l1, c1) :]


def shown(core: Core, uri: str):
    report = core.compute(uri)
    diags = present.diagnostics(report, core.settings, set(), core.encoding)
    return report, [(d.range, d.code, d.severity, d.message[:9]) for d in diags]


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
            core.compute("file:///a")  # sometimes the model sees each version, sometimes a burst
        elif data.draw(st.booleans()):
            core.follow("file:///a")  # or only the tokens follow the text
        else:
            continue
        assert (
            core.document("file:///a").tokens is None
            or core.document("file:///a").tokens.ids == tokenizer.encode(text).ids
        )
    report, diags = shown(core, "file:///a")
    assert core.document("file:///a").tokens.ids == tokenizer.encode(text).ids
    core.open("file:///b", text, 1)
    fresh_report, fresh_diags = shown(core, "file:///b")
    core.close("file:///b")
    assert diags == fresh_diags
    assert all(abs(a - b) < 1e-3 for a, b in zip(report.probabilities, fresh_report.probabilities))
