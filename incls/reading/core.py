"""The server's core: open documents, their text and tokens, and their model sessions.

No LSP here: the handlers (`incls.lsp.handlers`) call these methods, and the server
turns reports into diagnostics. Threading: text changes arrive on the event loop (`open`, `change`,
`close`), which keeps only what positions need (the text, its line index, its size) and
queues each change as a text edit; everything that grows with a document runs on the
one worker thread (`compute`): the prose projection and the tokens follow the queued
edits there, then the model. A step takes the lock twice: to take a snapshot (the text,
the queued edits, a copy of the document's `ModelState`) and to commit the copy once its
work is done; so a burst of keystrokes costs one projection update and one model update,
a pathological document (a projection that takes seconds) costs its own latency only,
and a change that arrives during a step waits for the lock for microseconds. Only the
worker touches projections, tokens and sessions; the event loop reads them (hover,
inspect) and never writes them.

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
class ModelState:
    """What the worker keeps of a document: the projection and tokens of the version it
    follows, and the session on them. Only the worker writes it: a step works on a copy
    and the commit puts the copy back (`Core.compute`), so the event loop reads either the
    state before a step or the one after it. The objects it holds (projection, tokens,
    session, ledger) change in place, on the worker only."""

    followed: int = -1  # the generation `projection` and `tokens` follow (-1: none)
    projection: IncrementalProjection | None = None  # of the text with lone halves replaced (None: plain text)
    tokens: TokenizedText | None = None
    over_cap: OverCap | None = None
    pending: Span | None = None  # token edits since the session last saw the document, composed
    pending_chars: Span | None = None  # the prose range changed since the evidence last saw it
    session: ModelSession | None = None
    session_mode: SessionMode | None = None
    build: SessionBuild | None = None  # a session being built, chunk by chunk
    ledger: SessionLedger | None = None
    read: Reading | None = None  # the last reading, in the projection's offsets

    def drop_session(self) -> None:
        """Drop the session (or the one being built) and everything that refers to it."""
        self.session = self.session_mode = self.build = None
        self.pending = self.pending_chars = self.ledger = self.read = None

    def over(self, cap: int) -> bool:
        """Whether the text followed is over `cap` (maxDocumentTokens) tokens."""
        if self.over_cap is not None:
            return self.over_cap.cap == cap
        return self.tokens is not None and len(self.tokens.ids) > cap


@dataclass
class Document:
    """One open document. The event loop owns the text side (`text` to `changed_at`), the
    worker the model side (`model`); each side only reads the other's, under the lock."""

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
    changed_at: float | None = None  # arrival of the oldest change the model has not read
    model: ModelState = field(default_factory=ModelState)
    last_used: int = 0  # when the worker last read or built its session (the least recent is dropped first)

    @property
    def prose(self) -> str:
        """The text the model reads (lone UTF-16 halves as U+FFFD), as far as the worker followed it."""
        if self.model.projection is not None:
            return self.model.projection.text
        return self.model.tokens.text if self.model.tokens is not None else for_model(self.text)

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


@dataclass
class Step:
    """What one step of the worker works on, taken from a document under the lock: its
    text as it is now, the edits queued (taken: this step follows them), the time of the
    oldest change not read (taken: given back unless the step reads it) and a copy of its
    model state (put back by the commit)."""

    doc: Document
    generation: int
    seen: Version
    edits: list[TextEdit]
    changed_at: float | None
    settings: Settings
    state: ModelState


@dataclass(frozen=True)
class Done:
    """What a step's work came to: its report, and whether the state holds a session or a
    first pass that this step started (the commit makes room for it, or drops it)."""

    report: Report
    claims: bool = False


def _give_back(step: Step) -> None:
    """Under the lock: a step that did not read the change gives its time back (it is
    older than any change that arrived during the step)."""
    if step.changed_at is not None:
        step.doc.changed_at = step.changed_at


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
                doc.model.drop_session()
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
        elif doc.model.over(cap):
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

        Three phases: a snapshot of the document under the lock (`_snapshot`: its text as
        it is now, the edits queued, a copy of its model state), the work off the lock
        (`_work`: follow the text, build or update the session, read it), and one commit
        under the lock (`_commit`: the copy becomes the document's state, unless its text
        was replaced meanwhile). The report reads the version the step followed, or says
        `more` when the step only followed a long document's new text, built one chunk of
        its session or waits for room for one (call again).
        """
        started = time.perf_counter()
        with self.lock:
            step = self._snapshot(uri)
        if not isinstance(step, Step):
            return step
        try:
            done = self._work(step)
        except Exception:  # a model failure must not take the server down: follow afresh next time
            log.exception("incls: reading %s failed", shortened(uri))
            with self.lock:
                _give_back(step)
                if self.documents.get(uri) is step.doc:
                    step.doc.model = ModelState()
            raise
        with self.lock:
            return self._commit(step, done, started)

    def _snapshot(self, uri: str) -> Step | Report | None:
        """Under the lock: what a step works on, or the report to return at once (the
        document is dropped, or the model is not loaded yet)."""
        doc = self.documents.get(uri)
        if doc is None:
            return None
        if doc.skip_kind in DROPPED:
            doc.model, doc.changed_at = ModelState(), None
            return doc.report(skip_reason=doc.skip_reason, skip_kind=doc.skip_kind)
        if self.model is None:  # nothing follows the text before the model is loaded
            _restart(doc)
            return doc.report()
        fresh = doc.model.followed != doc.generation  # a fresh start reads the text, edits included
        step = Step(
            doc,
            doc.generation,
            Version(doc.version, doc.text, doc.lines),
            [] if fresh else doc.edits,
            doc.changed_at,
            self.settings,
            ModelState() if fresh else replace(doc.model),
        )
        doc.edits, doc.changed_at = [], None
        return step

    def _work(self, step: Step) -> Done:
        """Off the lock: follow the step's text, then build or update its session and read it."""
        assert self.factory is not None  # the model is loaded (`_snapshot`)
        state, s, seen = step.state, step.settings, step.seen
        report = Report(step.doc.uri, seen.version, seen.text, lines=seen.lines)
        if self._follow(step) and len(seen.text) > PROBE_CHARS_PER_TOKEN * s.chunkTokens:
            report.more = True  # a long text projected or tokenized afresh: its model work waits its turn
            return Done(report)
        if state.over(s.maxDocumentTokens):
            state.drop_session()  # the commit's limits say why
            return Done(report)
        if state.projection is not None and (not state.projection.text or state.projection.text.isspace()):
            report.skip_reason = NOTHING_TO_READ
            return Done(report)
        assert state.tokens is not None  # followed, and not over the limit
        mode = SessionMode(s.fullRecompute, s.chunkTokens)
        session = state.session
        rebuild = session is None or state.session_mode != mode or self.factory.outgrown(session, mode.chunk_tokens)
        if not rebuild and state.pending is None and state.read is not None and state.read.session is session:
            return Done(_unchanged(state.read.report, report))  # e.g. a keystroke in a code block: no model work
        claims = False
        if rebuild:
            if state.build is None or state.build.mode != mode:
                state.build = SessionBuild(self.factory, list(state.tokens.ids), mode)
                state.pending, claims = None, True  # edits from here on are relative to the build's ids
                if not mode.full_recompute and len(state.tokens.ids) > mode.chunk_tokens:
                    report.more = True  # a long first pass: its chunks once the commit made room
                    return Done(report, claims)
            if not state.build.step():
                report.more = True
                return Done(report, claims)
            state.session, state.session_mode, state.build = state.build.session, mode, None
        return Done(self._update(state, report), claims)

    def _follow(self, step: Step) -> bool:
        """Bring the step's projection and tokens up to its text: the queued edits, or (a
        new text, new settings) made afresh. True when they were made afresh."""
        state, s, cap = step.state, step.settings, step.settings.maxDocumentTokens
        fresh = state.followed != step.generation
        if fresh:
            state.projection = prose.projection(
                step.doc.kind, for_model(step.seen.text), s.markdownNodes, s.latexCommands, s.latexEnvironments
            )
        if state.over_cap is not None and state.over_cap.cap != cap:
            state.over_cap = None  # found for another maxDocumentTokens: count again
        for edit in step.edits:
            model_edit = edit if state.projection is None else state.projection.apply(edit)
            if model_edit.start == model_edit.end and not model_edit.text:
                continue  # inside code or markup: nothing the model reads changed
            if state.over_cap is not None and model_edit.start <= state.over_cap.chars:
                state.over_cap = None  # the probed prefix changed: count again
            if state.tokens is None:
                continue
            try:
                token_edit = state.tokens.apply(model_edit)
            except ValueError:  # the tokens no longer follow the text: tokenize it afresh
                log.exception("incls: re-tokenizing %s after a failed token update", shortened(step.doc.uri))
                state.tokens = None
                continue
            if not token_edit.is_noop:
                state.pending = then(state.pending, token_edit.start, token_edit.end, len(token_edit.new_ids))
            state.pending_chars = then(state.pending_chars, model_edit.start, model_edit.end, len(model_edit.text))
        state.followed = step.generation
        if state.tokens is not None or state.over_cap is not None:
            return fresh
        assert self.tokenizer is not None  # loaded with the model
        model_text = state.projection.text if state.projection is not None else for_model(step.seen.text)
        state.tokens, state.over_cap = _tokenized(self.tokenizer, model_text, cap)
        state.drop_session()
        return True

    def _update(self, state: ModelState, report: Report) -> Report:
        """Apply the edits since the last update to the session and read it."""
        session, tokens = state.session, state.tokens
        assert session is not None and tokens is not None and self.model is not None  # a session's makings
        pending, chars = state.pending, state.pending_chars
        state.pending = state.pending_chars = None
        if state.ledger is not None and state.ledger.session is session:
            ledger, fresh = state.ledger.ledger, False
        else:  # a new session: its evidence is read afresh
            ledger, fresh = Ledger(self.model.cfg.n_classes), True
            state.ledger = SessionLedger(session, ledger)
        stats = None
        if pending:
            engine_started, engine_cpu_started = time.perf_counter(), time.thread_time()
            ids = tuple(tokens.ids[pending.start : pending.new_end])
            stats = session.apply([TokenEdit(pending.start, pending.old_end, ids)])
            report.engine_ms = (time.perf_counter() - engine_started) * 1000
            report.engine_cpu_ms = (time.thread_time() - engine_cpu_started) * 1000
        votes = Votes(vote_blocks(session), self.model.cfg.n_classes)
        if fresh:
            ledger.rebuild(tokens.text, tokens.char_ends, votes)
        else:
            voted = None if stats is None else stats.voted
            assert voted is None or isinstance(voted, torch.Tensor)  # (n,) positions; typed `object` by the engine
            ledger.update(tokens.text, tokens.char_ends, votes, chars, pending, voted)
        report = self._read(report, session, ledger, tokens.text, stats)
        report.evidence = ledger.snapshot(report.labels)
        state.read = Reading(session, replace(report))
        return report

    def _commit(self, step: Step, done: Done, started: float) -> Report | None:
        """Under the lock: the step's state becomes the document's, and its report is
        finished. A text replaced meanwhile voids the step (it is followed afresh next time)."""
        doc, state, report = step.doc, step.state, done.report
        if self.documents.get(doc.uri) is not doc:
            return None
        if doc.generation != step.generation:
            _give_back(step)
            return doc.report(more=True)
        if done.claims and not self._room(doc, long=state.build is not None):
            state.drop_session()  # every place is taken by first passes under way: wait for one
            report = replace(report, more=True, probabilities=(), evidence=None)
        doc.model = state
        self._check_limits(doc)
        if doc.skip_reason:
            state.drop_session()
            report = Report(report.uri, report.version, report.text, lines=report.lines)
            report.skip_reason, report.skip_kind = doc.skip_reason, doc.skip_kind
        if report.more:
            _give_back(step)
            return report
        if state.session is not None:
            self._clock += 1
            doc.last_used = self._clock
        if report.probabilities and state.projection is not None:
            _to_source(report, state.projection)
        self._evict()
        report.compute_ms = (time.perf_counter() - started) * 1000
        report.latency_ms = None if step.changed_at is None else (time.perf_counter() - step.changed_at) * 1000
        return report

    def _room(self, doc: Document, long: bool) -> bool:
        """Under the lock: whether `doc`'s session may be built now. Kept sessions and first
        passes under way count alike against maxSessions: the least recently used kept
        sessions are dropped to make room. At most half of the places (at least one) hold
        long first passes under way; when they are all taken the document waits."""
        limit = self.settings.maxSessions
        others = [d for d in self.documents.values() if d is not doc]
        builds = sum(d.model.build is not None for d in others)
        if builds >= limit or (long and builds >= max(1, limit // 2)):
            return False
        kept = sorted((d for d in others if d.model.session is not None), key=lambda d: d.last_used)
        for old in kept[: max(0, len(kept) + builds + 1 - limit)]:
            old.model.drop_session()
        return True

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
        report.empty = not text or text.isspace()  # stops at the first letter: no copy of the text
        report.incremental = not self.settings.fullRecompute
        if stats is not None:
            report.ops, report.ops_full = stats.ops, stats.ops_full
        return report

    def _evict(self) -> None:
        """Keep at most maxSessions sessions and first passes under way together: drop the
        least recently used kept sessions (rebuilt on demand)."""
        live = [d for d in self.documents.values() if d.model.session is not None]
        builds = sum(d.model.build is not None for d in self.documents.values())
        excess = len(live) + builds - self.settings.maxSessions
        for doc in sorted(live, key=lambda d: d.last_used)[: max(0, excess)]:
            doc.model.drop_session()

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
