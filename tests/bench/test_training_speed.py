"""The training-speed benchmark times a real training step beside a plain reference of the same shape."""

import json

import pytest
import torch

from incls.bench.training_speed import Reference, measure, plot
from incls.model.config import tiny_config
from incls.model.transformer import VQTransformer
from incls.train.loop import TrainConfig


def test_measure_times_both_steps_and_trains_the_same_parameters(tmp_path):
    cfg = tiny_config(local_layers=2, sink=True, frozen_layers=1, adapt_frozen_attention=True, pooling="attention")
    torch.manual_seed(0)
    model = VQTransformer(cfg)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    result = measure(model, TrainConfig(batch_size=2, max_tokens=16, steps=3, warmup=1), steps=2)
    assert result["train_tokens_per_s"] > 0 and result["reference_tokens_per_s"] > 0
    assert result["ratio"] == pytest.approx(result["train_tokens_per_s"] / result["reference_tokens_per_s"], rel=1e-2)
    assert result["shape"]["batch_size"] == 2 and result["shape"]["max_tokens"] == 16
    assert result["shape"]["pooling"] == "attention" and result["shape"]["trained_layers"] == 1
    assert result["shape"]["sink"] is True
    moved = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert "layers.1.mlp.up_proj.weight" in moved and "layers.0.q_proj.weight" in moved
    assert "layers.0.mlp.up_proj.weight" not in moved and "embed_tokens.weight" not in moved
    ref = Reference(cfg)
    trained = {n for n, _ in ref.named_parameters() if ref.trained(n)}
    assert trained == {n for n in moved if ".codebooks." not in n and not n.startswith("pool.")}
    plot(result, tmp_path / "training.png")
    assert (tmp_path / "training.png").stat().st_size > 0
    json.dumps(result)
