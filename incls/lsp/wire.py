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
  is searched for the next header, which is read again (a length too long is cut
  short that way too);
- a header line is read at most `MAX_HEADER_LINE` bytes at a time and a body of more
  than `MAX_BODY` bytes is skipped unread, so no frame can make the server allocate
  without bound.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from typing import BinaryIO

log = logging.getLogger(__name__)

MAX_HEADER_LINE = 64 * 1024
MAX_BODY = 256 * 1024 * 1024  # a 10 MB document JSON-escaped to its worst (\\uXXXX) fits
LENGTH = re.compile(rb"content-length[ \t]*:[ \t]*(\d+)", re.IGNORECASE)
HEADER = re.compile(rb"^[A-Za-z0-9-]+[ \t]*:")


class FrameReader:
    """Bodies of the frames on a binary stream; `None` at the end of the stream."""

    def __init__(self, stream: BinaryIO, problem: Callable[[str], object] = log.warning) -> None:
        self.stream = stream
        self.problem = problem
        self.pending = b""  # bytes read past a broken body, read again first

    def _readline(self) -> bytes:
        if self.pending:
            cut = self.pending.find(b"\n")
            if cut >= 0:
                line, self.pending = self.pending[: cut + 1], self.pending[cut + 1 :]
                return line
            line, self.pending = self.pending, b""
            return line + self.stream.readline(MAX_HEADER_LINE)
        return self.stream.readline(MAX_HEADER_LINE)

    def _read(self, n: int) -> bytes:
        head, self.pending = self.pending[:n], self.pending[n:]
        out = [head]
        left = n - len(head)
        while left > 0:
            part = self.stream.read(left)
            if not part:
                break
            out.append(part)
            left -= len(part)
        return b"".join(out)

    def _skip(self, n: int) -> None:
        while n > 0:
            part = self._read(min(n, 1 << 20))
            if not part:
                return
            n -= len(part)

    def next(self) -> bytes | None:
        """The next body that parses as JSON (returned as bytes), skipping broken frames."""
        length: int | None = None
        while True:
            line = self._readline()
            if not line:
                return None
            if not line.strip(b"\r\n"):  # the blank line that ends a header block
                if length is None:
                    self.problem("malformed frame: a header block without Content-Length was skipped")
                    continue
                if length > MAX_BODY:
                    self.problem(f"malformed frame: a body of {length} bytes is over the limit; skipped")
                    self._skip(length)
                    length = None
                    continue
                body = self._read(length)
                length = None
                if self._parses(body):
                    return body
                continue
            match = LENGTH.search(line)
            if match:
                if match.start() > 0 and not HEADER.match(line):
                    self.problem("malformed frame: bytes before a header were skipped (a Content-Length too short?)")
                length = int(match.group(1))
            elif not HEADER.match(line):
                self.problem(f"malformed frame: skipped a line that is not a header ({line[:40]!r})")

    def _parses(self, body: bytes) -> bool:
        try:
            json.loads(body)
            return True
        except ValueError:
            pass
        cut = LENGTH.search(body)
        if cut is not None:  # the next frame's header inside this body: read it again
            self.pending = body[cut.start() :] + self.pending
            body = body[: cut.start()]
        self.problem(f"malformed frame: a body that is not JSON was skipped ({body[:60]!r})")
        return False
