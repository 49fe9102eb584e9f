"""The shipped recipe: a new head on a frozen, already incremental transformer.

Training the layers costs about 13 s a step on a 2-core CPU; fitting the head costs one
forward pass per document, once (`incls.train.features`), then minutes. So the default
recipe keeps the transformer of a trained checkpoint (its codes, windows and per-edit
cost unchanged) and fits the head for the task at hand, in two stages:

1. the lexical table (per-token and per-n-gram votes) on the documents whose final states
   are *not* computed: it needs only their token ids, so it sees as much text as there is;
2. the linear vote on the normed final states, on the documents whose states are
   computed, with stage 1's lexicon votes as a fixed offset. The lexicon never saw these
   documents, so the state part learns what the lexicon gets wrong on unseen text.

A dataset too small to split keeps half its documents for each stage.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn import functional as F

from ..model.ngrams import sequence_rows
from .batches import encode_all
from .data import Dataset
from .features import HEAD_TENSORS, cached_mean_states


@dataclass(frozen=True)
class HeadRecipe:
    state_docs: int = 2048  # documents per source whose final states are computed (stage 2)
    max_tokens: int = 256  # tokens read per stage-2 document (a forward pass each)
    lexicon_tokens: int = 512  # tokens read per stage-1 document (token ids only: cheap)
    lexicon_epochs: int = 6
    lexicon_lr: float = 0.05
    lexicon_decay: float = 1e-7  # L2 weight on the lexicon's entries (divided by their idf squared)
    ngram_order: int = 2  # token n-grams of up to this many tokens vote (1: tokens alone)
    ngram_buckets: int = 1 << 20  # hashed rows per n-gram order
    state_epochs: int = 40
    state_lr: float = 0.01
    state_decay: float = 0.1  # L2 weight on the linear vote's weights
    state_vote: str = "fit"  # "fit": a new linear vote; "keep": the model's trained vote, weighed against the lexicon
    batch_size: int = 256
    seed: int = 0


@dataclass(frozen=True)
class Source:
    """One training set, its labels already those of the model."""

    name: str
    data: Dataset
    max_tokens: int | None = None  # tokens read per document (default: the recipe's)
    state_docs: int | None = None  # stage-2 documents (default: the recipe's)
    weight: float = 1.0  # how much each of its documents weighs in the lexicon's loss


def lexical_keys(doc: list[int], cfg) -> torch.Tensor:
    """A document's rows of the joint lexical table (lexicon rows 0..V-1, then the n-gram
    rows): each position's token and the n-grams ending there, int32 (n_keys,)."""
    ids = torch.tensor(doc, dtype=torch.long)
    if not cfg.ngram_rows:
        return ids.int()
    rows = sequence_rows(ids, cfg.ngram_order, cfg.vocab_size, cfg.ngram_buckets)  # (T, order - 1)
    return torch.cat([ids, cfg.vocab_size + rows.reshape(-1)]).int()


def bag(keys: list[torch.Tensor], lengths: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(flat keys, offsets, weights) for `F.embedding_bag(mode="sum")`: every key of a
    document of T positions weighs 1/T, so the bag is the mean of the positions' votes."""
    flat = torch.cat(keys).long()
    offsets = torch.tensor([0] + [len(k) for k in keys[:-1]], dtype=torch.long).cumsum(0)
    weights = torch.cat([torch.full((len(k),), 1.0 / n) for k, n in zip(keys, lengths)])
    return flat, offsets, weights


def lexical_logits(table: torch.Tensor, keys: list[torch.Tensor], lengths: list[int]) -> torch.Tensor:
    """(N, C) mean lexical votes of documents given by their keys and lengths."""
    flat, offsets, weights = bag(keys, lengths)
    return F.embedding_bag(flat, table, offsets, mode="sum", per_sample_weights=weights)


def _epochs(n: int, epochs: int, batch: int, gen: torch.Generator):
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen).tolist()
        for start in range(0, n, batch):
            yield perm[start : start + batch]


def balanced_weights(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(C,) loss weights N / (C n_c): every class weighs as much in the loss, whatever its
    share of the training data (the sources' class mixes are their own, not the user's:
    the tweets are mostly negative and neutral, the reviews have no neutral at all)."""
    counts = torch.bincount(labels, minlength=n_classes).float()
    return torch.where(counts > 0, len(labels) / (n_classes * counts.clamp(min=1)), torch.zeros(()))


def inverse_document_frequency(keys: list[torch.Tensor], n_rows: int) -> torch.Tensor:
    """(n_rows,) smoothed idf of every table row over the documents: log((1 + N) / (1 + df)) + 1."""
    df = torch.zeros(n_rows)
    for k in keys:
        df[k.long().unique()] += 1
    return torch.log((1 + len(keys)) / (1 + df)) + 1


def fit_lexicon(
    keys: list[torch.Tensor],
    lengths: list[int],
    labels: torch.Tensor,
    doc_weights: torch.Tensor,
    n_rows: int,
    n_classes: int,
    recipe: HeadRecipe,
    log,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(table (n_rows, C), bias (C,)) of a mean-of-lexical-votes classifier fitted on the documents.

    The L2 penalty on a row is divided by its idf squared: that is logistic regression on
    idf-weighted features, which lets rare, telling phrases weigh more than a plain penalty
    would (a row seen in few documents is not shrunk as hard as a common one). A document's
    loss weighs its class's balanced weight times its own (`doc_weights`, (N,)).
    """
    table = torch.zeros(n_rows, n_classes, requires_grad=True)
    bias = torch.zeros(n_classes, requires_grad=True)
    shrink = inverse_document_frequency(keys, n_rows).pow(-2)[:, None]  # (n_rows, 1)
    weight = balanced_weights(labels, n_classes)
    opt = torch.optim.Adam([table, bias], lr=recipe.lexicon_lr)
    gen = torch.Generator().manual_seed(recipe.seed)
    steps = recipe.lexicon_epochs * math.ceil(len(keys) / recipe.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / steps)))
    for step, index in enumerate(_epochs(len(keys), recipe.lexicon_epochs, recipe.batch_size, gen)):
        logits = lexical_logits(table, [keys[i] for i in index], [lengths[i] for i in index]) + bias  # (B, C)
        each = weight[labels[index]] * doc_weights[index]  # (B,)
        loss = (F.cross_entropy(logits, labels[index], reduction="none") * each).sum() / each.sum()
        loss = loss + recipe.lexicon_decay * (table.pow(2) * shrink).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log and (step + 1) % 200 == 0:
            log(f"lexicon step {step + 1}/{steps}: loss {loss.item():.4f}")
    return table.detach(), bias.detach()


def fit_state_vote(
    mean: torch.Tensor, offsets: torch.Tensor, labels: torch.Tensor, recipe: HeadRecipe
) -> tuple[torch.Tensor, torch.Tensor]:
    """(W (C, d), b (C,)) of the linear vote on mean normed states, added to fixed `offsets` (N, C)."""
    C, d = offsets.shape[1], mean.shape[1]
    w = torch.zeros(C, d, requires_grad=True)
    b = torch.zeros(C, requires_grad=True)
    opt = torch.optim.Adam([w, b], lr=recipe.state_lr)
    gen = torch.Generator().manual_seed(recipe.seed + 1)
    weight = balanced_weights(labels, C)
    for index in _epochs(len(mean), recipe.state_epochs, recipe.batch_size, gen):
        logits = offsets[index] + mean[index] @ w.T + b  # (B, C)
        loss = F.cross_entropy(logits, labels[index], weight=weight) + recipe.state_decay * w.pow(2).sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return w.detach(), b.detach()


def fit_mix(votes: torch.Tensor, offsets: torch.Tensor, labels: torch.Tensor, recipe: HeadRecipe) -> torch.Tensor:
    """(alpha, beta, c (C,)) of logits = alpha votes + beta offsets + c: how much a trained
    state vote (N, C) and the lexicon's votes (N, C) each weigh, fitted on documents the
    lexicon never saw (classes balanced). Returned flat: (2 + C,)."""
    C = votes.shape[1]
    mix = torch.zeros(2 + C)
    mix[:2] = 1.0
    mix.requires_grad_(True)
    weight = balanced_weights(labels, C)
    opt = torch.optim.LBFGS([mix], max_iter=200, line_search_fn="strong_wolfe")  # 2 + C numbers: full batch

    def loss() -> torch.Tensor:
        opt.zero_grad(set_to_none=True)
        value = F.cross_entropy(mix[0] * votes + mix[1] * offsets + mix[2:], labels, weight=weight)
        value.backward()
        return value

    opt.step(loss)
    return mix.detach()


def split_for_stages(n: int, state_docs: int) -> tuple[range, range]:
    """(stage-1 indices, stage-2 indices) of a source with n documents in a random order
    (every training split is shuffled once with a fixed seed): the first ones are stage 2."""
    k = min(state_docs, n // 2)  # a small dataset keeps half for each stage
    return range(k, n), range(k)


def fit_tone_head(model, tokenizer, sources: list[Source], recipe: HeadRecipe, cache_root: Path, log=None) -> dict:
    """Fit `model`'s head (classifier and lexicon) in place from `sources`; the layers stay as they are."""
    lex_docs, lex_labels, lex_weights, state_docs, state_labels, state_means = [], [], [], [], [], []
    for source in sources:
        texts, labels = source.data.texts, source.data.labels
        stage1, stage2 = split_for_stages(
            len(texts), recipe.state_docs if source.state_docs is None else source.state_docs
        )
        lex_docs += encode_all(
            tokenizer,
            [texts[i] for i in stage1],
            min(source.max_tokens or recipe.lexicon_tokens, recipe.lexicon_tokens),
        )
        lex_labels += [labels[i] for i in stage1]
        lex_weights += [source.weight] * len(stage1)
        if not stage2:
            continue
        docs = encode_all(tokenizer, [texts[i] for i in stage2], source.max_tokens or recipe.max_tokens)
        means = cached_mean_states(model, docs, cache_root, source.name, progress=log is not None)  # (n, d)
        state_docs += docs
        state_labels += [labels[i] for i in stage2]
        state_means.append(means)
    cfg = model.cfg
    n_rows = cfg.vocab_size + cfg.ngram_rows
    keys = [lexical_keys(doc, cfg) for doc in lex_docs]
    table, lex_bias = fit_lexicon(
        keys,
        [len(d) for d in lex_docs],
        torch.tensor(lex_labels),
        torch.tensor(lex_weights),
        n_rows,
        cfg.n_classes,
        recipe,
        log,
    )
    w, b = torch.zeros_like(model.classifier.weight), torch.zeros(cfg.n_classes)  # no stage 2: the lexicon alone
    mixed = {}
    if state_docs:
        with torch.no_grad():
            state_keys = [lexical_keys(doc, cfg) for doc in state_docs]
            offsets = lexical_logits(table, state_keys, [len(d) for d in state_docs]) + lex_bias  # (N2, C)
        if recipe.state_vote == "keep":
            w0, b0 = model.classifier.weight.detach().clone(), model.classifier.bias.detach().clone()
            votes = torch.cat(state_means) @ w0.T + b0  # (N2, C) the trained vote of each pooled state
            mix = fit_mix(votes, offsets, torch.tensor(state_labels), recipe)
            alpha, beta = float(mix[0]), float(mix[1])
            w, b, table, lex_bias = alpha * w0, alpha * b0 + mix[2:], beta * table, beta * lex_bias
            mixed = {"state_weight": round(alpha, 4), "lexicon_weight": round(beta, 4)}
        else:
            w, b = fit_state_vote(torch.cat(state_means), offsets, torch.tensor(state_labels), recipe)
    with torch.no_grad():
        model.classifier.weight.copy_(w)
        model.classifier.bias.copy_(b + lex_bias)
        model.lexicon.weight.copy_(table[: cfg.vocab_size])
        if model.ngram_lexicon is not None:
            model.ngram_lexicon.weight.copy_(table[cfg.vocab_size :])
    return {
        "head_recipe": asdict(recipe),
        "lexicon_documents": len(lex_docs),
        "state_documents": len(state_docs),
        "sources": [s.name for s in sources],
        **mixed,
    }


DOCSTRINGS_WEIGHT = 3.0  # chosen on the everyday dev set (README, the head table)


def tone_sources(labels: tuple[str, ...], limit: int | None = None, review_state_docs: int = 0) -> list[Source]:
    """The shipped model's training sets, loaded, at most `limit` documents each, with
    labels mapped by name onto `labels`: IMDB's train split (negative / positive, long:
    their first tokens), the news articles and the standard library's docstrings (neutral,
    their first 256 tokens; each docstring weighs three documents: there are few of them,
    and they alone teach that instructions and bug reports are neutral), all for the
    lexicon, and the tweets' train split (3 classes, short), 3,072 of them for the state
    vote, with `review_state_docs` of IMDB's reviews. The TF-IDF baseline trains on the
    same sets (`incls.train.sets.training_sources`).

    Chosen on the everyday dev set: on layers that never saw the tone data, a state vote
    fitted on reviews as well learns to tell the two sources apart (their calibrations
    differ) rather than tone, and costs 5 points on everyday text (README, the head
    table); layers trained on the tone data (docs/model.md) are measured both ways."""
    from .data import docstrings_as_neutral, imdb_split, news_as_neutral, tweets_split

    def mapped(data: Dataset) -> Dataset:
        data = data.take(limit)
        return Dataset(data.texts, [labels.index(data.label_names[y]) for y in data.labels], labels)

    return [
        Source("imdb-train", mapped(imdb_split("train")), max_tokens=None, state_docs=review_state_docs),
        Source("tweets-train", mapped(tweets_split("train")), max_tokens=128, state_docs=3072),
        Source("news", mapped(news_as_neutral()), max_tokens=256, state_docs=0),
        Source("docstrings", mapped(docstrings_as_neutral()), max_tokens=256, state_docs=0, weight=DOCSTRINGS_WEIGHT),
    ]


def with_new_head(model, labels: tuple[str, ...], recipe: HeadRecipe):
    """A copy of `model` whose head (classifier, lexicon and n-gram lexicon) is new, for
    `labels` and the recipe's n-grams; the layers are shared. With `state_vote="keep"` the
    model's trained classifier is kept too (its labels must be `labels`)."""
    from ..model.transformer import VQTransformer

    if recipe.state_vote == "keep" and tuple(model.cfg.labels) != tuple(labels):
        raise ValueError(f"a kept state vote reads {model.cfg.labels}, not {tuple(labels)}")
    head = dict(lexical_votes=True, ngram_order=recipe.ngram_order, ngram_buckets=recipe.ngram_buckets)
    fresh = VQTransformer(model.cfg.replace(labels=tuple(labels), **head))
    new = HEAD_TENSORS if recipe.state_vote == "fit" else tuple(t for t in HEAD_TENSORS if t != "classifier.")
    kept = {n: t for n, t in model.state_dict().items() if not n.startswith(new)}
    missing, unexpected = fresh.load_state_dict(kept, strict=False)
    assert not unexpected and all(n.startswith(new) for n in missing), (missing, unexpected)
    return fresh.eval()
