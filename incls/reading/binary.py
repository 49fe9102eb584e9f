"""Whether a text is prose at all: `incls check` asks before loading a model, the server on every change."""

from __future__ import annotations

import re

CONTROL = re.compile("[\x00-\x08\x0b\x0e-\x1f]")
SAMPLE = 4096  # characters looked at: bounded work per keystroke


def looks_binary(text: str, nuls: int | None = None) -> bool:
    """NUL characters (`nuls`: their count, when the caller keeps it) or a high share of
    control characters at the start: not prose to classify."""
    if text.count("\x00") if nuls is None else nuls:
        return True
    sample = text[:SAMPLE]
    return bool(sample) and len(CONTROL.findall(sample)) / len(sample) > 0.1
