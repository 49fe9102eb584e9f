"""A text and its token ids, kept equal to `tokenizer.encode(text).ids` under edits.

A byte-level BPE tokenizer first splits text into pre-tokenizer words, then merges
bytes inside each word, so an edit can only change the tokens of the words it touches
and, through the splitting rules (a space joins the next word, runs of whitespace
split before their last character), of their neighbours. `TokenizedText.apply`
re-tokenizes a window from a token or two before the edit to a token or two after it,
checks that the window's edges are stable by re-tokenizing it once more with a few
tokens of context on each side, widens the window until they are, and returns the
minimal `TokenEdit`. Token boundaries are tracked in UTF-8 bytes because byte-level
tokens may split a character (an emoji is often two or three tokens).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from .edits import TextEdit

INITIAL_MARGIN = 2  # tokens re-tokenized on each side of an edit, doubled until stable
CONTEXT = 4  # tokens of unchanged context that must survive around the window


@dataclass(frozen=True)
class TokenEdit:
    """Replace ids[start:end] (pre-edit token indices) by `new_ids`: an insertion when
    start == end, a deletion when new_ids is empty. What the text layer produces and the
    engine (`incls.engine.Session.apply`) consumes."""

    start: int
    end: int
    new_ids: Sequence[int] = field(default=())  # stored as a tuple

    def __post_init__(self) -> None:
        object.__setattr__(self, "new_ids", tuple(self.new_ids))

    @property
    def is_noop(self) -> bool:
        return self.start == self.end and not self.new_ids


class TokenBytes:
    """The UTF-8 bytes each token id stands for, and the bytes the tokenizer drops.

    The byte-level vocabulary lacks a few bytes (some control characters and the lead
    bytes of unassigned planes); with no unknown token, encoding silently skips them.
    Each skipped byte is counted in the span of the token that follows it, so the token
    spans still tile the text.
    """

    _cache: dict[int, TokenBytes] = {}

    def __init__(self, tokenizer) -> None:
        # the byte-to-character table of byte-level BPE (GPT-2's, as the tokenizer's ByteLevel uses)
        printable = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
        chars = {b: chr(b) for b in printable}
        extra = 0
        for b in range(256):
            if b not in chars:
                chars[b] = chr(256 + extra)
                extra += 1
        to_byte = {c: b for b, c in chars.items()}
        vocab = tokenizer.get_vocab()
        self.dropped = frozenset(b for b, c in chars.items() if c not in vocab)
        special = {t.content for t in tokenizer.get_added_tokens_decoder().values()}
        self.of_id: list[bytes] = []
        for i in range(tokenizer.get_vocab_size()):
            token = tokenizer.id_to_token(i) or ""
            if token in special or any(c not in to_byte for c in token):
                self.of_id.append(token.encode("utf-8"))
            else:
                self.of_id.append(bytes(to_byte[c] for c in token))

    @classmethod
    def of(cls, tokenizer) -> TokenBytes:
        key = id(tokenizer)
        if key not in cls._cache:
            cls._cache[key] = cls(tokenizer)
        return cls._cache[key]

    def ends(self, ids: list[int], data: bytes, base: int = 0) -> list[int]:
        """Absolute end of each token's span in `data` (which starts at byte `base`)."""
        out, pos = [], 0
        for t in ids:
            piece = self.of_id[t]
            if data[pos : pos + len(piece)] == piece:
                pos += len(piece)
            else:  # dropped bytes before or inside the token (BPE merges across them)
                for byte in piece:
                    while pos < len(data) and data[pos] != byte and data[pos] in self.dropped:
                        pos += 1
                    if pos >= len(data) or data[pos] != byte:
                        raise ValueError(f"token {t} does not match the text at byte {base + pos}")
                    pos += 1
            out.append(base + pos)
        return out


def _is_continuation(byte: int) -> bool:
    return byte & 0xC0 == 0x80


_CONTINUATION_BYTES = bytes(range(0x80, 0xC0))


def char_ends(data: bytes, byte_ends: list[int]) -> list[int]:
    """Code-point offsets of byte offsets (a character split by a boundary counts as started)."""
    out, chars, pos = [], 0, 0
    for end in byte_ends:
        chars += len(data[pos:end].translate(None, _CONTINUATION_BYTES))
        pos = end
        out.append(chars)
    return out


class TokenizedText:
    """One document's text, token ids and token spans, in UTF-8 bytes and in code points.

    Both kinds of ends are kept so that an edit (code points) finds its tokens by
    bisection and re-encodes only the window it re-tokenizes: nothing here touches the
    whole text per edit except the string splice itself. `inside[k]` says that token k
    ends inside a character (byte-level tokens split emoji); windows never start or end
    there. The text must be encodable as UTF-8 (the server replaces lone surrogates
    before it gets here). The ends are int64 arrays: moving every later end by an edit's
    length is one vector add, not a Python loop over the document. They are never written
    in place (an edit makes new ones), so arrays read under a lock stay those of their
    text after it is released: a reader needs no copy of them.
    """

    def __init__(self, tokenizer, text: str = "") -> None:
        self.tokenizer = tokenizer
        self.token_bytes = TokenBytes.of(tokenizer)
        self.text = text
        data = text.encode("utf-8")
        self.utf8_length = len(data)
        self.ids: list[int] = self._encode(text)
        ends = self.token_bytes.ends(self.ids, data)
        char_ends, self.inside = _char_spans(data, ends, 0, 0)
        self.ends, self.char_ends = np.array(ends, dtype=np.int64), np.array(char_ends, dtype=np.int64)

    def _encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text, add_special_tokens=False).ids if text else []

    def _char_begin(self, k: int) -> int:
        """Code point where the text after token k - 1 begins (k on a character boundary)."""
        return int(self.char_ends[k - 1]) if k > 0 else 0

    def _char_start(self, k: int) -> int:
        """Code point where token k's span starts; for k == len(ids), the end of the text
        (dropped bytes after the last token belong to no token yet)."""
        return len(self.text) if k >= len(self.ids) else self._char_begin(k)

    def _byte_begin(self, k: int) -> int:
        return int(self.ends[k - 1]) if k > 0 else 0

    def apply(self, edit: TextEdit) -> TokenEdit:
        """Apply a text edit (code points, pre-edit); return the minimal token edit it caused."""
        text = self.text
        n = len(self.ids)
        first = int(np.searchsorted(self.char_ends, edit.start, side="right"))
        last = int(np.searchsorted(self.char_ends, edit.end, side="left")) + 1
        margin = INITIAL_MARGIN
        while True:
            i = self._char_boundary(max(0, first - margin), -1)
            j = self._char_boundary(min(n, last + margin), +1)
            segment = text[self._char_begin(i) : edit.start] + edit.text + text[edit.end : self._char_start(j)]
            window = self._encode(segment)
            if (i == 0 and j == n) or self._stable(i, j, segment, window):
                break
            margin *= 2
        old_window = self.ids[i:j]
        removed = len(text[edit.start : edit.end].encode("utf-8"))
        byte_shift = len(edit.text.encode("utf-8")) - removed
        self._splice(i, j, window, segment.encode("utf-8"), byte_shift, len(edit.text) - (edit.end - edit.start))
        self.text = edit.apply(text)
        self.utf8_length += byte_shift
        return _minimal(i, j, old_window, window)

    def _char_boundary(self, k: int, step: int) -> int:
        """Move token index k until its span does not start inside a UTF-8 character."""
        while 0 < k < len(self.ids) and self.inside[k - 1]:
            k += step
        return k

    def _stable(self, i: int, j: int, segment: str, window: list[int]) -> bool:
        """Whether `window` is what the whole text would give: context on both sides agrees."""
        ci = self._char_boundary(max(0, i - CONTEXT), -1)
        cj = self._char_boundary(min(len(self.ids), j + CONTEXT), +1)
        text = self.text
        around = (
            text[self._char_begin(ci) : self._char_begin(i)]
            + segment
            + text[self._char_start(j) : self._char_start(cj)]
        )
        return self._encode(around) == self.ids[ci:i] + window + self.ids[j:cj]

    def _splice(self, i: int, j: int, window: list[int], segment: bytes, byte_shift: int, char_shift: int) -> None:
        """Put `window` (spanning `segment`) in place of tokens [i, j) and shift the spans after it."""
        base = self._byte_begin(i)
        ends = self.token_bytes.ends(window, segment, base)
        char_ends, inside = _char_spans(segment, ends, base, self._char_begin(i))
        self.ids[i:j] = window
        self.inside[i:j] = inside
        self.ends = _splice(self.ends, i, j, ends, byte_shift)
        self.char_ends = _splice(self.char_ends, i, j, char_ends, char_shift)


def _splice(array: np.ndarray, i: int, j: int, values: list[int], shift: int) -> np.ndarray:
    """A new array: `array` with [i:j] replaced by `values` and `shift` added to everything
    after them (`array` itself is left as it was: see `TokenizedText`)."""
    tail = array[j:] + shift if shift else array[j:]
    return np.concatenate((array[:i], np.asarray(values, dtype=np.int64), tail))


def _char_spans(data: bytes, ends: list[int], byte_base: int, char_base: int) -> tuple[list[int], list[bool]]:
    """Code-point ends of tokens ending at absolute bytes `ends` of `data` (which starts at
    byte `byte_base`, code point `char_base`), and whether each ends inside a character."""
    local = [e - byte_base for e in ends]
    chars = [char_base + c for c in char_ends(data, local)]
    inside = [e < len(data) and _is_continuation(data[e]) for e in local]
    return chars, inside


def _minimal(i: int, j: int, old: list[int], new: list[int]) -> TokenEdit:
    """Trim the tokens the old and new windows share at both ends."""
    p = 0
    while p < len(old) and p < len(new) and old[p] == new[p]:
        p += 1
    s = 0
    while s < len(old) - p and s < len(new) - p and old[-1 - s] == new[-1 - s]:
        s += 1
    return TokenEdit(i + p, j - s, tuple(new[p : len(new) - s]))


def apply_token_edit(ids: list[int], edit: TokenEdit) -> None:
    """ids[start:end] = new_ids, in place."""
    ids[edit.start : edit.end] = list(edit.new_ids)
