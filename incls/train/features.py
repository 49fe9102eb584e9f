"""Final states of a frozen transformer, computed once per document and cached on disk.

Training only the head of a frozen network needs one forward pass per document, ever: a
frozen layer's output depends on the tokens alone. This module runs that pass in
batches of similar length and keeps, per document, what the head of `incls.train.recipe`
needs: the final normed states pooled over positions as the model pools them (a linear
vote's pooled value is the vote of the pooled state). Work is written in shards, so an interrupted extraction resumes
where it stopped.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch

from .batches import pad

HEAD_TENSORS = ("classifier.", "lexicon.", "ngram_lexicon.")
SHARD_DOCS = 256
BATCH_TOKENS = 4096


def weights_key(model) -> str:
    """Names the frozen network by the bytes of every tensor but the head's: a new head
    on the same layers reuses the cache."""
    h = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        if not name.startswith(HEAD_TENSORS):
            h.update(name.encode())
            h.update(tensor.detach().float().contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


def docs_key(docs: list[list[int]]) -> str:
    """Names a shard by the exact token ids it reads."""
    h = hashlib.sha256()
    for d in docs:
        h.update(len(d).to_bytes(4, "little"))
        h.update(torch.tensor(d, dtype=torch.int32).numpy().tobytes())
    return h.hexdigest()[:16]


@torch.no_grad()
def final_states(model, ids: torch.Tensor) -> torch.Tensor:
    """ids (B, T) -> the normed final states (B, T, d) that the head reads."""
    return model.norm(model.final_states(ids)[0])  # (B, T, d)


def token_batches(lengths: list[int]) -> list[list[int]]:
    """Indices in batches of similar length holding about BATCH_TOKENS padded tokens each:
    short texts (tweets) in wide batches, long reviews in narrow ones."""
    order = sorted(range(len(lengths)), key=lengths.__getitem__)
    batches: list[list[int]] = []
    current: list[int] = []
    for i in order:
        if current and (len(current) + 1) * lengths[i] > BATCH_TOKENS:
            batches.append(current)
            current = []
        current.append(i)
    return batches + ([current] if current else [])


@torch.no_grad()
def mean_states(model, docs: list[list[int]]) -> torch.Tensor:
    """(N, d) each document's normed final states pooled as the model pools its state votes
    (the mean, or weighted by its attention pooling): a linear vote of the pooled state is
    the pooled vote (docs: token ids)."""
    out = torch.zeros(len(docs), model.cfg.d_model)  # (N, d)
    for index in token_batches([len(x) for x in docs]):
        ids, lens = pad([docs[i] for i in index])
        states = final_states(model, ids)  # (B, T, d)
        weights = model.position_votes(states, ids).weight  # (B, T)
        for row, i in enumerate(index):
            w = weights[row, : lens[row], None]  # (n, 1)
            out[i] = (w * states[row, : lens[row]]).sum(0) / w.sum()
    return out


def cached_mean_states(model, docs: list[list[int]], root: Path, name: str, progress: bool = True) -> torch.Tensor:
    """`mean_states` of `docs`, read from `root` where an earlier run wrote them, else computed
    shard by shard (each shard named by its token ids, so a prefix of a dataset reuses them)."""
    from safetensors.torch import load_file, save_file

    folder = Path(root) / weights_key(model) / name
    folder.mkdir(parents=True, exist_ok=True)
    parts = []
    for first in range(0, len(docs), SHARD_DOCS):
        shard = folder / f"{first:07d}-{docs_key(docs[first : first + SHARD_DOCS])}.safetensors"
        if not shard.is_file():
            tmp = shard.with_suffix(".part")
            save_file({"mean": mean_states(model, docs[first : first + SHARD_DOCS])}, str(tmp))
            tmp.replace(shard)
            if progress:
                print(
                    f"features {name}: {min(first + SHARD_DOCS, len(docs))}/{len(docs)} documents",
                    file=sys.stderr,
                    flush=True,
                )
        parts.append(load_file(str(shard))["mean"])
    return torch.cat(parts) if parts else torch.zeros(0, model.cfg.d_model)
