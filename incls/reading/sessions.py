"""Model sessions for the server: the incremental engine, or a full recompute to compare with.

Every session has the engine's interface: `apply([TokenEdit])` returning stats with
`ops` and `ops_full`, `ids`, `document_logits()` (C,), `running_logits()` (T, C) and the
per-position rows the document's logits are pooled from (`votes`, or `vote_blocks()`;
`incls.model.pooling`).
Documents longer than `chunkTokens` get a `ChunkedSession` split at paragraph breaks
(and cut hard at `chunkTokens`, so a document of one long line is chunked too), built
one chunk per step by `SessionBuild` so that a long document never holds the model
thread for more than a chunk's forward pass.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from ..engine import ChunkedSession, Session
from ..engine.chunked import ParagraphBreaks, split_chunks
from ..engine.native import kernels
from ..engine.ops import UpdateStats
from ..engine.weights import engine_weights
from ..model import pooling
from ..text import TokenEdit

log = logging.getLogger(__name__)


@dataclass
class FullStats:
    ops: int | None = None
    ops_full: int | None = None
    voted: torch.Tensor | None = None  # (T,) every position: the whole model ran again


@dataclass(frozen=True)
class SessionMode:
    """How a document's session is built: the engine or a full recompute, and where to chunk."""

    full_recompute: bool
    chunk_tokens: int


class ModelSession(Protocol):
    """What a reading needs of a session: the engine's (chunked or not) or a full recompute."""

    @property
    def ids(self) -> Sequence[int]: ...

    def apply(self, edits: list[TokenEdit]) -> UpdateStats | FullStats: ...

    def document_logits(self) -> torch.Tensor: ...

    def running_logits(self) -> torch.Tensor: ...


class FullRecomputeSession:
    """Runs the whole model on every change: the baseline the incremental engine is measured against."""

    def __init__(self, model, ids: list[int]) -> None:
        self.model = model
        self.ids = list(ids)
        self._forward()

    @torch.no_grad()
    def _forward(self) -> None:
        """The running logits (T, C) and the positions' rows (T, 2C + 1) of the whole model."""
        if not self.ids:
            self._logits = self.model.document_logits([])[None]  # (1, C): the prior
            self.votes = torch.zeros(0, pooling.width(self.model.cfg.n_classes), dtype=torch.float64)
            return
        ids = torch.tensor([self.ids])  # (1, T)
        votes = self.model.position_votes(self.model.norm(self.model.final_states(ids)[0]), ids)
        self._logits = votes.running_logits()[0]  # (T, C)
        self.votes = votes.rows()[0].double()  # (T, 2C + 1)

    def apply(self, edits: list[TokenEdit]) -> FullStats:
        for edit in edits:
            self.ids[edit.start : edit.end] = list(edit.new_ids)
        self._forward()
        return FullStats(voted=torch.arange(len(self.ids)))

    def document_logits(self) -> torch.Tensor:
        return self._logits[-1]

    def running_logits(self) -> torch.Tensor:
        return self._logits if self.ids else self._logits[:0]


def vote_blocks(session: ModelSession) -> list[tuple[int, torch.Tensor]]:
    """A session's per-position rows (`incls.model.pooling`) as (first position, (n, 2C + 1)
    rows) blocks: one per chunk of a chunked session, else one."""
    if isinstance(session, ChunkedSession):
        return session.vote_blocks()
    assert isinstance(session, (Session, FullRecomputeSession))  # the sessions `SessionFactory` makes
    return [(0, session.votes)]


def paragraph_breaks(token_bytes) -> ParagraphBreaks:
    """Where a long document may be cut into chunks: blank lines, inside a token or across two."""
    blank, ends, starts = set(), set(), set()
    for i, b in enumerate(token_bytes.of_id):
        if b"\n\n" in b or b"\n\r\n" in b or b"\r\r" in b:
            blank.add(i)
        # a line break ends the token ("\r\n\r" + "\n" is a CRLF blank line; "\r" + "\n" only one break)
        if b.endswith((b"\n", b"\n\r")):
            ends.add(i)
        if b.startswith((b"\n", b"\r")):
            starts.add(i)
    return ParagraphBreaks(frozenset(blank), frozenset(ends), frozenset(starts))


class SessionBuild:
    """A session for `ids` made in steps: one chunk of a long document per `step()`.

    Made under the core's lock, so it does nothing there beyond keeping `ids`; the chunks
    are planned once, by the first step, on the model thread and off the lock (a Python
    pass over every token: milliseconds at 100,000 tokens, which a keystroke waiting for
    the lock should not pay).
    """

    def __init__(self, factory: SessionFactory, ids: list[int], mode: SessionMode) -> None:
        self.factory, self.ids, self.mode = factory, ids, mode
        self.spans: list[tuple[int, int]] | None = None  # the chunks, once planned
        self.parts: list[Session] = []
        self.session: ModelSession | None = None  # the session, once built

    def step(self) -> bool:
        """Build the next part; True once `session` is ready."""
        if self.mode.full_recompute or len(self.ids) <= self.mode.chunk_tokens:
            self.session = self.factory.create(self.ids, self.mode)
            return True
        if self.spans is None:
            self.spans = split_chunks(self.ids, self.factory.breaks, self.mode.chunk_tokens)
        a, b = self.spans[len(self.parts)]
        self.parts.append(Session(self.factory.model, self.ids[a:b]))
        if len(self.parts) < len(self.spans):
            return False
        self.session = ChunkedSession.from_sessions(
            self.factory.model, self.parts, self.factory.breaks, self.mode.chunk_tokens
        )
        return True


class SessionFactory:
    """Builds sessions for documents and converts token edits to the engine's type."""

    def __init__(self, model, breaks: ParagraphBreaks) -> None:
        self.model = model
        self.breaks = breaks
        # the engine's weight layout, and its kernels compiled if this machine has no build
        # yet: part of loading the model, so a missing compiler is reported as a load error
        engine_weights(model)
        kernels()

    def create(self, ids: list[int], mode: SessionMode) -> ModelSession:
        """A session on `ids`, built at once."""
        if mode.full_recompute:
            return FullRecomputeSession(self.model, ids)
        if len(ids) > mode.chunk_tokens:
            return ChunkedSession(self.model, list(ids), breaks=self.breaks, max_chunk_tokens=mode.chunk_tokens)
        return Session(self.model, list(ids))

    def outgrown(self, session: ModelSession, chunk_tokens: int) -> bool:
        """A plain engine session that has grown well past the chunk size is rebuilt chunked."""
        if isinstance(session, (FullRecomputeSession, ChunkedSession)):
            return False
        return len(session.ids) > chunk_tokens * 3 // 2
