"""A report's evidence for `incls check`: JSON for programs, plain text for a person.

Ranges are LSP positions (zero-based line, UTF-16 character), as an editor would show
them. Contributions and pulls are in logits (see `incls.reading.evidence`): the contributions
of all units add up to the document's logits.
"""

from __future__ import annotations

from collections.abc import Set as AbstractSet

from ..text import LineIndex
from . import tone
from .core import Report
from .settings import Settings


def _position(index: LineIndex, offset: int) -> dict:
    line, character = index.position(offset)
    return {"line": line, "character": character}


def evidence_json(report: Report, settings: Settings, ignored: AbstractSet[str] = frozenset()) -> dict:
    """{"tone", "confidence", "logits", "sentences": [...], "hints": [...]} for one report."""
    t = tone.document_tone(report.labels, report.probabilities)
    ev = report.evidence
    if report.empty or t is None or ev is None:
        return {"tone": None, "confidence": None, "sentences": [], "hints": []}
    index = report.line_index("utf-16")
    contributions, pulls, readings = ev.contributions().tolist(), ev.pull.tolist(), ev.reading.tolist()
    shares = ev.shares(t.index).tolist()
    sentences = [
        {
            "range": {"start": _position(index, ev.range_of(i)[0]), "end": _position(index, ev.range_of(i)[1])},
            "text": ev.unit_text(i),
            "kind": ev.kinds[i],
            "tokens": ev.t1[i] - ev.t0[i],
            "contribution": dict(zip(report.labels, contributions[i])),
            "pull": dict(zip(report.labels, pulls[i])),
            "reading": dict(zip(report.labels, readings[i])),
            "share": shares[i],
        }
        for i in range(len(ev))
    ]
    hints = (
        tone.hints(
            ev, t, settings.sentenceHints, settings.sentenceThreshold, settings.sentenceAgainstThreshold, set(ignored)
        )
        if not tone.is_quiet(t)
        else []
    )
    return {
        "tone": t.label,
        "confidence": t.confidence,
        "logits": dict(zip(report.labels, ev.logits.tolist())),
        "sentences": sentences,
        "hints": [
            {"sentence": h.index, "role": h.role, "message": h.message, "range": sentences[h.index]["range"]}
            for h in hints
        ],
    }


def explain_text(name: str, report: Report, settings: Settings) -> str:
    """What a person reads: the tone, then the sentences that carry it and pull against it."""
    data = evidence_json(report, settings)
    if data["tone"] is None:
        return f"{name}: nothing to classify (empty)"
    probs = " · ".join(f"{label} {p:.2f}" for label, p in zip(report.labels, report.probabilities))
    lines = [f"{name}: reads {data['tone']} ({data['confidence']:.2f}): {probs}"]
    if tone.is_quiet(tone.document_tone(report.labels, report.probabilities)):
        lines.append("  neutral: nothing to point out")
    for hint in data["hints"]:
        s = data["sentences"][hint["sentence"]]
        where = f"{s['range']['start']['line'] + 1}:{s['range']['start']['character'] + 1}"
        verb = "carries the tone" if hint["role"] == tone.CARRIES else "pulls against it"
        lines.append(
            f"  {where} {verb} ({tone.percent(s['share'])} of the {data['tone']} evidence): "
            f"“{tone.excerpt(s['text'], 70)}”"
        )
        lines.append(f"      {hint['message']}")
    if not data["hints"] and not tone.is_quiet(tone.document_tone(report.labels, report.probabilities)):
        lines.append("  no sentence reads clearly enough to point out")
    return "\n".join(lines)
