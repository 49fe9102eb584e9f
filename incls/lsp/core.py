"""The server's core: open documents, their text and tokens, and their model sessions.

No LSP here: handlers in `server.py` call these methods and turn reports into
diagnostics. Threading: text changes arrive on the event loop (`open`, `change`,
`close`), are turned into token edits at once (cheap) and composed into one pending
edit per document; the model runs on one worker thread (`compute`), which takes the
pending edit under the lock, so a burst of keystrokes costs one model update. Only the
worker touches sessions, so the model needs no lock.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass, field, replace

import torch

from ..text import InvalidPosition, LineIndex, TextEdit, TokenEdit, TokenizedText, diff_texts
from ..text import prose
from ..text.tokens import TokenBytes
from .paragraphs import ParagraphReading, read_paragraphs, split_paragraphs
from .sessions import SessionFactory, paragraph_breaks
from .settings import Settings

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

    def then(self, edit: TokenEdit) -> "PendingEdit":
        start = min(self.start, edit.start)
        reach = max(self.new_end, edit.end)
        old_end = reach - (self.new_end - self.old_end)
        return PendingEdit(start, old_end, reach + len(edit.new_ids) - (edit.end - edit.start))


@dataclass
class Document:
    uri: str
    text: str
    version: int | None
    tokens: TokenizedText | None = None
    skip_reason: str | None = None
    pending: PendingEdit | None = None
    changed_at: float | None = None  # arrival of the oldest change the model has not seen
    session: object | None = None
    session_mode: tuple | None = None
    last_used: int = 0
    kind: str = "plaintext"  # the projection: "plaintext", "markdown" or "latex"
    projection: object | None = None  # IncrementalProjection: the text the model reads (None: the text itself)
    read: tuple | None = None  # (session, Report) of the last reading, in the projection's offsets

    @property
    def prose(self) -> str:
        return self.text if self.projection is None else self.projection.text


@dataclass
class Report:
    """What the model says about one version of one document."""

    uri: str
    version: int | None
    text: str
    labels: tuple[str, ...] = ()
    probabilities: tuple[float, ...] = ()
    paragraphs: list[ParagraphReading] = field(default_factory=list)
    tokens: int = 0
    latency_ms: float | None = None
    compute_ms: float = 0.0
    ops: int | None = None
    ops_full: int | None = None
    skip_reason: str | None = None
    incremental: bool = False
    anchor: int = 0  # where the text the model reads begins in the source (the document diagnostic's line)

    @property
    def label(self) -> str | None:
        if not self.probabilities:
            return None
        return self.labels[max(range(len(self.probabilities)), key=self.probabilities.__getitem__)]


def looks_binary(text: str) -> bool:
    """NUL characters or a high share of control characters: not prose to classify."""
    if "\x00" in text:
        return True
    sample = text[:4096]
    controls = sum(1 for ch in sample if ord(ch) < 32 and ch not in "\t\n\r\f")
    return bool(sample) and controls / len(sample) > 0.1


class Core:
    """Documents and sessions of one server (or of `incls check`)."""

    def __init__(self, settings: Settings = Settings(), encoding: str = "utf-16") -> None:
        self.settings = settings
        self.encoding = encoding
        self.documents: dict[str, Document] = {}
        self.lock = threading.Lock()
        self.tokenizer = None
        self.model = None
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
        self.factory = SessionFactory(model, paragraph_breaks(token_bytes))
        with self.lock:
            self.tokenizer = tokenizer
            self.model = model

    # -- text (event loop) ------------------------------------------------------------

    def open(self, uri: str, text: str, version: int | None, language: str | None = None) -> None:
        with self.lock:
            doc = Document(uri, text, version, changed_at=time.perf_counter(), kind=prose.kind_of(language))
            self._project(doc)
            self.documents[uri] = doc
            self._check_limits(doc)

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
                    self._apply(doc, self._text_edit(doc.text, change))
            finally:
                doc.version = version if version is not None else doc.version
                self._check_limits(doc)

    def _text_edit(self, text: str, change: Change) -> TextEdit:
        if change.range is None:
            return diff_texts(text, change.text)
        index = LineIndex(text, self.encoding)
        try:
            start, end = index.offset(*change.range[0]), index.offset(*change.range[1])
        except InvalidPosition as exc:
            raise ChangeRejected(f"invalid range {change.range}: {exc}") from None
        if end < start:
            raise ChangeRejected(f"invalid range {change.range}: the end is before the start")
        return TextEdit(start, end, change.text)

    def _project(self, doc: Document) -> None:
        """(Re)build the document's projection; the tokens and session follow it."""
        s = self.settings
        doc.projection = prose.projection(doc.kind, doc.text, s.markdownNodes, s.latexCommands, s.latexEnvironments)
        doc.tokens, doc.session, doc.pending = None, None, None

    def _apply(self, doc: Document, edit: TextEdit) -> None:
        if doc.projection is not None:  # the model reads the projection: pass on the edit of it
            edit = doc.projection.apply(edit)
            doc.text = doc.projection.source
            if edit.start == edit.end and not edit.text:
                edit = None  # inside code or markup: nothing the model reads changed
        if edit is not None and doc.tokens is not None:
            token_edit = doc.tokens.apply(edit)
            if doc.projection is None:
                doc.text = doc.tokens.text
            if not token_edit.is_noop:
                doc.pending = (doc.pending or PendingEdit(token_edit.start, token_edit.start, token_edit.start)).then(token_edit)
        elif doc.projection is None:
            doc.text = edit.apply(doc.text)
        if doc.changed_at is None:
            doc.changed_at = time.perf_counter()

    def _check_limits(self, doc: Document) -> None:
        """Mark a document too large or binary (dropping its tokens and session), or clear the mark."""
        size = len(doc.text.encode("utf-8", errors="replace"))
        reason = None
        if size > self.settings.maxDocumentBytes:
            reason = (f"not classified: the document is {size:,} bytes, over incls.maxDocumentBytes "
                      f"({self.settings.maxDocumentBytes:,})")
        elif looks_binary(doc.text):
            reason = "not classified: the document looks binary"
        if reason:
            doc.tokens, doc.session, doc.pending = None, None, None
        elif doc.skip_reason:
            doc.changed_at = doc.changed_at or time.perf_counter()
        doc.skip_reason = reason

    # -- model (worker thread) ----------------------------------------------------------

    def compute(self, uri: str) -> Report | None:
        """Bring the document's session up to date and read it; None if the document is gone."""
        started = time.perf_counter()
        with self.lock:
            doc = self.documents.get(uri)
            if doc is None:
                return None
            report = Report(uri, doc.version, doc.text, skip_reason=doc.skip_reason)
            if self.model is None:
                return report
            changed_at, doc.changed_at = doc.changed_at, None
            if doc.skip_reason:
                return report
            if doc.projection is not None and (not doc.prose or doc.prose.isspace()):
                report.skip_reason = NOTHING_TO_READ
                return report
            if doc.tokens is None:
                doc.tokens = TokenizedText(self.tokenizer, doc.prose)
                doc.session, doc.pending = None, None
            mode = (self.settings.fullRecompute, self.settings.chunkTokens)
            rebuild = doc.session is None or doc.session_mode != mode or self.factory.outgrown(doc.session, mode[1])
            if not rebuild and doc.pending is None and doc.read is not None and doc.read[0] is doc.session:
                report = _unchanged(doc.read[1], report)  # e.g. a keystroke in a code block: no model work
                if doc.projection is not None:
                    _to_source(report, doc.projection)
                report.latency_ms = None if changed_at is None else (time.perf_counter() - changed_at) * 1000
                return report
            ids = list(doc.tokens.ids)
            pending = None if rebuild else doc.pending
            pending_ids = ids[pending.start:pending.new_end] if pending else None
            doc.pending = None
            byte_ends, text = list(doc.tokens.ends), doc.tokens.text
            self._clock += 1
            doc.last_used = self._clock
            session = doc.session
        try:
            stats = None
            if rebuild:
                session = self.factory.create(ids, mode[0], mode[1])
            elif pending:
                stats = self.factory.apply(session, TokenEdit(pending.start, pending.old_end, tuple(pending_ids)))
            report = self._read(report, session, text, byte_ends, stats)
        except Exception:  # a model failure must not take the server down; rebuild next time
            log.exception("incls: model update failed for %s", uri)
            with self.lock:
                doc.session = None
            raise
        with self.lock:
            if self.documents.get(uri) is doc:  # not closed (or closed and reopened) meanwhile
                doc.session, doc.session_mode = session, mode
                doc.read = (session, replace(report))
                if doc.projection is not None and doc.version == report.version:
                    _to_source(report, doc.projection)
            self._evict()
        report.compute_ms = (time.perf_counter() - started) * 1000
        report.latency_ms = None if changed_at is None else (time.perf_counter() - changed_at) * 1000
        return report

    def _read(self, report: Report, session, text: str, byte_ends: list[int], stats) -> Report:
        from ..text.tokens import char_ends

        labels = tuple(self.model.cfg.labels)
        with torch.no_grad():
            probs = session.document_logits().float().softmax(-1).tolist()
            running = [tuple(r) for r in session.running_logits().float().softmax(-1).tolist()]
        prior = tuple(1.0 / len(labels) for _ in labels)
        report.labels, report.probabilities = labels, tuple(probs)
        report.tokens = len(byte_ends)
        report.paragraphs = read_paragraphs(split_paragraphs(text), char_ends(text.encode("utf-8"), byte_ends),
                                            running, prior)
        report.incremental = not self.settings.fullRecompute
        if stats is not None:
            report.ops, report.ops_full = getattr(stats, "ops", None), getattr(stats, "ops_full", None)
        return report

    def _evict(self) -> None:
        """Keep at most maxSessions sessions: drop the least recently used (rebuilt on demand)."""
        live = [d for d in self.documents.values() if d.session is not None]
        for doc in sorted(live, key=lambda d: d.last_used)[:max(0, len(live) - self.settings.maxSessions)]:
            doc.session, doc.pending = None, None

    def update_settings(self, settings: Settings) -> None:
        with self.lock:
            reproject = _projection_settings(settings) != _projection_settings(self.settings)
            self.settings = settings
            for doc in self.documents.values():
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

    def session_ids(self, uri: str) -> list[int] | None:
        doc = self.documents.get(uri)
        return None if doc is None or doc.session is None else list(doc.session.ids)


def _projection_settings(s: Settings) -> tuple:
    return s.markdownNodes, s.latexCommands, s.latexEnvironments


def _unchanged(read: Report, report: Report) -> Report:
    """The last reading of a session, for a new version of the document whose prose it still is."""
    return replace(read, uri=report.uri, version=report.version, text=report.text, ops=None, ops_full=None,
                   latency_ms=None, compute_ms=0.0, skip_reason=None)


def _to_source(report: Report, projection) -> None:
    """Paragraph ranges and the anchor, from the projection's offsets to the source's."""
    readings = []
    for r in report.paragraphs:
        start, end = projection.source_range(r.paragraph.start, r.paragraph.end)
        readings.append(_moved(r, paragraph=_moved(r.paragraph, start=start, end=end)))
    report.paragraphs = readings
    first = re.search(r"\S", projection.text)
    report.anchor = projection.source_offset(first.start()) if first else 0


def _moved(record, **changes):
    """A copy of a frozen dataclass with some fields changed (what `replace` does, without
    its per-call introspection: this runs for every paragraph of every reading)."""
    new = object.__new__(type(record))
    new.__dict__.update(record.__dict__)
    new.__dict__.update(changes)
    return new
