"""LSP base-protocol framing that survives a broken client.

pygls's reader accepts only the exact header `Content-Length: N\\r\\n`: one frame with a
lowercase name, LF-only line ends or a missing length leaves it waiting for a header
that never comes, alive and deaf. `FrameReader` reads frames the way a forgiving
client library writes them, and resynchronises on anything else:

- header names in any case, lines ending in CRLF or LF, any other headers ignored;
- a header block without a length, a line that is not a header, or a body that is not
  JSON is logged and skipped;
- a length too short leaves the rest of that message in front of the next header, so
  a `Content-Length:` is looked for anywhere in a line, and a body that does not parse
  is searched for the next header, which is read again;
- a length too long swallows the start of the next frame: a body that does not parse
  but begins with a whole JSON value is that value, and the bytes after it are read
  again as the next header;
- a declared length whose bytes stop coming (nothing for `STALL` seconds while the
  length is unmet) is given up: what came is read as above, and the reader goes back
  to headers;
- a header line is read at most `MAX_HEADER_LINE` bytes at a time and a body of more
  than `MAX_BODY` bytes is skipped unread, so no frame can make the server allocate
  without bound;
- a body nested deeper than `MAX_DEPTH` arrays and objects is never handed on (decoding
  it again, and structuring it, would exhaust the stack): the reader hands on an
  `Unhandled` with the top-level scalars it could read (its id and method, to answer
  it), and so it does for a batch (a body that is a JSON array), which the server
  does not support.

Reading never raises but for the input itself failing (`OSError`): whatever a frame
holds, the reader returns to reading frames.
"""

from __future__ import annotations

import json
import logging
import os
import re
import select
from collections.abc import Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)

MAX_HEADER_LINE = 64 * 1024
MAX_BODY = 256 * 1024 * 1024  # a 10 MB document JSON-escaped to its worst (\\uXXXX) fits
MAX_DEPTH = 64  # arrays and objects inside one another; LSP's own messages nest about 8 deep
STALL = 5.0  # seconds without a byte, while a body's declared length is unmet, before it is given up
CHUNK = 1 << 20  # bytes asked of the input at a time
LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*(\d+)", re.IGNORECASE)
HEADER = re.compile(rb"^[A-Za-z0-9-]+[ \t]*:")
STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
BARE = re.compile(rb'[^ \t\r\n\[\]{}:,"]+')  # a number, true, false or null
DECODER = json.JSONDecoder()


@dataclass(frozen=True)
class Unhandled:
    """A body the server does not handle: a batch, or a message nested deeper than
    `MAX_DEPTH`. `members` holds, for each message in it (one unless a batch), its
    top-level scalar members that could be read (`id`, `method`), to answer it."""

    batch: bool
    members: list[dict]


class FrameReader:
    """Messages on a file descriptor: `next()` gives each body that is a JSON object (as
    bytes, for the protocol to decode), an `Unhandled` for a batch or a body nested too
    deep, and None at the end of the input."""

    def __init__(self, fd: int, problem: Callable[[str], object] = log.warning, stall: float = STALL) -> None:
        self.fd = fd
        self.problem = problem
        self.stall = stall
        self.buffer = b""  # bytes read and not consumed yet: buffer[pos:]
        self.pos = 0
        self.ended = False

    # -- input ----------------------------------------------------------------------------

    def _wait(self, timeout: float | None) -> bytes:
        """The next bytes of the input (waiting at most `timeout` seconds, None: as long as
        it takes); b"" at its end or when nothing came in time."""
        if self.ended or (timeout is not None and not select.select([self.fd], [], [], timeout)[0]):
            return b""
        chunk = os.read(self.fd, CHUNK)
        self.ended = not chunk
        return chunk

    def _line(self) -> bytes | None:
        """The next header line (at most MAX_HEADER_LINE bytes of it); None at the end of the input."""
        while True:
            cut = self.buffer.find(b"\n", self.pos, self.pos + MAX_HEADER_LINE)
            rest = len(self.buffer) - self.pos
            if cut >= 0 or rest >= MAX_HEADER_LINE:
                end = cut + 1 if cut >= 0 else self.pos + MAX_HEADER_LINE
                line, self.pos = self.buffer[self.pos : end], end
                return line
            chunk = self._wait(None)
            if not chunk:
                line, self.buffer, self.pos = self.buffer[self.pos :], b"", 0
                return line or None
            self.buffer, self.pos = self.buffer[self.pos :] + chunk, 0

    def _body(self, length: int) -> tuple[bytes, bool]:
        """The `length` bytes of a body, and True; or what came of them, and False, when the
        input ended or nothing came for `stall` seconds. Of a body over MAX_BODY only the
        first MAX_HEADER_LINE bytes are kept (to recover from a length that lies)."""
        keep = length if length <= MAX_BODY else MAX_HEADER_LINE
        head = self.buffer[self.pos : self.pos + length]
        self.pos += len(head)
        parts, kept, got = [head[:keep]], min(len(head), keep), len(head)
        while got < length:
            chunk = self._wait(self.stall)
            if not chunk:
                return b"".join(parts), False
            if got + len(chunk) > length:  # the start of what follows the body
                chunk, self.buffer, self.pos = chunk[: length - got], chunk[length - got :], 0
            got += len(chunk)
            if kept < keep:
                parts.append(chunk[: keep - kept])
                kept += len(parts[-1])
        return b"".join(parts), True

    def _unread(self, data: bytes) -> None:
        """Put bytes back in front of the input: they are read again as headers."""
        self.buffer, self.pos = data + self.buffer[self.pos :], 0

    # -- frames ---------------------------------------------------------------------------

    def next(self) -> bytes | Unhandled | None:
        """The next message, skipping broken frames; None at the end of the input."""
        length: int | None = None
        while True:
            line = self._line()
            if line is None:
                return None
            if not line.strip(b"\r\n"):  # the blank line that ends a header block
                if length is None:
                    self.problem("malformed frame: a header block without Content-Length was skipped")
                    continue
                body, complete = self._body(length)
                declared, length = length, None
                if not complete:
                    why = "the input ended" if self.ended else f"nothing more came for {self.stall:g} s"
                    self.problem(
                        f"malformed frame: {declared} bytes declared, {len(body)} came and {why}; "
                        "the rest is not waited for"
                    )
                elif declared > MAX_BODY:
                    self.problem(f"malformed frame: a body of {declared} bytes is over the limit; skipped")
                    continue
                try:
                    message = self._message(body)
                except Exception as exc:  # whatever a body holds (MemoryError included), reading goes on
                    self.problem(f"malformed frame: a body could not be read ({type(exc).__name__}); skipped")
                    continue
                if message is not None:
                    return message
                continue
            match = LENGTH.search(line)
            if match:
                if match.start() > 0 and not HEADER.match(line):
                    self.problem("malformed frame: bytes before a header were skipped (a Content-Length too short?)")
                length = int(match.group(1))
            elif not HEADER.match(line):
                self.problem(f"malformed frame: skipped a line that is not a header ({line[:40]!r})")

    def _message(self, body: bytes) -> bytes | Unhandled | None:
        """What a body holds for the protocol, or None (logged) when it holds nothing usable."""
        try:
            value = json.loads(body)
        except RecursionError:
            self.problem(f"a message nested deeper than {MAX_DEPTH} levels was not handled")
            return Unhandled(False, [top_level(body)])
        except ValueError:
            return self._recover(body)
        return checked(value, body)

    def _recover(self, body: bytes) -> bytes | Unhandled | None:
        """A body that does not parse: the whole JSON value it begins with (its declared
        length ran into the next frame, whose start is read again), else the next header
        inside it, read again; else nothing."""
        text = body.decode("utf-8", "surrogateescape")
        start = _after_space(body, 0)
        try:
            value, end = DECODER.raw_decode(text, start)
        except (ValueError, RecursionError):
            cut = LENGTH.search(body)
            if cut is not None:  # the next frame's header inside this body: read it again
                self._unread(body[cut.start() :])
                body = body[: cut.start()]
            self.problem(f"malformed frame: a body that is not JSON was skipped ({body[:60]!r})")
            return None
        rest = text[end:].encode("utf-8", "surrogateescape")
        self.problem(f"malformed frame: {len(rest)} bytes after a message were read again as headers")
        self._unread(rest)
        return checked(value, body[: len(body) - len(rest)])


def checked(value: object, body: bytes) -> bytes | Unhandled:
    """The body of one message, or an `Unhandled` for a batch or a message nested too deep."""
    if isinstance(value, list):
        return Unhandled(True, [_scalars(item) for item in value])
    if nested_deeper(value, MAX_DEPTH):
        return Unhandled(False, [_scalars(value)])
    return body


def nested_deeper(value: object, limit: int) -> bool:
    """Whether arrays and objects nest more than `limit` deep in a decoded JSON value (no recursion)."""
    stack: list[tuple[dict | list, int]] = [(value, 1)] if isinstance(value, (dict, list)) else []
    while stack:
        item, depth = stack.pop()
        for child in item.values() if isinstance(item, dict) else item:
            if isinstance(child, (dict, list)):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


def _scalars(value: object) -> dict:
    """The members of a decoded message whose values are not arrays or objects."""
    if not isinstance(value, dict):
        return {}
    return {k: v for k, v in value.items() if not isinstance(v, (dict, list))}


def _after_space(data: bytes, pos: int) -> int:
    """The offset of the first byte at or after `pos` that is not JSON whitespace."""
    while pos < len(data) and data[pos] in b" \t\r\n":
        pos += 1
    return pos


def top_level(body: bytes) -> dict:
    """The scalar members (`"id": 5`, `"method": "..."`) of a body that is a JSON object too
    deep to decode, read from its first MAX_HEADER_LINE bytes without descending into the
    nested values: what can be read to answer it."""
    window, members, depth, pos = body[:MAX_HEADER_LINE], {}, 0, 0
    key: object = None
    while (pos := _after_space(window, pos)) < len(window):
        ch = window[pos : pos + 1]
        if ch in b"[{":
            if depth == 0 and ch != b"{":
                break  # not an object
            depth, key, pos = depth + 1, None if depth == 1 else key, pos + 1
            continue
        if ch in b"]}":
            depth, pos = depth - 1, pos + 1
            if depth <= 0:
                break
            continue
        if ch in b":,":
            key, pos = (None if ch == b"," and depth == 1 else key), pos + 1
            continue
        token = (STRING if ch == b'"' else BARE).match(window, pos)
        if token is None:
            break
        pos = token.end()
        if depth == 1:
            try:
                scalar = json.loads(token.group())
            except ValueError:
                break
            if key is None:
                key = scalar
            elif isinstance(key, str):
                members[key], key = scalar, None
    return members
