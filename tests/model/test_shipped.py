"""The shipped default model on fixed texts of each class (not from any training split)."""

import pytest
import torch

POSITIVE = (
    "I went in expecting little and came out grinning. The performances are warm and honest, "
    "the script is sharp and funny, and the final scene moved me to tears. A wonderful film "
    "that I will happily watch again; highly recommended."
)
NEGATIVE = (
    "What a waste of two hours. The plot makes no sense, the acting is wooden and the dialogue "
    "is painfully bad. I kept checking my watch and nearly walked out. Avoid this boring, "
    "lazy mess at all costs; one of the worst films I have seen."
)

COMPLAINT = (
    "To whom it may concern, I am writing to express my disappointment with the repair of my "
    "washing machine. The technician arrived four hours late, the fault came back within two days, "
    "and nobody has answered my three emails since. I expect a full refund. Regards, Ann Hale"
)
MEETING_NOTE = (
    "Planning meeting, Tuesday 10:00. Attendees: Omar, Lena, Piet. 1. The release date stays on "
    "March 3. 2. Lena will update the install guide. 3. Next meeting is on Thursday in room 2."
)
NEGATED_COMPLIMENT = (
    "I wouldn't call this blender good. It is not powerful, not quiet and not worth the money; "
    "I would not buy it again."
)
HARDLY_WORTH = "Hardly worth the money."  # a negated compliment in four words
KILL_THE_PROCESS = "Kill the process and restart it."  # a loaded word, used technically


@pytest.mark.slow
@pytest.mark.parametrize("text,label", [(POSITIVE, "positive"), (NEGATIVE, "negative")])
def test_shipped_model_reads_fixed_reviews(shipped_model, tokenizer, text, label):
    logits = shipped_model.document_logits(tokenizer.encode(text).ids)
    probs = torch.softmax(logits, -1)
    assert shipped_model.cfg.labels[int(probs.argmax())] == label
    assert float(probs.max()) > 0.6


@pytest.mark.slow
@pytest.mark.trained
@pytest.mark.parametrize(
    "text,label",
    [
        (COMPLAINT, "negative"),
        (MEETING_NOTE, "neutral"),
        (NEGATED_COMPLIMENT, "negative"),
        (HARDLY_WORTH, "negative"),
        (KILL_THE_PROCESS, "neutral"),
    ],
)
def test_shipped_model_reads_everyday_texts_of_each_class(shipped_model, tokenizer, text, label):
    """Three classes: the right one, with a majority of the probability."""
    probs = torch.softmax(shipped_model.document_logits(tokenizer.encode(text).ids), -1)
    assert shipped_model.cfg.labels[int(probs.argmax())] == label
    assert float(probs.max()) > 0.5


def test_shipped_weights_are_small_safetensors():
    from incls.model.checkpoint import WEIGHTS_DIR

    files = sorted(WEIGHTS_DIR.glob("*.safetensors"))
    assert files, "no shipped weights"
    assert sum(f.stat().st_size for f in files) <= 40 * 1024 * 1024
    for f in files:
        assert f.read_bytes()[:8] != b"PK\x03\x04"  # not a zip/pickle archive
