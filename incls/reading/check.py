"""`incls check FILE... [--json] [--explain]`: classify files once, with the server's core and labels.

`--json` carries each file's sentence evidence (ranges, text, contribution per class);
`--explain` prints the sentences that carry the tone and pull against it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from ..text import prose
from .binary import looks_binary
from .settings import Settings


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="text files to classify")
    parser.add_argument(
        "--json", action="store_true", help="print a JSON list of {file, label, probabilities, evidence}"
    )
    parser.add_argument(
        "--explain",
        action="store_true",
        help="print the sentences that carry the document's tone and those pulling against it",
    )
    parser.add_argument("--model", metavar="PATH", help="model checkpoint (default: the shipped model)")
    parser.add_argument(
        "--language",
        choices=("auto", "plaintext", "markdown", "latex"),
        default="auto",
        help="how to read the files (default: by extension: .md/.markdown Markdown, .tex LaTeX)",
    )
    parser.add_argument(
        "--max-document-bytes",
        type=int,
        default=Settings.maxDocumentBytes,
        help="skip larger files (default %(default)s)",
    )


def read_input(name: str) -> tuple[str | None, str | None]:
    """(text, None) for a file worth classifying, or (None, the problem): before any model loads."""
    path = Path(name)
    if not path.exists():
        return None, "no such file"
    if path.is_dir():
        return None, "is a directory"
    try:
        data = path.read_bytes()
    except OSError as exc:
        return None, f"cannot read it ({exc.strerror or exc})"
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None, "a binary file (not UTF-8 text): nothing to classify"
    if looks_binary(text):
        return None, "a binary file: nothing to classify"
    if not text.strip():
        return None, "the file is empty: nothing to classify"
    return text, None


def run(args) -> int:
    inputs = [(name, *read_input(name)) for name in args.files]
    core = None
    if any(text is not None for _, text, _ in inputs):  # only then PyTorch and the model are loaded
        from ..engine.native import kernels
        from ..model.base import load_tokenizer
        from ..model.checkpoint import load_model
        from .core import Core
        from .explain import evidence_json, explain_text

        kernels()  # a missing compiler is reported before seconds of model loading
        core = Core(Settings(maxDocumentBytes=args.max_document_bytes))
        core.load(load_tokenizer(), load_model(Path(args.model) if args.model else None))
    results, failed = [], False
    for name, text, problem in inputs:
        entry = {"file": name, "label": None, "probabilities": None}
        if problem is None:
            assert core is not None and text is not None  # read_input gives a text exactly when no problem
            core.open(name, text, 1, prose.kind_of_path(name) if args.language == "auto" else args.language)
            report = _classify(core, name)
            core.close(name)
            problem = report.skip_reason
            if problem is None:
                entry["evidence"] = evidence_json(report, core.settings)
                if not report.empty:
                    entry["label"] = report.label
                    entry["probabilities"] = {k: round(p, 4) for k, p in zip(report.labels, report.probabilities)}
        if problem is not None:
            entry["error"] = problem
            failed = True
        results.append(entry)
        if not args.json:
            if "error" in entry:
                print(f"{name}: error: {entry['error']}", file=sys.stderr)
            elif args.explain and core is not None:
                print(explain_text(name, report, core.settings))
            elif entry["label"] is None:
                print(f"{name}: empty")
            else:
                print(f"{name}: {entry['label']} ({max(entry['probabilities'].values()):.2f})")
    if args.json:
        print(json.dumps(results, indent=2))
    return 1 if failed else 0


def _classify(core, uri: str):
    """Step the core until the document's reading is ready (a long one is built chunk by chunk)."""
    while (report := core.compute(uri)) is not None and report.more:
        pass
    assert report is not None  # the document is open
    return report
