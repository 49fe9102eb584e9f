"""`incls`: one entry point. `incls --stdio` serves LSP; subcommands do the rest.

Each subcommand lives in the package that owns it and exposes `add_arguments(parser)`
and `run(args) -> int`; this module only wires them, imported lazily so that
`incls --version` and `incls --help` stay instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

SUBCOMMANDS = {
    "train": ("incls.train.command", "train a model (IMDB or your CSV/JSONL) and save safetensors"),
    "eval": ("incls.train.evaluate", "accuracy and macro-F1 of a model and its non-VQ twin on held-out data"),
    "bench": ("incls.bench.command", "replay edit streams: full recompute vs prefix reuse vs incremental"),
    "check": ("incls.reading.check", "classify files once and print the labels"),
    "faithfulness": ("incls.train.faithfulness", "does deleting the evidence sentences change the reading? (ERASER)"),
    "demo": ("incls.demo", "show live classification of a document being edited, in the terminal"),
    "setup": ("incls.install.command", "install the base model, convert it, build the kernels, check a sample"),
}


def _serve(argv: list[str]) -> int:
    from .lsp.command import main as serve_main

    return serve_main(argv)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("--version", "-V"):
        print(f"incls {__version__}")
        return 0
    if argv and not argv[0].startswith("-") and argv[0] not in SUBCOMMANDS:
        return _unknown_command(argv[0])
    if not argv or argv[0] not in SUBCOMMANDS and argv[0] not in ("-h", "--help"):
        return _serve(argv) if argv else _usage()
    parser = argparse.ArgumentParser(prog="incls", description="Live document classification for editors.")
    parser.add_argument("--version", action="version", version=f"incls {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_module, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    if argv[0] in ("-h", "--help"):
        parser.print_help()
        print("\nServe LSP: incls --stdio | incls --tcp HOST:PORT [--log-file FILE]")
        return 0
    module = importlib.import_module(SUBCOMMANDS[argv[0]][0])
    command = argparse.ArgumentParser(prog=f"incls {argv[0]}", description=SUBCOMMANDS[argv[0]][1])
    module.add_arguments(command)
    args = command.parse_args(argv[1:])
    from .model.errors import ModelError
    from .train.data import DataError

    try:
        return int(module.run(args) or 0)
    except (ModelError, DataError) as exc:
        print(f"incls: {exc}", file=sys.stderr)
        return 2
    except RuntimeError as exc:
        from .engine.native import NativeBuildError  # (imports torch: only once something failed)

        if not isinstance(exc, NativeBuildError):
            raise
        print(f"incls: {one_line(exc)}", file=sys.stderr)  # no compiler: one line naming the fix
        return 2
    except KeyboardInterrupt:
        return 130


def one_line(exc: BaseException) -> str:
    """An error's first line, with its "fix:" line appended when that is further down."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    fix = next((line for line in lines[1:] if line.lower().startswith("fix:")), None)
    return lines[0] + (f" ({fix})" if fix and fix not in lines[0] else "") if lines else exc.__class__.__name__


def _unknown_command(name: str) -> int:
    import difflib

    near = difflib.get_close_matches(name, list(SUBCOMMANDS), n=1)
    hint = f"; did you mean '{near[0]}'?" if near else ""
    print(
        f"incls: unknown command '{name}'{hint} Commands: {', '.join(SUBCOMMANDS)}; "
        "serve LSP with incls --stdio (incls --help)",
        file=sys.stderr,
    )
    return 2


def _usage() -> int:
    print("usage: incls --stdio | incls COMMAND ... (incls --help)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
