"""The pygls server: short handlers over `Core`, the model on one worker thread.

pygls would apply content changes to its own workspace before our handler runs; the
protocol subclass below hands open/change/close straight to us instead, so each change
is seen in its pre-edit coordinates and turned into a token edit. Every handler catches
its own failures: a client's mistake is logged and reported, never fatal.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .. import __version__
from ..text import normalize_encoding
from . import present
from .choices import Choices
from .core import Change, ChangeRejected, Core, Report
from .settings import SECTION, Settings, from_environment, merge

log = logging.getLogger(__name__)

STATUS = "incls/status"
CMD_DISABLE, CMD_ENABLE, CMD_IGNORE = "incls.disableForFile", "incls.enableForFile", "incls.ignoreParagraph"
CMD_INSPECT = "incls.inspect"  # the server's view of a document: for tests and bug reports


class InclsProtocol(LanguageServerProtocol):
    """Document sync goes to our handlers untouched (pygls's workspace is not used for text)."""

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


class InclsServer(LanguageServer):
    def __init__(self, settings: Settings | None = None) -> None:
        super().__init__("incls", __version__, protocol_cls=InclsProtocol,
                         text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.core = Core(settings or from_environment())
        self.worker = ThreadPoolExecutor(1, thread_name_prefix="incls-model")
        self.queued: set[str] = set()
        self.reports: dict[str, Report] = {}
        self.choices = Choices()
        self.skip_shown: dict[str, str] = {}
        self.model_state = "loading"
        self.model_error = ""

    @property
    def settings(self) -> Settings:
        return self.core.settings

    # -- messages to the client -------------------------------------------------------

    def tell(self, message: str, kind=types.MessageType.Warning, window: bool = True) -> None:
        """Log a problem, and show it in the editor when the user should act on it."""
        log.warning(message) if kind != types.MessageType.Error else log.error(message)
        try:
            self.window_log_message(types.LogMessageParams(kind, f"incls: {message}"))
            if window:
                self.window_show_message(types.ShowMessageParams(kind, f"incls: {message}"))
        except Exception:  # the transport may be gone at shutdown
            log.debug("could not send a message", exc_info=True)

    def remember(self, problem: str | None) -> None:
        """Report a problem reading or saving the user's choices (they still hold in memory)."""
        if problem:
            self.tell(problem)

    def notify_status(self, payload: dict) -> None:
        if self.settings.statusNotifications:
            self.protocol.notify(STATUS, payload)

    def publish(self, uri: str, diagnostics: list, version: int | None = None) -> None:
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, diagnostics, version))

    # -- model work ---------------------------------------------------------------------

    def load(self) -> None:
        """On the worker thread: tokenizer and model (the first job it runs)."""
        from ..model.base import load_tokenizer
        from ..model.checkpoint import load_model

        path = Path(self.settings.modelPath).expanduser() if self.settings.modelPath else None
        started = time.perf_counter()
        tokenizer = load_tokenizer(log=log.info)
        model = load_model(path, log=log.info)
        self.core.load(tokenizer, model)
        log.info("incls: model ready in %.1f s", time.perf_counter() - started)

    def schedule(self, uri: str) -> None:
        """Queue a model update unless one is already waiting (it will see this change too)."""
        if uri in self.queued:
            return
        self.queued.add(uri)
        asyncio.get_running_loop().create_task(self.refresh(uri))

    def schedule_all(self) -> None:
        for uri in list(self.core.documents):
            self.schedule(uri)

    def _compute(self, uri: str) -> Report | None:
        self.queued.discard(uri)  # before the snapshot: a change after this queues a new job
        return self.core.compute(uri)

    async def refresh(self, uri: str) -> None:
        if self.choices.is_disabled(uri):
            self.queued.discard(uri)
            self.show_disabled(uri)
            return
        try:
            report = await asyncio.get_running_loop().run_in_executor(self.worker, self._compute, uri)
        except Exception as exc:
            self.tell(f"classification of {uri} failed ({exc}); it will be retried on the next change",
                      types.MessageType.Error)
            return
        doc = self.core.document(uri)
        if report is None or doc is None or uri in self.queued or report.version != doc.version:
            return  # closed, or stale: a newer version is on its way
        self.show(uri, report)

    def show_disabled(self, uri: str) -> None:
        doc = self.core.document(uri)
        self.publish(uri, [], None if doc is None else doc.version)
        self.notify_status(present.status(None, uri, "disabled"))

    def show(self, uri: str, report: Report) -> None:
        if self.choices.is_disabled(uri):
            self.show_disabled(uri)
            return
        if report.skip_reason:
            if self.skip_shown.get(uri) != report.skip_reason:
                self.skip_shown[uri] = report.skip_reason
                self.tell(f"{Path(uri).name}: {report.skip_reason}", types.MessageType.Warning)
            self.publish(uri, [], report.version)
            self.notify_status(present.status(None, uri, "skipped", report.skip_reason))
            return
        self.skip_shown.pop(uri, None)
        if report.label is None:
            state = "error" if self.model_state == "error" else "loading"
            self.notify_status(present.status(None, uri, state, self.model_error))
            return
        self.reports[uri] = report
        diagnostics = [] if not self.settings.enable else present.diagnostics(
            report, self.settings, self.choices.ignored_in(uri), self.core.encoding)
        self.publish(uri, diagnostics, report.version)
        self.notify_status(present.status(report, uri, "ready"))

    # -- settings ----------------------------------------------------------------------

    def apply_settings(self, raw: object) -> None:
        settings, problems = merge(self.settings, raw)
        for problem in problems:
            self.tell(f"setting ignored: {problem}", window=False)
        self.core.update_settings(settings)


server = None  # the running InclsServer (one per process)


def guarded(handler):
    """A handler that logs and reports its failure instead of raising into pygls."""

    @functools.wraps(handler)
    def wrapper(ls: InclsServer, *args):
        try:
            return handler(ls, *args)
        except Exception as exc:
            log.exception("incls: %s failed", handler.__name__)
            ls.tell(f"internal error in {handler.__name__} ({exc}); the server keeps running",
                    types.MessageType.Error, window=False)
            return None

    return wrapper


def build_server(settings: Settings | None = None) -> InclsServer:
    ls = InclsServer(settings)

    @ls.feature(types.INITIALIZE)
    @guarded
    def initialize(ls: InclsServer, params: types.InitializeParams):
        ls.core.encoding = normalize_encoding(ls.workspace.position_encoding)
        ls.remember(ls.choices.load())
        if params.initialization_options is not None:
            ls.apply_settings(params.initialization_options)

    @ls.feature(types.INITIALIZED)
    async def initialized(ls: InclsServer, params):
        await start_model(ls)

    @ls.feature(types.TEXT_DOCUMENT_DID_OPEN)
    @guarded
    def did_open(ls: InclsServer, params: types.DidOpenTextDocumentParams):
        doc = params.text_document
        ls.core.open(doc.uri, doc.text, doc.version, doc.language_id)
        ls.reports.pop(doc.uri, None)
        ls.schedule(doc.uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    @guarded
    def did_change(ls: InclsServer, params: types.DidChangeTextDocumentParams):
        changes = [Change(c.text, _range(c)) for c in params.content_changes]
        try:
            ls.core.change(params.text_document.uri, params.text_document.version, changes)
        except ChangeRejected as exc:
            ls.tell(str(exc))
        if ls.core.document(params.text_document.uri) is not None:
            ls.schedule(params.text_document.uri)

    @ls.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    @guarded
    def did_close(ls: InclsServer, params: types.DidCloseTextDocumentParams):
        uri = params.text_document.uri
        if ls.core.close(uri):
            ls.reports.pop(uri, None)
            ls.publish(uri, [])

    @ls.feature(types.TEXT_DOCUMENT_HOVER)
    @guarded
    def hover(ls: InclsServer, params: types.HoverParams):
        from ..text import InvalidPosition, LineIndex

        uri = params.text_document.uri
        doc, report = ls.core.document(uri), ls.reports.get(uri)
        if doc is None or report is None or ls.choices.is_disabled(uri) or not ls.settings.enable:
            return None
        try:
            offset = LineIndex(report.text, ls.core.encoding).offset(params.position.line, params.position.character)
        except InvalidPosition:
            return None
        text = present.hover_markdown(report, offset)
        if report.version != doc.version:
            text += "\n\n_(updating…)_"
        return types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text))

    @ls.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
    @guarded
    def code_action(ls: InclsServer, params: types.CodeActionParams):
        from ..text import InvalidPosition, LineIndex

        uri = params.text_document.uri
        doc = ls.core.document(uri)
        if doc is None:
            return []
        if ls.choices.is_disabled(uri):
            return [_action("Enable incls for this file", CMD_ENABLE, [uri])]
        actions = [_action("Disable incls for this file", CMD_DISABLE, [uri])]
        report = ls.reports.get(uri)
        if report is not None:
            try:
                offset = LineIndex(report.text, ls.core.encoding).offset(params.range.start.line,
                                                                         params.range.start.character)
            except InvalidPosition:
                return actions
            reading = present.paragraph_at(report, offset)
            if reading is not None:
                actions.append(_action("Ignore this paragraph (incls)", CMD_IGNORE, [uri, reading.paragraph.key]))
        return actions

    @ls.command(CMD_DISABLE)
    @guarded
    def disable_for_file(ls: InclsServer, uri: str):
        uri = str(uri)
        ls.remember(ls.choices.disable(uri))
        ls.show_disabled(uri)

    @ls.command(CMD_ENABLE)
    @guarded
    def enable_for_file(ls: InclsServer, uri: str):
        uri = str(uri)
        ls.remember(ls.choices.enable(uri))
        if ls.core.document(uri) is not None:
            ls.core.touch(uri)
            ls.schedule(uri)

    @ls.command(CMD_IGNORE)
    @guarded
    def ignore_paragraph(ls: InclsServer, uri: str, key: str):
        uri, key = str(uri), str(key)
        ls.remember(ls.choices.ignore(uri, key))
        if uri in ls.reports:
            ls.show(uri, ls.reports[uri])

    @ls.command(CMD_INSPECT)
    @guarded
    def inspect(ls: InclsServer, uri: str):
        doc = ls.core.document(str(uri))
        if doc is None:
            return None
        return {"text": doc.text, "version": doc.version, "skipped": doc.skip_reason,
                "ids": None if doc.tokens is None else list(doc.tokens.ids), "prose": doc.prose}

    @ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: InclsServer, params: types.DidChangeConfigurationParams):
        try:
            raw = params.settings
            if not _has_section(raw) and _client_pulls_configuration(ls):
                items = [types.ConfigurationItem(section=SECTION)]
                result = await ls.workspace_configuration_async(types.ConfigurationParams(items))
                raw = {SECTION: result[0]} if result and isinstance(result[0], dict) else raw
            ls.apply_settings(raw)
            ls.reports.clear()
            for uri in list(ls.core.documents):
                ls.core.touch(uri)
            ls.schedule_all()
        except Exception as exc:
            log.exception("incls: configuration change failed")
            ls.tell(f"configuration change failed ({exc})", types.MessageType.Error, window=False)

    @ls.feature(types.SHUTDOWN)
    def shutdown(ls: InclsServer, params):
        ls.worker.shutdown(wait=False, cancel_futures=True)

    return ls


async def start_model(ls: InclsServer) -> None:
    """Load the model on the worker (first in its queue), with $/progress when the client allows it."""
    loop = asyncio.get_running_loop()
    loading = loop.run_in_executor(ls.worker, ls.load)
    token = "incls-load-model"
    caps = ls.client_capabilities.window
    progress = bool(caps and caps.work_done_progress)
    if progress:
        try:
            await asyncio.wait_for(ls.work_done_progress.create_async(token), 10)
            ls.work_done_progress.begin(token, types.WorkDoneProgressBegin(title="incls", message="loading the model"))
        except Exception:
            progress = False
    try:
        await loading
        ls.model_state = "ready"
        message = "model ready"
    except Exception as exc:  # ModelError names the file and the fix
        ls.model_state, ls.model_error = "error", str(exc)
        ls.tell(f"the model could not be loaded: {exc}", types.MessageType.Error)
        message = "model failed to load"
    if progress:
        ls.work_done_progress.end(token, types.WorkDoneProgressEnd(message=message))
    ls.schedule_all()


def _range(change) -> tuple | None:
    r = getattr(change, "range", None)
    if r is None:
        return None
    return (r.start.line, r.start.character), (r.end.line, r.end.character)


def _action(title: str, command: str, arguments: list) -> types.CodeAction:
    return types.CodeAction(title=title, kind=types.CodeActionKind.QuickFix,
                            command=types.Command(title=title, command=command, arguments=arguments))


def _has_section(raw: object) -> bool:
    return isinstance(raw, dict) and any(k == SECTION or str(k).startswith(SECTION + ".") for k in raw)


def _client_pulls_configuration(ls: InclsServer) -> bool:
    workspace = ls.client_capabilities.workspace
    return bool(workspace and workspace.configuration)
