"""The TF-IDF + logistic regression baseline on a real (tiny) CSV, and the label mapping
that scores a three-class model on two-class sets."""

import pytest
import torch

from incls.train.data import IMDB_LABELS, TONE_LABELS, DataError, Dataset, load_user_file, split_user_data
from incls.train.evaluate import baseline_scores
from incls.train.sets import columns, parse_sets, restricted_argmax

sklearn = pytest.importorskip("sklearn")


def tiny_csv(path):
    good = ["a lovely warm welcome", "great food and lovely staff", "great stay, lovely room", "a great lovely evening"]
    bad = ["awful slow service", "cold food and awful staff", "an awful noisy room", "awful, cold and slow"]
    neutral = ["the meeting is at noon", "the room has a desk", "notes from the meeting", "the desk is in the room"]
    rows = [(t, "positive") for t in good] + [(t, "negative") for t in bad] + [(t, "neutral") for t in neutral]
    path.write_text("text,label\n" + "".join(f'"{t}",{y}\n' for t, y in rows * 3), encoding="utf-8")
    return path


def test_baseline_trains_on_the_files_90_percent_and_scores_its_10(tmp_path, capsys):
    data = load_user_file(tiny_csv(tmp_path / "tone.csv"), TONE_LABELS)
    train, held = split_user_data(data)
    info, got = baseline_scores(train, ["data train (90%)"], {"data": held})
    assert info["name"] == "tfidf-logreg" and info["examples"] == len(train) == 33
    assert got["data"]["accuracy"] == 1.0 and got["data"]["macro_f1"] == 1.0  # repeated rows: seen in training
    err = capsys.readouterr().err
    assert "baseline: TF-IDF (word 1-2 grams) on 33 training documents" in err and "fitted in" in err


def test_baseline_of_three_classes_reads_a_two_class_set_by_label_name(tmp_path):
    tone = load_user_file(tiny_csv(tmp_path / "tone.csv"), TONE_LABELS)
    # positive is class 1 of the two-class set but column 2 of the baseline's three
    reviews = Dataset(["lovely staff, great food", "slow and awful"], [1, 0], IMDB_LABELS)
    _, got = baseline_scores(tone, ["data"], {"reviews": reviews})
    assert got["reviews"] == {"accuracy": 1.0, "macro_f1": 1.0}


def test_two_class_set_maps_onto_the_tone_models_columns():
    cols = columns(IMDB_LABELS, TONE_LABELS, "held-out set `imdb`", "the model")
    assert cols == [0, 2]
    # neutral (column 1) is the largest score of both rows, but not a label of the set
    scores = torch.tensor([[0.1, 5.0, 0.3], [0.4, 5.0, 0.2]])
    assert restricted_argmax(scores, cols) == [1, 0]
    with pytest.raises(DataError, match=r"has labels \['negative', 'neutral', 'positive'\].*\(no neutral\)"):
        columns(TONE_LABELS, IMDB_LABELS, "held-out set `tweets`", "the model")


def test_sets_are_parsed_by_name():
    assert parse_sets("imdb, rt") == ["imdb", "rt"]
    with pytest.raises(DataError, match="unknown held-out set nope"):
        parse_sets("nope")


def test_tone_baseline_trains_on_the_tone_data_with_labels_mapped_by_name():
    from incls.train.data import docstrings_as_neutral, imdb_split, news_as_neutral, tweets_split
    from incls.train.sets import training_sources

    names, merged = training_sources(TONE_LABELS)
    imdb, tweets = imdb_split("train"), tweets_split("train")
    news, docstrings = news_as_neutral(), docstrings_as_neutral()
    assert names == ["imdb-train", "tweets-train", "news", "docstrings"]
    assert len(merged) == len(imdb) + len(tweets) + len(news) + len(docstrings)
    assert merged.label_names == TONE_LABELS
    assert merged.labels[: len(imdb)] == [2 * y for y in imdb.labels]  # positive: 1 there, 2 here
    assert merged.labels[len(imdb) : len(imdb) + len(tweets)] == tweets.labels
    assert set(merged.labels[len(imdb) + len(tweets) :]) == {TONE_LABELS.index("neutral")}
    assert not set(merged.texts) & set(tweets_split("test").texts)
    names, merged = training_sources(IMDB_LABELS)
    assert names == ["imdb train"] and merged.labels == imdb.labels
