"""Latency of a keystroke in a long Markdown document, through the real stdio server.

    python -m incls.bench.prose_latency [--json] [--edits 40] [--lines 2000]

It builds a Markdown document of about 2,000 lines from held-out reviews (headings,
wrapped paragraphs, lists, fenced code blocks full of loaded words), opens it in
`incls --stdio` as `markdown`, and types single characters at seeded random places:
first inside paragraphs (the engine updates the document), then inside code blocks
(the projection does not change: no engine work). Each version's diagnostics are
waited for before the next keystroke. Reports p50/p95 in milliseconds against the
targets, with the server's own share (from the change's arrival to the reading, as
`incls/status` reports it: the rest is publishing and the JSON-RPC round trip) and how
many keystrokes updated the engine. A benchmark, not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import textwrap
import time
from typing import Any

TARGETS_MS = {"paragraph_p50": 20.0, "code_block_p50": 2.0}
CODE = [
    "```python",
    "def handle(event):",
    "    # terrible, awful, broken: the worst hack we have",
    "    if event is None:",
    "        raise Error('fatal failure, horrible crash, disgusting bug')",
    "    for item in event.items:",
    "        log.error('hate this, awful, dreadful, ugly')",
    "        retry(item)",
    "    return None",
    "```",
]


def document(lines: int, seed: int = 0) -> str:
    """Markdown of about `lines` lines: each section a heading, prose, a list and code."""
    from ..train.data import imdb_split

    reviews = imdb_split("test").texts
    rng = random.Random(seed)
    out: list[str] = []
    i = 0
    while len(out) < lines:
        review = reviews[i % len(reviews)].replace("<br />", " ")
        words = review.split()[:90]
        out += [f"## Section {i + 1}", ""]
        out += textwrap.wrap(" ".join(words[:60]), 80) + [""]
        out += [f"- {' '.join(words[60 + 10 * k : 70 + 10 * k]) or 'more'}" for k in range(3)] + [""]
        out += CODE[: rng.randrange(5, len(CODE))] + ["```", ""] if rng.random() < 0.3 else CODE + [""]
        i += 1
    return "\n".join(out[:lines]) + "\n"


def places(text: str, inside_code: bool, count: int, seed: int) -> list[int]:
    """Seeded offsets at the start of words, in paragraph lines or in code lines."""
    offsets, fence, pos = [], False, 0
    for line in text.split("\n"):
        if line.startswith("```"):
            fence = not fence
        elif line and fence == inside_code and not line.startswith(("#", "- ")):
            offsets += [pos + i for i, ch in enumerate(line) if ch == " " and i > 0]
        pos += len(line) + 1
    return random.Random(seed).sample(offsets, min(count, len(offsets)))


def is_status(uri: str, version: int):
    def match(message: dict) -> bool:
        params = message.get("params") or {}
        return message.get("method") == "incls/status" and params.get("uri") == uri and params.get("version") == version

    return match


def percentiles(values: list[float], prefix: str) -> dict:
    ordered = sorted(values)
    return {
        f"{prefix}p50_ms": round(statistics.median(ordered), 2),
        f"{prefix}p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
    }


def measure(text: str, edits: int, seed: int) -> dict:
    from ..text import LineIndex
    from .client import StdioClient, is_diagnostics

    client = StdioClient(stderr=sys.stderr)
    uri = "file:///tmp/incls-latency.md"
    results: dict[str, Any] = {}
    try:
        client.initialize()
        started = time.perf_counter()
        client.open(uri, text, language="markdown")
        client.wait_for(is_diagnostics(uri, 1), timeout=600)
        results["open_s"] = round(time.perf_counter() - started, 2)
        version = 1
        for name, inside_code in (("paragraph", False), ("code_block", True)):
            latencies, server, engine = [], [], []
            for offset in sorted(places(text, inside_code, edits, seed), reverse=True):
                version += 1
                line, character = LineIndex(text, "utf-16").position(offset)
                position = {"line": line, "character": character}
                ch = random.Random(offset).choice("etaoin")
                sent = client.change(uri, version, [{"range": {"start": position, "end": position}, "text": ch}])
                stamp, _ = client.wait_for(is_diagnostics(uri, version), timeout=120)
                latencies.append((stamp - sent) * 1000)
                _, status = client.wait_for(is_status(uri, version), timeout=120)
                server.append(status["params"]["latencyMs"] or 0.0)
                engine.append(bool(status["params"]["ops"]))
                text = text[:offset] + ch + text[offset:]
            results[name] = {
                "edits": len(latencies),
                **percentiles(latencies, ""),
                **percentiles(server, "server_"),
                "engine_updates": sum(engine),
            }
    finally:
        client.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m incls.bench.prose_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--edits", type=int, default=40, help="keystrokes of each kind (default %(default)s)")
    parser.add_argument("--lines", type=int, default=2000, help="document length in lines (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from ..model.base import load_tokenizer
    from ..text.markdown import Markdown
    from ..text.projection import project_text

    text = document(args.lines, args.seed)
    tokenizer = load_tokenizer()
    prose = project_text(Markdown(), text)
    row = {
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0]},
        "targets_ms": TARGETS_MS,
        "lines": text.count("\n"),
        "source_tokens": len(tokenizer.encode(text).ids),
        "prose_tokens": len(tokenizer.encode(prose).ids),
        **measure(text, args.edits, args.seed),
    }
    if not args.json:
        for name in ("paragraph", "code_block"):
            r = row[name]
            print(
                f"{name:>10}: p50 {r['p50_ms']:7.2f} ms  p95 {r['p95_ms']:7.2f} ms (target p50 <= "
                f"{TARGETS_MS[name + '_p50']} ms); in the server, change to reading: p50 {r['server_p50_ms']:.2f} ms; "
                f"engine updates: {r['engine_updates']} of {r['edits']}",
                file=sys.stderr,
            )
    print(json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
