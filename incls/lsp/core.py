"""The server's core: open documents, their text and tokens, and their model sessions.

No LSP here: handlers in `server.py` call these methods and turn reports into
diagnostics. Threading: text changes arrive on the event loop (`open`, `change`,
`close`), are turned into token edits at once (cheap) and composed into one pending
edit per document; the model runs on one worker thread (`compute`), which takes the
pending edit under the lock, so a burst of keystrokes costs one model update. Only the
worker touches sessions, so the model needs no lock.

Exact text: `Document.text` is what the client sent, lone UTF-16 halves included
(`incls.text.surrogates`); the tokenizer reads the same text with U+FFFD for a lone
half, so code-point offsets agree. A change that cannot be applied exactly (a range
outside the text) marks the document out of sync: it is not classified, and range
changes are refused, until the client sends the whole text again.

Bounded work: a document is tokenized off the lock, one over `maxDocumentTokens` is not
classified, and a long one is built chunk by chunk (`SessionBuild`), one chunk per
`compute` call, so the worker can serve other documents between chunks. Per keystroke
nothing here walks the whole document: the line index, the UTF-8 size and the token
spans are updated around the edit, and the worker takes the text, its token ends and its
line index under the lock by reference (each edit makes new ones: `TokenizedText`,
`LineIndex.edited`), never by copy. Each version of a document has one `LineIndex`,
which its report carries, so diagnostics, hover and code actions on that report never
index the text again.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import torch

from ..engine import ChunkedSession
from ..text import InvalidPosition, LineIndex, TextEdit, TokenEdit, TokenizedText, diff_texts, prose
from ..text.positions import units
from ..text.projection import IncrementalProjection
from ..text.surrogates import for_model, joined, split_pair
from ..text.tokens import TokenBytes
from .binary import looks_binary
from .evidence import Evidence, Ledger, Span, Votes, then
from .sessions import SessionBuild, SessionFactory, paragraph_breaks
from .settings import Settings

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from ..model.transformer import VQTransformer

log = logging.getLogger(__name__)

NOTHING_TO_READ = "not classified: nothing is left to read once code and markup are set aside"


class ChangeRejected(ValueError):
    """A change that cannot be applied; the document keeps its last good state."""


@dataclass(frozen=True)
class Change:
    """One content change: `range` is ((line, char), (line, char)) in client units, or None for the whole text."""

    text: str
    range: tuple[tuple[int, int], tuple[int, int]] | None = None


@dataclass
class PendingEdit:
    """Token edits since the session last saw the document, composed: ids[start:old_end] -> current[start:new_end]."""

    start: int
    old_end: int
    new_end: int

    def then(self, edit: TokenEdit) -> PendingEdit:
        start = min(self.start, edit.start)
        reach = max(self.new_end, edit.end)
        old_end = reach - (self.new_end - self.old_end)
        return PendingEdit(start, old_end, reach + len(edit.new_ids) - (edit.end - edit.start))


@dataclass
class Document:
    uri: str
    text: str  # exactly the client's text
    version: int | None
    lines: LineIndex = field(init=False)  # of `text`: a new one for each version (`LineIndex.edited`; set on open)
    size: int = 0  # UTF-8 bytes of `text`
    nuls: int = 0  # NUL characters in `text`
    tokens: TokenizedText | None = None
    skip_reason: str | None = None
    skip_kind: str | None = None  # what kind of problem skip_reason is (stable, to show it once)
    out_of_sync: bool = False  # a change could not be applied: waiting for the whole text
    pending: PendingEdit | None = None
    pending_chars: Span | None = None  # the prose range changed since the evidence last saw it
    ledger: tuple | None = None  # (session, Ledger): per-sentence evidence, valid for that session
    changed_at: float | None = None  # arrival of the oldest change the model has not seen
    session: object | None = None
    session_mode: tuple | None = None
    build: SessionBuild | None = None  # a session being built, chunk by chunk
    over_cap: int | None = None  # a prefix of this many code points is over maxDocumentTokens
    last_used: int = 0
    kind: str = "plaintext"  # the projection: "plaintext", "markdown" or "latex"
    projection: IncrementalProjection | None = None  # of the text with lone halves replaced (None: plain text)
    read: tuple | None = None  # (session, Report) of the last reading, in the projection's offsets

    @property
    def prose(self) -> str:
        """The text the model reads (lone UTF-16 halves as U+FFFD)."""
        return for_model(self.text) if self.projection is None else self.projection.text

    def report(self, **fields) -> Report:
        """A report on this document's current version (its text and that text's line index)."""
        return Report(self.uri, self.version, self.text, lines=self.lines, **fields)


@dataclass
class Report:
    """What the model says about one version of one document."""

    uri: str
    version: int | None
    text: str
    labels: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()
    evidence: Evidence | None = None
    empty: bool = False  # nothing but whitespace: no tone to show
    tokens: int = 0
    latency_ms: float | None = None
    compute_ms: float = 0.0
    engine_ms: float = 0.0  # of compute_ms, the time in the engine's update
    ops: int | None = None
    ops_full: int | None = None
    skip_reason: str | None = None
    skip_kind: str | None = None
    incremental: bool = False
    more: bool = False  # the model is still working on this document (no reading yet)
    anchor: int = 0  # where the text the model reads begins in the source (the document diagnostic's line)
    lines: LineIndex | None = None  # the line index of `text`: the document's for that version

    def line_index(self, encoding: str) -> LineIndex:
        """The line index of `text`: the document's own for this version, or (a report made
        without one) a new one."""
        if self.lines is not None and self.lines.encoding == encoding:
            return self.lines
        return LineIndex(self.text, encoding)

    @property
    def label(self) -> str | None:
        if not self.probabilities:
            return None
        return self.labels[max(range(len(self.probabilities)), key=self.probabilities.__getitem__)]


# a long document's prefix of this many characters per allowed token is tokenized first: when
# that alone is over the limit, so is the document, and the rest is never tokenized
PROBE_CHARS_PER_TOKEN = 6


def utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class Core:
    """Documents and sessions of one server (or of `incls check`)."""

    def __init__(self, settings: Settings = Settings(), encoding: str = "utf-16") -> None:
        self.settings = settings
        self.encoding = encoding
        self.documents: dict[str, Document] = {}
        self.lock = threading.Lock()
        self.tokenizer: Tokenizer | None = None
        self.model: VQTransformer | None = None
        self.factory: SessionFactory | None = None
        self._clock = 0

    # -- set-up (worker thread) -------------------------------------------------------

    def load(self, tokenizer, model) -> None:
        """Install the tokenizer and model; documents opened before are tokenized on demand.

        The model runs on one thread (INCLS_TORCH_THREADS to change): an editor's machine
        is busy with other work, and on a loaded machine two threads were ten times slower.
        """
        import os

        torch.set_num_threads(int(os.environ.get("INCLS_TORCH_THREADS", "1")))
        token_bytes = TokenBytes.of(tokenizer)
        factory = SessionFactory(model, paragraph_breaks(token_bytes))
        with self.lock:
            self.tokenizer, self.model, self.factory = tokenizer, model, factory
            for doc in self.documents.values():  # a new model: every session is rebuilt
                doc.session, doc.pending, doc.build = None, None, None
                doc.changed_at = doc.changed_at or time.perf_counter()

    # -- text (event loop) ------------------------------------------------------------

    def open(self, uri: str, text: str, version: int | None, language: str | None = None) -> None:
        with self.lock:
            doc = Document(uri, text, version, changed_at=time.perf_counter(), kind=prose.kind_of(language))
            self._reset_text(doc, text)
            self.documents[uri] = doc
            self._check_limits(doc)

    def _reset_text(self, doc: Document, text: str) -> None:
        doc.text, doc.lines, doc.over_cap = text, LineIndex(text, self.encoding), None
        doc.size, doc.nuls = utf8_size(text), text.count("\x00")
        doc.tokens, doc.session, doc.pending, doc.build = None, None, None, None
        self._project(doc)

    def _project(self, doc: Document) -> None:
        """(Re)build the document's projection; the tokens and session follow it."""
        s = self.settings
        doc.projection = prose.projection(
            doc.kind, for_model(doc.text), s.markdownNodes, s.latexCommands, s.latexEnvironments
        )
        doc.tokens, doc.session, doc.pending, doc.build = None, None, None, None

    def close(self, uri: str) -> bool:
        with self.lock:
            return self.documents.pop(uri, None) is not None

    def change(self, uri: str, version: int | None, changes: list[Change]) -> None:
        """Apply the changes of one didChange in order; raise ChangeRejected on the first bad one.

        Changes before the bad one stay applied (they were valid against the text they
        were meant for); the bad one and the rest are dropped, and the document keeps
        a consistent text and token state.
        """
        with self.lock:
            doc = self.documents.get(uri)
            if doc is None:
                raise ChangeRejected(f"change to a document that is not open: {uri}")
            if version is not None and doc.version is not None and version < doc.version:
                raise ChangeRejected(f"{uri}: version {version} is older than {doc.version}; change ignored")
            try:
                for change in changes:
                    if change.range is None:
                        self._resync(doc, change.text)
                        continue
                    if doc.out_of_sync:
                        raise ChangeRejected(
                            f"{uri}: out of sync with the editor; waiting for its whole text "
                            "(close and reopen the file)"
                        )
                    try:
                        edit = self._text_edit(doc, change)
                    except ChangeRejected as exc:
                        self._lose_sync(doc)
                        raise ChangeRejected(
                            f"{uri}: {exc}; the document is out of sync and not classified "
                            "until the editor sends its whole text (close and reopen the file)"
                        ) from None
                    self._apply(doc, edit)
            finally:
                doc.version = version if version is not None else doc.version
                self._check_limits(doc)

    def _text_edit(self, doc: Document, change: Change) -> TextEdit:
        assert change.range is not None  # a whole-text change is not an edit
        try:
            start = self._offset(doc, *change.range[0])
            end = self._offset(doc, *change.range[1])
        except InvalidPosition as exc:
            raise ChangeRejected(f"invalid range {change.range}: {exc}") from None
        if end < start:
            raise ChangeRejected(f"invalid range {change.range}: the end is before the start")
        return TextEdit(start, end, change.text)

    def _offset(self, doc: Document, line: int, character: int) -> int:
        """The offset of a position; a UTF-16 position between the halves of a character
        splits it into its two halves first (the client is editing one of them)."""
        offset = doc.lines.offset(line, character)
        if (
            self.encoding == "utf-16"
            and offset < len(doc.text)
            and ord(doc.text[offset]) > 0xFFFF
            and units(doc.text[doc.lines.line_start(line) : offset], "utf-16") < character
        ):
            self._apply(doc, TextEdit(offset, offset + 1, split_pair(doc.text[offset])), join=False)
            return offset + 1
        return offset

    def _apply(self, doc: Document, edit: TextEdit, join: bool = True) -> None:
        """Apply one edit to the text, its line index, size and tokens; halves that meet are joined."""
        edit = joined(doc.text, edit) if join else edit
        removed = doc.text[edit.start : edit.end]
        text = edit.apply(doc.text)
        doc.lines = doc.lines.edited(edit.start, edit.end, text)
        doc.size += utf8_size(edit.text) - utf8_size(removed)
        doc.nuls += edit.text.count("\x00") - removed.count("\x00")
        doc.text = text
        if doc.over_cap is not None and edit.start <= doc.over_cap:
            doc.over_cap = None  # the probed prefix changed: count again
        read_edit = TextEdit(edit.start, edit.end, for_model(edit.text))
        model_edit: TextEdit | None = read_edit
        if doc.projection is not None:  # the model reads the projection: pass on the edit of it
            model_edit = doc.projection.apply(read_edit)
            if model_edit.start == model_edit.end and not model_edit.text:
                model_edit = None  # inside code or markup: nothing the model reads changed
        if model_edit is not None and doc.tokens is not None:
            try:
                token_edit = doc.tokens.apply(model_edit)
            except ValueError:  # the tokens no longer follow the text: tokenize it afresh
                log.exception("incls: re-tokenizing %s after a failed token update", doc.uri)
                doc.tokens, doc.session, doc.pending, doc.build = None, None, None, None
            else:
                if not token_edit.is_noop:
                    start = PendingEdit(token_edit.start, token_edit.start, token_edit.start)
                    doc.pending = (doc.pending or start).then(token_edit)
                doc.pending_chars = then(doc.pending_chars, model_edit.start, model_edit.end, len(model_edit.text))
        if doc.changed_at is None:
            doc.changed_at = time.perf_counter()

    def _resync(self, doc: Document, text: str) -> None:
        """A whole-text change: the smallest edit to it, or a fresh start when out of sync."""
        if doc.out_of_sync:
            doc.out_of_sync = False
            self._reset_text(doc, text)
            doc.changed_at = doc.changed_at or time.perf_counter()
            return
        self._apply(doc, diff_texts(doc.text, text))

    def _lose_sync(self, doc: Document) -> None:
        doc.out_of_sync = True
        doc.tokens, doc.session, doc.pending, doc.build = None, None, None, None

    def _check_limits(self, doc: Document) -> None:
        """Mark a document too large, binary or out of sync (dropping its model state), or clear the mark."""
        kind, reason = None, None
        if doc.out_of_sync:
            kind, reason = (
                "out-of-sync",
                (
                    "not classified: out of sync with the editor after a change that "
                    "could not be applied; close and reopen the file"
                ),
            )
        elif doc.size > self.settings.maxDocumentBytes:
            kind, reason = (
                "too-large",
                (
                    f"not classified: the document is {doc.size:,} bytes, over "
                    f"incls.maxDocumentBytes ({self.settings.maxDocumentBytes:,})"
                ),
            )
        elif looks_binary(doc.text, doc.nuls):
            kind, reason = "binary", "not classified: the document looks binary"
        elif doc.over_cap is not None or (
            doc.tokens is not None and len(doc.tokens.ids) > self.settings.maxDocumentTokens
        ):
            kind, reason = (
                "too-many-tokens",
                (
                    f"not classified: the document is over incls.maxDocumentTokens "
                    f"({self.settings.maxDocumentTokens:,} tokens)"
                ),
            )
        if kind in ("out-of-sync", "too-large", "binary"):
            doc.tokens = None
        if kind:
            doc.session, doc.pending, doc.build = None, None, None
        elif doc.skip_reason:
            doc.changed_at = doc.changed_at or time.perf_counter()
        doc.skip_kind, doc.skip_reason = kind, reason

    # -- model (worker thread) ----------------------------------------------------------

    def compute(self, uri: str) -> Report | None:
        """One bounded step of model work on a document; None if the document is gone.

        The report reads the document's newest version, or says `more` when the step
        only tokenized it or built one chunk of its session (call again).
        """
        started = time.perf_counter()
        with self.lock:
            doc = self.documents.get(uri)
            if doc is None:
                return None
            if self.model is not None and doc.tokens is None and not doc.skip_reason:
                if (early := self._tokenize(doc)) is not None:
                    return early
            report = doc.report(skip_reason=doc.skip_reason, skip_kind=doc.skip_kind)
            if self.model is None:
                return report
            assert self.factory is not None  # loaded with the model
            if doc.skip_reason:
                doc.changed_at = None
                return report
            if doc.projection is not None and (not doc.prose or doc.prose.isspace()):
                doc.changed_at = None
                report.skip_reason = NOTHING_TO_READ
                return report
            mode = (self.settings.fullRecompute, self.settings.chunkTokens)
            rebuild = doc.session is None or doc.session_mode != mode or self.factory.outgrown(doc.session, mode[1])
            if not rebuild and doc.pending is None and doc.read is not None and doc.read[0] is doc.session:
                changed_at, doc.changed_at = doc.changed_at, None
                report = _unchanged(doc.read[1], report)  # e.g. a keystroke in a code block: no model work
                if doc.projection is not None:
                    _to_source(report, doc.projection)
                report.latency_ms = None if changed_at is None else (time.perf_counter() - changed_at) * 1000
                return report
            if rebuild and (doc.build is None or doc.build.mode != mode):
                assert doc.tokens is not None  # tokenized above, or skipped
                doc.build = SessionBuild(self.factory, list(doc.tokens.ids), mode)
                doc.pending = None  # edits from here on are relative to the build's ids
            build = doc.build if rebuild else None
            self._clock += 1
            doc.last_used = self._clock
        if build is not None and (early := self._build_step(doc, build, report)) is not None:
            return early
        return self._update(doc, started)

    def _tokenize(self, doc: Document) -> Report | None:
        """Under the lock, which it releases meanwhile: tokenize the document (a long one
        takes a while), or find that a prefix alone is over maxDocumentTokens. A report
        to return at once (`more`: call again), or None to go on."""
        text, cap = doc.prose, self.settings.maxDocumentTokens
        probe = PROBE_CHARS_PER_TOKEN * cap
        tokenizer = self.tokenizer
        assert tokenizer is not None  # called once the model is loaded
        self.lock.release()
        try:
            over = len(text) > probe and len(tokenizer.encode(text[:probe]).ids) > cap + 1
            tokens = None if over else TokenizedText(tokenizer, text)
        finally:
            self.lock.acquire()
        if self.documents.get(doc.uri) is not doc:  # closed meanwhile
            return doc.report()
        if doc.tokens is not None or doc.skip_reason:  # changed meanwhile: start over
            return doc.report(more=True)
        if tokens is None:
            doc.over_cap = probe
            self._check_limits(doc)
            return doc.report(more=True)
        if doc.prose != text:  # edited meanwhile
            tokens.apply(diff_texts(tokens.text, doc.prose))
        doc.tokens, doc.session, doc.pending, doc.build = tokens, None, None, None
        self._check_limits(doc)
        return None

    def _build_step(self, doc: Document, build: SessionBuild, report: Report) -> Report | None:
        """Build one more part of the document's session (off the lock); a report to return
        at once while it is not done, None once it is (it is then the document's session)."""
        try:
            done = build.step()
        except Exception:
            log.exception("incls: building the model state of %s failed", doc.uri)
            with self.lock:
                doc.build = None
            raise
        with self.lock:
            if self.documents.get(doc.uri) is not doc:
                return None
            if doc.build is not build or not done:
                report.more = True
                return report
            doc.build, doc.session, doc.session_mode = None, build.session, build.mode
        return None

    def _update(self, doc: Document, started: float) -> Report | None:
        """Apply the edits since the last update to the session and read it."""
        with self.lock:
            if self.documents.get(doc.uri) is not doc:
                return None
            session = doc.session
            if session is None:  # evicted meanwhile: rebuilt by the next step
                return doc.report(more=True)
            assert doc.tokens is not None and self.model is not None and self.factory is not None  # a session's makings
            report = doc.report()
            changed_at, doc.changed_at = doc.changed_at, None
            pending, doc.pending = doc.pending, None
            chars, doc.pending_chars = doc.pending_chars, None
            pending_ids = tuple(doc.tokens.ids[pending.start : pending.new_end]) if pending else ()
            # references, not copies: an edit replaces these arrays, it never writes into them
            char_ends, text = doc.tokens.char_ends, doc.tokens.text  # the model's text: lone halves replaced
            if doc.ledger is not None and doc.ledger[0] is session:
                ledger, fresh = doc.ledger[1], False
            else:  # a new session: its evidence is read afresh
                ledger, fresh = Ledger(self.model.cfg.n_classes), True
                doc.ledger = (session, ledger)
        try:
            stats = None
            if pending:
                engine_started = time.perf_counter()
                stats = self.factory.apply(session, TokenEdit(pending.start, pending.old_end, pending_ids))
                report.engine_ms = (time.perf_counter() - engine_started) * 1000
            votes = Votes.of(session, self.model.cfg.n_classes)
            if fresh:
                ledger.rebuild(text, char_ends, votes)
            else:
                ledger.update(text, char_ends, votes, chars, pending, getattr(stats, "voted", None))
            report = self._read(report, session, ledger, text, stats)
            report.evidence = ledger.snapshot(report.labels)
        except Exception:  # a model failure must not take the server down; rebuild next time
            log.exception("incls: model update failed for %s", doc.uri)
            with self.lock:
                doc.session, doc.ledger = None, None
            raise
        with self.lock:
            if self.documents.get(doc.uri) is doc and doc.session is session:
                doc.read = (session, replace(report))
                if doc.projection is not None and doc.version == report.version:
                    _to_source(report, doc.projection)
            self._evict()
        report.compute_ms = (time.perf_counter() - started) * 1000
        report.latency_ms = None if changed_at is None else (time.perf_counter() - changed_at) * 1000
        return report

    def _read(self, report: Report, session, ledger: Ledger, text: str, stats) -> Report:
        """The document's probabilities and counts. A chunked session's own `document_logits`
        sums every chunk's votes (O(document) per keystroke); the ledger, just brought up to
        date, holds the same votes summed per sentence, and its units tile the tokens, so
        their sum is the same mean at the cost of one sum over the units."""
        assert self.model is not None  # a session is read once the model is loaded
        labels = tuple(self.model.cfg.labels)
        logits = ledger.logits() if isinstance(session, ChunkedSession) else None
        with torch.no_grad():
            logits = session.document_logits() if logits is None else logits
            probs = logits.float().softmax(-1).tolist()
        report.labels, report.probabilities = labels, tuple(probs)
        report.tokens = ledger.n_tokens
        report.empty = not text.strip()
        report.incremental = not self.settings.fullRecompute
        if stats is not None:
            report.ops, report.ops_full = getattr(stats, "ops", None), getattr(stats, "ops_full", None)
        return report

    def _evict(self) -> None:
        """Keep at most maxSessions sessions: drop the least recently used (rebuilt on demand)."""
        live = [d for d in self.documents.values() if d.session is not None]
        if len(live) <= self.settings.maxSessions:
            return
        for doc in sorted(live, key=lambda d: d.last_used)[: len(live) - self.settings.maxSessions]:
            doc.session, doc.pending, doc.ledger = None, None, None

    def update_settings(self, settings: Settings) -> None:
        with self.lock:
            cap_changed = settings.maxDocumentTokens != self.settings.maxDocumentTokens
            reproject = _projection_settings(settings) != _projection_settings(self.settings)
            self.settings = settings
            for doc in self.documents.values():
                doc.over_cap = None if cap_changed else doc.over_cap
                if reproject and doc.kind != "plaintext":
                    self._project(doc)
                self._check_limits(doc)

    # -- queries (event loop) -------------------------------------------------------------

    def document(self, uri: str) -> Document | None:
        return self.documents.get(uri)

    def touch(self, uri: str) -> None:
        """Mark a document changed so that its next report is published (after a setting changes)."""
        with self.lock:
            doc = self.documents.get(uri)
            if doc is not None and doc.changed_at is None:
                doc.changed_at = time.perf_counter()


def _projection_settings(s: Settings) -> tuple:
    return s.markdownNodes, s.latexCommands, s.latexEnvironments


def _unchanged(read: Report, report: Report) -> Report:
    """The last reading of a session, for a new version of the document whose prose it still is."""
    return replace(
        read,
        uri=report.uri,
        version=report.version,
        text=report.text,
        lines=report.lines,
        ops=None,
        ops_full=None,
        latency_ms=None,
        compute_ms=0.0,
        skip_reason=None,
    )


def _to_source(report: Report, projection) -> None:
    """Sentence ranges and the anchor, from the projection's offsets to the source's."""
    if report.evidence is not None:
        report.evidence = report.evidence.in_source(projection.source_map())
    first = re.search(r"\S", projection.text)
    report.anchor = projection.source_offset(first.start()) if first else 0
