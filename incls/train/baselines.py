"""TF-IDF + logistic regression: what a practical person would train instead of incls.

Word 1-2 grams, sublinear term frequency, terms seen in at least 2 documents, and a
multinomial logistic regression, trained on the same training split as the model. It
fits in seconds to a minute on a CPU, so it is the bar a model must clear to be worth
serving. scikit-learn is an optional extra (`pip install 'incls[train]'`); without
it `incls eval` reports the models alone.
"""

from __future__ import annotations

import importlib.util
import sys
import time

import torch

SKLEARN_FIX = "pip install 'incls[train]' (or pip install scikit-learn)"


def available() -> bool:
    return importlib.util.find_spec("sklearn") is not None


class TfidfBaseline:
    """A fitted TF-IDF + logistic regression classifier over `n_classes` classes."""

    name = "tfidf-logreg"

    def __init__(self, texts: list[str], labels: list[int], n_classes: int, log=None) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression

        start = time.time()
        say = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
        say(f"baseline: TF-IDF (word 1-2 grams) on {len(texts)} training documents ...")
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=2)
        try:
            features = self.vectorizer.fit_transform(texts)
        except ValueError:  # no term in 2+ documents: a training split of a few lines
            say("baseline: no term occurs in 2 training documents; keeping terms seen once")
            self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
            features = self.vectorizer.fit_transform(texts)
        say(f"baseline: logistic regression on {features.shape[1]} terms ...")
        self.classifier = LogisticRegression(max_iter=1000).fit(features, labels)
        self.n_classes = n_classes
        self.seconds = round(time.time() - start, 1)
        self.examples = len(texts)
        say(f"baseline: fitted in {self.seconds} s")

    def scores(self, texts: list[str]) -> torch.Tensor:
        """(N, n_classes) class probabilities; a class absent from training scores 0."""
        proba = self.classifier.predict_proba(self.vectorizer.transform(texts))  # (N, seen classes)
        out = torch.zeros(len(texts), self.n_classes, dtype=torch.float64)
        out[:, torch.as_tensor(self.classifier.classes_)] = torch.as_tensor(proba)
        return out
