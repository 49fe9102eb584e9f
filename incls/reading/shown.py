"""What a report comes to: its outcome, and the status the editor shows for it.

`outcome` decides, from a report and two facts about the server, what is shown; `status`
is the payload of the `incls/status` notification (the VS Code status bar shows it). The
extension's TypeScript type of that payload is generated from `Status`
(`python -m incls.reading.shown --ts > vscode-client/src/status.ts`), as its settings are
generated from the settings' schema.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from enum import Enum

from . import tone
from .core import Report


class Outcome(Enum):
    """What is shown for a report."""

    DISABLED = "disabled"  # the user disabled the file: nothing
    SKIPPED = "skipped"  # not classified (too large, binary, out of sync, ...): why, once
    EMPTY = "empty"  # nothing to read: no tone
    LOADING = "loading"  # no reading yet: the model is loading
    ERROR = "error"  # no reading: the model failed to load
    READY = "ready"  # a reading: diagnostics and status


def outcome(report: Report, disabled: bool, model_failed: bool) -> Outcome:
    """The outcome of `report` for a document the user `disabled` (or not), the model
    having failed to load (or not)."""
    if disabled:
        return Outcome.DISABLED
    if report.skip_reason:
        return Outcome.SKIPPED
    if report.empty:
        return Outcome.EMPTY
    if report.label is None:
        return Outcome.ERROR if model_failed else Outcome.LOADING
    return Outcome.READY


def _doc(text: str, **more: object) -> dict[str, object]:
    """A field's metadata: its documentation (and, for a string of a few values, `values`)."""
    return {"doc": text, **more}


@dataclass(frozen=True)
class Status:
    """Params of the server's `incls/status` notification; the fields of a reading are
    null without one (an empty document has a version and no tone)."""

    uri: str = field(metadata=_doc("The document."))
    state: str = field(metadata=_doc("The outcome.", values=tuple(o.value for o in Outcome)))
    message: str = field(default="", metadata=_doc("Why, for a skipped document or a model that failed to load."))
    version: int | None = field(default=None, metadata=_doc("The document version read."))
    label: str | None = field(default=None, metadata=_doc("The most probable class."))
    tone: str | None = field(default=None, metadata=_doc("The document's tone (its most probable class)."))
    confidence: float | None = field(default=None, metadata=_doc("That class's probability."))
    probabilities: dict[str, float] | None = field(default=None, metadata=_doc("Each class's probability."))
    latencyMs: float | None = field(default=None, metadata=_doc("From the change to this reading, in ms."))
    computeMs: float | None = field(default=None, metadata=_doc("The model thread's time on this reading, in ms."))
    engineMs: float | None = field(default=None, metadata=_doc("Of computeMs, the incremental engine's update."))
    tokens: int | None = field(default=None, metadata=_doc("Tokens the model read."))
    ops: int | None = field(default=None, metadata=_doc("Multiply-adds of the incremental update."))
    opsFull: int | None = field(default=None, metadata=_doc("Multiply-adds a full forward would have cost."))
    opsSaved: float | None = field(default=None, metadata=_doc("opsFull / ops."))
    incremental: bool | None = field(default=None, metadata=_doc("Read by the incremental engine."))


def status(uri: str, shown: Outcome, report: Report | None = None, message: str = "") -> Status:
    """The status for an outcome: with the reading's figures when `shown` is READY (or the
    version when EMPTY)."""
    if report is None or shown not in (Outcome.READY, Outcome.EMPTY):
        return Status(uri, shown.value, message)
    if shown is Outcome.EMPTY:
        return Status(uri, shown.value, message, version=report.version)
    t = tone.document_tone(report.labels, report.probabilities)
    if t is None:
        return Status(uri, shown.value, message)
    ops_saved = (report.ops_full / report.ops) if report.ops and report.ops_full else None
    return Status(
        uri,
        shown.value,
        message,
        version=report.version,
        label=report.label,
        tone=t.label,
        confidence=round(t.confidence, 4),
        probabilities=dict(zip(report.labels, report.probabilities)),
        latencyMs=None if report.latency_ms is None else round(report.latency_ms, 2),
        computeMs=round(report.compute_ms, 2),
        engineMs=round(report.engine_ms, 2),
        tokens=report.tokens,
        ops=report.ops,
        opsFull=report.ops_full,
        opsSaved=None if ops_saved is None else round(ops_saved, 2),
        incremental=report.incremental,
    )


_TS = {str: "string", int: "number", float: "number", bool: "boolean"}


def _ts_type(hint: object) -> str:
    """The TypeScript type of a field's Python type (str, int, float, bool, dict[str, X], X | None)."""
    if isinstance(hint, types.UnionType):
        return " | ".join("null" if arg is type(None) else _ts_type(arg) for arg in typing.get_args(hint))
    if typing.get_origin(hint) is dict:
        key, value = typing.get_args(hint)
        return f"Record<{_ts_type(key)}, {_ts_type(value)}>"
    assert isinstance(hint, type) and hint in _TS, hint
    return _TS[hint]


def typescript() -> str:
    """`Status` as a TypeScript interface (vscode-client/src/status.ts)."""
    hints = typing.get_type_hints(Status)
    lines = [
        "// Generated by `python -m incls.reading.shown --ts` from incls/reading/shown.py: do not edit.",
        "",
        f"/** {' '.join(line.strip() for line in (Status.__doc__ or '').splitlines())} */",
        "export interface StatusParams {",
    ]
    for f in dataclasses.fields(Status):
        kind = " | ".join(f'"{v}"' for v in f.metadata["values"]) if "values" in f.metadata else _ts_type(hints[f.name])
        lines += [f"  /** {f.metadata['doc']} */", f"  {f.name}: {kind};"]
    return "\n".join([*lines, "}", ""])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if "--ts" not in argv:
        print("usage: python -m incls.reading.shown --ts  (the TypeScript type of the status)", file=sys.stderr)
        return 2
    sys.stdout.write(typescript())
    return 0


if __name__ == "__main__":
    sys.exit(main())
