"""Latency of the real server: didChange -> publishDiagnostics through stdio.

    python -m incls.lsp.latency [--json] [--edits 60]

For a 300-token held-out review and a 2,000-token document (held-out reviews joined
as paragraphs), it starts `incls --stdio` twice, once with the incremental engine and
once with INCLS_FULL_RECOMPUTE=1, types single characters at seeded random places and
waits for each version's diagnostics before the next keystroke (so nothing is
coalesced), and reports p50/p95 in milliseconds. A benchmark, not a test: the numbers
depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

TARGETS_MS = {"p50": 50.0, "p95": 150.0}  # at 300 tokens on 2 cores


def documents(tokenizer) -> dict[str, str]:
    from ..train.data import imdb_split

    test = imdb_split("test")
    count = lambda t: len(tokenizer.encode(t).ids)
    review = next(t for t in test.texts if 280 <= count(t) <= 320)
    parts, total = [], 0
    for t in test.texts:
        if total >= 2000:
            break
        parts.append(t)
        total += count(t) + 1
    long_doc = "\n\n".join(parts)
    ids = tokenizer.encode(long_doc).ids
    long_doc = tokenizer.decode(ids[:2000])
    return {"review-300": review, "document-2000": long_doc}


def measure(text: str, full_recompute: bool, edits: int, seed: int) -> dict:
    from .client import StdioClient, is_diagnostics
    from ..text import LineIndex

    env = dict(os.environ, INCLS_FULL_RECOMPUTE="1" if full_recompute else "0")
    client = StdioClient(env=env, stderr=sys.stderr)
    uri = "untitled:latency.txt"
    rng = random.Random(seed)
    try:
        client.initialize()
        client.open(uri, text)
        client.wait_for(is_diagnostics(uri, 1), timeout=300)
        latencies = []
        for version in range(2, edits + 2):
            offset = rng.randrange(len(text) + 1)
            line, character = LineIndex(text, "utf-16").position(offset)
            ch = rng.choice("etaoin ")
            position = {"line": line, "character": character}
            sent = client.change(uri, version, [{"range": {"start": position, "end": position}, "text": ch}])
            stamp, _ = client.wait_for(is_diagnostics(uri, version), timeout=60)
            latencies.append((stamp - sent) * 1000)
            text = text[:offset] + ch + text[offset:]
    finally:
        client.close()
    ordered = sorted(latencies)
    return {"edits": len(latencies), "p50_ms": round(statistics.median(ordered), 2),
            "p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
            "mean_ms": round(statistics.fmean(ordered), 2)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m incls.lsp.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--edits", type=int, default=60, help="keystrokes per run (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from ..model.base import load_tokenizer

    tokenizer = load_tokenizer()
    results = {"machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0]},
               "targets_ms_at_300_tokens": TARGETS_MS, "runs": []}
    for name, text in documents(tokenizer).items():
        for full in (False, True):
            started = time.perf_counter()
            row = {"document": name, "tokens": len(tokenizer.encode(text).ids),
                   "mode": "full-recompute" if full else "incremental",
                   **measure(text, full, args.edits, args.seed)}
            row["wall_s"] = round(time.perf_counter() - started, 1)
            results["runs"].append(row)
            if not args.json:
                print(f"{row['document']:>14} {row['mode']:>15}: p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms",
                      file=sys.stderr)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
