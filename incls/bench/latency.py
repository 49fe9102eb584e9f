"""Latency of the real server: didChange -> publishDiagnostics through stdio.

    python -m incls.bench.latency [--json] [--edits 60] [--incremental-only] [--sizes 300,2000,20000]
    python -m incls.bench.latency --outside-engine [--sizes ...]

For a 300-token held-out review and 2,000- and 20,000-token documents (held-out reviews
joined as paragraphs), it starts `incls --stdio` twice, once with the incremental engine
and once with INCLS_FULL_RECOMPUTE=1 (not at 20,000 tokens: minutes per keystroke),
types single characters at seeded random places and waits for each version's
diagnostics before the next keystroke (so nothing is coalesced), and reports p50/p95 in
milliseconds. `outside_engine_p50_ms` is the server's own time per keystroke outside the
engine's update (from the change's arrival to its reading, minus `engineMs`, both from
incls/status): what the server's bookkeeping costs, which should not grow with the
document. `--outside-engine` measures that bookkeeping alone, in process and without the
stdio round trip: `Core.change` plus `Core.compute` minus the engine's update, per
keystroke, in wall-clock time (`outside_engine_*`) and in the CPU time of the thread that
runs it (`outside_engine_cpu_*`: on a shared machine the wall clock also counts the time
the scheduler gave other processes, a few milliseconds whenever a slice ends inside this
short stretch). A benchmark, not a test: the numbers depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from typing import Any

TARGETS_MS = {"p50": 20.0, "p95": 50.0}  # at 300 tokens on 2 cores


def documents(tokenizer, sizes: list[int]) -> dict[str, str]:
    from ..train.data import imdb_split

    test = imdb_split("test")
    count = lambda t: len(tokenizer.encode(t).ids)
    out = {}
    for size in sizes:
        if size <= 400:
            out[f"review-{size}"] = next(t for t in test.texts if 0.9 * size <= count(t) <= 1.1 * size)
            continue
        parts, total = [], 0
        for t in test.texts:
            if total >= size:
                break
            parts.append(t)
            total += count(t) + 1
        ids = tokenizer.encode("\n\n".join(parts)).ids
        out[f"document-{size}"] = tokenizer.decode(ids[:size])
    return out


def measure(text: str, full_recompute: bool, edits: int, seed: int) -> dict:
    from ..text import LineIndex
    from .client import StdioClient, is_diagnostics

    env = dict(os.environ, INCLS_FULL_RECOMPUTE="1" if full_recompute else "0")
    client = StdioClient(env=env, stderr=sys.stderr)
    uri = "untitled:latency.txt"
    rng = random.Random(seed)
    try:
        client.initialize()
        client.open(uri, text)
        client.wait_for(is_diagnostics(uri, 1), timeout=600)
        latencies, outside = [], []
        index = LineIndex(text, "utf-16")
        for version in range(2, edits + 2):
            offset = rng.randrange(len(text) + 1)
            line, character = index.position(offset)
            ch = rng.choice("etaoin ")
            position = {"line": line, "character": character}
            sent = client.change(uri, version, [{"range": {"start": position, "end": position}, "text": ch}])
            stamp, _ = client.wait_for(is_diagnostics(uri, version), timeout=600)
            latencies.append((stamp - sent) * 1000)
            _, status = client.wait_for(is_status(uri, version), timeout=60)
            params = status["params"]
            if params.get("latencyMs") is not None and "engineMs" in params:
                outside.append(params["latencyMs"] - params["engineMs"])
            text = text[:offset] + ch + text[offset:]
            index.edit(offset, offset, text)
    finally:
        client.close()
    row = {"edits": len(latencies), **percentiles("", latencies)}
    if outside:
        row.update(percentiles("outside_engine_", outside))
    return row


def outside_engine(tokenizer, name: str, text: str, edits: int, seed: int) -> dict:
    """In process: per keystroke, the server's own time (text, tokens, reading) apart from the engine."""
    from ..model.checkpoint import load_model
    from ..reading.core import Change, Core
    from ..text import LineIndex

    core = Core()
    core.load(tokenizer, load_model(log=lambda message: None))
    core.open(name, text, 1)
    while (first := core.compute(name)) is not None and first.more:
        pass
    rng = random.Random(seed)
    index = LineIndex(text, "utf-16")
    change_ms: list[float] = []
    outside_ms: list[float] = []
    outside_cpu_ms: list[float] = []
    engine_ms: list[float] = []
    for version in range(2, edits + 2):
        offset = rng.randrange(len(text) + 1)
        position = index.position(offset)
        ch = rng.choice("etaoin ")
        started, cpu_started = time.perf_counter(), time.thread_time()
        core.change(name, version, [Change(ch, (position, position))])
        changed = time.perf_counter()
        report = core.compute(name)
        done, cpu_done = time.perf_counter(), time.thread_time()
        assert report is not None  # the document is open
        text = text[:offset] + ch + text[offset:]
        index.edit(offset, offset, text)
        change_ms.append((changed - started) * 1000)
        outside_ms.append((done - started) * 1000 - report.engine_ms)
        outside_cpu_ms.append((cpu_done - cpu_started) * 1000 - report.engine_cpu_ms)
        engine_ms.append(report.engine_ms)
    return {
        "document": name,
        "edits": edits,
        "change_p50_ms": round(statistics.median(change_ms), 2),
        **percentiles("outside_engine_", outside_ms),
        **percentiles("outside_engine_cpu_", outside_cpu_ms),
        "engine_p50_ms": round(statistics.median(engine_ms), 2),
    }


def percentiles(prefix: str, values: list[float]) -> dict:
    ordered = sorted(values)
    return {
        f"{prefix}p50_ms": round(statistics.median(ordered), 2),
        f"{prefix}p95_ms": round(ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))], 2),
        f"{prefix}mean_ms": round(statistics.fmean(ordered), 2),
    }


def is_status(uri: str, version: int):
    def match(message: dict) -> bool:
        params = message.get("params") or {}
        return message.get("method") == "incls/status" and params.get("uri") == uri and params.get("version") == version

    return match


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m incls.bench.latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print JSON only")
    parser.add_argument("--edits", type=int, default=60, help="keystrokes per run (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="300,2000,20000", help="document sizes in tokens (default %(default)s)")
    parser.add_argument("--incremental-only", action="store_true", help="skip the full-recompute runs")
    parser.add_argument(
        "--outside-engine", action="store_true", help="in process: the per-keystroke time outside the engine only"
    )
    args = parser.parse_args(argv)
    from ..model.base import load_tokenizer

    tokenizer = load_tokenizer()
    results: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "load_average": os.getloadavg()[0]},
        "targets_ms_at_300_tokens": TARGETS_MS,
        "runs": [],
    }
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.outside_engine:
        for name, text in documents(tokenizer, sizes).items():
            results["runs"].append(
                {
                    "tokens": len(tokenizer.encode(text).ids),
                    **outside_engine(tokenizer, name, text, args.edits, args.seed),
                }
            )
        print(json.dumps(results, indent=2))
        return 0
    for name, text in documents(tokenizer, sizes).items():
        tokens = len(tokenizer.encode(text).ids)
        for full in (False,) if args.incremental_only or tokens > 5000 else (False, True):
            started = time.perf_counter()
            row = {
                "document": name,
                "tokens": tokens,
                "mode": "full-recompute" if full else "incremental",
                **measure(text, full, args.edits, args.seed),
            }
            row["wall_s"] = round(time.perf_counter() - started, 1)
            results["runs"].append(row)
            if not args.json:
                print(
                    f"{row['document']:>14} {row['mode']:>15}: p50 {row['p50_ms']:7.1f} ms  p95 {row['p95_ms']:7.1f} ms",
                    file=sys.stderr,
                )
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
