"""`incls check FILE... [--json]`: classify files once, with the server's core and labels."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..text import prose
from .core import Core
from .settings import Settings


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="text files to classify")
    parser.add_argument("--json", action="store_true", help="print a JSON list of {file, label, probabilities}")
    parser.add_argument("--model", metavar="PATH", help="model checkpoint (default: the shipped model)")
    parser.add_argument("--language", choices=("auto", "plaintext", "markdown", "latex"), default="auto",
                        help="how to read the files (default: by extension: .md/.markdown Markdown, .tex LaTeX)")
    parser.add_argument("--max-document-bytes", type=int, default=Settings.maxDocumentBytes,
                        help="skip larger files (default %(default)s)")


def run(args) -> int:
    from ..model.base import load_tokenizer
    from ..model.checkpoint import load_model

    core = Core(Settings(maxDocumentBytes=args.max_document_bytes))
    core.load(load_tokenizer(), load_model(Path(args.model) if args.model else None))
    results, failed = [], False
    for name in args.files:
        entry = {"file": name, "label": None, "probabilities": None}
        try:
            text = Path(name).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            entry["error"] = f"cannot read as UTF-8 text ({exc.__class__.__name__}: {exc})"
            failed = True
        else:
            core.open(name, text, 1, prose.kind_of_path(name) if args.language == "auto" else args.language)
            report = core.compute(name)
            core.close(name)
            if report.skip_reason:
                entry["error"] = report.skip_reason
                failed = True
            else:
                entry["label"] = report.label
                entry["probabilities"] = {k: round(p, 4) for k, p in zip(report.labels, report.probabilities)}
        results.append(entry)
        if not args.json:
            if "error" in entry:
                print(f"{name}: error: {entry['error']}", file=sys.stderr)
            else:
                print(f"{name}: {entry['label']} ({max(entry['probabilities'].values()):.2f})")
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0
