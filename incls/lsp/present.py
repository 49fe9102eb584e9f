"""Reports -> what the editor shows: diagnostics, hover text, the status notification."""

from __future__ import annotations

from lsprotocol import types

from ..text import LineIndex
from .core import Report
from .paragraphs import ParagraphReading
from .settings import Settings

SOURCE = "incls"
SEVERITY = {
    "error": types.DiagnosticSeverity.Error,
    "warning": types.DiagnosticSeverity.Warning,
    "information": types.DiagnosticSeverity.Information,
    "hint": types.DiagnosticSeverity.Hint,
}


def _range(index: LineIndex, start: int, end: int) -> types.Range:
    (l0, c0), (l1, c1) = index.position(start), index.position(end)
    return types.Range(types.Position(l0, c0), types.Position(l1, c1))


def first_line_range(index: LineIndex, offset: int = 0) -> types.Range:
    """The line holding `offset`: the first line of what the model reads (not front matter)."""
    line = index.position(offset)[0]
    start = index.starts[line]
    end = index.starts[line + 1] if line + 1 < index.line_count else len(index.text)
    end = start + len(index.text[start:end].rstrip("\r\n"))
    return _range(index, start, end)


def strongest_pull(reading: ParagraphReading, labels: tuple[str, ...]) -> tuple[str, float]:
    pull = reading.pull
    k = max(range(len(pull)), key=pull.__getitem__)
    return labels[k], pull[k]


def diagnostics(report: Report, settings: Settings, ignored: set[str], encoding: str,
                index: LineIndex | None = None) -> list[types.Diagnostic]:
    """The document-level diagnostic on the first line, then paragraph suggestions
    (`index`: the line index of `report.text`, when the caller keeps one)."""
    if report.label is None:
        return []
    index = index or LineIndex(report.text, encoding)
    p = max(report.probabilities)
    out = [types.Diagnostic(
        range=first_line_range(index, report.anchor), message=f"Reads {report.label} ({p:.2f})",
        severity=SEVERITY[settings.severity], source=SOURCE, code=report.label,
        data={"kind": "document", "probabilities": dict(zip(report.labels, report.probabilities))})]
    if not settings.paragraphSuggestions or len(report.paragraphs) < 2:
        return out
    for reading in report.paragraphs:
        label, pull = strongest_pull(reading, report.labels)
        if pull < settings.paragraphThreshold or reading.paragraph.key in ignored:
            continue
        out.append(types.Diagnostic(
            range=_range(index, reading.paragraph.start, reading.paragraph.end),
            message=f"This paragraph pulls the document toward {label} (+{pull:.2f})",
            severity=SEVERITY[settings.paragraphSeverity], source=SOURCE, code=label,
            data={"kind": "paragraph", "paragraphKey": reading.paragraph.key}))
    return out


def paragraph_at(report: Report, offset: int) -> ParagraphReading | None:
    for reading in report.paragraphs:
        if reading.paragraph.start <= offset <= reading.paragraph.end:
            return reading
    return None


def hover_markdown(report: Report, offset: int) -> str:
    probs = " · ".join(f"{label} {p:.2f}" for label, p in zip(report.labels, report.probabilities))
    lines = [f"**incls** — reads **{report.label}**", "", f"Document: {probs}"]
    reading = paragraph_at(report, offset)
    if reading is not None:
        after = " · ".join(f"{label} {p:.2f}" for label, p in zip(report.labels, reading.after))
        label, pull = strongest_pull(reading, report.labels)
        lines += ["", f"This paragraph (running prediction at its end): {after}",
                  f"Pull: {pull:+.2f} toward {label}"]
    return "\n".join(lines)


def status(report: Report | None, uri: str, state: str, message: str = "") -> dict:
    """Payload of the `incls/status` notification (the VS Code status bar shows it)."""
    payload = {"uri": uri, "state": state, "message": message}
    if report is None or report.label is None:
        return payload
    ops_saved = (report.ops_full / report.ops) if report.ops and report.ops_full else None
    payload.update({
        "version": report.version, "label": report.label,
        "probabilities": dict(zip(report.labels, report.probabilities)),
        "latencyMs": None if report.latency_ms is None else round(report.latency_ms, 2),
        "computeMs": round(report.compute_ms, 2), "engineMs": round(report.engine_ms, 2), "tokens": report.tokens,
        "ops": report.ops, "opsFull": report.ops_full,
        "opsSaved": None if ops_saved is None else round(ops_saved, 2),
        "incremental": report.incremental,
    })
    return payload
