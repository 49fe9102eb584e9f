"""Configuration of the VQ transformer: one frozen dataclass, serialised next to weights."""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass

POSITIVE = (
    "vocab_size",
    "d_model",
    "n_heads",
    "n_kv_heads",
    "head_dim",
    "d_ff",
    "window",
    "codebook_size",
    "max_tokens",
    "ngram_order",
    "ngram_buckets",
)  # at least 1
COUNTS = ("frozen_layers", "local_layers")  # zero or more
POOLINGS = ("mean", "attention")


@dataclass(frozen=True)
class ModelConfig:
    """Shape of the model and the three knobs that trade accuracy for speed.

    `base_layers` picks which layers of the pretrained decoder are kept (depth);
    `window` is W, the clip of the relative distance seen by RoPE; `codebook_size`
    is K, the number of codes per layer and head. `vq=False` gives the baseline twin:
    the same network with each head's attention output left continuous.
    The bottom `frozen_layers` keep their pretrained weights; with
    `adapt_frozen_attention` their attention projections train (and ship) while their
    MLPs stay the base's, so the codes of the lowest layers can learn to be stable
    for a few megabytes of weights.
    The bottom `local_layers` attend only to keys closer than W (sliding-window
    attention): an edit then reaches at most W positions per local layer, instead of
    nudging every later position's output (and flipping codes far away). With `sink` they
    also see the document's first key, at the clipped distance W (an attention sink: a
    place for a head to put the weight that no near key earns); an edit reaches every
    position only when it changes that first key.
    With `lexical_votes` each position also votes with its token's row of a lexicon and,
    up to `ngram_order`, with hashed rows of the n-grams ending there (`incls.model.ngrams`).
    `pooling` says how the positions' state votes are pooled into the document's logits:
    "mean" (every position weighs the same) or "attention" (a learned score of each
    position's final state, softmax over the positions: the verdict can outweigh a symptom
    described at length); the lexical votes are always mean-pooled.
    """

    vocab_size: int = 49152
    d_model: int = 576
    n_heads: int = 9
    n_kv_heads: int = 3
    head_dim: int = 64
    d_ff: int = 1536
    rms_eps: float = 1e-5
    rope_theta: float = 100000.0
    base_layers: tuple[int, ...] = (0, 1, 2, 3)
    window: int = 64
    codebook_size: int = 64
    vq: bool = True
    labels: tuple[str, ...] = ("negative", "positive")
    max_tokens: int = 512
    frozen_layers: int = 2
    adapt_frozen_attention: bool = False
    local_layers: int = 0
    sink: bool = False  # local layers also see key 0
    lexical_votes: bool = False
    ngram_order: int = 1  # with lexical_votes: n-grams of up to this many tokens vote too
    ngram_buckets: int = 1 << 20  # hashed rows per n-gram order
    pooling: str = "mean"  # "mean" or "attention": how the state votes are pooled

    @property
    def n_layers(self) -> int:
        return len(self.base_layers)

    @property
    def n_classes(self) -> int:
        return len(self.labels)

    @property
    def kv_group(self) -> int:
        """Query heads sharing one key/value head (grouped-query attention)."""
        return self.n_heads // self.n_kv_heads

    @property
    def ngram_rows(self) -> int:
        """Rows of the n-gram lexicon (orders 2..ngram_order); 0 without one."""
        return (self.ngram_order - 1) * self.ngram_buckets if self.lexical_votes else 0

    def validate(self) -> None:
        """Raise ValueError naming the first field no model can be built from (a type, a
        range, heads that do not group): a checkpoint's config is checked before anything
        is allocated for it. (How much a valid config allocates is the loader's to bound.)"""
        for f in dataclasses.fields(self):
            value, default = getattr(self, f.name), f.default
            if isinstance(default, tuple):
                kind = type(default[0])
                ok = isinstance(value, tuple) and len(value) > 0 and all(_is(v, kind) for v in value)
            else:
                ok = _is(value, type(default))
            if not ok:
                raise ValueError(f"{f.name} must be {_kind(default)}, not {_short(value)}")
        for name in POSITIVE:
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        for name in COUNTS:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be 0 or more, not {getattr(self, name)}")
        for name in ("rms_eps", "rope_theta"):
            if not (math.isfinite(getattr(self, name)) and getattr(self, name) > 0):
                raise ValueError(f"{name} must be a positive number, not {getattr(self, name)}")
        if self.n_heads % self.n_kv_heads:
            raise ValueError(f"n_heads ({self.n_heads}) must be a multiple of n_kv_heads ({self.n_kv_heads})")
        if min(self.base_layers) < 0 or len(set(self.base_layers)) != len(self.base_layers):
            raise ValueError(f"base_layers must be distinct layer numbers, not {_short(self.base_layers)}")
        if len(self.labels) < 2 or len(set(self.labels)) != len(self.labels):
            raise ValueError(f"labels must be two or more distinct names, not {_short(self.labels)}")
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {list(POOLINGS)}, not {_short(self.pooling)}")

    def replace(self, **changes) -> ModelConfig:
        return dataclasses.replace(self, **changes)

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        raw = json.loads(text)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        for key in ("base_layers", "labels"):
            if key in raw:
                raw[key] = tuple(raw[key])
        return cls(**raw)


def _is(value: object, kind: type) -> bool:
    """Whether a config value is of a field's kind (an integer is a number; a boolean is not an integer)."""
    if kind is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


def _kind(default: object) -> str:
    """What a field's value must be, in words, after its default."""
    names = {bool: "boolean", int: "integer", float: "number", str: "string"}
    if isinstance(default, tuple):
        return f"a non-empty list of {names[type(default[0])]}s"
    return ("an " if type(default) is int else "a ") + names[type(default)]


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "…"


def tiny_config(**changes) -> ModelConfig:
    """A small random model for tests of the engine and the training loop."""
    base = ModelConfig(
        vocab_size=97,
        d_model=32,
        n_heads=4,
        n_kv_heads=2,
        head_dim=8,
        d_ff=64,
        base_layers=(0, 1),
        window=6,
        codebook_size=8,
        max_tokens=4096,
        frozen_layers=0,
    )
    return base.replace(**changes)
