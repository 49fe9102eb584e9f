"""The head recipe: a new head on kept layers, fitted from cached final states."""

import random
from dataclasses import replace

import torch

from incls.model.config import tiny_config
from incls.model.transformer import VQTransformer
from incls.train.batches import encode_all
from incls.train.data import Dataset
from incls.train.features import cached_mean_states
from incls.train.recipe import HeadRecipe, Source, balanced_weights, fit_tone_head, tone_sources, with_new_head

LABELS = ("negative", "neutral", "positive")
SMALL = HeadRecipe(ngram_buckets=1 << 10)  # the default n-grams in a small table
WORDS = {
    0: ["awful", "terrible", "dreadful", "horrible"],
    1: ["table", "meeting", "agenda", "schedule"],
    2: ["wonderful", "great", "superb", "lovely"],
}
FILLER = "the note says that we had a day and some people came to it and it went on".split()


def examples(n: int, seed: int) -> Dataset:
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.randrange(3)
        words = rng.sample(FILLER, 8) + rng.sample(WORDS[label], 2)
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return Dataset(texts, labels, LABELS)


def tiny_layers(tokenizer) -> VQTransformer:
    torch.manual_seed(0)
    return VQTransformer(tiny_config(vocab_size=tokenizer.get_vocab_size(), labels=("a", "b"))).eval()


def test_new_head_keeps_the_layers_and_reads_the_new_labels(tokenizer):
    layers = tiny_layers(tokenizer)
    model = with_new_head(layers, LABELS, SMALL)
    assert model.cfg.labels == LABELS and model.lexicon is not None
    assert torch.equal(model.layers[1].mlp.up_proj.weight, layers.layers[1].mlp.up_proj.weight)
    assert model.classifier.weight.shape == (3, layers.cfg.d_model)


def test_head_recipe_learns_three_classes_and_caches_states(tokenizer, tmp_path):
    # tokens alone: 250 shuffled texts are too few for their n-grams (test_ngram_votes_... reads those)
    recipe = replace(
        SMALL, ngram_order=1, state_docs=150, max_tokens=32, lexicon_epochs=20, state_epochs=20, lexicon_lr=0.1
    )
    model = with_new_head(tiny_layers(tokenizer), LABELS, recipe)
    summary = fit_tone_head(model, tokenizer, [Source("synthetic", examples(400, 1))], recipe, tmp_path)
    assert summary["state_documents"] == 150 and summary["lexicon_documents"] == 250
    assert len(list(tmp_path.rglob("*.safetensors"))) == 1  # 150 documents: one shard
    test = examples(200, 2)
    ids = encode_all(tokenizer, test.texts, 32)
    preds = [int(model.document_logits(x).argmax()) for x in ids]
    assert sum(p == y for p, y in zip(preds, test.labels)) / len(preds) > 0.9


def test_cached_states_are_the_forward_pass_states(tokenizer, tmp_path):
    """The head fitted on cached means scores documents exactly as the model's forward does."""
    model = with_new_head(tiny_layers(tokenizer), LABELS, SMALL)
    with torch.no_grad():
        model.classifier.weight.normal_()
        model.lexicon.weight.normal_()
        model.ngram_lexicon.weight.normal_()
    ids = encode_all(tokenizer, examples(20, 3).texts, 32)
    means = cached_mean_states(model, ids, tmp_path, "check", progress=False)
    again = cached_mean_states(model, ids, tmp_path, "check", progress=False)  # read back from disk
    assert torch.equal(means, again)
    for doc, mean in zip(ids, means):
        from_cache = model.classifier(mean) + model.lexical_votes(torch.tensor(doc)).mean(0)
        assert torch.allclose(from_cache, model.document_logits(doc), atol=1e-4)


def negations(n: int, seed: int) -> Dataset:
    """Texts whose tone only word pairs tell: "great" and "awful" each come as often plain
    as negated ("not great" is negative), so no single token carries the label."""
    rng = random.Random(seed)
    texts, labels = [], []
    for _ in range(n):
        label = rng.choice([0, 2])
        word = rng.choice(["great", "awful"])
        negated = (word == "great") == (label == 0)
        words = rng.sample(FILLER, 8)
        words.insert(rng.randrange(9), ("not " if negated else "") + word)
        texts.append(" ".join(words))
        labels.append(label)
    return Dataset(texts, labels, LABELS)


def test_ngram_votes_read_what_tokens_alone_cannot(tokenizer, tmp_path):
    accuracy = {}
    for order in (1, 2):
        recipe = replace(SMALL, ngram_order=order, state_docs=0, lexicon_epochs=40, lexicon_lr=0.1)
        model = with_new_head(tiny_layers(tokenizer), LABELS, recipe)
        fit_tone_head(model, tokenizer, [Source("negations", negations(1500, 1), state_docs=0)], recipe, tmp_path)
        test = negations(200, 2)
        preds = [int(model.document_logits(x).argmax()) for x in encode_all(tokenizer, test.texts, 32)]
        accuracy[order] = sum(p == y for p, y in zip(preds, test.labels)) / len(preds)
    assert accuracy[1] < 0.7 and accuracy[2] > 0.9, accuracy


def test_balanced_weights_make_every_class_weigh_the_same():
    labels = torch.tensor([0, 0, 0, 2])  # no neutral at all, like reviews
    weight = balanced_weights(labels, 3)
    assert weight[1] == 0  # an absent class weighs nothing (and divides by nothing)
    per_class = torch.bincount(labels, minlength=3).float() * weight
    assert torch.allclose(per_class[[0, 2]], torch.tensor([4 / 3, 4 / 3]))  # N / C each


def test_a_source_weight_decides_where_its_documents_disagree(tokenizer, tmp_path):
    """Two sources label the same word apart; the one weighing more wins."""

    def word(label: int, n: int) -> Source:
        return Source(f"says-{label}", Dataset(["zorp"] * n, [label] * n, LABELS), state_docs=0)

    recipe = replace(SMALL, ngram_order=1, state_docs=0, lexicon_epochs=20, lexicon_lr=0.1)
    readings = []
    for heavy in (0, 2):
        model = with_new_head(tiny_layers(tokenizer), LABELS, recipe)
        sources = [replace(word(label, 50), weight=4.0 if label == heavy else 1.0) for label in (0, 2)]
        fit_tone_head(model, tokenizer, sources, recipe, tmp_path)
        readings.append(int(model.document_logits(encode_all(tokenizer, ["zorp"], 8)[0]).argmax()))
    assert readings == [0, 2]


def test_cached_states_of_an_attention_pooled_model_are_pooled_as_it_pools(tokenizer, tmp_path):
    """With attention pooling the cached state is the weighted one: the head fitted on it
    scores documents exactly as the model's forward does."""
    torch.manual_seed(0)
    layers = VQTransformer(tiny_config(vocab_size=tokenizer.get_vocab_size(), pooling="attention")).eval()
    with torch.no_grad():
        layers.pool.weight.normal_()
    model = with_new_head(layers, LABELS, SMALL)
    with torch.no_grad():
        model.classifier.weight.normal_()
        model.lexicon.weight.normal_()
    ids = encode_all(tokenizer, examples(20, 3).texts, 32)
    pooled = cached_mean_states(model, ids, tmp_path, "pooled", progress=False)
    for doc, state in zip(ids, pooled):
        from_cache = model.classifier(state) + model.lexical_votes(torch.tensor(doc)).mean(0)
        assert torch.allclose(from_cache, model.document_logits(doc), atol=1e-4)


def test_a_kept_state_vote_is_weighed_against_the_lexicon_not_refitted(tokenizer, tmp_path):
    """`state_vote="keep"`: the trained classifier stays (scaled by one fitted weight) and the
    lexicon is fitted beside it."""
    torch.manual_seed(0)
    layers = VQTransformer(tiny_config(vocab_size=tokenizer.get_vocab_size(), labels=LABELS)).eval()
    with torch.no_grad():
        layers.classifier.weight.normal_()
    trained = layers.classifier.weight.detach().clone()
    recipe = replace(
        SMALL, ngram_order=1, state_docs=150, max_tokens=32, lexicon_epochs=20, lexicon_lr=0.1, state_vote="keep"
    )
    model = with_new_head(layers, LABELS, recipe)
    summary = fit_tone_head(model, tokenizer, [Source("synthetic", examples(400, 1))], recipe, tmp_path)
    alpha = summary["state_weight"]
    assert torch.allclose(model.classifier.weight, alpha * trained, rtol=1e-3, atol=1e-4)  # alpha is rounded
    assert summary["lexicon_weight"] > 0 and model.lexicon.weight.abs().sum() > 0
    test = examples(200, 2)
    ids = encode_all(tokenizer, test.texts, 32)
    accuracy = lambda m: sum(int(m.document_logits(x).argmax()) == y for x, y in zip(ids, test.labels)) / len(ids)
    assert accuracy(layers) < 0.5 < 0.8 < accuracy(model)  # a random vote alone; with the lexicon weighed in


def test_the_tone_data_state_vote_reads_tweets_unless_reviews_are_asked_for():
    """`--review-state-docs N`: N of IMDB's reviews join the tweets whose states the vote reads."""
    default = {s.name: s.state_docs for s in tone_sources(LABELS, limit=20)}
    asked = {s.name: s.state_docs for s in tone_sources(LABELS, limit=20, review_state_docs=8)}
    assert default == {"imdb-train": 0, "tweets-train": 3072, "news": 0, "docstrings": 0}
    assert asked == {**default, "imdb-train": 8}
