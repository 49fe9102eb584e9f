"""The pygls server: the process, the protocol, and what handlers share; the model on its own thread.

The handlers themselves are module-level functions in `handlers.py`; `handlers.build_server`
registers them. `InclsServer` holds the `Core` (documents, tokens, sessions), the
`Worker` (the model thread), one `DocumentState` per open URI (the report shown), the
user's choices, and the few operations handlers share: scheduling model work, publishing
a report, telling the user about a problem, applying settings, loading the model.

pygls would apply content changes to its own workspace before our handler runs; the
protocol subclass below hands open/change/close straight to us instead, so each change
is seen in its pre-edit coordinates and turned into a token edit. Every handler catches
its own failures: a client's mistake is logged and reported, never fatal.

The protocol also keeps the lifecycle the specification asks for, which pygls leaves
unanswered: a request before `initialize` gets ServerNotInitialized, one after
`shutdown` InvalidRequest, one whose params do not fit its method InvalidParams; `exit`
ends the process with 0 after `shutdown` and 1 without, at once, even while the model
computes (so does the end of the input, whatever came before it: the process never
outlives its input). Frames are read by `wire.FrameReader` on a thread of their own;
what it cannot hand on (a batch, a message nested too deep) is answered here.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import logging
import os
import sys
import threading
import time
from pathlib import Path
from typing import TypeGuard

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.io_ import StdoutWriter
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .. import __version__
from ..reading.choices import Choices
from ..reading.core import Core, Report
from ..reading.messages import QUOTE, Popups, quoted, shortened
from ..reading.settings import Settings
from ..reading.shown import Outcome, Status, outcome, status
from . import present
from .settings import from_environment, merge
from .state import DocumentState
from .wire import MAX_DEPTH, FrameReader, Unhandled
from .worker import Worker

log = logging.getLogger(__name__)

STATUS = "incls/status"
EXIT_GRACE = 5.0  # seconds the event loop has to end the process once the input is closed
MODEL_PATH_FIX = (
    "Fix: set incls.modelPath to a checkpoint written by `incls train` (.safetensors), "
    "or clear it to use the shipped model."
)


class Unreadable:
    """A message whose params do not fit its method (what pygls would raise on)."""

    def __init__(self, data: dict, error: JsonRpcException) -> None:
        self.data, self.error = data, error


class InclsProtocol(LanguageServerProtocol):
    """Document sync goes to our handlers untouched; the lifecycle is enforced for every message.

    pygls (pinned in pyproject.toml) has no public API for four things used here, each
    marked where it is used: the protocol's server (`_server`), whether shutdown was
    received (`_shutdown`), answering a request outside a handler (`_send_response`), and
    writing a message that is not one object (`_send_data`, a batch's array of errors).
    """

    _server: InclsServer  # private in pygls: the server this protocol serves
    initialize_seen = False

    def _user(self, method, params):
        if (handler := self.fm.features.get(method)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params):
        yield from self._user(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params):
        yield from self._user(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params):
        yield from self._user(types.TEXT_DOCUMENT_DID_CLOSE, params)

    def structure_message(self, data):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            return Unreadable(data, exc)

    def receive(self, frame: bytes | Unhandled) -> None:
        """One message from the reader (a JSON object no deeper than MAX_DEPTH, or what it
        could not hand on); nothing raised reaches the loop."""
        try:
            if isinstance(frame, Unhandled):
                self._unhandled(frame)
            else:
                self.handle_message(json.loads(frame, object_hook=self.structure_message))
        except Exception:
            log.exception("incls: a message could not be handled")

    def _unhandled(self, frame: Unhandled) -> None:
        """A message nested too deep gets InvalidRequest when its id can be read (else a log
        line). A batch is not supported: each request in it gets InvalidRequest, in one
        array as JSON-RPC answers a batch; a batch without any gets one error with a null id."""
        if not frame.batch:
            why = f"a message nested deeper than {MAX_DEPTH} levels is not handled"
            self._refuse(frame.members[0], types.ErrorCodes.InvalidRequest, why)
            return
        why = "JSON-RPC batches are not supported: send each message in a frame of its own"
        log.warning("incls: refused a batch of %d messages (%s)", len(frame.members), why)
        error = {"code": int(types.ErrorCodes.InvalidRequest), "message": why}
        answers = [
            {"jsonrpc": self.VERSION, "id": m["id"], "error": error}
            for m in frame.members
            if "method" in m and _is_id(m.get("id"))
        ]
        self._send_data(answers or {"jsonrpc": self.VERSION, "id": None, "error": error})  # private: an array

    def handle_message(self, message) -> None:
        if isinstance(message, Unreadable):
            self._refuse(
                message.data,
                types.ErrorCodes.InvalidParams,
                f"invalid params: {message.error.message or message.error}",
            )
            return
        if isinstance(message, dict) or getattr(message, "jsonrpc", None) != self.VERSION:
            data = message if isinstance(message, dict) else {}
            self._refuse(data, types.ErrorCodes.InvalidRequest, "not a JSON-RPC 2.0 message")
            return
        method = getattr(message, "method", None)
        request = method is not None and hasattr(message, "id")
        if method == types.EXIT:
            self._server.end(0 if self._shutdown else 1, "exit")  # private: whether shutdown came first
            return
        if method is None:  # a response to one of our requests
            super().handle_message(message)
            return
        data = {"id": getattr(message, "id", None), "method": method} if request else {"method": method}
        if self._shutdown:  # private: see the class docstring
            self._refuse(data, types.ErrorCodes.InvalidRequest, f"{method} after shutdown")
        elif method == types.INITIALIZE and self.initialize_seen:
            self._refuse(data, types.ErrorCodes.InvalidRequest, "initialize was already received")
        elif not self.initialize_seen and method != types.INITIALIZE:
            self._refuse(data, types.ErrorCodes.ServerNotInitialized, f"{method} before initialize")
        else:
            self.initialize_seen = self.initialize_seen or method == types.INITIALIZE
            super().handle_message(message)

    def _refuse(self, data: dict, code: int, why: str) -> None:
        """Answer a request with an error (a notification is only logged)."""
        msg_id = data.get("id")
        if "method" in data and _is_id(msg_id):
            log.warning("incls: refused request %s (%s)", quoted(data.get("method")), why)
            self._send_response(msg_id, error=types.ResponseError(int(code), why))  # private: no handler answers
        else:
            log.warning("incls: ignored a notification (%s)", why)


class Writer(StdoutWriter):
    """stdout; a client gone (a broken pipe) ends the server instead of raising in a handler."""

    def __init__(self, stdout, gone) -> None:
        super().__init__(stdout)
        self.gone = gone

    def write(self, data: bytes) -> None:
        try:
            super().write(data)
        except (BrokenPipeError, ValueError, OSError):
            self.gone()


class InclsServer(LanguageServer):
    protocol: InclsProtocol

    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__(
            "incls",
            __version__,
            protocol_cls=InclsProtocol,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
        )
        self.core = Core(settings or from_environment())
        self.worker = Worker(self.core.compute, lambda report: report is not None and report.more, self.deliver)
        self.states: dict[str, DocumentState] = {}  # one per open document
        self.choices = Choices()
        self.popups = Popups()
        self.model_state = "loading"
        self.model_error = ""
        self.loaded_path: str | None = None  # the incls.modelPath the model was loaded for
        self.releasing = False  # giving closed documents' memory back is queued on the model thread

    # -- process ------------------------------------------------------------------------

    def start_io(self, stdin=None, stdout=None) -> None:
        """Serve on stdio: frames read on a thread of their own, handled on the event loop."""
        self.protocol.set_writer(Writer(stdout or sys.stdout.buffer, lambda: self.end(1, "the output is gone")))
        asyncio.run(self._serve((stdin or sys.stdin.buffer).fileno()))

    def start_tcp(self, host: str, port: int) -> None:
        """Serve one client on a TCP port, read and written like stdio (the same frame reader)."""
        import socket

        with socket.create_server((host, port)) as listener:
            log.info("incls: listening on %s:%d", host, port)
            connection, _ = listener.accept()
        self.protocol.set_writer(Writer(connection.makefile("wb"), lambda: self.end(1, "the client is gone")))
        with connection:
            asyncio.run(self._serve(connection.fileno()))

    async def _serve(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        self.worker.loop = loop
        threading.Thread(target=self._pump, args=(fd, loop), name="incls-input", daemon=True).start()
        await loop.create_future()  # the process ends in `end`

    def _pump(self, fd: int, loop: asyncio.AbstractEventLoop) -> None:
        """On the input thread: hand each message to the event loop; when the input closes
        (or fails), end the process there after the messages before, or from here after
        EXIT_GRACE seconds if the loop has not: the process never outlives its input."""
        reader = FrameReader(fd, lambda problem: loop.call_soon_threadsafe(log.warning, "incls: %s", problem))
        try:
            while (message := reader.next()) is not None:
                loop.call_soon_threadsafe(self.protocol.receive, message)
        except Exception:  # the input itself failed (a closed descriptor, an I/O error)
            log.exception("incls: reading the input failed")
        finally:
            why = "the input was closed"
            # private `_shutdown`: pygls records the shutdown request nowhere else
            loop.call_soon_threadsafe(lambda: self.end(0 if self.protocol._shutdown else 1, why))
            time.sleep(EXIT_GRACE)
            self.end(0 if self.protocol._shutdown else 1, why)

    def end(self, code: int, why: str) -> None:
        """End the process now (0 after shutdown, else 1), model work or not: nothing is left to save."""
        log.info("incls: exiting with %d (%s)", code, why)
        for handler in logging.getLogger().handlers:
            handler.flush()
        os._exit(code)

    @property
    def settings(self) -> Settings:
        return self.core.settings

    # -- messages to the client -------------------------------------------------------

    def tell(self, message: str, kind=types.MessageType.Warning, popup: tuple[str, str] | None = None) -> None:
        """Log a problem; also show it in the editor the first time its `popup` key,
        (scope, kind of problem), is seen (see `Popups`)."""
        log.warning(message) if kind != types.MessageType.Error else log.error(message)
        try:
            self.window_log_message(types.LogMessageParams(kind, f"incls: {message}"))
            if popup is not None and self.popups.first(*popup):
                self.window_show_message(types.ShowMessageParams(kind, f"incls: {message}"))
        except Exception:  # the transport may be gone at shutdown
            log.debug("could not send a message", exc_info=True)

    def remember(self, problem: str | None) -> None:
        """Report a problem reading or saving the user's choices (they still hold in memory)."""
        if problem:
            self.tell(problem, popup=("choices", problem))

    def notify_status(self, status: Status) -> None:
        if self.settings.statusNotifications:
            self.protocol.notify(STATUS, dataclasses.asdict(status))

    def publish(self, uri: str, diagnostics: list, version: int | None = None) -> None:
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, diagnostics, version))

    # -- documents ----------------------------------------------------------------------

    def open_state(self, uri: str) -> DocumentState:
        """A fresh state for a document just opened (again): nothing shown yet."""
        self.states[uri] = state = DocumentState(uri, self.core.encoding)
        return state

    def close(self, uri: str) -> None:
        """A closed document: its queued work dropped, its problems and state forgotten, its
        diagnostics cleared, and its sessions' memory given back to the system."""
        self.worker.cancel(uri)
        self.popups.clear(uri)
        self.states.pop(uri, None)
        if self.core.close(uri):
            self.publish(uri, [])
            if not self.releasing:  # one is enough for a burst of closes
                self.releasing = True
                self.worker.call(self._release)

    def _release(self) -> None:
        """On the model thread: give the memory of the documents closed since back to the system."""
        self.releasing = False
        release_memory()

    def forget_reports(self) -> None:
        """After a new model or new settings: no report shown is current any more."""
        for state in self.states.values():
            state.report = None

    # -- model work ---------------------------------------------------------------------

    def load(self) -> str | None:
        """On the model thread: tokenizer and model. An incls.modelPath that cannot serve,
        whatever the reason, falls back to the shipped model; the returned warning says so,
        naming the setting and the fix."""
        from ..model.base import load_tokenizer
        from ..model.checkpoint import load_model

        started = time.perf_counter()
        wanted = self.settings.modelPath
        tokenizer = load_tokenizer(log=log.info)
        warning = None
        if wanted:
            try:
                self.core.load(tokenizer, load_model(Path(wanted).expanduser(), log=log.info))
            except Exception as exc:  # missing, corrupt, a directory, not a VQ model, a config that cannot be built
                problem = shortened(str(exc).split("\n")[0], 2 * QUOTE)
                warning = (
                    f"incls.modelPath ({shortened(wanted)}) cannot be used: {problem}. "
                    f"The shipped model is used instead. {MODEL_PATH_FIX}"
                )
        if not wanted or warning:
            self.core.load(tokenizer, load_model(None, log=log.info))
        self.loaded_path = wanted
        # what is loaded now lives as long as the model: once the garbage of the loading
        # (and of a failed attempt, a model replaced) is collected, the cyclic collector
        # skips it, so its full collections (which hold every thread) stay short while a
        # long document is projected (20,000 lines of nested quotes: pauses of 160-200 ms
        # without, under 40 ms with), and a hover meanwhile is not held up by them
        release_memory()
        gc.freeze()
        log.info("incls: model ready in %.1f s", time.perf_counter() - started)
        return warning

    def schedule(self, uri: str) -> None:
        """Queue model work for a document (a no-op if some is queued: it will see this change too)."""
        if self.choices.is_disabled(uri):
            self.show_disabled(uri)
            return
        self.worker.loop = self.worker.loop or asyncio.get_running_loop()
        self.worker.submit(uri)

    def schedule_all(self) -> None:
        for uri in list(self.core.documents):
            self.schedule(uri)

    def deliver(self, uri: str, report: Report | None, error: BaseException | None) -> None:
        """On the event loop: a step's result. Stale ones (a newer version queued) are dropped."""
        if error is not None:
            self.tell(
                f"classification of {shortened(uri)} failed ({error}); it will be retried on the next change",
                types.MessageType.Error,
                popup=(uri, "failed"),
            )
            return
        doc = self.core.document(uri)
        if report is None or report.more or doc is None or self.worker.queued(uri) or report.version != doc.version:
            return
        self.show(uri, report)

    def show_disabled(self, uri: str) -> None:
        doc = self.core.document(uri)
        self.publish(uri, [], None if doc is None else doc.version)
        self.notify_status(status(uri, Outcome.DISABLED))

    def show(self, uri: str, report: Report) -> None:
        """Publish what a report's outcome shows, and keep a reading as what the document
        shows (a skipped report keeps the last reading for hover)."""
        state = self.states.get(uri) or self.open_state(uri)
        result = outcome(report, self.choices.is_disabled(uri), self.model_state == "error")
        if result is Outcome.DISABLED:
            self.show_disabled(uri)
            return
        if result is Outcome.SKIPPED:
            self.tell(
                f"{shortened(Path(uri).name)}: {report.skip_reason}",
                types.MessageType.Warning,
                popup=(uri, report.skip_kind or "skipped"),
            )
        else:
            self.popups.clear(uri)  # classifiable again: a problem that comes back is shown again
        if result in (Outcome.EMPTY, Outcome.READY):
            state.report = report
        ignored = self.choices.ignored_in(uri)
        seen = present.shown(report, result, self.settings, ignored, self.core.encoding, self.model_error)
        if seen.diagnostics is not None:
            self.publish(uri, seen.diagnostics, report.version)
        self.notify_status(seen.status)

    # -- settings ----------------------------------------------------------------------

    def apply_settings(self, raw: object) -> None:
        """Merge the client's settings; each distinct problem is shown once. A changed
        incls.modelPath reloads the model (the documents are rebuilt on it)."""
        settings, problems = merge(self.settings, raw)
        for problem in problems:
            self.tell(f"setting ignored: {problem}", popup=("settings", problem.setting))
        self.core.update_settings(settings)
        if self.model_state != "loading" and settings.modelPath != self.loaded_path:
            asyncio.get_running_loop().create_task(self.start_model())

    async def start_model(self) -> None:
        """Load the model on the worker (first in its queue), with $/progress when the client allows it."""
        self.model_state = "loading"
        loading = asyncio.wrap_future(self.worker.call(self.load))
        token = "incls-load-model"
        caps = self.client_capabilities.window
        progress = bool(caps and caps.work_done_progress)
        if progress:
            try:
                await asyncio.wait_for(self.work_done_progress.create_async(token), 10)
                begin = types.WorkDoneProgressBegin(title="incls", message="loading the model")
                self.work_done_progress.begin(token, begin)
            except Exception:
                progress = False
        try:
            warning = await loading
            self.model_state, self.model_error = "ready", ""
            message = "model ready"
            if warning:
                self.tell(warning, types.MessageType.Error, popup=("model", warning))
        except Exception as exc:  # ModelError names the file and the fix
            self.model_state, self.model_error = "error", str(exc)
            self.tell(f"the model could not be loaded: {exc}", types.MessageType.Error, popup=("model", str(exc)))
            message = "model failed to load"
        if progress:
            self.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
        self.forget_reports()
        self.schedule_all()
        if self.model_state == "ready" and self.loaded_path != self.settings.modelPath:  # changed while loading
            await self.start_model()


def _is_id(value: object) -> TypeGuard[int | str]:
    """Whether a value is a JSON-RPC request id (a number or a string)."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def release_memory() -> None:
    """On the model thread, after a close: give the freed sessions' memory back to the system."""
    gc.collect()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc: the allocator keeps it for reuse
        pass
