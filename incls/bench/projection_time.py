"""The prose projection's time on pathological markup, and a hover's meanwhile.

    python -m incls.bench.projection_time [--json] [--sizes 10000,20000,50000,100000,200000] [--no-lsp]

For each pathological input (Markdown block quotes 0..29 deep on every line, unclosed
images `![`, a table row of thousands of cells; LaTeX
commands whose group never closes, of each kind: a placeholder `\\cite{`, an ignored
`\\label{`, an environment `\\begin{`, a kept `\\emph{`; optional arguments `\\cite[`,
inline math `\\(` and `\\verb|` that never close), at each size: the time to project the
whole text (what the server does when the document is opened; the best of a few runs)
and the time per character. Linear time shows as a time per character that does not
grow with the size: `growth` is the largest size's time per character over the
smallest's (about 1 when linear; a quadratic projection gives the ratio of the sizes).

Then, through the real `incls --stdio` server, it opens the largest input of a few kinds
beside a small document and hovers on the small one again and again until the large one
is published: the hovers' round trips (p50 and max, milliseconds) while the pathological
document is processed. A benchmark, not a test: the numbers depend on the machine and
its load (tests/text/test_projection_time.py checks the growth loosely).
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import time
from collections.abc import Callable

from ..text.latex import Latex
from ..text.markdown import Markdown
from ..text.projection import IncrementalProjection, Language

SIZES = (10_000, 20_000, 50_000, 100_000, 200_000)
REPEATS = 3  # runs per size; the best is kept
LSP_KINDS = ("latex-cite", "latex-begin", "markdown-quotes")
SMALL = "A fine film.\n\nI liked it a lot."


def _repeat(piece: str) -> Callable[[int], str]:
    return lambda size: (piece * (size // len(piece) + 1))[:size]


def _quotes(size: int) -> str:
    """Lines of block quotes 0..29 deep, one paragraph: no line may start a segment of its own."""
    lines, total, i = [], 0, 0
    while total < size:
        lines.append(">" * (i % 30) + " a line of quoted text\n")
        total += len(lines[-1])
        i += 1
    return "".join(lines)[:size]


def _table_row(size: int) -> str:
    """A table whose one row holds cells all different (each is looked for in that long line)."""
    n = size // 12
    return "|" + "a|" * n + "\n|" + "-|" * n + "\n|" + "".join(f"c{i}|" for i in range(n)) + "\n"


# kind -> (languageId, language, text of about `size` characters)
INPUTS: dict[str, tuple[str, Callable[[], Language], Callable[[int], str]]] = {
    "markdown-quotes": ("markdown", Markdown, _quotes),
    "markdown-links": ("markdown", Markdown, _repeat("![")),
    "markdown-cells": ("markdown", Markdown, _table_row),
    "latex-cite": ("latex", Latex, _repeat("\\cite{")),
    "latex-label": ("latex", Latex, _repeat("\\label{")),
    "latex-begin": ("latex", Latex, _repeat("\\begin{")),
    "latex-emph": ("latex", Latex, _repeat("\\emph{")),
    "latex-options": ("latex", Latex, _repeat("\\cite[")),
    "latex-math": ("latex", Latex, _repeat("\\(")),
    "latex-verb": ("latex", Latex, _repeat("a \\verb|x\n")),
}


def projection_seconds(kind: str, size: int, repeats: int = REPEATS) -> float:
    """The best time of `repeats` projections of the whole pathological text of `kind`."""
    _, language, text_of = INPUTS[kind]
    text = text_of(size)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        IncrementalProjection(language(), text)
        best = min(best, time.perf_counter() - started)
    return best


def growth(kind: str, sizes: tuple[int, ...], repeats: int = REPEATS) -> dict:
    """Times per size and the growth of the time per character from the smallest size to the largest."""
    seconds = {size: projection_seconds(kind, size, repeats) for size in sizes}
    per_char = {size: seconds[size] / size for size in sizes}
    return {
        "seconds": seconds,
        "us_per_char": {size: 1e6 * t for size, t in per_char.items()},
        "growth": per_char[max(sizes)] / per_char[min(sizes)],
    }


def hovers_meanwhile(kind: str, size: int) -> dict:
    """Open the pathological text of `kind` beside a small document in the real server and
    hover on the small one until the large one is published: the hovers' round trips."""
    from .client import StdioClient, is_diagnostics

    language_id, _, text_of = INPUTS[kind]
    client = StdioClient()
    try:
        client.initialize()
        client.open("file:///bench/small.txt", SMALL)
        client.wait_for(is_diagnostics("file:///bench/small.txt", 1))
        hover = {"textDocument": {"uri": "file:///bench/small.txt"}, "position": {"line": 0, "character": 0}}
        published = is_diagnostics("file:///bench/pathological", 1)
        opened = time.perf_counter()
        client.open("file:///bench/pathological", text_of(size), language=language_id)
        times: list[float] = []
        while True:
            started = time.perf_counter()
            client.request("textDocument/hover", hover)
            times.append(1000 * (time.perf_counter() - started))
            if _drained(client, published):
                break
        return {
            "kind": kind,
            "chars": size,
            "published_s": time.perf_counter() - opened,
            "hovers": len(times),
            "hover_p50_ms": statistics.median(times),
            "hover_max_ms": max(times),
        }
    finally:
        client.close()


def _drained(client, match) -> bool:
    """Whether a notification matching `match` has come (the others are dropped)."""
    while True:
        try:
            _, message = client.notifications.get_nowait()
        except queue.Empty:
            return False
        if match(message):
            return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m incls.bench.projection_time", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="characters, comma-separated")
    parser.add_argument("--kinds", default=",".join(INPUTS), help="inputs, comma-separated")
    parser.add_argument("--no-lsp", action="store_true", help="skip the hovers through the real server")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    sizes = tuple(int(s) for s in args.sizes.split(","))
    kinds = args.kinds.split(",")
    results = {kind: growth(kind, sizes) for kind in kinds}
    lsp = [] if args.no_lsp else [hovers_meanwhile(kind, max(sizes)) for kind in LSP_KINDS if kind in kinds]
    if args.json:
        print(json.dumps({"projection": results, "hovers": lsp}, indent=2))
        return 0
    print(f"projection, microseconds per character (best of {REPEATS}):")
    print(f"{'input':16}" + "".join(f"{size:>10,}" for size in sizes) + f"{'growth':>9}")
    for kind, r in results.items():
        print(f"{kind:16}" + "".join(f"{r['us_per_char'][size]:10.2f}" for size in sizes) + f"{r['growth']:9.2f}")
    for h in lsp:
        print(
            f"{h['kind']} ({h['chars']:,} characters) published in {h['published_s']:.1f} s; meanwhile "
            f"{h['hovers']} hovers on another document: p50 {h['hover_p50_ms']:.1f} ms, max {h['hover_max_ms']:.1f} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
