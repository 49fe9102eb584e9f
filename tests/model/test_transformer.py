import torch

from incls.model.config import tiny_config
from incls.model.rope import causal_mask, clipped_scores
from incls.model.transformer import VQTransformer


def tiny_model(seed=0, **changes):
    torch.manual_seed(seed)
    return VQTransformer(tiny_config(**changes)).eval()


def test_shapes():
    model = tiny_model()
    cfg = model.cfg
    out = model(torch.randint(0, cfg.vocab_size, (3, 17)))
    assert out.logits.shape == (3, 17, cfg.n_classes)
    assert out.codes.shape == (3, cfg.n_layers, 17, cfg.n_heads)
    assert out.codes.max() < cfg.codebook_size
    assert len(out.head_outputs) == cfg.n_layers
    assert out.head_outputs[0].shape == (3, 17, cfg.n_heads, cfg.head_dim)


def test_twin_has_no_codes():
    out = tiny_model(vq=False)(torch.randint(0, 97, (1, 5)))
    assert out.codes is None


def test_quantized_output_equals_table_lookup_of_codes():
    model = tiny_model()
    block = model.layers[0]
    x = model.embed_tokens(torch.randint(0, 97, (2, 11)))  # (B, T, d)
    o = block.attend(*block.project_qkv(x))  # (B, T, H, hd)
    codes = block.codebooks.nearest(o)  # (B, T, H)
    through_projection = block.o_proj(block.codebooks.lookup(codes).flatten(-2))
    through_table = block.table_sum(codes, block.output_table())
    torch.testing.assert_close(through_table, through_projection, atol=1e-5, rtol=1e-5)


def test_nearest_code_is_the_closest():
    model = tiny_model()
    book = model.layers[1].codebooks
    o = torch.randn(50, book.codes.shape[0], book.codes.shape[2])
    brute = (o.unsqueeze(-2) - book.codes).pow(2).sum(-1).argmin(-1)
    assert torch.equal(book.nearest(o), brute)


def test_insertion_leaves_earlier_codes_and_logits_unchanged():
    model = tiny_model()
    ids = torch.randint(0, 97, (1, 30))
    for at in (0, 7, 29):
        edited = torch.cat([ids[:, :at], torch.tensor([[11, 12]]), ids[:, at:]], dim=1)
        a, b = model(ids), model(edited)
        assert torch.equal(a.codes[:, :, :at], b.codes[:, :, :at])
        torch.testing.assert_close(a.logits[:, :at], b.logits[:, :at])


def test_scores_beyond_the_window_do_not_change_after_an_insertion():
    cfg = tiny_config()
    W, T, at = cfg.window, 25, 12
    q, k = torch.randn(1, 1, T, 8), torch.randn(1, 1, T, 8)
    new_q, new_k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)
    before = clipped_scores(q, k, W, cfg.rope_theta)[0, 0]
    q2 = torch.cat([q[..., :at, :], new_q, q[..., at:, :]], dim=2)
    k2 = torch.cat([k[..., :at, :], new_k, k[..., at:, :]], dim=2)
    after = clipped_scores(q2, k2, W, cfg.rope_theta)[0, 0]
    old_to_new = [i if i < at else i + 1 for i in range(T)]
    mask = causal_mask(T)
    for i in range(T):
        for j in range(i + 1):
            straddles = j < at <= i
            if not straddles or i - j >= W:
                assert mask[i, j]
                torch.testing.assert_close(after[old_to_new[i], old_to_new[j]], before[i, j], atol=1e-5, rtol=1e-5)
    # a straddling pair inside the window does change: its distance grew by one
    i, j = at, at - 1
    assert not torch.allclose(after[old_to_new[i], old_to_new[j]], before[i, j])


def test_empty_document_has_logits():
    model = tiny_model()
    assert model.document_logits([]).shape == (model.cfg.n_classes,)


def test_adapted_frozen_layers_train_attention_but_keep_their_mlp():
    cfg = tiny_config(frozen_layers=1, adapt_frozen_attention=True)
    model = VQTransformer(cfg)
    assert model.is_trained("layers.0.q_proj.weight") and model.is_trained("layers.0.o_proj.weight")
    assert not model.is_trained("layers.0.mlp.up_proj.weight")
    assert not model.is_trained("layers.0.input_layernorm.weight")
    assert model.is_trained("layers.1.mlp.up_proj.weight")
    assert not VQTransformer(cfg.replace(adapt_frozen_attention=False)).is_trained("layers.0.q_proj.weight")


def test_local_mask_and_local_layers():
    """A window mask keeps keys closer than W; a model with every layer local cannot see
    further back than its layers times W."""
    mask = causal_mask(6, window=3)
    assert mask.sum(1).tolist() == [1, 2, 3, 3, 3, 3]
    assert mask[5, 3] and not mask[5, 2] and not mask[2, 3]
    cfg = tiny_config(local_layers=2, window=4)
    torch.manual_seed(0)
    model = VQTransformer(cfg).eval()
    assert [block.local for block in model.layers] == [True, True]
    ids = torch.randint(0, cfg.vocab_size, (1, 30))
    changed = ids.clone()
    changed[0, 5] = (changed[0, 5] + 1) % cfg.vocab_size
    a, b = model(ids).head_outputs[-1], model(changed).head_outputs[-1]  # (1, T, H, hd)
    reach = cfg.n_layers * (cfg.window - 1)  # how far a change can travel
    assert torch.equal(a[0, :5], b[0, :5]) and torch.equal(a[0, 5 + reach + 1 :], b[0, 5 + reach + 1 :])
    assert not torch.equal(a[0, 5], b[0, 5])


def test_a_sink_key_is_seen_by_every_position_at_the_clipped_distance():
    """With a sink, key 0 joins each local window, scored as any key W or more apart; a
    change of the first token then reaches the last position, a change of another token
    still only its layers times W."""
    mask = causal_mask(6, window=3, sink=True)
    assert mask.sum(1).tolist() == [1, 2, 3, 4, 4, 4]
    assert mask[5, 0] and not mask[5, 1] and not mask[0, 1]
    cfg = tiny_config(local_layers=2, window=4, sink=True)
    q, k = torch.randn(1, 1, 12, 8), torch.randn(1, 1, 12, 8)
    local = clipped_scores(q, k, cfg.window, cfg.rope_theta, local=True, sink=True)[0, 0]
    full = clipped_scores(q, k, cfg.window, cfg.rope_theta)[0, 0]  # every pair, clipped
    torch.testing.assert_close(local[:, 0], full[:, 0])
    torch.testing.assert_close(local[:, 1:].tril(-1).triu(-3), full[:, 1:].tril(-1).triu(-3))
    torch.manual_seed(0)
    model = VQTransformer(cfg).eval()
    ids = torch.randint(0, cfg.vocab_size, (1, 40))
    for at, reaches_the_end in ((0, True), (5, False)):
        changed = ids.clone()
        changed[0, at] = (changed[0, at] + 1) % cfg.vocab_size
        a, b = model(ids).head_outputs[-1], model(changed).head_outputs[-1]  # (1, T, H, hd)
        assert torch.equal(a[0, :at], b[0, :at])
        assert (not torch.equal(a[0, -1], b[0, -1])) == reaches_the_end
