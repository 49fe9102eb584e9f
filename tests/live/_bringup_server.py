"""Throwaway stand-in for `incls --stdio` used only while bringing up the editor harnesses.

Word-count sentiment; same wire contract as the real server. Deleted before the suite ships.
"""
import re
import sys
import time

from lsprotocol import types as T
from pygls.lsp.server import LanguageServer

POS = {"wonderful", "superb", "moving", "great", "good", "love", "loved", "excellent", "beautiful"}
NEG = {"worst", "boring", "awful", "terrible", "dreadful", "hated", "waste", "bad", "dull"}

server = LanguageServer("incls-bringup", "0", text_document_sync_kind=T.TextDocumentSyncKind.Incremental)


def classify(text):
    words = re.findall(r"[a-z]+", text.lower())
    p = sum(w in POS for w in words) + 1
    n = sum(w in NEG for w in words) + 1
    pos = p / (p + n)
    probs = {"negative": 1 - pos, "positive": pos}
    return max(probs, key=probs.get), probs


def publish(uri):
    t0 = time.perf_counter()
    doc = server.workspace.get_text_document(uri)
    label, probs = classify(doc.source)
    first = doc.lines[0].rstrip("\r\n") if doc.lines else ""
    diag = T.Diagnostic(
        range=T.Range(T.Position(0, 0), T.Position(0, len(first))),
        message=f"Reads {label} ({probs[label]:.2f})",
        severity=T.DiagnosticSeverity.Information,
        source="incls",
        code=label,
    )
    server.text_document_publish_diagnostics(T.PublishDiagnosticsParams(uri=uri, diagnostics=[diag], version=doc.version))
    server.protocol.notify("incls/status", {"uri": uri, "label": label, "probabilities": probs,
                                            "latencyMs": (time.perf_counter() - t0) * 1000, "opsSaved": 1.0})


@server.feature(T.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls, params):
    publish(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls, params):
    publish(params.text_document.uri)


@server.feature(T.TEXT_DOCUMENT_HOVER)
def hover(ls, params):
    doc = server.workspace.get_text_document(params.text_document.uri)
    _, probs = classify(doc.source)
    body = "\n".join(f"- {k}: {v:.3f}" for k, v in probs.items())
    return T.Hover(contents=T.MarkupContent(kind=T.MarkupKind.Markdown, value=f"**incls** document\n\n{body}"))


if __name__ == "__main__":
    if "--stdio" not in sys.argv:
        sys.exit("usage: --stdio")
    server.start_io()
