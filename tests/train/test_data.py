import pytest

from incls.train.data import HELD_OUT, DataError, drug_reviews_check, imdb_split, load_user_file, split_user_data


def test_imdb_split_is_fixed_and_disjoint():
    test, again = imdb_split("test"), imdb_split("test")
    assert len(test) == HELD_OUT and test.texts[:5] == again.texts[:5]
    train = imdb_split("train")
    assert len(train) > 19000
    assert not set(test.texts) & set(train.texts)
    assert 0.45 < sum(test.labels) / len(test) < 0.55
    assert "<br />" not in test.texts[0]


def test_drug_reviews_are_plain_text_rated_negative_or_positive():
    """Both splits of the package's subset, middling ratings left out, HTML entities and the
    file's quoting undone, no review twice."""
    data = drug_reviews_check()
    assert data.label_names == ("negative", "positive")
    assert len(data) == 888 and sum(data.labels) == 632  # 632 positive, 256 negative
    assert len(set(data.texts)) == len(data)
    assert not any(t.startswith('"') or t.endswith('"') or "&#039;" in t or "&rsquo;" in t for t in data.texts)
    assert any("it worked" in t.lower() for t in data.texts)


def test_user_csv_with_three_classes(tmp_path):
    path = tmp_path / "d.csv"
    path.write_text("text,label\nhi,a\nho,b\nhu,c\nha,a\n", encoding="utf-8")
    data = load_user_file(path)
    assert data.label_names == ("a", "b", "c") and data.labels == [0, 1, 2, 0]
    train, held = split_user_data(data, 0.25)
    assert len(train) + len(held) == 4


def test_user_jsonl(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text('{"text": "good", "label": "pos"}\n{"text": "bad", "label": "neg"}\n', encoding="utf-8")
    assert load_user_file(path).label_names == ("neg", "pos")


def test_unknown_columns_name_the_file_and_the_fix(tmp_path):
    path = tmp_path / "wrong.csv"
    path.write_text("review,sentiment\nnice,1\nbad,0\n", encoding="utf-8")
    with pytest.raises(DataError, match=r"wrong.csv has columns \['review', 'sentiment'\].*Fix:"):
        load_user_file(path)


def test_single_class_is_refused(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("text,label\na,x\nb,x\n", encoding="utf-8")
    with pytest.raises(DataError, match="single class.*Fix:"):
        load_user_file(path)


def test_bad_jsonl_line_is_located(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "a", "label": "x"}\nnot json\n', encoding="utf-8")
    with pytest.raises(DataError, match="bad.jsonl:2"):
        load_user_file(path)


def test_a_seeded_share_of_long_documents_is_read_from_its_end(tokenizer):
    """`tail_share`: a long review's closing lines (its verdict) are trained on too."""
    from incls.train.batches import encode_all

    texts = [" ".join(f"w{i}" for i in range(60)) + f" and so the verdict {k}" for k in range(40)] + ["short"]
    whole = [e.ids for e in tokenizer.encode_batch(texts)]
    mixed = encode_all(tokenizer, texts, 16, tail_share=0.5, seed=3)
    from_end = [m == w[-16:] for m, w in zip(mixed[:40], whole)]
    assert all(e or m == w[:16] for e, m, w in zip(from_end, mixed, whole))
    assert 10 < sum(from_end) < 30
    assert mixed[-1] == whole[-1]  # a short document is read whole
    assert (
        encode_all(tokenizer, texts[:20], 16, tail_share=0.5, seed=3) == mixed[:20]
    )  # one's choice never moves another's
    assert encode_all(tokenizer, texts, 16) == [w[:16] for w in whole]
