"""The user's choices from code actions, kept across server restarts.

"Disable incls for this file" and "Ignore this sentence" are decisions a user expects to
stick, like a spell checker's ignore list. They are stored as one small JSON file in the
user's state directory ($INCLS_STATE, else $XDG_STATE_HOME/incls, else
~/.local/state/incls), written atomically on every change. A missing, unreadable or
corrupt file starts an empty set of choices (and says so); a failed write is reported and
the choice still holds for this session.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..paths import user_dir

FILE_NAME = "choices.json"


def state_dir() -> Path:
    return user_dir("INCLS_STATE", "XDG_STATE_HOME", ".local/state")


class Choices:
    """Disabled document URIs and ignored sentence keys per URI, mirrored to a JSON file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path if path is not None else state_dir() / FILE_NAME
        self.disabled: set[str] = set()
        self.ignored: dict[str, set[str]] = {}

    def load(self) -> str | None:
        """Read the file; returns a problem to report, or None."""
        if not self.path.exists():
            return None
        try:
            raw = json.loads(self.path.read_text(encoding="utf-8"))
            disabled = {str(uri) for uri in raw.get("disabled", [])}
            ignored = {str(uri): {str(k) for k in keys} for uri, keys in raw.get("ignored", {}).items()}
        except (OSError, ValueError, AttributeError, TypeError) as exc:
            return f"{self.path} could not be read ({exc}); starting with no disabled files or ignored sentences"
        self.disabled, self.ignored = disabled, ignored
        return None

    def save(self) -> str | None:
        """Write the file atomically; returns a problem to report, or None."""
        data = {
            "disabled": sorted(self.disabled),
            "ignored": {uri: sorted(keys) for uri, keys in sorted(self.ignored.items()) if keys},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            scratch = self.path.with_name(self.path.name + ".tmp")
            scratch.write_text(json.dumps(data, indent=1), encoding="utf-8")
            os.replace(scratch, self.path)
        except OSError as exc:
            return f"could not save the choice to {self.path} ({exc}); it holds until the server stops"
        return None

    def is_disabled(self, uri: str) -> bool:
        return uri in self.disabled

    def ignored_in(self, uri: str) -> set[str]:
        return self.ignored.get(uri, set())

    def disable(self, uri: str) -> str | None:
        self.disabled.add(uri)
        return self.save()

    def enable(self, uri: str) -> str | None:
        self.disabled.discard(uri)
        return self.save()

    def ignore(self, uri: str, key: str) -> str | None:
        self.ignored.setdefault(uri, set()).add(key)
        return self.save()
