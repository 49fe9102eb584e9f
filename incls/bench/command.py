"""`incls bench`: replay edit streams from held-out IMDB reviews, full vs prefix vs incremental.

Writes bench.json and bench.png into --out, prints a table (or, with --json, one JSON
object). --quick is the CI variant: one short document, a few edits of each kind, every
edit checked against a fresh session.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import torch

# (document length in tokens, edits per stream) for each mode
FULL_PLAN = ((300, 24), (1000, 12), (4000, 4))
QUICK_PLAN = ((300, 4),)
MEMORY_LENGTHS = (300, 1000, 4000)  # memory is reported at these lengths whatever the plan
MEMORY_EDITS = 8  # word edits applied before memory is read (storage grows on insertions)


def add_arguments(parser) -> None:
    parser.add_argument("--quick", action="store_true", help="short run for CI (about a minute)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument(
        "--out", type=Path, default=Path("bench-results"), help="directory for bench.json and bench.png"
    )
    parser.add_argument("--model", type=Path, default=None, help="VQ model weights (default: the shipped model)")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch threads (default 2)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-twin", action="store_true", help="skip the Hugging Face twin baseline")
    parser.add_argument("--verbose", action="store_true", help="log every edit to stderr")
    parser.add_argument(
        "--training",
        action="store_true",
        help="measure training speed instead: tokens/s of a training step of --model beside a plain "
        "PyTorch reference of the same shape (writes training.json and training.png)",
    )
    parser.add_argument(
        "--batch-size", type=int, default=16, help="--training: documents per step (default: %(default)s)"
    )
    parser.add_argument(
        "--max-tokens", type=int, default=256, help="--training: tokens per document (default: %(default)s)"
    )
    parser.add_argument(
        "--recipe",
        choices=("layers",),
        default="layers",
        help="--training: the recipe timed; the head recipe takes no optimizer steps (default: %(default)s)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=6,
        help="--training: timed steps of each, after 2 warm-up steps (default: %(default)s)",
    )
    parser.add_argument(
        "--lengths",
        type=int,
        nargs="+",
        metavar="TOKENS",
        help="run only these document lengths of the full plan (e.g. --lengths 300)",
    )


def run(args) -> int:
    from incls.model.base import load_tokenizer
    from incls.model.checkpoint import DEFAULT_TWIN, load_model
    from incls.train.data import imdb_split

    from .baselines import full_recompute, hf_twin
    from .report import plot, summarize
    from .runner import memory_after, replay
    from .streams import KINDS, build_stream

    if args.training:
        from .training_speed import run as run_training

        return run_training(args)
    plan: tuple[tuple[int, int], ...] = QUICK_PLAN if args.quick else FULL_PLAN
    if args.lengths:
        plan = tuple(p for p in plan if p[0] in args.lengths)
        if not plan:
            print(f"incls bench: --lengths must be among {[p[0] for p in FULL_PLAN]}", file=sys.stderr)
            return 2
    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    log = (lambda msg: print(msg, file=sys.stderr)) if args.verbose else None
    model = load_model(args.model)
    tokenizer = load_tokenizer()
    texts = imdb_split("test").texts
    twin_forward = None
    if not args.no_twin and DEFAULT_TWIN.is_file():
        twin_forward = hf_twin(load_model(DEFAULT_TWIN))

    probe = tokenizer.encode(texts[0]).ids[:300]
    threads = fastest_threads(lambda: full_recompute(model, probe), args.threads)
    records: list = []
    for length, n_edits in plan:
        for k, kind in enumerate(KINDS):
            stream = build_stream(kind, texts, tokenizer, length, n_edits, seed=args.seed * 1000 + length + k)
            records.extend(replay(model, stream, twin_forward, log=log))
    memory = {
        str(length): memory_after(model, build_stream("word", texts, tokenizer, length, MEMORY_EDITS, args.seed))
        for length in MEMORY_LENGTHS
    }

    settings = {
        "quick": args.quick,
        "threads": threads,
        "threads_allowed": args.threads,
        "seed": args.seed,
        "model": str(args.model or "shipped"),
        "plan": [list(p) for p in plan],
        "seconds": round(time.perf_counter() - started, 1),
    }
    summary = summarize(records, memory, settings)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench.json").write_text(json.dumps({**summary, "records": [vars(r) for r in records]}, indent=1))
    plot(records, args.out / "bench.png")
    if args.json:
        print(json.dumps(summary))
    else:
        _print_table(summary, args.out)
    return 0 if summary["mismatch_rate"] == 0 else 1


def fastest_threads(forward, allowed: int) -> int:
    """The thread count (1 or `allowed`) at which a full forward runs fastest here.

    On a busy machine, splitting work over threads can cost more than it saves; the
    baselines get whichever is faster, so the comparison never handicaps them. (The
    engine runs small updates on one thread by its own policy.)
    """
    best, best_time = allowed, float("inf")
    for n in sorted({1, allowed}):
        torch.set_num_threads(n)
        forward()
        t = time.perf_counter()
        forward()
        elapsed = time.perf_counter() - t
        if elapsed < best_time:
            best, best_time = n, elapsed
    torch.set_num_threads(best)
    return best


def _print_table(summary: dict, out: Path) -> None:
    print(
        f"{'kind':7s} {'tokens':>6s} {'edits':>5s} {'ops x full':>10s} {'ops x prefix':>12s} "
        f"{'inc ms':>8s} {'full ms':>8s} {'prefix ms':>9s} {'twin ms':>8s} {'speedup':>7s}"
    )
    for g in summary["by_kind_and_length"]:
        twin = g["wall_twin_median"]
        print(
            f"{g['kind']:7s} {g['length']:6d} {g['edits']:5d} {g['ops_reduction_median']:10.1f} "
            f"{g['ops_reduction_vs_prefix_median']:12.1f} {g['wall_incremental_median'] * 1e3:8.1f} "
            f"{g['wall_full_median'] * 1e3:8.1f} {g['wall_prefix_median'] * 1e3:9.1f} "
            f"{(twin or float('nan')) * 1e3:8.1f} {g['wall_speedup_median']:7.1f}"
        )
    print(
        f"word edits: ops reduction {summary['ops_reduction_median']:.1f}x vs full, "
        f"{summary['ops_reduction_vs_prefix_median']:.1f}x vs prefix; wall speedup {summary['wall_speedup_median']:.1f}x; "
        f"mismatch rate {summary['mismatch_rate']} over {summary['edits_checked']} checked edits"
    )
    print(
        f"memory per document (bytes): {summary['memory_bytes_per_document']}, "
        f"at most {summary['memory_bytes_per_token_per_layer']:.0f} bytes per token and layer; results in {out}"
    )
