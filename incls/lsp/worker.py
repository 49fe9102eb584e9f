"""The model thread: one queue entry per document, served in bounded steps, newest work first.

The event loop never runs the model, nor anything else that grows with a document.
`submit(uri)` puts a document with new work (opened, changed) at the front of the queue:
the newest document is served first (an editor restoring a workspace gets the file in
front of the user read first). The thread takes the documents in turn and runs one step
for each (`step(uri)` reads the document's newest version, so superseded versions are
never computed; it follows the text, or builds at most one chunk of a long document),
then hands the result to `deliver` on the event loop. A step that says there is more
puts the document at the back of the queue, so the documents whose work goes on share
the thread round-robin, and a small document opened during a long one's first pass
waits for at most one step. `cancel(uri)` drops a closed document's queued work. Calls
(`call(fn)`: loading the model, giving memory back) run before any document. The thread
is a daemon: the process can end while it computes (see `InclsServer.end`).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

R = TypeVar("R")  # what a step returns


class Worker(Generic[R]):
    def __init__(
        self,
        step: Callable[[str], R],
        more: Callable[[R], bool],
        deliver: Callable[[str, R | None, BaseException | None], None],
    ) -> None:
        self.step, self.more, self.deliver = step, more, deliver
        self.loop: asyncio.AbstractEventLoop | None = None
        self.queue: deque[str] = deque()
        self.calls: deque[tuple[Callable[[], object], Future]] = deque()
        self.running: str | None = None
        self.wake = threading.Condition()
        self.thread = threading.Thread(target=self._run, name="incls-model", daemon=True)
        self.thread.start()

    def submit(self, uri: str) -> None:
        """New work for a document: to the front of the queue."""
        with self.wake:
            if uri in self.queue:
                self.queue.remove(uri)
            self.queue.appendleft(uri)
            self.wake.notify()

    def _again(self, uri: str) -> None:
        """More work for a document just served: to the back of the queue (unless new work came meanwhile)."""
        with self.wake:
            if uri not in self.queue:
                self.queue.append(uri)

    def cancel(self, uri: str) -> None:
        with self.wake:
            if uri in self.queue:
                self.queue.remove(uri)

    def queued(self, uri: str) -> bool:
        with self.wake:
            return uri in self.queue

    def call(self, fn: Callable[[], object]) -> Future:
        """Run `fn` on the model thread before any document's work; its future."""
        future: Future = Future()
        with self.wake:
            self.calls.append((fn, future))
            self.wake.notify()
        return future

    def _run(self) -> None:
        while True:
            with self.wake:
                while not self.calls and not self.queue:
                    self.wake.wait()
                if self.calls:
                    fn, future = self.calls.popleft()
                    uri = None
                else:
                    uri = self.queue.popleft()
            if uri is None:
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed to whoever waits on it
                    future.set_exception(exc)
                continue
            result: R | None = None
            error: Exception | None = None
            try:
                result = self.step(uri)
            except Exception as exc:
                error = exc
            else:
                if self.more(result):
                    self._again(uri)
            if self.loop is not None:
                self.loop.call_soon_threadsafe(self.deliver, uri, result, error)
