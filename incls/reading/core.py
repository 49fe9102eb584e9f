"""The server's core: open documents, their text and tokens, and their model sessions.

No LSP here: the handlers (`incls.lsp.handlers`) call these methods, and the server
turns reports into diagnostics. Threading: text changes arrive on the event loop (`open`, `change`,
`close`), which keeps only what positions need (the text, its line index, its size) and
queues each change as a text edit; everything that grows with a document runs on the
one worker thread (`compute`): the prose projection and the tokens follow the queued
edits there (`follow`), then the model. The worker takes the queued edits under the
lock, so a burst of keystrokes costs one projection update and one model update, and a
pathological document (a projection that takes seconds) costs its own latency only.
Only the worker touches projections, tokens and sessions, so they need no lock of
their own; the event loop reads them (hover, inspect) and never writes them.

Exact text: `Document.text` is what the client sent, lone UTF-16 halves included
(`incls.text.surrogates`); the tokenizer reads the same text with U+FFFD for a lone
half, so code-point offsets agree. A change that cannot be applied exactly (a range
outside the text) marks the document out of sync: it is not classified, and range
changes are refused, until the client sends the whole text again. A change whose version
is not newer than the document's is applied all the same: the client's text wins.

Bounded work: a document over `maxDocumentTokens` is not classified (a long one is
found so from a prefix, the rest never tokenized), and a long one is built chunk by
chunk (`SessionBuild`), one chunk per `compute` call, so the worker can serve other
documents between chunks; a step that projected or tokenized a long document afresh
ends there, its model work the next step. Memory: sessions kept and first passes under
way count alike against `maxSessions` (the least recently used kept session is dropped
to make room; at most half of them may be long first passes under way, so a small
document always finds room). Per keystroke nothing here walks the whole document: the
line index, the UTF-8 size and the token spans are updated around the edit, and a report
reads the text, token ends and line index by reference (each edit makes new ones:
`TokenizedText`, `LineIndex.edited`), never by copy. Each version of a document has one
`LineIndex`, which its report carries, so diagnostics, hover and code actions on that
report never index the text again.
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
from ..engine.ops import UpdateStats
from ..text import InvalidPosition, LineIndex, TextEdit, TokenEdit, TokenizedText, diff_texts, prose
from ..text.positions import units
from ..text.projection import IncrementalProjection
from ..text.surrogates import for_model, joined, split_pair
from ..text.tokens import TokenBytes
from .binary import looks_binary
from .evidence import Evidence, Ledger, Span, Votes, then
from .messages import shortened
from .sessions import FullStats, ModelSession, SessionBuild, SessionFactory, SessionMode, paragraph_breaks, vote_blocks
from .settings import Settings

if TYPE_CHECKING:
    from tokenizers import Tokenizer

    from ..model.transformer import VQTransformer

log = logging.getLogger(__name__)

NOTHING_TO_READ = "not classified: nothing is left to read once code and markup are set aside"
DROPPED = ("out-of-sync", "too-large", "binary")  # problems for which nothing of the text is kept for the model


class ChangeRejected(ValueError):
    """A change that cannot be applied; the document keeps its last good state."""


@dataclass(frozen=True)
class Change:
    """One content change: `range` is ((line, char), (line, char)) in client units, or None for the whole text."""

    text: str
    range: tuple[tuple[int, int], tuple[int, int]] | None = None


@dataclass(frozen=True)
class Version:
    """One version of a document's text as the client sent it, with its line index."""

    version: int | None
    text: str
    lines: LineIndex


@dataclass(frozen=True)
class OverCap:
    """A prefix of `chars` code points of a document is over `cap` (maxDocumentTokens) tokens."""

    cap: int
    chars: int


@dataclass(frozen=True)
class SessionLedger:
    """A session and its per-sentence evidence (valid for that session only)."""

    session: ModelSession
    ledger: Ledger


@dataclass
class Document:
    """One open document. The event loop owns the text side (`text` to `edits`), the worker
    the model side (`followed` on); each side only reads the other's, under the lock."""

    uri: str
    text: str  # exactly the client's text
    version: int | None
    lines: LineIndex = field(init=False)  # of `text`: a new one for each version (`LineIndex.edited`; set on open)
    size: int = 0  # UTF-8 bytes of `text`
    nuls: int = 0  # NUL characters in `text`
    kind: str = "plaintext"  # the projection: "plaintext", "markdown" or "latex"
    skip_reason: str | None = None
    skip_kind: str | None = None  # what kind of problem skip_reason is (stable, to show it once)
    out_of_sync: bool = False  # a change could not be applied: waiting for the whole text
    edits: list[TextEdit] = field(default_factory=list)  # in the model's code points, not yet followed
    generation: int = 0  # bumped when what the worker keeps of the text is void (a new text, new settings)
    changed_at: float | None = None  # arrival of the oldest change the model has not seen
    # the model side: the version followed, its projection and tokens, the session on them
    followed: int = -1  # the generation `projection` and `tokens` follow (-1: none)
    seen: Version | None = None  # the version they follow
    projection: IncrementalProjection | None = None  # of the text with lone halves replaced (None: plain text)
    tokens: TokenizedText | None = None
    over_cap: OverCap | None = None
    pending: Span | None = None  # token edits since the session last saw the document, composed
    pending_chars: Span | None = None  # the prose range changed since the evidence last saw it
    ledger: SessionLedger | None = None
    session: ModelSession | None = None
    session_mode: SessionMode | None = None
    build: SessionBuild | None = None  # a session being built, chunk by chunk
    last_used: int = 0
    read: Reading | None = None  # the last reading, in the projection's offsets

    @property
    def prose(self) -> str:
        """The text the model reads (lone UTF-16 halves as U+FFFD), as far as the worker followed it."""
        if self.projection is not None:
            return self.projection.text
        return self.tokens.text if self.tokens is not None else for_model(self.text)

    def report(self, **fields) -> Report:
        """A report on this document's current version (its text and that text's line index)."""
        return Report(self.uri, self.version, self.text, lines=self.lines, **fields)

    def report_seen(self, **fields) -> Report:
        """A report on the version the model side follows."""
        seen = self.seen
        assert seen is not None  # followed before any model work
        return Report(self.uri, seen.version, seen.text, lines=seen.lines, **fields)


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
    engine_cpu_ms: float = 0.0  # the CPU time of the model thread in the engine's update
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


@dataclass(frozen=True)
class Reading:
    """The last reading of a session (a report in the projection's offsets)."""

    session: ModelSession
    report: Report


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
                _drop_session(doc)
                doc.changed_at = doc.changed_at or time.perf_counter()

    # -- text (event loop) ------------------------------------------------------------

    def open(self, uri: str, text: str, version: int | None, language: str | None = None) -> None:
        with self.lock:
            doc = Document(uri, text, version, changed_at=time.perf_counter(), kind=prose.kind_of(language))
            self._reset_text(doc, text)
            self.documents[uri] = doc
            self._check_limits(doc)

    def _reset_text(self, doc: Document, text: str) -> None:
        """A new text: what the worker keeps of the old one is void."""
        doc.text, doc.lines = text, LineIndex(text, self.encoding)
        doc.size, doc.nuls = utf8_size(text), text.count("\x00")
        _restart(doc)

    def close(self, uri: str) -> bool:
        with self.lock:
            return self.documents.pop(uri, None) is not None

    def change(self, uri: str, version: int | None, changes: list[Change]) -> None:
        """Apply the changes of one didChange in order; raise ChangeRejected on the first bad one.

        Changes before the bad one stay applied (they were valid against the text they
        were meant for); the bad one and the rest are dropped, and the document keeps
        a consistent text. A version that is not newer than the document's is applied
        all the same (the client's text wins) and logged.
        """
        with self.lock:
            doc = self.documents.get(uri)
            if doc is None:
                raise ChangeRejected(f"change to a document that is not open: {shortened(uri)}")
            if version is not None and doc.version is not None and version <= doc.version:
                log.warning(
                    "incls: %s: version %d after %d; applied all the same (the client's text wins)",
                    shortened(uri),
                    version,
                    doc.version,
                )
            try:
                for change in changes:
                    if change.range is None:
                        self._resync(doc, change.text)
                        continue
                    if doc.out_of_sync:
                        raise ChangeRejected(
                            f"{shortened(uri)}: out of sync with the editor; waiting for its whole text "
                            "(close and reopen the file)"
                        )
                    try:
                        edit = self._text_edit(doc, change)
                    except ChangeRejected as exc:
                        self._lose_sync(doc)
                        raise ChangeRejected(
                            f"{shortened(uri)}: {exc}; the document is out of sync and not classified "
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
            raise ChangeRejected(f"invalid range {shortened(str(change.range))}: {exc}") from None
        if end < start:
            raise ChangeRejected(f"invalid range {shortened(str(change.range))}: the end is before the start")
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
        """Apply one edit to the text, its line index and size (halves that meet are joined),
        and queue it for the worker in the model's code points."""
        edit = joined(doc.text, edit) if join else edit
        removed = doc.text[edit.start : edit.end]
        text = edit.apply(doc.text)
        doc.lines = doc.lines.edited(edit.start, edit.end, text)
        doc.size += utf8_size(edit.text) - utf8_size(removed)
        doc.nuls += edit.text.count("\x00") - removed.count("\x00")
        doc.text = text
        doc.edits.append(TextEdit(edit.start, edit.end, for_model(edit.text)))
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
        _restart(doc)

    def _check_limits(self, doc: Document) -> None:
        """Mark a document too large, binary, out of sync or over maxDocumentTokens, or clear
        the mark. For the first three nothing of the text is kept for the model (the
        worker drops its projection, tokens and session at its next step); over the token
        limit, the tokens are kept (they count) and the session goes."""
        kind, reason = None, None
        cap = self.settings.maxDocumentTokens
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
        elif (doc.over_cap is not None and doc.over_cap.cap == cap) or (
            doc.tokens is not None and len(doc.tokens.ids) > cap
        ):
            kind, reason = (
                "too-many-tokens",
                f"not classified: the document is over incls.maxDocumentTokens ({cap:,} tokens)",
            )
        if kind in DROPPED:
            _restart(doc)
        elif doc.skip_reason and not kind:
            doc.changed_at = doc.changed_at or time.perf_counter()
        doc.skip_kind, doc.skip_reason = kind, reason

    # -- model (worker thread) ----------------------------------------------------------

    def compute(self, uri: str) -> Report | None:
        """One bounded step of work on a document; None if the document is gone.

        The step first brings the projection and tokens up to the text (`follow`); the
        report reads the version they follow, or says `more` when the step only followed
        a long document's new text, built one chunk of its session or waits for room for
        one (call again).
        """
        started = time.perf_counter()
        with self.lock:
            doc = self.documents.get(uri)
            if doc is None:
                return None
            if doc.skip_kind in DROPPED:
                _forget_text(doc)
                doc.changed_at = None
                return doc.report(skip_reason=doc.skip_reason, skip_kind=doc.skip_kind)
            if self.model is None:  # nothing follows the text before the model is loaded
                _restart(doc)
                return doc.report()
        if (early := self.follow(uri)) is not None:
            return early
        with self.lock:
            if self.documents.get(uri) is not doc:
                return None
            assert self.factory is not None and doc.seen is not None  # loaded, and followed
            report = doc.report_seen(skip_reason=doc.skip_reason, skip_kind=doc.skip_kind)
            if doc.skip_reason:
                _drop_session(doc)
                doc.changed_at = None
                return report
            if doc.projection is not None and (not doc.prose or doc.prose.isspace()):
                doc.changed_at = None
                report.skip_reason = NOTHING_TO_READ
                return report
            mode = SessionMode(self.settings.fullRecompute, self.settings.chunkTokens)
            rebuild = (
                doc.session is None or doc.session_mode != mode or self.factory.outgrown(doc.session, mode.chunk_tokens)
            )
            if not rebuild and doc.pending is None and doc.read is not None and doc.read.session is doc.session:
                changed_at, doc.changed_at = doc.changed_at, None
                report = _unchanged(doc.read.report, report)  # e.g. a keystroke in a code block: no model work
                if doc.projection is not None:
                    _to_source(report, doc.projection)
                report.latency_ms = None if changed_at is None else (time.perf_counter() - changed_at) * 1000
                return report
            if rebuild and (doc.build is None or doc.build.mode != mode):
                assert doc.tokens is not None  # followed, or skipped
                if not self._room(doc, long=not mode.full_recompute and len(doc.tokens.ids) > mode.chunk_tokens):
                    report.more = True  # every place is taken by first passes under way: wait for one
                    return report
                doc.build = SessionBuild(self.factory, list(doc.tokens.ids), mode)
                doc.pending = None  # edits from here on are relative to the build's ids
            build = doc.build if rebuild else None
            self._clock += 1
            doc.last_used = self._clock
        if build is not None and (early := self._build_step(doc, build, report)) is not None:
            return early
        return self._update(doc, started)

    def follow(self, uri: str) -> Report | None:
        """Bring the document's projection and tokens up to its text, off the lock: its
        queued edits, or (a new text, new settings) a projection and tokens made afresh.
        None to go on with the model; a report to return at once (`more`: call again) when
        the text was replaced meanwhile, or when a long document was projected or tokenized
        afresh (that is this step's work: its model work waits its turn)."""
        with self.lock:
            doc = self.documents.get(uri)
            tokenizer, settings = self.tokenizer, self.settings
            if doc is None or tokenizer is None:
                return None
            generation, fresh = doc.generation, doc.followed != doc.generation
            seen = Version(doc.version, doc.text, doc.lines)
            edits, doc.edits = ([] if fresh else doc.edits), []  # a fresh start reads the text, edits included
            projection, tokens, over_cap = (None, None, None) if fresh else (doc.projection, doc.tokens, doc.over_cap)
            cap = settings.maxDocumentTokens
            if over_cap is not None and over_cap.cap != cap:
                over_cap = None  # found for another maxDocumentTokens: count again
            if not fresh and not edits and (tokens is not None or over_cap is not None):
                doc.seen = seen  # nothing was queued: what is followed is this version
                return None
        if fresh:
            s = settings
            projection = prose.projection(
                doc.kind, for_model(seen.text), s.markdownNodes, s.latexCommands, s.latexEnvironments
            )
        followed: list[tuple[TextEdit, TokenEdit]] = []
        for edit in edits:
            model_edit = edit if projection is None else projection.apply(edit)
            if model_edit.start == model_edit.end and not model_edit.text:
                continue  # inside code or markup: nothing the model reads changed
            if over_cap is not None and model_edit.start <= over_cap.chars:
                over_cap = None  # the probed prefix changed: count again
            if tokens is None:
                continue
            try:
                followed.append((model_edit, tokens.apply(model_edit)))
            except ValueError:  # the tokens no longer follow the text: tokenize it afresh
                log.exception("incls: re-tokenizing %s after a failed token update", shortened(uri))
                tokens = None
        retokenized = tokens is None and over_cap is None
        if retokenized:
            model_text = projection.text if projection is not None else for_model(seen.text)
            tokens, over_cap = _tokenized(tokenizer, model_text, cap)
        with self.lock:
            if self.documents.get(uri) is not doc or doc.generation != generation:
                return doc.report(more=True)  # a new text meanwhile: followed afresh next time
            doc.projection, doc.tokens, doc.over_cap = projection, tokens, over_cap
            doc.followed, doc.seen = generation, seen
            if retokenized:
                _drop_session(doc)
            for model_edit, token_edit in followed:
                if not token_edit.is_noop:
                    doc.pending = then(doc.pending, token_edit.start, token_edit.end, len(token_edit.new_ids))
                doc.pending_chars = then(doc.pending_chars, model_edit.start, model_edit.end, len(model_edit.text))
            self._check_limits(doc)
            if (fresh or retokenized) and len(seen.text) > PROBE_CHARS_PER_TOKEN * settings.chunkTokens:
                return doc.report_seen(more=True)
        return None

    def _room(self, doc: Document, long: bool) -> bool:
        """Under the lock: whether `doc`'s session may be built now. Kept sessions and first
        passes under way count alike against maxSessions: the least recently used kept
        sessions are dropped to make room. At most half of the places (at least one) hold
        long first passes under way; when they are all taken the document waits."""
        limit = self.settings.maxSessions
        others = [d for d in self.documents.values() if d is not doc]
        builds = sum(d.build is not None for d in others)
        if builds >= limit or (long and builds >= max(1, limit // 2)):
            return False
        kept = sorted((d for d in others if d.session is not None), key=lambda d: d.last_used)
        for old in kept[: max(0, len(kept) + builds + 1 - limit)]:
            _drop_session(old)
        return True

    def _build_step(self, doc: Document, build: SessionBuild, report: Report) -> Report | None:
        """Build one more part of the document's session (off the lock); a report to return
        at once while it is not done, None once it is (it is then the document's session)."""
        try:
            done = build.step()
        except Exception:
            log.exception("incls: building the model state of %s failed", shortened(doc.uri))
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
                return doc.report_seen(more=True)
            assert doc.tokens is not None and self.model is not None and self.factory is not None  # a session's makings
            report = doc.report_seen()
            changed_at, doc.changed_at = doc.changed_at, None
            pending, doc.pending = doc.pending, None
            chars, doc.pending_chars = doc.pending_chars, None
            pending_ids = tuple(doc.tokens.ids[pending.start : pending.new_end]) if pending else ()
            # references, not copies: an edit replaces these arrays, it never writes into them
            char_ends, text = doc.tokens.char_ends, doc.tokens.text  # the model's text: lone halves replaced
            if doc.ledger is not None and doc.ledger.session is session:
                ledger, fresh = doc.ledger.ledger, False
            else:  # a new session: its evidence is read afresh
                ledger, fresh = Ledger(self.model.cfg.n_classes), True
                doc.ledger = SessionLedger(session, ledger)
        try:
            stats = None
            if pending:
                engine_started, engine_cpu_started = time.perf_counter(), time.thread_time()
                stats = session.apply([TokenEdit(pending.start, pending.old_end, pending_ids)])
                report.engine_ms = (time.perf_counter() - engine_started) * 1000
                report.engine_cpu_ms = (time.thread_time() - engine_cpu_started) * 1000
            votes = Votes(vote_blocks(session), self.model.cfg.n_classes)
            if fresh:
                ledger.rebuild(text, char_ends, votes)
            else:
                voted = None if stats is None else stats.voted
                assert voted is None or isinstance(voted, torch.Tensor)  # (n,) positions; typed `object` by the engine
                ledger.update(text, char_ends, votes, chars, pending, voted)
            report = self._read(report, session, ledger, text, stats)
            report.evidence = ledger.snapshot(report.labels)
        except Exception:  # a model failure must not take the server down; rebuild next time
            log.exception("incls: model update failed for %s", shortened(doc.uri))
            with self.lock:
                _drop_session(doc)
            raise
        with self.lock:
            if self.documents.get(doc.uri) is doc and doc.session is session:
                doc.read = Reading(session, replace(report))
                if doc.projection is not None:
                    _to_source(report, doc.projection)
            self._evict()
        report.compute_ms = (time.perf_counter() - started) * 1000
        report.latency_ms = None if changed_at is None else (time.perf_counter() - changed_at) * 1000
        return report

    def _read(
        self, report: Report, session: ModelSession, ledger: Ledger, text: str, stats: UpdateStats | FullStats | None
    ) -> Report:
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
            report.ops, report.ops_full = stats.ops, stats.ops_full
        return report

    def _evict(self) -> None:
        """Keep at most maxSessions sessions and first passes under way together: drop the
        least recently used kept sessions (rebuilt on demand)."""
        live = [d for d in self.documents.values() if d.session is not None]
        builds = sum(d.build is not None for d in self.documents.values())
        excess = len(live) + builds - self.settings.maxSessions
        for doc in sorted(live, key=lambda d: d.last_used)[: max(0, excess)]:
            _drop_session(doc)

    def update_settings(self, settings: Settings) -> None:
        with self.lock:
            reproject = _projection_settings(settings) != _projection_settings(self.settings)
            self.settings = settings
            for doc in self.documents.values():
                if reproject and doc.kind != "plaintext":
                    _restart(doc)
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


def _restart(doc: Document) -> None:
    """What the worker keeps of the text is void: it follows the text afresh next time."""
    doc.generation += 1
    doc.edits = []


def _drop_session(doc: Document) -> None:
    """Drop a document's session (or the one being built) and everything that refers to it."""
    doc.session, doc.build, doc.pending, doc.pending_chars, doc.ledger, doc.read = None, None, None, None, None, None


def _forget_text(doc: Document) -> None:
    """Drop everything the worker keeps of a document's text (it is followed afresh when it is read again)."""
    _drop_session(doc)
    doc.projection, doc.tokens, doc.over_cap, doc.followed = None, None, None, -1


def _tokenized(tokenizer, text: str, cap: int) -> tuple[TokenizedText | None, OverCap | None]:
    """The tokens of `text`; or, when a prefix of PROBE_CHARS_PER_TOKEN * cap characters
    alone is over `cap` tokens, none and that prefix: the rest is never tokenized."""
    probe = PROBE_CHARS_PER_TOKEN * cap
    if len(text) > probe and len(tokenizer.encode(text[:probe]).ids) > cap + 1:
        return None, OverCap(cap, probe)
    return TokenizedText(tokenizer, text), None


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
