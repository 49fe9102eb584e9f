"""Messages people can bear: at most one popup per problem and document state, short quotes.

Every problem goes to the log (stderr and window/logMessage). A popup
(window/showMessage) is shown the first time a problem of a kind is seen for a scope
(a document's URI, or "model", "settings"); the key never holds counts, sizes or the
client's values, so a document that stays too large while it is typed in shows one
popup, not one per keystroke, and a setting given fifty bad values shows one. `clear(scope)`
forgets a scope's problems when its state changes (the document became classifiable
again, was resynchronised, or was closed), so a problem that comes back is shown again,
once. A value of the client's is quoted by `quoted`: at most about QUOTE characters.
"""

from __future__ import annotations

QUOTE = 200  # characters of a client's value a message quotes at most


def shortened(text: str, limit: int = QUOTE) -> str:
    """A client's string (a name, a path) as it is, cut to `limit` characters when longer."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def quoted(value: object, limit: int = QUOTE) -> str:
    """`repr(value)`, cut to `limit` characters (its full length said) when longer."""
    return shortened(repr(value), limit)


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
