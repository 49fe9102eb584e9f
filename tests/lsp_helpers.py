"""Helpers for the language-server tests: the real server over stdio, real messages."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from hypothesis import strategies as st
from lsprotocol import types

from incls.lsp import present
from incls.reading.core import Change, Core
from incls.reading.settings import Settings

SERVER = [sys.executable, "-m", "incls.cli", "--stdio"]

# A courteous complaint with a greeting and a signature (hints must land on the complaint); the
# live editor tests read the same file.
COMPLAINT_LETTER = (Path(__file__).parent / "data" / "complaint_letter.txt").read_text(encoding="utf-8")
# A cheerful team update with one annoyed paragraph (it reads positive, the annoyed sentence against it).
TEAM_UPDATE = (Path(__file__).parent / "data" / "team_update.txt").read_text(encoding="utf-8")


CAPABILITIES = types.ClientCapabilities(
    window=types.WindowClientCapabilities(work_done_progress=True),
    workspace=types.WorkspaceClientCapabilities(configuration=True),
    text_document=types.TextDocumentClientCapabilities(
        hover=types.HoverClientCapabilities(content_format=[types.MarkupKind.Markdown]),
        publish_diagnostics=types.PublishDiagnosticsClientCapabilities(version_support=True),
        code_action=types.CodeActionClientCapabilities(),
    ),
)


async def start_session(client, options: dict | None = None) -> None:
    """Record notifications, then initialize with the test capabilities and `options`."""
    record_notifications(client)
    await client.initialize_session(types.InitializeParams(capabilities=CAPABILITIES, initialization_options=options))


def utf16_position(text: str, offset: int) -> tuple[int, int]:
    """(line, UTF-16 character) of a code-point offset. Independent of the code under test:
    split lines the protocol's way, count UTF-16 units."""
    lines = re.split(r"\r\n|\r|\n", text[:offset])
    return len(lines) - 1, len(lines[-1].encode("utf-16-le")) // 2


def random_range(draw, text: str, longest: int) -> tuple[tuple[int, int], tuple[int, int]]:
    """A hypothesis-drawn range of at most `longest` code points, in LSP positions (never
    between a \r and its \n, where no LSP position lies)."""
    start = draw(st.integers(0, len(text)))
    end = draw(st.integers(start, min(len(text), start + longest)))
    if 0 < start < len(text) and text[start - 1] == "\r" and text[start] == "\n":
        start += 1
    end = max(end, start)
    if 0 < end < len(text) and text[end - 1] == "\r" and text[end] == "\n":
        end += 1
    return utf16_position(text, start), utf16_position(text, end)


def record_notifications(client) -> None:
    """Keep every publishDiagnostics and incls/status the server sends, in order.

    (Waiting for "the next" notification misses the ones that arrive between waits.)
    """
    client.published = []
    client.statuses = []

    features = client.protocol.fm.features
    default = features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS]

    def on_diagnostics(params: types.PublishDiagnosticsParams):
        default(params)
        client.published.append(params)

    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = on_diagnostics

    @client.feature("incls/status")
    def on_status(ls, params):
        ls.statuses.append(plain(params))


def plain(value):
    """pygls hands custom notifications over as named tuples: back to dicts and lists."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def mark(client) -> int:
    """A point in the notification record: wait for what arrives after it."""
    return len(client.published)


async def diagnostics_for(client, uri: str, version: int | None, since: int = 0, timeout: float = 60.0):
    """The diagnostics published for `version` of `uri` after record index `since`."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        for params in client.published[since:]:
            if params.uri == uri and (version is None or params.version == version):
                return params.diagnostics
        if asyncio.get_running_loop().time() > deadline:
            raise TimeoutError(f"no diagnostics for {uri} version {version}")
        await asyncio.sleep(0.01)


async def status_for(client, uri: str, version: int, timeout: float = 30.0) -> dict:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        found = [s for s in client.statuses if s["uri"] == uri and s.get("version") == version]
        if found:
            return found[-1]
        await asyncio.sleep(0.01)
    raise TimeoutError(f"no incls/status for {uri} version {version}")


def open_doc(client, uri: str, text: str, version: int = 1, language: str = "plaintext") -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=uri, language_id=language, version=version, text=text)
        )
    )


def change(client, uri: str, version: int, *changes) -> None:
    """changes: (text,) for the whole text, or (text, (l0, c0), (l1, c1)) for a range."""
    events = []
    for c in changes:
        if len(c) == 1:
            events.append(types.TextDocumentContentChangeWholeDocument(text=c[0]))
        else:
            (l0, c0), (l1, c1) = c[1], c[2]
            events.append(
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(l0, c0), types.Position(l1, c1)), text=c[0]
                )
            )
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(types.VersionedTextDocumentIdentifier(uri=uri, version=version), events)
    )


# -- documents in Markdown ------------------------------------------------------------

PROSE = (
    "# Release 2.4\n\n"
    "We are delighted with this release: the new editor is wonderful, fast and a joy to use.\n\n"
    "Thanks to everyone who helped, it is the best version we have shipped.\n"
)
CODE = (
    "```python\n"
    'raise Error("terrible failure, awful bug, worst crash, horrible, hateful, disgusting")\n'
    "# awful awful awful terrible terrible terrible\n"
    "```\n"
)


# -- the core on the shipped model, in process --------------------------------------

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

_loaded: dict = {}  # the tokenizer and model, and cores on them, loaded once per test process


def model_and_tokenizer():
    """The shipped tokenizer and model (in that order, as `Core.load` takes them)."""
    if not _loaded:
        from incls.model.base import load_tokenizer
        from incls.model.checkpoint import load_model

        _loaded["tokenizer"], _loaded["model"] = load_tokenizer(), load_model()
    return _loaded["tokenizer"], _loaded["model"]


def fresh_core() -> Core:
    """One shared core on the shipped model, in the fuzz tests' settings."""
    if "core" not in _loaded:
        _loaded["core"] = Core(SETTINGS)
        _loaded["core"].load(*model_and_tokenizer())
    return _loaded["core"]


def core(**changes) -> Core:
    """A core on the shipped model (one per set of settings), positions in code points."""
    key = tuple(sorted(changes.items()))
    if key not in _loaded:
        c = Core(Settings(sentenceThreshold=0.0, **changes), encoding="utf-32")
        c.load(*model_and_tokenizer())
        _loaded[key] = c
    return _loaded[key]


def read(c: Core, uri: str, text: str):
    """Open `text` and read it."""
    c.open(uri, text, 1)
    return step(c, uri)


def step(c: Core, uri: str):
    """Compute until the reading is ready (a long document's session is built chunk by chunk)."""
    while (report := c.compute(uri)).more:
        pass
    return report


def position(text: str, offset: int) -> tuple[int, int]:
    """(line, code point) of an offset."""
    lines = text[:offset].split("\n")
    return len(lines) - 1, len(lines[-1])


@st.composite
def change_for(draw, text: str, pieces: st.SearchStrategy[str] = texts):
    """A change to `text` made of `pieces`: one in five a whole-text change, as Vim's ALE sends."""
    if draw(st.integers(0, 4)) == 0:
        return Change(draw(pieces))
    return Change(draw(pieces), random_range(draw, text, 6))


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
