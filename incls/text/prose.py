"""Which projection a document gets: by LSP languageId, or by file name for `incls check`.

Plain text (and any language without a projection) is read as it is. Markdown and LaTeX go
through their projections (`markdown.py`, `latex.py`).
"""

from __future__ import annotations

from pathlib import PurePath

from .latex import Latex
from .markdown import Markdown
from .projection import IncrementalProjection

LANGUAGE_IDS = {
    "markdown": "markdown",
    "gfm": "markdown",
    "latex": "latex",
    "tex": "latex",
    "plaintex": "latex",
    "plaintext": "plaintext",
}  # editors' ids: VS Code, Neovim filetypes, eglot modes
EXTENSIONS = {
    ".md": "markdown",
    ".markdown": "markdown",
    ".mdown": "markdown",
    ".tex": "latex",
    ".latex": "latex",
    ".ltx": "latex",
}


def kind_of(language_id: str | None) -> str:
    """The projection kind of an LSP languageId: "markdown", "latex" or "plaintext"."""
    return LANGUAGE_IDS.get((language_id or "plaintext").lower(), "plaintext")


def kind_of_path(path: str) -> str:
    return EXTENSIONS.get(PurePath(path).suffix.lower(), "plaintext")


def projection(
    kind: str,
    text: str,
    markdown_nodes: dict | None = None,
    latex_commands: dict | None = None,
    latex_environments: dict | None = None,
) -> IncrementalProjection | None:
    """The incremental projection of `text` for a projection kind; None for plain text."""
    if kind == "markdown":
        return IncrementalProjection(Markdown(markdown_nodes), text)
    if kind == "latex":
        return IncrementalProjection(Latex(latex_commands, latex_environments), text)
    return None
