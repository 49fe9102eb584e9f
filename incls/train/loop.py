"""The training recipe, the same on CPU, one GPU or several (torchrun).

Loss: cross-entropy of the document label at the last position, plus at random prefix
cut points (the running prediction the server reads paragraph suggestions from), plus
the VQ commitment/codebook loss. With `beside_lexicon` the logits in that loss are the
model's plus a lexicon's out-of-fold votes (`incls.train.beside_lexicon`). Codebooks start
from k-means on real activations and codes unused for `reseed_every` steps are moved onto
recent activations.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass

import torch
from torch.nn import functional as F

from ..model.transformer import ForwardOutput, VQTransformer
from ..model.vq import HeadCodebooks
from . import resume
from .batches import bucketed, encode_all, pad
from .beside_lexicon import FoldLexicons, fit_fold_lexicons
from .resume import Checkpoints, Progress
from .stability import output_shift, replace_one_token

LOG_SECONDS = 60  # a progress line (stderr, and the run's progress.jsonl) after the first step, then this often


@dataclass(frozen=True)
class TrainConfig:
    steps: int = 600
    batch_size: int = 16
    max_tokens: int = 256
    tail_share: float = 0.0  # of the documents over max_tokens, the share read from their end
    lr: float = 3e-4
    warmup: int = 30
    weight_decay: float = 0.01
    cut_points: int = 4
    cut_weight: float = 0.5
    min_cut: int = 16
    kmeans_docs: int = 32
    reseed_every: int = 50
    commitment: float = 0.25  # weight of the pull of head outputs toward their codes
    stability: float = 0.0  # weight of the code-stability term (see stability.py)
    seed: int = 0
    beside_lexicon: bool = False  # learn what a token/bigram lexicon's votes get wrong (beside_lexicon.py)


def _distributed() -> tuple[int, int]:
    """(rank, world size); initialises the process group under torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and not torch.distributed.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        torch.distributed.init_process_group(backend)
    rank = torch.distributed.get_rank() if world > 1 else 0
    return rank, world


def device_for(rank: int) -> torch.device:
    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", rank))
        torch.cuda.set_device(local)
        return torch.device("cuda", local)
    return torch.device("cpu")


def layer_codebooks(model: VQTransformer) -> list[HeadCodebooks]:
    """Each layer's codebooks, bottom layer first (a VQ model has them in every layer)."""
    return [books for block in model.layers if isinstance(books := block.codebooks, HeadCodebooks)]


@torch.no_grad()
def init_codebooks(model: VQTransformer, docs: list[list[int]], seed: int, device) -> None:
    """k-means each layer's codebooks on that layer's real head outputs, bottom layer first."""
    ids, lengths = pad(docs)
    ids = ids.to(device)
    valid = torch.arange(ids.shape[1], device=device)[None, :] < lengths.to(device)[:, None]  # (B, T)
    model.eval()
    for layer, books in enumerate(layer_codebooks(model)):
        outputs = model(ids).head_outputs[layer]  # (B, T, H, hd)
        books.init_kmeans(outputs[valid].float().cpu(), seed=seed + layer)
    model.train()


def prefix_loss(
    logits: torch.Tensor, lengths: torch.Tensor, labels: torch.Tensor, cfg: TrainConfig, gen
) -> torch.Tensor:
    """CE at each document's last position plus `cut_points` random earlier positions."""
    B = logits.shape[0]
    rows = torch.arange(B, device=logits.device)
    last = lengths - 1  # (B,)
    loss = F.cross_entropy(logits[rows, last], labels)
    if cfg.cut_points:
        low = torch.clamp(lengths - 1, max=cfg.min_cut)
        u = torch.rand(B, cfg.cut_points, generator=gen).to(logits.device)
        cuts = (low[:, None] + u * (lengths - 1 - low)[:, None]).long()  # (B, P)
        cut_logits = logits[rows[:, None], cuts]  # (B, P, C)
        loss = loss + cfg.cut_weight * F.cross_entropy(
            cut_logits.flatten(0, 1), labels.repeat_interleave(cfg.cut_points)
        )
    return loss


def optimizer(model: VQTransformer, cfg: TrainConfig):
    """(trained parameters, AdamW, its schedule: linear warm-up, then cosine decay over
    cfg.steps); the other parameters stop asking for gradients."""
    params = [p for p in model.trainable_parameters()]
    for name, p in model.named_parameters():
        p.requires_grad_(model.is_trained(name))
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    schedule = lambda step: (
        min(1.0, (step + 1) / cfg.warmup) * 0.5 * (1 + math.cos(math.pi * min(step, cfg.steps) / cfg.steps))
    )
    return params, opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)


def train_step(
    model: VQTransformer, net, ids, lens, y, cfg: TrainConfig, optim, gen, offsets: torch.Tensor | None = None
) -> tuple[float, ForwardOutput]:
    """One optimizer step on a batch: ids (B, T) right-padded on the model's device, lens
    (B,), labels y (B,); `optim` is `optimizer`'s triple; `offsets` (B, T, C), fixed logits
    added to the model's (a lexicon's running votes). Returns (loss, the forward's output)."""
    params, opt, sched = optim
    out = net(ids)
    logits = out.logits if offsets is None else out.logits + offsets.to(ids.device)  # (B, T, C)
    loss = prefix_loss(logits, lens.to(ids.device), y, cfg, gen) + out.vq_loss
    if cfg.stability and model.cfg.vq:
        perturbed, at = replace_one_token(ids, lens, gen)
        shift = output_shift(out.head_outputs, net(perturbed).head_outputs, at, lens)
        loss = loss + cfg.stability * shift
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(params, 1.0)
    opt.step()
    sched.step()
    return loss.item(), out


def train(
    model: VQTransformer,
    tokenizer,
    texts: list[str],
    labels: list[int],
    cfg: TrainConfig,
    log=lambda msg: print(msg, file=sys.stderr),
    checkpoints: Checkpoints | None = None,
    warm: bool = False,
) -> dict:
    """Train `model` in place; returns a summary (steps, seconds, final loss).

    With `checkpoints`, the state is saved every `checkpoints.every` steps (and when the
    sitting ends), and `checkpoints.resume` continues from the newest one: the weights are
    then bitwise those of an uninterrupted run. `checkpoints.stop_after` ends this sitting
    at that step; the summary's `stopped` says so. `warm`: the model's codebooks are
    already trained (a warm start from shipped weights), so they are not re-initialised.
    """
    rank, world = _distributed()
    device = device_for(rank)
    torch.manual_seed(cfg.seed)
    rng = random.Random(cfg.seed)
    gen = torch.Generator().manual_seed(cfg.seed)
    docs = encode_all(tokenizer, texts, cfg.max_tokens, cfg.tail_share, cfg.seed)
    lengths = [len(d) for d in docs]
    lexicons: FoldLexicons | None = None
    if cfg.beside_lexicon:
        lexicons = fit_fold_lexicons(docs, labels, model.cfg, cfg.seed, log)
    model.to(device).train()
    run: dict = {}
    if checkpoints:
        if world > 1:
            raise resume.CheckpointError(
                f"checkpoints are written by single-process runs; this one has {world} processes",
                checkpoints.folder,
                fix="run without torchrun, or drop --checkpoint-dir/--resume",
            )
        run = resume.identity(model, dataclasses.asdict(cfg), docs, labels)
    if model.cfg.vq:
        for books in layer_codebooks(model):
            books.beta = cfg.commitment
    net: torch.nn.Module = model
    if world > 1:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )
    params, opt, sched = optimizer(model, cfg)
    if checkpoints and checkpoints.resume:
        defaults = dataclasses.asdict(TrainConfig())
        progress = resume.restore(checkpoints.folder, model, opt, sched, rng, gen, run, defaults)
        log(f"resumed from step {progress.step} of {cfg.steps} in {checkpoints.folder}")
    else:
        if model.cfg.vq and not warm:
            init_codebooks(
                model,
                [docs[i] for i in rng.sample(range(len(docs)), min(cfg.kmeans_docs, len(docs)))],
                cfg.seed,
                device,
            )
        progress = Progress(step=0, batches=[], losses=[], seconds=0.0)
    step, batches, losses, tokens = progress.step, progress.batches, progress.losses, progress.tokens
    end = cfg.steps if not checkpoints or checkpoints.stop_after is None else min(cfg.steps, checkpoints.stop_after)
    start = last_save = last_log = time.time()
    sitting_tokens = 0
    elapsed = lambda: progress.seconds + time.time() - start  # over every sitting of the run
    with resume.StopOnInterrupt(log, active=checkpoints is not None) as stop:
        while step < end:
            if not batches:
                batches = bucketed(list(range(rank, len(docs), world)), lengths, cfg.batch_size, rng)
            index = batches.pop()
            ids, lens = pad([docs[i] for i in index])
            y = torch.tensor([labels[i] for i in index], device=device)
            offsets = lexicons.running_logits(ids, lens, index) if lexicons else None
            loss, out = train_step(model, net, ids.to(device), lens, y, cfg, (params, opt, sched), gen, offsets)
            step += 1
            tokens += int(lens.sum())
            sitting_tokens += int(lens.sum())
            losses.append(loss)
            if model.cfg.vq and step % cfg.reseed_every == 0:
                for layer, books in enumerate(layer_codebooks(model)):
                    recent = out.head_outputs[layer].detach().flatten(0, 1).float().cpu()  # (B*T, H, hd)
                    books.reseed_dead(recent, seed=cfg.seed + step + layer)
            due = checkpoints and checkpoints.minutes and time.time() - last_save >= 60 * checkpoints.minutes
            if checkpoints and (step % checkpoints.every == 0 or step == end or stop.requested or due):
                resume.save(
                    checkpoints.folder,
                    model,
                    opt,
                    sched,
                    rng,
                    gen,
                    Progress(step, batches, losses, round(elapsed(), 1), tokens),
                    run,
                    checkpoints.command,
                )
                last_save = time.time()
            if rank == 0 and (time.time() - last_log >= LOG_SECONDS or step in (progress.step + 1, end)):
                last_log = time.time()
                rate = sitting_tokens / max(1e-9, last_log - start)
                entry = {
                    "step": step,
                    "steps": cfg.steps,
                    "tokens": tokens,
                    "tokens_per_s": round(rate, 1),
                    "loss": round(sum(losses[-50:]) / len(losses[-50:]), 4),
                    "seconds": round(elapsed(), 1),
                    "eta_s": round((cfg.steps - step) * (last_log - start) / max(1, step - progress.step), 1),
                }
                print(json.dumps(entry), file=sys.stderr, flush=True)
                if checkpoints:
                    resume.log_progress(checkpoints.folder, entry)
            if stop.requested:
                break
    model.eval().cpu()
    summary = {
        "steps": step,
        "seconds": round(elapsed(), 1),
        "final_loss": sum(losses[-50:]) / max(1, len(losses[-50:])),
        "tokens": tokens,
        "world_size": world,
        "device": str(device),
    }
    return {**summary, "stopped": True} if step < cfg.steps else summary
