"""What to tell a writer about a document's tone: which sentences to point out, in words.

Pure functions over `Evidence` (see `incls.reading.evidence` for the arithmetic). The rules:

- The document's tone is its most probable class. A **neutral** document (the label
  "neutral", when the model has one) is quiet: no diagnostic and no hints; the status bar
  still says "neutral". A document of nothing but whitespace has no tone at all.
- A sentence is pointed out only if it is a sentence or a list item (never a greeting,
  a sign-off or a lone short line), the user has not ignored it, and its own reading's
  most probable class is not neutral.
- It **carries** the tone if it reads as the document's class, with at least `threshold`
  probability, and its pull raises that class (relative to the mean over classes); it
  **pulls against** the tone if it reads as another class and its pull lowers the
  document's class, and, of its own class and the document's, it reads as its own with
  at least `against` probability (p / (p + p_document)). Neutral does not dilute that
  bar: one sentence against the grain of a document is what a writer most wants to see,
  and a short sentence read in three classes seldom reaches the bar of those that carry
  it; a sentence torn evenly between the two tones is not shown.
- Of those, the `count` with the strongest pull are shown; the strongest sentence against
  the tone is always among them when there is one.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from ..model import pooling
from ..text.sentences import ITEM, SENTENCE
from .evidence import Evidence

NEUTRAL = "neutral"
CARRIES, AGAINST = "carries", "against"
HINTED_KINDS = (SENTENCE, ITEM)


@dataclass(frozen=True)
class Tone:
    index: int  # the document's class
    label: str
    confidence: float


@dataclass(frozen=True)
class Hint:
    index: int  # the unit in `Evidence`
    start: int  # in the source
    end: int
    role: str  # CARRIES or AGAINST
    label: str  # how the sentence reads on its own
    probability: float
    share: float  # of the evidence for the document's class
    pull: float  # toward the document's class, relative to the mean over classes (logits)
    key: str
    message: str


def document_tone(labels: tuple[str, ...], probabilities: tuple[float, ...]) -> Tone | None:
    if not probabilities:
        return None
    k = max(range(len(probabilities)), key=probabilities.__getitem__)
    return Tone(k, labels[k], probabilities[k])


def is_quiet(tone: Tone | None) -> bool:
    """No tone to show: nothing to classify, or a neutral document."""
    return tone is None or tone.label == NEUTRAL


def describe(label: str, probability: float) -> str:
    """'strongly negative', 'negative', 'slightly negative' from a class probability."""
    if probability >= 0.9:
        return f"strongly {label}"
    if probability >= 0.65:
        return label
    return f"slightly {label}"


def hints(
    evidence: Evidence, tone: Tone, count: int, threshold: float, against: float, ignored: set[str]
) -> list[Hint]:
    """The sentences to point out, strongest first (see the module's rules).

    Plain Python over the units' cached readings: per reading this is a few arithmetic
    operations per unit, cheaper here than tensor calls on a few hundred rows; a keystroke
    that leaves the reading as it was (in a code block) reuses the choice (`Evidence.memo`).
    """
    if count <= 0 or len(evidence) == 0 or is_quiet(tone):
        return []
    key = ("hints", tone.index, count, threshold, against, frozenset(ignored))
    picked = evidence.memo.get(key)
    if picked is None:
        picked = evidence.memo[key] = _pick(evidence, tone, count, threshold, against, ignored)
    return [_hint(evidence, tone, *args) for args in picked]


def _pick(
    evidence: Evidence, tone: Tone, count: int, threshold: float, against_bar: float, ignored: set[str]
) -> list[tuple]:
    """The hints' (unit, role, label, probability, share, pull), strongest first."""
    labels, k, T = evidence.labels, tone.index, max(1, evidence.n_tokens)
    neutral = labels.index(NEUTRAL) if NEUTRAL in labels else -1
    z = evidence.sums_total
    zk = (z[k] - sum(z) / len(z)) / T  # the document's centred logit of k
    positive = 0.0  # the units' centred contributions toward k, > 0
    carrying, against, toward = [], [], {}
    for i, (kind, own, p, c) in enumerate(zip(evidence.kinds, evidence.own, evidence.own_p, evidence.centred)):
        if c[k] > 0:
            positive += c[k]
        if kind not in HINTED_KINDS or own == neutral:
            continue
        r = evidence.own_logits[i]
        clear = p >= threshold if own == k else _two_way(r[own] - r[k]) >= against_bar
        if not clear:
            continue
        pull = (c[k] - (evidence.t1[i] - evidence.t0[i]) * zk) / T
        if own == k and pull > 0:
            carrying.append(i)
        elif own != k and pull < 0:
            against.append(i)
        else:
            continue
        toward[i] = pull
    if ignored:
        carrying = [i for i in carrying if evidence.key(i) not in ignored]
        against = [i for i in against if evidence.key(i) not in ignored]
    chosen = heapq.nlargest(count, carrying + against, key=lambda i: abs(toward[i]))
    strongest_against = min(against, key=toward.__getitem__, default=None)
    if strongest_against is not None and strongest_against not in chosen:
        chosen = chosen[: count - 1] + [strongest_against]
    pulling = set(against)
    return [
        (
            i,
            AGAINST if i in pulling else CARRIES,
            labels[evidence.own[i]],
            evidence.own_p[i],
            evidence.centred[i][k] / positive if positive > 0 else 0.0,
            toward[i],
        )
        for i in chosen
    ]


def _two_way(gap: float) -> float:
    """p / (p + q) of a unit's two classes whose reading's logits differ by `gap` (the
    softmax of its reading, the other classes left out). The gap is >= 0 here (p is the
    unit's most probable class), so the exponential cannot overflow."""
    return 1.0 / (1.0 + math.exp(-gap))


def _hint(evidence: Evidence, tone: Tone, i: int, role: str, label: str, p: float, share: float, pull: float) -> Hint:
    if role == CARRIES:
        message = f"This sentence reads {describe(label, p)}"
    else:
        message = f"This sentence reads {describe(label, p)}, against the document's {tone.label} tone"
    start, end = evidence.range_of(i)
    return Hint(i, start, end, role, label, p, share, pull, evidence.key(i), message)


def without(evidence: Evidence, i: int) -> list[float]:
    """Class probabilities of the document without unit i, the other rows unchanged
    (the logits of R - R_i over T - n_i positions): what deleting the sentence would roughly do."""
    n = evidence.t1[i] - evidence.t0[i]
    T = evidence.n_tokens
    if T - n <= 0:
        return []
    z = pooling.logits(evidence.rows.sum(0) - evidence.rows[i], T - n)
    return z.softmax(-1).tolist()


def excerpt(text: str, limit: int = 60) -> str:
    """One line of at most `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1].rstrip() + "…"


def percent(x: float) -> str:
    return f"{round(100 * x):d}%" if math.isfinite(x) else "–"
