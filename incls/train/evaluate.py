"""`incls eval`: a model, its non-VQ twin and a TF-IDF baseline, side by side on held-out data.

Held-out data is either named sets (`--sets imdb,tweets,rt,everyday,drugs`, see
`incls.train.sets`; default `imdb`) or the seeded 10% of the user's own file (`--data F`,
with the `--model` trained on it, whose other 90% also trains the baseline). A model
reads each document at its last position and predicts the argmax over the set's own
labels, matched by name, so a three-class tone model is scored fairly on two-class sets.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

from ..model.base import load_tokenizer
from ..model.checkpoint import DEFAULT_MODEL, DEFAULT_TWIN, load_model, read_checkpoint
from . import baselines
from .batches import bucketed, encode_all, pad
from .data import DataError, Dataset, load_user_file, split_user_data
from .sets import SETS, columns, parse_sets, restricted_argmax, training_sources

EVAL_MAX_TOKENS = 512


@torch.no_grad()
def document_logits(model, docs: list[list[int]], batch_size: int = 16, desc: str | None = None) -> torch.Tensor:
    """(N, C) logits of each document (token ids) at its last position; a progress bar on
    stderr when `desc` is given."""
    from tqdm import tqdm

    out = torch.zeros(len(docs), model.cfg.n_classes)
    lengths = [len(d) for d in docs]
    batches = bucketed(list(range(len(docs))), lengths, batch_size, None)
    for index in tqdm(batches, desc=desc, disable=desc is None, file=sys.stderr, mininterval=5):
        ids, lens = pad([docs[i] for i in index])
        logits = model(ids).logits  # (B, T, C)
        out[index] = logits[torch.arange(len(index)), lens - 1]  # (B, C)
    return out


def predict(model, docs: list[list[int]], batch_size: int = 16, progress: bool = False) -> list[int]:
    """Predicted class of each document (token ids), from its last position's logits."""
    return document_logits(model, docs, batch_size, "eval" if progress else None).argmax(-1).tolist()


def scores(preds: list[int], labels: list[int]) -> dict:
    """Accuracy, and F1 averaged over the classes that occur among labels or predictions
    (as scikit-learn's macro-F1: a class absent from both says nothing)."""
    correct = sum(p == y for p, y in zip(preds, labels))
    f1s = []
    for c in sorted(set(labels) | set(preds)):
        tp = sum(p == c and y == c for p, y in zip(preds, labels))
        fp = sum(p == c and y != c for p, y in zip(preds, labels))
        fn = sum(p != c and y == c for p, y in zip(preds, labels))
        f1s.append(2 * tp / (2 * tp + fp + fn))
    return {"accuracy": correct / max(1, len(labels)), "macro_f1": sum(f1s) / max(1, len(f1s))}


def score_sets(model, sets: dict[str, Dataset], tokenizer, name: str = "model") -> dict[str, dict]:
    """Accuracy and macro-F1 of `model` on each held-out set, over the set's own labels."""
    out = {}
    for set_name, data in sets.items():
        cols = columns(data.label_names, model.cfg.labels, f"held-out set `{set_name}`", f"the {name}")
        logits = document_logits(
            model, encode_all(tokenizer, data.texts, EVAL_MAX_TOKENS), desc=f"{name} on {set_name}"
        )
        out[set_name] = scores(restricted_argmax(logits, cols), data.labels)
    return out


def baseline_scores(train: Dataset, trained_on: list[str], sets: dict[str, Dataset]) -> tuple[dict, dict[str, dict]]:
    """(what the TF-IDF baseline was, its scores per set), fitted on `train`."""
    model = baselines.TfidfBaseline(train.texts, train.labels, len(train.label_names))
    out = {}
    for set_name, data in sets.items():
        cols = columns(data.label_names, train.label_names, f"held-out set `{set_name}`", "the baseline")
        out[set_name] = scores(restricted_argmax(model.scores(data.texts), cols), data.labels)
    return {"name": model.name, "trained_on": trained_on, "examples": model.examples, "seconds": model.seconds}, out


def model_facts(model, docs: list[list[int]]) -> dict:
    """Shape, size, and the CPU cost of one full forward (what a non-incremental classifier
    pays on every change), on the first held-out document of 300+ tokens, cut to 300."""
    cfg = model.cfg
    facts = {
        "config": {
            "layers": cfg.n_layers,
            "window": cfg.window,
            "local_layers": cfg.local_layers,
            "sink": cfg.sink,
            "codebook_size": cfg.codebook_size,
            "labels": list(cfg.labels),
        },
        "parameters_without_embedding": sum(
            p.numel() for n, p in model.named_parameters() if not n.startswith("embed_tokens.")
        ),
    }
    probe = next((d for d in docs if len(d) >= 300), max(docs, key=len, default=[]))[:300]
    if probe:
        facts.update({"full_forward_tokens": len(probe), "full_forward_ms": forward_ms(model, probe)})
    return facts


@torch.no_grad()
def forward_ms(model, ids: list[int], runs: int = 7, threads: int = 2) -> float:
    """Median wall-clock of one full forward of `ids` on the CPU (the cost a non-incremental
    classifier pays on every change), on `threads` threads after one warm-up run."""
    torch.set_num_threads(threads)
    x = torch.tensor([ids])
    model(x)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return round(sorted(times)[len(times) // 2] * 1e3, 1)


def add_arguments(parser) -> None:
    parser.add_argument(
        "--model", type=Path, help=f"VQ model weights (default: the shipped model, {DEFAULT_MODEL.name})"
    )
    parser.add_argument(
        "--twin",
        type=Path,
        help=f"non-VQ twin weights (default: the shipped twin, {DEFAULT_TWIN.name}, when --model is not given)",
    )
    parser.add_argument("--no-twin", action="store_true", help="leave the twin out (default: evaluate it)")
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="leave the TF-IDF + logistic regression baseline out (default: run it when scikit-learn is installed)",
    )
    parser.add_argument(
        "--data",
        help="CSV/JSONL (text,label): its seeded 10%% held-out part is evaluated and its 90%% "
        "trains the baseline; needs --model (default: the named --sets)",
    )
    parser.add_argument(
        "--sets",
        default="imdb",
        help=f"comma-separated named held-out sets among {', '.join(SETS)}: "
        + "; ".join(f"{n}: {s.description}" for n, s in SETS.items()).replace("%", "%%")
        + " (default: %(default)s)",
    )
    parser.add_argument("--limit", type=int, help="evaluate on the first N documents of each set only (default: all)")
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object instead of a table (default: a table)"
    )


def model_paths(args) -> tuple[Path, Path | None]:
    """(model, twin or None): the shipped pair, or what was passed."""
    if args.data and args.model is None:
        raise DataError(
            f"--data {args.data}: the shipped model's labels may not be this file's. "
            f"Fix: pass --model PATH of a model trained on this data "
            f"(incls train --data {args.data} --out PATH)"
        )
    twin = args.twin or (DEFAULT_TWIN if args.model is None else None)
    return args.model or DEFAULT_MODEL, None if args.no_twin else twin


def held_out_sets(args, labels: tuple[str, ...]) -> tuple[dict[str, Dataset], Dataset | None]:
    """(held-out sets by name, the user file's training part or None)."""
    if args.data:
        train, held = split_user_data(load_user_file(Path(args.data), labels))
        if len(set(train.labels)) < 2:
            raise DataError(
                f"{args.data} has a single class ({train.label_names[train.labels[0]]!r}) in its training "
                "90%; the baseline, like the model, needs two. Fix: add examples of another class"
            )
        return {"data": held.take(args.limit)}, train
    return {name: SETS[name].held_out().take(args.limit) for name in parse_sets(args.sets)}, None


def run(args) -> int:
    model_path, twin_path = model_paths(args)
    labels = read_checkpoint(model_path)[0].labels
    sets, user_train = held_out_sets(args, labels)
    for path in filter(None, (model_path, twin_path)):  # refuse a set a model cannot read before any work
        path_labels = read_checkpoint(path)[0].labels
        for name, data in sets.items():
            columns(data.label_names, path_labels, f"held-out set `{name}`", path)
    start = time.time()
    tokenizer = load_tokenizer()
    model = load_model(model_path)
    result: dict[str, Any] = {
        "model": str(model_path),
        "twin": str(twin_path) if twin_path else None,
        "max_tokens": EVAL_MAX_TOKENS,
        "sets": {name: {"n": len(data), "labels": list(data.label_names)} for name, data in sets.items()},
    }
    for name, got in score_sets(model, sets, tokenizer).items():
        result["sets"][name]["model"] = got
    if twin_path is not None:
        for name, got in score_sets(load_model(twin_path), sets, tokenizer, "twin").items():
            result["sets"][name]["twin"] = got
    if args.no_baseline:
        result["baseline"] = None
    elif not baselines.available():
        result["baseline"] = {"skipped": f"scikit-learn is not installed. Fix: {baselines.SKLEARN_FIX}"}
        print(f"incls: baseline skipped: {result['baseline']['skipped']}", file=sys.stderr)
    else:
        trained_on, train = (["data train (90%)"], user_train) if user_train is not None else training_sources(labels)
        result["baseline"], got = baseline_scores(train, trained_on, sets)
        for name, values in got.items():
            result["sets"][name]["tfidf"] = values
    first = next(iter(sets.values()))
    result.update(model_facts(model, encode_all(tokenizer, first.texts, EVAL_MAX_TOKENS)))
    result["seconds"] = round(time.time() - start, 1)
    print(json.dumps(result) if args.json else table(result))
    return 0


def table(result: dict) -> str:
    """The side-by-side text report: one row per set, accuracy / macro-F1 per model."""
    kinds = [k for k in ("model", "twin", "tfidf") if any(k in s for s in result["sets"].values())]
    titles = {"model": "model", "twin": "non-VQ twin", "tfidf": "TF-IDF + LR"}
    lines = [(f"{'held-out set':<14}{'n':>6}  " + "".join(f"{titles[k]:<19}" for k in kinds)).rstrip()]
    for name, s in result["sets"].items():
        cells = [f"{s[k]['accuracy']:.4f} / {s[k]['macro_f1']:.4f}" if k in s else "-" for k in kinds]
        lines.append((f"{name:<14}{s['n']:>6}  " + "".join(f"{c:<19}" for c in cells)).rstrip())
    lines.append(
        f"(accuracy / macro-F1) model: {result['model']}" + (f"; twin: {result['twin']}" if result["twin"] else "")
    )
    baseline = result.get("baseline")
    if baseline and "skipped" in baseline:
        lines.append(f"baseline skipped: {baseline['skipped']}")
    elif baseline:
        lines.append(
            f"TF-IDF + LR trained on {', '.join(baseline['trained_on'])} ({baseline['examples']} documents, "
            f"{baseline['seconds']} s)"
        )
    return "\n".join(lines)
