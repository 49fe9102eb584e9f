"""The prose of the Python standard library's docstrings, read from its source files.

Documentation is written to instruct, not to feel: it is the register of the instructions,
release notes, bug reports and how-tos that people write in an editor, and which the
tweets' neutral class (chatter about a few topics) and the news articles lack. Words such
as "error", "fail", "kill" or "raise" appear there in a neutral sense. Every Python ships
these files, so the source is there wherever incls trains; they are parsed with `ast`,
never imported (importing some standard modules has side effects).
"""

from __future__ import annotations

import ast
import re
import sysconfig
from pathlib import Path

SKIPPED_PARTS = {"test", "tests", "idlelib", "lib2to3", "turtledemo", "site-packages"}
MIN_WORDS = 12  # shorter paragraphs are mostly signatures and one-line summaries
MIN_LETTER_SHARE = 0.9  # letters and spaces among characters: below it, a table or code


def prose_paragraphs(doc: str) -> list[str]:
    """The paragraphs of a docstring that read as prose, each on one line: no doctest, no
    table (aligned columns), mostly letters."""
    kept = []
    for paragraph in re.split(r"\n\s*\n", doc):
        words = paragraph.split()
        if len(words) < MIN_WORDS or ">>>" in paragraph or paragraph.count("  ") > 3:
            continue
        if sum(c.isalpha() or c.isspace() for c in paragraph) / len(paragraph) < MIN_LETTER_SHARE:
            continue
        kept.append(" ".join(words))
    return kept


def module_docstrings(source: str) -> list[str]:
    """The prose of every docstring (module, class, function) of one source file, one text
    per docstring; a file that does not parse gives none."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return []
    texts = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            doc = ast.get_docstring(node)
            paragraphs = prose_paragraphs(doc) if doc else []
            if paragraphs:
                texts.append("\n\n".join(paragraphs))
    return texts


def stdlib_docstrings(root: Path | None = None) -> list[str]:
    """The prose docstrings of the standard library at `root` (default: this Python's), its
    tests and demos left out, in a fixed order (about 3,400 texts for Python 3.11)."""
    root = Path(root or sysconfig.get_paths()["stdlib"])
    texts = []
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root).parts
        if any(p in SKIPPED_PARTS or p.startswith("test_") for p in parts):
            continue
        try:
            texts += module_docstrings(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            continue
    return texts
