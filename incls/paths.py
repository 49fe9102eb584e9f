"""Where incls keeps files for the user: one rule for the cache and the state directory."""

from __future__ import annotations

import os
from pathlib import Path


def user_dir(override_var: str, xdg_var: str, default: str) -> Path:
    """$override_var if set, else $xdg_var/incls, else ~/<default>/incls (XDG base directories)."""
    explicit = os.environ.get(override_var)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get(xdg_var)
    return (Path(xdg) if xdg else Path.home() / default) / "incls"
