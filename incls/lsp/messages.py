"""Messages people can bear: at most one popup per problem and document state.

Every problem goes to the log (stderr and window/logMessage). A popup
(window/showMessage) is shown the first time a problem of a kind is seen for a scope
(a document's URI, or "model", "settings"); the key never holds counts or sizes, so a
document that stays too large while it is typed in shows one popup, not one per
keystroke. `clear(scope)` forgets a scope's problems when its state changes (the
document became classifiable again, was resynchronised, or was closed), so a problem
that comes back is shown again, once.
"""

from __future__ import annotations


class Popups:
    def __init__(self) -> None:
        self.shown: set[tuple[str, str]] = set()

    def first(self, scope: str, kind: str) -> bool:
        """True the first time (scope, kind) is seen since the scope was last cleared."""
        key = (scope, kind)
        if key in self.shown:
            return False
        self.shown.add(key)
        return True

    def clear(self, scope: str) -> None:
        self.shown = {key for key in self.shown if key[0] != scope}
