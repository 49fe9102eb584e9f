"""Training smoke test: a tiny model on the real tokenizer learns a separable task fast."""

import torch
from train_helpers import make_examples

from incls.model.config import tiny_config
from incls.model.transformer import VQTransformer
from incls.train.batches import encode_all
from incls.train.evaluate import predict, scores
from incls.train.loop import TrainConfig, train


def test_tiny_vq_model_learns_in_under_a_minute(tokenizer):
    cfg = tiny_config(vocab_size=tokenizer.get_vocab_size(), d_model=32, codebook_size=16)
    torch.manual_seed(0)
    model = VQTransformer(cfg)
    texts, labels = make_examples(256, seed=1)
    recipe = TrainConfig(steps=120, batch_size=32, max_tokens=32, lr=3e-3, warmup=5, kmeans_docs=16, reseed_every=40)
    summary = train(model, tokenizer, texts, labels, recipe, log=lambda *_: None)
    assert summary["steps"] == 120 and summary["seconds"] < 60
    test_texts, test_labels = make_examples(200, seed=2)
    accuracy = scores(predict(model, encode_all(tokenizer, test_texts, 32)), test_labels)["accuracy"]
    assert accuracy > 0.9


def test_stability_term_trains_frozen_attention_and_leaves_frozen_mlps(tokenizer):
    cfg = tiny_config(
        vocab_size=tokenizer.get_vocab_size(),
        d_model=32,
        codebook_size=16,
        frozen_layers=1,
        adapt_frozen_attention=True,
    )
    torch.manual_seed(0)
    model = VQTransformer(cfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    texts, labels = make_examples(64, seed=3)
    recipe = TrainConfig(
        steps=6, batch_size=16, max_tokens=32, lr=3e-3, warmup=1, kmeans_docs=8, commitment=1.0, stability=1.0
    )
    summary = train(model, tokenizer, texts, labels, recipe, log=lambda *_: None)
    assert summary["steps"] == 6 and all(b.codebooks.beta == 1.0 for b in model.layers)
    after = dict(model.named_parameters())
    assert not torch.equal(before["layers.0.q_proj.weight"], after["layers.0.q_proj.weight"])
    assert torch.equal(before["layers.0.mlp.up_proj.weight"], after["layers.0.mlp.up_proj.weight"])
