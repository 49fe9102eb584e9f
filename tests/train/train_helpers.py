"""Helpers shared by the training tests: a separable two-class task of short texts."""

import random

GOOD = ["wonderful", "great", "superb", "lovely", "brilliant"]
BAD = ["awful", "terrible", "dreadful", "boring", "horrible"]
FILLER = "the film had a plot and some actors in it and it went on for a while".split()


def make_examples(n, seed):
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randrange(2)
        words = rng.sample(FILLER, 8) + [rng.choice(GOOD if label else BAD)]
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels
