"""Training the layers beside a lexicon: they learn what the token/bigram votes get wrong.

The shipped head adds a lexicon's votes (per token and per bigram, `incls.train.recipe`)
to the layers' state vote. Layers trained alone must learn all of the tone, the words as
well as what the words do not say; beside a lexicon they can spend themselves on the rest
(negation, a verdict that turns a described problem around, a loaded word in a technical
sentence). So the layers recipe can add, to the model's running logits at every position,
the running mean of a lexicon's votes over the same prefix, a constant in the loss.

That lexicon must not have read the document it votes on: fitted on the training set
itself it recalls every training document's label, and the layers would learn nothing
from its mistakes. The training documents are split in two folds; each fold's lexicon is
fitted on the other fold, as the head recipe fits its own (`fit_lexicon`), and votes only
on the documents it did not read (out-of-fold votes, as in stacking). The head recipe then
fits the shipped lexicon on every document and a state vote beside it; a new vote read the
held-out sets better than the trained one kept and weighed (`--state-vote keep`; docs/model.md).

The fit is seeded and deterministic, so a resumed run recomputes the same lexicons.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..model.ngrams import sequence_rows
from .recipe import HeadRecipe, fit_lexicon, lexical_keys

FOLDS = 2


@dataclass(frozen=True)
class FoldLexicons:
    """Two lexicons and which fold each training document is in."""

    tables: torch.Tensor  # (FOLDS, V + ngram rows, C) each fold's lexicon, fitted on the other folds
    biases: torch.Tensor  # (FOLDS, C)
    fold: torch.Tensor  # (N,) int64: the fold of each training document
    vocab_size: int
    ngram_order: int
    ngram_buckets: int

    def running_logits(self, ids: torch.Tensor, lengths: torch.Tensor, index: list[int]) -> torch.Tensor:
        """Padded ids (B, T), their lengths (B,) and the documents' indices -> (B, T, C): at
        every position, the mean lexical vote of the prefix ending there plus the bias, from
        the lexicon of the document's own fold (which never read it); zeros past the end."""
        fold = self.fold[index]  # (B,)
        rows = sequence_rows(ids, self.ngram_order, self.vocab_size, self.ngram_buckets)  # (B, T, order - 1)
        keys = torch.cat([ids[..., None], self.vocab_size + rows], -1)  # (B, T, order)
        votes = self.tables[fold[:, None, None], keys].sum(-2)  # (B, T, C)
        valid = torch.arange(ids.shape[1])[None, :] < lengths[:, None]  # (B, T)
        votes = votes * valid[..., None]
        count = torch.arange(1, ids.shape[1] + 1)[None, :, None]  # (1, T, 1)
        return (votes.cumsum(1) / count + self.biases[fold][:, None, :]) * valid[..., None]


def fit_fold_lexicons(docs: list[list[int]], labels: list[int], cfg, seed: int, log=None) -> FoldLexicons:
    """Split the documents (token ids, as the layers read them) into two seeded folds and fit
    each fold's lexicon on the other, with the head recipe's settings; `cfg` is the model's
    config, whose vocabulary and classes the lexicon reads."""
    recipe = HeadRecipe(seed=seed)
    head = cfg.replace(lexical_votes=True, ngram_order=recipe.ngram_order, ngram_buckets=recipe.ngram_buckets)
    n_rows = head.vocab_size + head.ngram_rows
    fold = torch.randperm(len(docs), generator=torch.Generator().manual_seed(seed)) % FOLDS  # (N,)
    keys = [lexical_keys(doc, head) for doc in docs]
    y = torch.tensor(labels)
    tables, biases = [], []
    for k in range(FOLDS):
        read = (fold != k).nonzero().flatten().tolist()
        if log:
            log(f"lexicon of fold {k + 1}/{FOLDS}: fitted on the other {len(read)} documents")
        table, bias = fit_lexicon(
            [keys[i] for i in read],
            [len(docs[i]) for i in read],
            y[read],
            torch.ones(len(read)),
            n_rows,
            cfg.n_classes,
            recipe,
            log,
        )
        tables.append(table)
        biases.append(bias)
    return FoldLexicons(
        torch.stack(tables), torch.stack(biases), fold, head.vocab_size, head.ngram_order, head.ngram_buckets
    )
