"""What the server keeps for one open document beside the core's text and session.

`Core` owns a document's text, tokens and model session; the server keeps one
`DocumentState` per URI for what the editor is shown: the last report published. Hover
and code actions read positions against that report's own text and line index (the
report may be a version behind the editor while the model catches up), so they never
index the text again and never mix one version's offsets with another's. No LSP types
and no server here: handlers (`incls.lsp.handlers`) turn these answers into messages.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..reading.core import Report
from ..reading.settings import Settings
from ..text import InvalidPosition
from . import present

UPDATING = "\n\n_(updating…)_"


@dataclass
class DocumentState:
    """One open document as the server shows it."""

    uri: str
    encoding: str  # the positions' encoding, negotiated at initialize
    report: Report | None = None  # the last report shown; None until there is one (or after a reset)

    def at(self, line: int, character: int) -> tuple[Report, int] | None:
        """The shown report and the offset of an editor position in its text; None without a
        report or when the position is not on that text."""
        report = self.report
        if report is None:
            return None
        try:
            return report, report.line_index(self.encoding).offset(line, character)
        except InvalidPosition:
            return None

    def hover(
        self, line: int, character: int, version: int | None, settings: Settings, ignored: set[str]
    ) -> str | None:
        """Markdown for a hover: the sentence's own reading, or on the first line (and between
        sentences) the document's; None where there is nothing to say. `version` is the
        document's current one: a report of an older version says it is updating."""
        if (found := self.at(line, character)) is None:
            return None
        report, offset = found
        on_first_line = line == report.line_index(self.encoding).position(report.anchor)[0]  # the document diagnostic's
        text = present.hover_markdown(report, offset, on_first_line, settings, ignored)
        if text is not None and report.version != version:
            text += UPDATING
        return text

    def sentence_key(self, line: int, character: int) -> str | None:
        """The key of the sentence under an editor position (what "ignore this sentence" stores), or None."""
        if (found := self.at(line, character)) is None:
            return None
        report, offset = found
        i = present.sentence_at(report, offset)
        return None if i is None or report.evidence is None else report.evidence.key(i)
