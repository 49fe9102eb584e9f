"""Long documents as a row of sessions, split at paragraph boundaries.

Chunking rule (content-defined, so an edit moves only nearby cuts): a chunk closes after
the first paragraph break (`ParagraphBreaks`) once it holds at least `max_chunk_tokens // 2` tokens,
and is cut hard at `max_chunk_tokens`. After an edit the document is re-split; chunks
whose tokens did not change keep their sessions, changed chunks are updated in place
with a token diff (`token_edits`), and only surplus chunks are created or dropped.

Document logits: the token-weighted mean of each chunk's document logits (every chunk
is read by the model on its own; longer chunks say more), which is the mean of all the
positions' votes (`vote_blocks` gives them chunk by chunk, `UpdateStats.voted` the
positions an update recomputed). Running logits: each chunk's
running logits, concatenated (each restarts at its chunk's first token). Memory is the
sum of the chunks' and grows linearly with the document; attention cost per chunk is
bounded by the chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher

import torch

from incls.model import pooling

from .edits import TokenEdit, check_token_ids, plan_edits
from .ops import UpdateStats
from .session import Session


@dataclass(frozen=True)
class ParagraphBreaks:
    """Which tokens end a paragraph: one that holds a blank line, or one that starts with a
    line break right after a token that ended with one (tokenizers often split "\\n\\n"
    into two newline tokens, so a blank line is not always inside one token)."""

    blank: frozenset = frozenset()  # token ids holding a blank line
    ends_line: frozenset = frozenset()  # token ids ending with a line break
    starts_line: frozenset = frozenset()  # token ids starting with a line break

    def at(self, previous: int | None, token: int) -> bool:
        return token in self.blank or (previous in self.ends_line and token in self.starts_line)


def split_chunks(ids: list[int], breaks: ParagraphBreaks, max_chunk_tokens: int) -> list[tuple[int, int]]:
    """(start, end) of each chunk of `ids` under the chunking rule."""
    chunks, start = [], 0
    soft = max(1, max_chunk_tokens // 2)
    previous = None
    for i, token in enumerate(ids):
        size = i + 1 - start
        if size >= max_chunk_tokens or (size >= soft and breaks.at(previous, token)):
            chunks.append((start, i + 1))
            start = i + 1
        previous = token
    if start < len(ids) or not chunks:
        chunks.append((start, len(ids)))
    return chunks


def resplit(
    spans: list[tuple[int, int]],
    ids: list[int],
    breaks: ParagraphBreaks,
    max_chunk_tokens: int,
    first: int,
    last_old: int,
) -> list[tuple[int, int]]:
    """`split_chunks(ids)` after an edit, from the old `spans`: tokens before `first` (new
    coordinates) and after `last_old` (old coordinates) are unchanged.

    A cut depends only on the tokens since the previous cut, so the chunks ending at or
    before `first` stay, the split restarts at the last of them, and it stops at the first
    cut that is an old cut beyond the edit: from there on the old chunks come back, moved
    by the edit's length. What a keystroke costs here is the chunks it touches, not the document.
    """
    delta = len(ids) - (spans[-1][1] if spans else 0)
    k = 0
    while k < len(spans) - 1 and spans[k][1] <= first:  # (the last chunk ends with the text, not a cut)
        k += 1
    start = spans[k - 1][1] if k else 0
    old_cuts = {b: j for j, (_, b) in enumerate(spans) if b > last_old}
    out = spans[:k]
    soft = max(1, max_chunk_tokens // 2)
    previous = ids[start - 1] if start else None
    for i in range(start, len(ids)):
        token = ids[i]
        size = i + 1 - start
        if size >= max_chunk_tokens or (size >= soft and breaks.at(previous, token)):
            out.append((start, i + 1))
            start = i + 1
            j = old_cuts.get(i + 1 - delta)
            if j is not None and i + 1 - delta > last_old:
                return out + [(a + delta, b + delta) for a, b in spans[j + 1 :]]
        previous = token
    if start < len(ids) or not out:
        out.append((start, len(ids)))
    return out


def token_diff(old: list[int], new: list[int]) -> TokenEdit | None:
    """The single edit (common prefix and suffix kept) that turns `old` into `new`."""
    if old == new:
        return None
    p = 0
    while p < min(len(old), len(new)) and old[p] == new[p]:
        p += 1
    s = 0
    while s < min(len(old), len(new)) - p and old[-1 - s] == new[-1 - s]:
        s += 1
    return TokenEdit(p, len(old) - s, new[p : len(new) - s])


SMALL_EDIT_TOKENS = 32  # a common-prefix/suffix edit up to this size is taken as it is


def token_edits(old: list[int], new: list[int]) -> list[TokenEdit]:
    """Edits (non-overlapping, in `old` coordinates) that turn `old` into `new` and keep
    every long run of tokens the two share.

    A chunk whose cut moved has lost tokens at one end and gained some at the other: the
    single prefix/suffix edit would then span, and recompute, the whole chunk, while two
    small edits cost what they change. Small edits (the usual keystroke) skip the matcher.
    """
    edit = token_diff(old, new)
    if edit is None:
        return []
    if (edit.end - edit.start) + len(edit.new_ids) <= SMALL_EDIT_TOKENS:
        return [edit]
    matcher = SequenceMatcher(None, old, new, autojunk=False)
    return [TokenEdit(i1, i2, new[j1:j2]) for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]


class ChunkedSession:
    """The Session API over a document split into paragraph-aligned chunks."""

    def __init__(
        self, model, token_ids=(), breaks: ParagraphBreaks = ParagraphBreaks(), max_chunk_tokens: int = 512
    ) -> None:
        if max_chunk_tokens < 2:
            raise ValueError("max_chunk_tokens must be at least 2")
        self.model = model
        self.breaks = breaks
        self.max_chunk_tokens = max_chunk_tokens
        self.vocab = model.cfg.vocab_size
        ids = check_token_ids(list(token_ids), self.vocab)
        self._adopt([Session(model, ids[a:b]) for a, b in split_chunks(ids, self.breaks, max_chunk_tokens)])

    @classmethod
    def from_sessions(
        cls, model, sessions: list[Session], breaks: ParagraphBreaks = ParagraphBreaks(), max_chunk_tokens: int = 512
    ) -> ChunkedSession:
        """A chunked session from sessions of the chunks `split_chunks` gives, built one by one
        (so that a caller can spread a long document's first forward over time)."""
        self = cls(model, (), breaks, max_chunk_tokens)
        self._adopt(list(sessions))
        return self

    def _adopt(self, sessions: list[Session]) -> None:
        self.sessions = sessions
        self.units = sessions[0].units
        self.ids = [t for s in sessions for t in s.ids]
        self.spans = self.chunk_spans()

    def apply(self, edits) -> UpdateStats:
        plan = plan_edits(edits, self.ids, self.vocab)  # validates; raises ValueError
        new_ids = plan.ids
        edits = [edits] if isinstance(edits, TokenEdit) else list(edits)
        first = min((e.start for e in edits), default=len(new_ids))
        last_old = max((e.end for e in edits), default=0)
        spans = resplit(self.spans, new_ids, self.breaks, self.max_chunk_tokens, first, last_old)
        new_chunks = [new_ids[a:b] for a, b in spans]
        old = self.sessions
        # keep identical chunks at both ends, update or replace the middle
        p = 0
        while p < min(len(old), len(new_chunks)) and old[p].ids == new_chunks[p]:
            p += 1
        s = 0
        while s < min(len(old), len(new_chunks)) - p and old[-1 - s].ids == new_chunks[-1 - s]:
            s += 1
        middle_old, middle_new = old[p : len(old) - s], new_chunks[p : len(new_chunks) - s]
        stats = UpdateStats(n_tokens=len(new_ids), ops_full=sum(self.units.full_forward(len(c)) for c in new_chunks))
        old_start = self.spans[p][0] if p < len(self.spans) else len(self.ids)
        old_votes = torch.cat([x.votes for x in middle_old]) if middle_old else None  # (n_old, 2C + 1), a copy
        updated = []
        for k, chunk in enumerate(middle_new):
            if k < len(middle_old):
                session = middle_old[k]
                edits = token_edits(session.ids, chunk)
                if edits:
                    _add(stats, session.apply(edits))
            else:
                session = Session(self.model, chunk)
                _add(stats, session.last_stats)
            updated.append(session)
        new_start = spans[p][0] if p < len(spans) else len(new_ids)
        stats.voted = _changed_votes(plan.src, updated, new_start, old_votes, old_start)
        self.sessions = old[:p] + updated + old[len(old) - s :]
        self.ids = new_ids
        self.spans = spans
        first = plan.first_change
        stats.ops_prefix = sum(self.units.suffix_forward(b - a, max(0, first - a)) for a, b in spans if b > first)
        return stats

    def document_logits(self) -> torch.Tensor:
        """(C,) the logits of all the chunks' positions pooled together (their rows add up)."""
        if not self.ids:
            return self.sessions[0].document_logits()
        total = torch.stack([s.votes.sum(0) for s in self.sessions if s.ids]).sum(0)  # (2C + 1,)
        return pooling.logits(total, len(self.ids)).float()

    def running_logits(self) -> torch.Tensor:
        return torch.cat([s.running_logits() for s in self.sessions])

    def vote_blocks(self) -> list[tuple[int, torch.Tensor]]:
        """(first position, (n, 2C + 1) rows) of each chunk: the document's rows, chunk by chunk."""
        return [(a, s.votes) for (a, _), s in zip(self.chunk_spans(), self.sessions)]

    def chunk_spans(self) -> list[tuple[int, int]]:
        spans, a = [], 0
        for s in self.sessions:
            spans.append((a, a + len(s.ids)))
            a += len(s.ids)
        return spans

    def memory_bytes(self) -> int:
        return sum(s.memory_bytes() for s in self.sessions)


def _changed_votes(
    src: torch.Tensor, updated: list[Session], new_start: int, old_votes: torch.Tensor | None, old_start: int
) -> torch.Tensor:
    """(n,) positions of the updated chunks whose vote is not the vote their token had
    before the edit (`src`: each new position's old one, -1 if inserted).

    Compared against the document-level edit rather than read from each chunk's update:
    a chunk whose cut moved is re-diffed on its own, and with repeated text that diff may
    align its tokens differently from the edit, so "unchanged in the chunk" is not
    "unchanged at the position the edit moved it to". O(tokens of the updated chunks).
    """
    if not updated:
        return torch.zeros(0, dtype=torch.long)
    new_votes = torch.cat([s.votes for s in updated])  # (n_new, 2C + 1)
    positions = torch.arange(new_start, new_start + len(new_votes))  # (n_new,)
    old = src[positions] - old_start  # (n_new,) into old_votes
    n_old = 0 if old_votes is None else len(old_votes)
    inside = (src[positions] >= 0) & (old >= 0) & (old < n_old)
    same = torch.zeros(len(positions), dtype=torch.bool)
    if old_votes is not None and n_old:
        same[inside] = (new_votes[inside] == old_votes[old[inside]]).all(-1)
    return positions[~same]


def _add(total: UpdateStats, part: UpdateStats) -> None:
    total.ops += part.ops
    total.refreshed_rows += part.refreshed_rows
    for kind, value in part.ops_by_kind.items():
        total.ops_by_kind[kind] = total.ops_by_kind.get(kind, 0) + value
