"""The LSP handlers: one short function per message, over the server and the document's state.

Each handler reads its params, asks `Core` (text, tokens, model work), the document's
`DocumentState` (what is shown) or the server (publishing, scheduling, settings), and
returns. None of them computes anything itself. `guarded` makes a handler's failure a
logged and reported error instead of an exception inside pygls (a client error with its
own JSON-RPC code still goes back to the client as that error). `build_server`
registers them from `FEATURES` and `COMMANDS`.
"""

from __future__ import annotations

import functools
import logging

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams

from ..reading.core import Change, ChangeRejected
from ..reading.settings import Settings
from ..text import normalize_encoding
from .server import InclsServer  # at run time: pygls resolves a command handler's annotations
from .settings import SECTION

log = logging.getLogger(__name__)

CMD_DISABLE, CMD_ENABLE, CMD_IGNORE = "incls.disableForFile", "incls.enableForFile", "incls.ignoreSentence"
CMD_INSPECT = "incls.inspect"  # the server's view of a document: for tests and bug reports


def guarded(handler):
    """A handler that logs and reports its failure instead of raising into pygls."""

    @functools.wraps(handler)
    def wrapper(ls: InclsServer, *args):
        try:
            return handler(ls, *args)
        except JsonRpcException:  # a client error with its own code: pygls answers with it
            raise
        except Exception as exc:
            log.exception("incls: %s failed", handler.__name__)
            ls.tell(f"internal error in {handler.__name__} ({exc}); the server keeps running", types.MessageType.Error)
            return None

    return wrapper


# -- lifecycle ---------------------------------------------------------------------------


@guarded
def initialize(ls: InclsServer, params: types.InitializeParams):
    """The position encoding pygls negotiated, the user's saved choices, the client's settings."""
    ls.core.encoding = normalize_encoding(ls.workspace.position_encoding)
    ls.remember(ls.choices.load())
    if params.initialization_options is not None:
        ls.apply_settings(params.initialization_options)


async def initialized(ls: InclsServer, params):
    """Load the model (the documents opened meanwhile are read once it is ready)."""
    await ls.start_model()


def shutdown(ls: InclsServer, params):
    """Drop queued model work; the process ends at `exit` (see InclsProtocol)."""
    for uri in list(ls.core.documents):
        ls.worker.cancel(uri)


# -- document sync -----------------------------------------------------------------------


@guarded
def did_open(ls: InclsServer, params: types.DidOpenTextDocumentParams):
    """A new document (or one opened again): a fresh state, and model work for it."""
    doc = params.text_document
    ls.core.open(doc.uri, doc.text, doc.version, doc.language_id)
    ls.open_state(doc.uri)
    ls.schedule(doc.uri)


@guarded
def did_change(ls: InclsServer, params: types.DidChangeTextDocumentParams):
    """Apply the changes in order (the core turns them into token edits) and queue model work.

    A change the core refuses is reported: losing sync is shown once, by the skip report
    that follows; other refusals once per document."""
    uri = params.text_document.uri
    changes = [Change(c.text, _range(c)) for c in params.content_changes]
    try:
        ls.core.change(uri, params.text_document.version, changes)
    except ChangeRejected as exc:
        doc = ls.core.document(uri)
        ls.tell(str(exc), popup=None if doc is not None and doc.out_of_sync else (uri, "rejected-change"))
    if ls.core.document(uri) is not None:
        ls.schedule(uri)


@guarded
def did_close(ls: InclsServer, params: types.DidCloseTextDocumentParams):
    """Cancel its work, forget it, clear its diagnostics, and give its memory back."""
    ls.close(params.text_document.uri)


# -- requests ----------------------------------------------------------------------------


@guarded
def hover(ls: InclsServer, params: types.HoverParams):
    """The sentence's or the document's reading from the report shown (see `DocumentState.hover`)."""
    uri = params.text_document.uri
    doc, state = ls.core.document(uri), ls.states.get(uri)
    if doc is None or state is None or ls.choices.is_disabled(uri) or not ls.settings.enable:
        return None
    position = params.position
    text = state.hover(position.line, position.character, doc.version, ls.settings, ls.choices.ignored_in(uri))
    return None if text is None else types.Hover(types.MarkupContent(types.MarkupKind.Markdown, text))


@guarded
def code_action(ls: InclsServer, params: types.CodeActionParams):
    """Disable (or enable) incls for the file; ignore the sentence at the range's start."""
    uri = params.text_document.uri
    if ls.core.document(uri) is None:
        return []
    if ls.choices.is_disabled(uri):
        return [_action("Enable incls for this file", CMD_ENABLE, [uri])]
    actions = [_action("Disable incls for this file", CMD_DISABLE, [uri])]
    state, start = ls.states.get(uri), params.range.start
    key = None if state is None else state.sentence_key(start.line, start.character)
    if key is not None:
        actions.append(_action("Ignore this sentence (incls)", CMD_IGNORE, [uri, key]))
    return actions


async def did_change_configuration(ls: InclsServer, params: types.DidChangeConfigurationParams):
    """New settings (pulled from the client when the notification carries none of ours); every document is read again."""
    try:
        raw = params.settings
        if not _has_section(raw) and _client_pulls_configuration(ls):
            items = [types.ConfigurationItem(section=SECTION)]
            result = await ls.workspace_configuration_async(types.ConfigurationParams(items))
            raw = {SECTION: result[0]} if result and isinstance(result[0], dict) else raw
        ls.apply_settings(raw)
        ls.forget_reports()
        for uri in list(ls.core.documents):
            ls.core.touch(uri)
        ls.schedule_all()
    except Exception as exc:
        log.exception("incls: configuration change failed")
        ls.tell(f"configuration change failed ({exc})", types.MessageType.Error)


# -- commands (the code actions' and the client's) -----------------------------------------


@guarded
def disable_for_file(ls: InclsServer, *args: object):
    """Remember the choice (it survives a restart) and clear the file's diagnostics."""
    (uri,) = _strings(args, "uri")
    ls.remember(ls.choices.disable(uri))
    ls.show_disabled(uri)


@guarded
def enable_for_file(ls: InclsServer, *args: object):
    """Forget the choice and read the file again if it is open."""
    (uri,) = _strings(args, "uri")
    ls.remember(ls.choices.enable(uri))
    if ls.core.document(uri) is not None:
        ls.core.touch(uri)
        ls.schedule(uri)


@guarded
def ignore_sentence(ls: InclsServer, *args: object):
    """Remember the sentence's key and show the document again without its hint."""
    uri, key = _strings(args, "uri", "key")
    ls.remember(ls.choices.ignore(uri, key))
    state = ls.states.get(uri)
    if state is not None and state.report is not None:
        ls.show(uri, state.report)


@guarded
def inspect(ls: InclsServer, *args: object):
    """The server's view of a document: its text, version, tokens and prose."""
    (uri,) = _strings(args, "uri")
    doc = ls.core.document(uri)
    if doc is None:
        return None
    return {
        "text": doc.text,
        "version": doc.version,
        "skipped": doc.skip_reason,
        "outOfSync": doc.out_of_sync,
        "ids": None if doc.model.tokens is None else list(doc.model.tokens.ids),
        "prose": doc.prose,
    }


# (method, options, handler) for `LanguageServer.feature`; (command, handler) for `.command`
FEATURES = [
    (types.INITIALIZE, None, initialize),
    (types.INITIALIZED, None, initialized),
    (types.SHUTDOWN, None, shutdown),
    (types.TEXT_DOCUMENT_DID_OPEN, None, did_open),
    (types.TEXT_DOCUMENT_DID_CHANGE, None, did_change),
    (types.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
    (types.TEXT_DOCUMENT_HOVER, None, hover),
    (
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
        code_action,
    ),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, None, did_change_configuration),
]
COMMANDS = [
    (CMD_DISABLE, disable_for_file),
    (CMD_ENABLE, enable_for_file),
    (CMD_IGNORE, ignore_sentence),
    (CMD_INSPECT, inspect),
]


def _strings(args: tuple, *names: str) -> tuple[str, ...]:
    """A command's arguments, which must be `names` strings; InvalidParams otherwise."""
    if len(args) != len(names) or not all(isinstance(a, str) for a in args):
        raise JsonRpcInvalidParams.of(
            ValueError(f"expected arguments ({', '.join(names)}), strings; got {list(args)!r}")
        )
    return tuple(args)


def _range(change) -> tuple | None:
    r = getattr(change, "range", None)
    if r is None:
        return None
    return (r.start.line, r.start.character), (r.end.line, r.end.character)


def _action(title: str, command: str, arguments: list) -> types.CodeAction:
    return types.CodeAction(
        title=title,
        kind=types.CodeActionKind.QuickFix,
        command=types.Command(title=title, command=command, arguments=arguments),
    )


def _has_section(raw: object) -> bool:
    return isinstance(raw, dict) and any(k == SECTION or str(k).startswith(SECTION + ".") for k in raw)


def _client_pulls_configuration(ls: InclsServer) -> bool:
    workspace = ls.client_capabilities.workspace
    return bool(workspace and workspace.configuration)


def build_server(settings: Settings | None = None) -> InclsServer:
    """A server with every handler of this module registered."""
    ls = InclsServer(settings)
    for method, options, handler in FEATURES:
        ls.feature(method, options)(handler)
    for command, handler in COMMANDS:
        ls.command(command)(handler)
    return ls
