"""`incls eval`: accuracy and macro-F1 of a model and its non-VQ twin on held-out data."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

from ..model.base import load_tokenizer
from ..model.checkpoint import DEFAULT_MODEL, DEFAULT_TWIN, load_model
from .batches import bucketed, encode_all, pad
from .data import Dataset, imdb_split, load_user_file, split_user_data

EVAL_MAX_TOKENS = 512


@torch.no_grad()
def predict(model, docs: list[list[int]], batch_size: int = 16, progress: bool = False) -> list[int]:
    """Predicted class of each document (token ids), from its last position's logits."""
    from tqdm import tqdm

    preds = [0] * len(docs)
    lengths = [len(d) for d in docs]
    batches = bucketed(list(range(len(docs))), lengths, batch_size, None)
    for index in tqdm(batches, desc="eval", disable=not progress, file=sys.stderr, mininterval=5):
        ids, lens = pad([docs[i] for i in index])
        logits = model(ids).logits                                   # (B, T, C)
        last = logits[torch.arange(len(index)), lens - 1]            # (B, C)
        for i, p in zip(index, last.argmax(-1).tolist()):
            preds[i] = p
    return preds


def scores(preds: list[int], labels: list[int], n_classes: int) -> dict:
    """Accuracy and macro-averaged F1."""
    correct = sum(p == y for p, y in zip(preds, labels))
    f1s = []
    for c in range(n_classes):
        tp = sum(p == c and y == c for p, y in zip(preds, labels))
        fp = sum(p == c and y != c for p, y in zip(preds, labels))
        fn = sum(p != c and y == c for p, y in zip(preds, labels))
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return {"accuracy": correct / max(1, len(labels)), "macro_f1": sum(f1s) / n_classes}


def held_out(data_path: str | None, label_names) -> Dataset:
    if data_path is None:
        return imdb_split("test")
    return split_user_data(load_user_file(Path(data_path), tuple(label_names)))[1]


def evaluate(model_path: Path, twin_path: Path | None, data: Dataset, progress: bool) -> dict:
    model = load_model(model_path)
    tokenizer = load_tokenizer()
    docs = encode_all(tokenizer, data.texts, EVAL_MAX_TOKENS)
    start = time.time()
    result = {"model": str(model_path), "n": len(docs), "max_tokens": EVAL_MAX_TOKENS}
    result.update(scores(predict(model, docs, progress=progress), data.labels, model.cfg.n_classes))
    result["seconds"] = round(time.time() - start, 1)
    if twin_path is not None:
        twin = load_model(twin_path)
        twin_scores = scores(predict(twin, docs, progress=progress), data.labels, twin.cfg.n_classes)
        result.update({"baseline_model": str(twin_path), "baseline_accuracy": twin_scores["accuracy"],
                       "baseline_macro_f1": twin_scores["macro_f1"]})
    cfg = model.cfg
    result["config"] = {"layers": cfg.n_layers, "window": cfg.window, "local_layers": cfg.local_layers,
                        "codebook_size": cfg.codebook_size}
    result["parameters_without_embedding"] = sum(
        p.numel() for n, p in model.named_parameters() if not n.startswith("embed_tokens."))
    probe = next((d for d in docs if len(d) >= 300), max(docs, key=len, default=[]))[:300]
    if probe:  # the first held-out document of 300+ tokens, cut to 300
        result.update({"full_forward_tokens": len(probe), "full_forward_ms": forward_ms(model, probe)})
    return result


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
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="VQ model weights (default: the shipped model)")
    parser.add_argument("--twin", type=Path, default=DEFAULT_TWIN, help="non-VQ twin weights (default: the shipped twin)")
    parser.add_argument("--no-twin", action="store_true", help="evaluate the model alone")
    parser.add_argument("--data", help="CSV/JSONL (text,label); its seeded 10%% held-out part is used. Default: IMDB held-out 5,000")
    parser.add_argument("--limit", type=int, help="evaluate on the first N held-out documents only")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args) -> int:
    labels = load_model_labels(args.model)
    data = held_out(args.data, labels).take(args.limit)
    result = evaluate(args.model, None if args.no_twin else args.twin, data, progress=not args.json)
    if args.json:
        print(json.dumps(result))
    else:
        line = f"{result['model']}: accuracy {result['accuracy']:.4f}, macro-F1 {result['macro_f1']:.4f} on {result['n']} held-out documents"
        print(line)
        if "baseline_accuracy" in result:
            print(f"{result['baseline_model']} (non-VQ twin): accuracy {result['baseline_accuracy']:.4f}, macro-F1 {result['baseline_macro_f1']:.4f}")
    return 0


def load_model_labels(path: Path) -> tuple[str, ...]:
    from ..model.checkpoint import read_checkpoint
    return read_checkpoint(path)[0].labels
