"""Layers trained beside a lexicon: each document's lexical votes come from the lexicon of
the fold that never read it, and are exactly the running mean the head recipe's lexicon
would give over the same prefix."""

from collections import Counter

import torch
from train_helpers import make_examples

from incls.model.config import tiny_config
from incls.train.batches import encode_all, pad
from incls.train.beside_lexicon import fit_fold_lexicons
from incls.train.recipe import lexical_keys, lexical_logits


def folds(tokenizer, n=120):
    texts, labels = make_examples(n, seed=7)
    texts = [f"{t} {tokenizer.decode([1000 + i])}" for i, t in enumerate(texts)]  # a token no other text has
    docs = encode_all(tokenizer, texts, 32)
    cfg = tiny_config(vocab_size=tokenizer.get_vocab_size(), d_model=32, codebook_size=16)
    return docs, labels, fit_fold_lexicons(docs, labels, cfg, seed=3)


def test_a_documents_votes_come_from_the_lexicon_that_never_read_it(tokenizer):
    docs, _, lex = folds(tokenizer)
    assert sorted(Counter(lex.fold.tolist()).values()) == [60, 60]
    head = tiny_config(vocab_size=tokenizer.get_vocab_size()).replace(
        lexical_votes=True, ngram_order=lex.ngram_order, ngram_buckets=lex.ngram_buckets
    )
    seen = Counter(k for doc in docs for k in set(lexical_keys(doc, head).tolist()))
    checked = 0
    for doc, fold in zip(docs, lex.fold.tolist()):
        for key in {k for k in lexical_keys(doc, head).tolist() if seen[k] == 1}:  # this document's alone
            assert torch.all(lex.tables[fold, key] == 0)  # its own fold's lexicon never read it
            assert torch.any(lex.tables[1 - fold, key] != 0)  # the other fold's did
            checked += 1
    assert checked >= len(docs)


def test_running_votes_are_the_lexicons_mean_over_each_prefix(tokenizer):
    docs, _, lex = folds(tokenizer)
    head = tiny_config(vocab_size=tokenizer.get_vocab_size()).replace(
        lexical_votes=True, ngram_order=lex.ngram_order, ngram_buckets=lex.ngram_buckets
    )
    index = [0, 5, 17, 42]
    ids, lengths = pad([docs[i] for i in index])
    running = lex.running_logits(ids, lengths, index)  # (B, T, C)
    for row, i in enumerate(index):
        fold = int(lex.fold[i])
        for t in range(len(docs[i])):
            prefix = docs[i][: t + 1]
            expected = lexical_logits(lex.tables[fold], [lexical_keys(prefix, head)], [t + 1])[0] + lex.biases[fold]
            assert torch.allclose(running[row, t], expected, atol=1e-5)
        assert torch.all(running[row, len(docs[i]) :] == 0)  # padding
