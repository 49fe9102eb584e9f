"""Reports -> what the editor shows: diagnostics, hover text, the status notification."""

from __future__ import annotations

from dataclasses import dataclass

from lsprotocol import types

from ..reading import tone
from ..reading.core import Report
from ..reading.settings import Settings
from ..reading.shown import Outcome, Status, status
from ..text import LineIndex

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
    return _range(index, *index.line_bounds(index.position(offset)[0]))


def hints_for(report: Report, settings: Settings, ignored: set[str]) -> list[tone.Hint]:
    """The sentences to point out in this report (none for an empty or neutral document)."""
    t = tone.document_tone(report.labels, report.probabilities)
    if report.empty or report.evidence is None or t is None or tone.is_quiet(t):
        return []
    return tone.hints(
        report.evidence,
        t,
        settings.sentenceHints,
        settings.sentenceThreshold,
        settings.sentenceAgainstThreshold,
        ignored,
    )


def diagnostics(report: Report, settings: Settings, ignored: set[str], encoding: str) -> list[types.Diagnostic]:
    """The document's tone on the first line, then hints on the sentences that carry it or pull against it.

    Nothing for an empty or whitespace-only document, nor for a neutral one (see `incls.reading.tone`).
    """
    t = tone.document_tone(report.labels, report.probabilities)
    if report.empty or t is None or tone.is_quiet(t):
        return []
    index = report.line_index(encoding)
    out = [
        types.Diagnostic(
            range=first_line_range(index, report.anchor),
            message=f"Reads {t.label} ({t.confidence:.2f})",
            severity=SEVERITY[settings.severity],
            source=SOURCE,
            code=t.label,
            data={"kind": "document", "probabilities": dict(zip(report.labels, report.probabilities))},
        )
    ]
    for hint in hints_for(report, settings, ignored):
        out.append(
            types.Diagnostic(
                range=_range(index, hint.start, hint.end),
                message=hint.message,
                severity=SEVERITY[settings.sentenceSeverity],
                source=SOURCE,
                code=hint.label,
                data={
                    "kind": "sentence",
                    "role": hint.role,
                    "sentenceKey": hint.key,
                    "share": round(hint.share, 4),
                    "pull": round(hint.pull, 4),
                },
            )
        )
    return out


def sentence_at(report: Report, offset: int) -> int | None:
    """The unit under `offset`, or None."""
    return None if report.evidence is None or report.empty else report.evidence.at(offset)


def _probabilities(labels, probabilities) -> str:
    return " · ".join(f"{label} {p:.2f}" for label, p in zip(labels, probabilities))


def hover_markdown(
    report: Report, offset: int, on_first_line: bool, settings: Settings, ignored: set[str]
) -> str | None:
    """On a sentence: its own reading and its share of the document's tone; on the first
    line, or between sentences: the document's probabilities and its top evidence. None
    for an empty document."""
    t = tone.document_tone(report.labels, report.probabilities)
    if report.empty or t is None:
        return None
    evidence, lines = report.evidence, []
    i = sentence_at(report, offset)
    if on_first_line or i is None:
        lines += [
            f"**incls** — reads **{t.label}** ({t.confidence:.2f})",
            "",
            f"Document: {_probabilities(report.labels, report.probabilities)}",
        ]
        top = hints_for(report, settings, ignored)
        if top and evidence is not None:
            lines += ["", "Evidence:"]
            lines += [
                f"- “{tone.excerpt(evidence.unit_text(h.index))}” reads {tone.describe(h.label, h.probability)}"
                f" ({tone.percent(h.share)} of the {t.label} evidence)"
                for h in top
            ]
    if i is not None and evidence is not None:
        reading = evidence.reading[i].tolist()
        j = max(range(len(reading)), key=reading.__getitem__)
        share = float(evidence.shares(t.index)[i])
        kind = evidence.kinds[i]
        what = {"greeting": "This greeting", "signoff": "This sign-off", "line": "This line"}.get(kind, "This sentence")
        if lines:
            lines.append("")
        lines += [
            f"{what} reads **{tone.describe(report.labels[j], reading[j])}** ({reading[j]:.2f}): "
            f"{_probabilities(report.labels, reading)}",
            f"Its share of the evidence for {t.label}: {tone.percent(share)}"
            + (" (it pulls the other way)" if share < 0 else ""),
        ]
        rest = tone.without(evidence, i)
        if rest:
            lines.append(
                f"Without it the document would read about {t.label} {rest[t.index]:.2f} (now {t.confidence:.2f})"
            )
    return "\n".join(lines)


@dataclass(frozen=True)
class Shown:
    """What the editor is sent for a report: the diagnostics to publish (None: nothing is
    published, the last ones stay) and the status."""

    diagnostics: list[types.Diagnostic] | None
    status: Status


def shown(
    report: Report, result: Outcome, settings: Settings, ignored: set[str], encoding: str, model_error: str = ""
) -> Shown:
    """What a report with this outcome shows: a reading's diagnostics (none while disabled
    by settings), none when there is no tone to show, nothing published without a reading
    (the model loading, or `model_error`); and its status, saying why where there is none."""
    if result is Outcome.READY:
        published = diagnostics(report, settings, ignored, encoding) if settings.enable else []
    elif result in (Outcome.LOADING, Outcome.ERROR):
        published = None
    else:
        published = []
    if result is Outcome.SKIPPED:
        message = report.skip_reason or ""
    else:
        message = model_error if result in (Outcome.LOADING, Outcome.ERROR) else ""
    return Shown(published, status(report.uri, result, report, message))
