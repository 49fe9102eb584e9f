"""Resumable training: a run stopped and resumed from its checkpoint reaches bitwise the
weights of an uninterrupted run; a checkpoint of another run is refused with the fix."""

import dataclasses
import json

import pytest
import torch
from train_helpers import make_examples

from incls.model.config import tiny_config
from incls.model.transformer import VQTransformer
from incls.train.loop import TrainConfig, train
from incls.train.resume import CheckpointError, Checkpoints, latest

# the interruption at step 3 falls mid-epoch (5 batches of 16), before the codebooks'
# re-seeding at step 4 (which reads usage counted since step 1) and the redraw of the batch
# order at step 6; the stability term draws from the generator at every step
RECIPE = TrainConfig(
    steps=9, batch_size=16, max_tokens=32, lr=3e-3, warmup=2, kmeans_docs=8, reseed_every=4, stability=0.5
)


def fresh_model(tokenizer, **changes):
    torch.manual_seed(0)
    return VQTransformer(tiny_config(vocab_size=tokenizer.get_vocab_size(), d_model=32, codebook_size=16, **changes))


def quiet(*_):
    pass


def train_fresh(tokenizer, texts, labels, recipe, checkpoints, **changes):
    """`train`, quietly, of a freshly seeded tiny model (with `changes` to its config)."""
    return train(
        fresh_model(tokenizer, **changes), tokenizer, texts, labels, recipe, log=quiet, checkpoints=checkpoints
    )


@pytest.mark.parametrize("beside_lexicon", [False, True], ids=["alone", "beside-a-lexicon"])
def test_resumed_run_matches_an_uninterrupted_one_bitwise(tokenizer, tmp_path, beside_lexicon):
    recipe = dataclasses.replace(RECIPE, beside_lexicon=beside_lexicon)  # the lexicons are fitted again on resume
    texts, labels = make_examples(80, seed=4)
    whole = fresh_model(tokenizer)
    whole_summary = train(whole, tokenizer, texts, labels, recipe, log=quiet)

    folder = tmp_path / "ckpt"
    first = fresh_model(tokenizer)
    stopped = train(
        first, tokenizer, texts, labels, recipe, log=quiet, checkpoints=Checkpoints(folder, every=2, stop_after=3)
    )
    assert stopped["steps"] == 3 and stopped["stopped"]
    assert sorted(p.name for p in folder.iterdir()) == [
        "progress.jsonl",
        "step-00000002.json",
        "step-00000002.safetensors",
        "step-00000003.json",
        "step-00000003.safetensors",
    ]
    state = json.loads(latest(folder).read_text())
    assert state["step"] == 3 and len(state["losses"]) == 3 and len(state["batches"]) == 2
    logged = json.loads((folder / "progress.jsonl").read_text().splitlines()[-1])
    assert logged["step"] == 3 and logged["tokens"] == state["tokens"] > 0 and logged["tokens_per_s"] > 0

    resumed = fresh_model(tokenizer)  # a new process would start from the same init
    messages = []
    summary = train(
        resumed,
        tokenizer,
        texts,
        labels,
        recipe,
        log=messages.append,
        checkpoints=Checkpoints(folder, every=2, resume=True),
    )
    assert [m for m in messages if not m.startswith("lexicon")] == [f"resumed from step 3 of 9 in {folder}"]
    assert summary["steps"] == 9 and "stopped" not in summary
    assert summary["final_loss"] == whole_summary["final_loss"]
    expected = whole.state_dict()
    for name, tensor in resumed.state_dict().items():
        assert torch.equal(tensor, expected[name]), name
    for mine, theirs in zip(resumed.layers, whole.layers):
        assert torch.equal(mine.codebooks.usage, theirs.codebooks.usage)


def test_resume_with_other_config_names_the_checkpoint_and_the_fix(tokenizer, tmp_path):
    texts, labels = make_examples(32, seed=5)
    recipe = TrainConfig(steps=2, batch_size=16, max_tokens=32, warmup=1, kmeans_docs=8)
    train_fresh(tokenizer, texts, labels, recipe, Checkpoints(tmp_path, every=1, command="incls train --window 6"))
    with pytest.raises(
        CheckpointError,
        match=r"(?s)window: this run 4, checkpoint 6.*step-00000002.json"
        r".*Fix: resume with the options.*incls train --window 6",
    ):
        train_fresh(tokenizer, texts, labels, recipe, Checkpoints(tmp_path, resume=True), window=4)


def test_resume_with_other_data_is_refused(tokenizer, tmp_path):
    texts, labels = make_examples(32, seed=5)
    recipe = TrainConfig(steps=2, batch_size=16, max_tokens=32, warmup=1, kmeans_docs=8)
    train_fresh(tokenizer, texts, labels, recipe, Checkpoints(tmp_path, every=1))
    with pytest.raises(CheckpointError, match=r"data.examples: this run 31, checkpoint 32"):
        train_fresh(tokenizer, texts[1:], labels[1:], recipe, Checkpoints(tmp_path, resume=True))


def test_resume_from_an_empty_folder_says_what_to_pass(tokenizer, tmp_path):
    texts, labels = make_examples(16, seed=5)
    with pytest.raises(CheckpointError, match=r"no training checkpoint.*\n.*Fix: pass the --checkpoint-dir"):
        train_fresh(tokenizer, texts, labels, TrainConfig(steps=1), Checkpoints(tmp_path / "none", resume=True))


def test_unreadable_checkpoint_says_which_to_delete(tokenizer, tmp_path):
    texts, labels = make_examples(32, seed=5)
    recipe = TrainConfig(steps=2, batch_size=16, max_tokens=32, warmup=1, kmeans_docs=8)
    train_fresh(tokenizer, texts, labels, recipe, Checkpoints(tmp_path, every=1))
    (tmp_path / "step-00000002.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(
        CheckpointError,
        match=r"(?s)unreadable.*step-00000002.json.*Fix: delete step-00000002.json "
        r"and step-00000002.safetensors to resume from the checkpoint before it",
    ):
        train_fresh(tokenizer, texts, labels, recipe, Checkpoints(tmp_path, resume=True))


def test_a_checkpoint_older_than_a_recipe_option_resumes_with_its_default_and_not_without(tokenizer, tmp_path):
    """A run written before `beside_lexicon` existed trained without it: it resumes as it was,
    and resuming it with the option on is refused."""
    texts, labels = make_examples(32, seed=5)
    recipe = TrainConfig(steps=3, batch_size=16, max_tokens=32, warmup=1, kmeans_docs=8)
    train_fresh(tokenizer, texts, labels, recipe, Checkpoints(tmp_path, every=1, stop_after=2))
    path = latest(tmp_path)
    state = json.loads(path.read_text())
    del state["run"]["recipe"]["beside_lexicon"]  # as an older incls wrote it
    path.write_text(json.dumps(state))
    with pytest.raises(CheckpointError, match=r"recipe.beside_lexicon: this run true, checkpoint false"):
        train_fresh(
            tokenizer,
            texts,
            labels,
            dataclasses.replace(recipe, beside_lexicon=True),
            Checkpoints(tmp_path, resume=True),
        )
    summary = train_fresh(tokenizer, texts, labels, recipe, Checkpoints(tmp_path, resume=True))
    assert summary["steps"] == 3 and "stopped" not in summary
