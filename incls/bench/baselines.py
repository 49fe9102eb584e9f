"""What the engine is compared with, on the same model: full recompute and prefix reuse,
plus a full forward of the non-VQ twin through Hugging Face transformers.

Full recompute and prefix reuse run the model's own float32 layers (`Block.project_qkv`,
codebooks, `output_table`, `finish`), with the clipped-RoPE attention computed in blocks
of queries so a 4,000-token document never holds a T x T score matrix. Prefix reuse
keeps k and v of every layer and recomputes only from the first changed position: exact,
since positions before it see the same tokens at the same clipped distances.
"""

from __future__ import annotations

import math

import torch

from incls.model.rope import cos_sin, rotate
from incls.model.transformer import PositionVotes

QUERY_BLOCK = 256


def _clipped_attention(block, q, k, v, start: int) -> torch.Tensor:
    """Head outputs (n, H, hd) of queries at positions start..start+n-1 over keys 0..T-1
    (a local block: over the keys closer than W, and key 0 if it is a sink) (float32)."""
    cfg = block.cfg
    n, W = q.shape[0], cfg.window
    g = cfg.kv_group
    kH = k.repeat_interleave(g, dim=1).transpose(0, 1)  # (H, T, hd)
    vH = v.repeat_interleave(g, dim=1).transpose(0, 1)  # (H, T, hd)
    cw, sw = cos_sin(torch.tensor(W), cfg.head_dim, cfg.rope_theta)
    out = []
    for a in range(0, n, QUERY_BLOCK):
        qb = q[a : a + QUERY_BLOCK].transpose(0, 1)  # (H, nb, hd)
        nb = qb.shape[1]
        pos = torch.arange(start + a, start + a + nb)  # (nb,)
        Tk = int(pos[-1]) + 1
        lo = max(0, int(pos[0]) - W + 1)
        cq, sq = cos_sin(pos - lo, cfg.head_dim, cfg.rope_theta)
        ck, sk = cos_sin(torch.arange(lo, Tk) - lo, cfg.head_dim, cfg.rope_theta)
        near = rotate(qb, cq, sq) @ rotate(kH[:, lo:Tk], ck, sk).transpose(1, 2)  # (H, nb, Tk - lo)
        dist = pos[:, None] - torch.arange(Tk)[None, :]  # (nb, Tk)
        if block.local:
            # keys closer than W only: the band lo..Tk, never the whole prefix
            scores = near.masked_fill((dist[:, lo:] < 0) | (dist[:, lo:] >= W), float("-inf")) / math.sqrt(cfg.head_dim)
            values = vH[:, lo:Tk]  # (H, Tk - lo, hd)
            if cfg.sink:  # key 0 for the rows W or more after it, at the clipped distance
                sink = (rotate(qb, cw, sw) @ kH[:, :1].transpose(1, 2)).masked_fill(dist[:, :1] < W, float("-inf"))
                scores = torch.cat((sink / math.sqrt(cfg.head_dim), scores), -1)  # (H, nb, 1 + Tk - lo)
                values = torch.cat((vH[:, :1], values), 1)
            out.append((scores.softmax(-1) @ values).transpose(0, 1))  # (nb, H, hd)
            continue
        far = rotate(qb, cw, sw) @ kH[:, :Tk].transpose(1, 2)  # (H, nb, Tk)
        scores = far
        scores[:, :, lo:] = torch.where(dist[:, lo:] < W, near, far[:, :, lo:])
        scores = scores.masked_fill(dist < 0, float("-inf")) / math.sqrt(cfg.head_dim)
        out.append((scores.softmax(-1) @ vH[:, :Tk]).transpose(0, 1))  # (nb, H, hd)
    return torch.cat(out) if out else q.new_zeros(0, cfg.n_heads, cfg.head_dim)


class PrefixReuse:
    """Float32 forward that keeps every layer's k and v and recomputes from the first change."""

    def __init__(self, model) -> None:
        self.model = model
        self.ids: list[int] = []
        self.kv: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.votes: PositionVotes | None = None  # of positions 0..T-1
        self.tables = [block.output_table() for block in model.layers]

    @torch.no_grad()
    def update(self, ids: list[int], start: int | None = None) -> torch.Tensor:
        """Recompute positions start.. of `ids` (start defaults to the first differing token); (T, C) logits."""
        if start is None:
            start = 0
            while start < min(len(ids), len(self.ids)) and ids[start] == self.ids[start]:
                start += 1
        start = min(start, len(ids))
        model = self.model
        new_ids = torch.tensor(ids[start:], dtype=torch.long)  # (n,)
        x = model.embed_tokens(new_ids)  # (n, d)
        new_kv = []
        for layer, block in enumerate(model.layers):
            q, k, v = block.project_qkv(x)  # (n, H, hd), (n, Hkv, hd)
            if start and layer < len(self.kv):
                k = torch.cat([self.kv[layer][0][:start], k])
                v = torch.cat([self.kv[layer][1][:start], v])
            new_kv.append((k, v))
            o = _clipped_attention(block, q, k, v, start)  # (n, H, hd)
            codes = block.codebooks.nearest(o)  # (n, H)
            x = block.finish(x, block.table_sum(codes, self.tables[layer]))
        self.kv, self.ids = new_kv, list(ids)
        new = model.position_votes(model.norm(x), torch.tensor(ids, dtype=torch.long), start)
        self.votes = new if self.votes is None or not start else self.votes.spliced(start, new)
        return self.votes.running_logits()


def full_recompute(model, ids: list[int]) -> torch.Tensor:
    """(T, C) running logits of `ids` computed from scratch (float32, blocked attention)."""
    return PrefixReuse(model).update(ids, 0)


def hf_twin(twin_model):
    """A transformers LlamaModel with the twin's weights, plus its final norm and head.

    Hugging Face applies standard absolute RoPE and attends to every earlier key: for the
    shipped twin (the base's layers as they are) that is the twin's own function; for a
    twin with clipped or local attention it is a cost reference only.
    """
    from transformers import LlamaConfig, LlamaModel

    cfg = twin_model.cfg
    hf_cfg = LlamaConfig(
        vocab_size=cfg.vocab_size,
        hidden_size=cfg.d_model,
        intermediate_size=cfg.d_ff,
        num_hidden_layers=cfg.n_layers,
        num_attention_heads=cfg.n_heads,
        num_key_value_heads=cfg.n_kv_heads,
        head_dim=cfg.head_dim,
        rms_norm_eps=cfg.rms_eps,
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
        max_position_embeddings=16384,
        tie_word_embeddings=False,
    )
    hf = LlamaModel(hf_cfg).eval()
    state = {}
    for name, tensor in twin_model.state_dict().items():
        if name.startswith("layers."):
            _, i, rest = name.split(".", 2)
            if rest.split(".")[0] in ("q_proj", "k_proj", "v_proj", "o_proj"):
                rest = "self_attn." + rest
            state[f"layers.{i}.{rest}"] = tensor
        elif name.startswith(("embed_tokens.", "norm.")):
            state[name] = tensor
    missing, unexpected = hf.load_state_dict(state, strict=False)
    missing = [m for m in missing if "rotary" not in m]
    if missing or unexpected:
        raise RuntimeError(f"twin weights do not fit LlamaModel: missing {missing[:3]}, unexpected {unexpected[:3]}")

    @torch.no_grad()
    def forward(ids: list[int]) -> torch.Tensor:
        tokens = torch.tensor([ids])  # (1, T)
        hidden = hf(input_ids=tokens).last_hidden_state[0]  # (T, d), final norm applied
        votes = twin_model.position_votes(hidden, tokens[0])
        return votes.running_logits()  # (T, C)

    return forward
