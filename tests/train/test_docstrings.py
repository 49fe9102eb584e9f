"""The standard library's docstrings as neutral prose: prose kept, code and tables left out."""

from incls.train.data import TONE_LABELS, docstrings_as_neutral
from incls.train.docstrings import module_docstrings, prose_paragraphs, stdlib_docstrings

PROSE = "Return the number of items in the queue; the count is approximate when other threads write to it."


def test_prose_paragraphs_keep_sentences_and_drop_code_tables_and_signatures():
    doc = "\n\n".join(
        [
            "size() -> int",  # a signature: too short
            PROSE,
            ">>> q.qsize()\n3 and some more words to make it long enough for the bar",  # a doctest
            "name    type    default\nsize    int     0\nblock   bool    True\nstep    int     1",  # a table
            "x = f(a, b) + g(c, d) * h[e] - {k: v for k, v in items} / 2 ** 3 % 7 ; z",  # code
        ]
    )
    assert prose_paragraphs(doc) == [PROSE]


def test_every_docstring_of_a_file_is_read_without_importing_it(tmp_path):
    source = f'"""{PROSE}"""\nraise SystemExit("imported")\n\nclass Q:\n    """{PROSE}\n\n    {PROSE}"""\n'
    assert module_docstrings(source) == [PROSE, PROSE + "\n\n" + PROSE]
    assert module_docstrings("def broken(:\n") == []
    (tmp_path / "queue.py").write_text(source, encoding="utf-8")
    (tmp_path / "test").mkdir()
    (tmp_path / "test" / "test_queue.py").write_text(source, encoding="utf-8")  # tests are left out
    assert stdlib_docstrings(tmp_path) == module_docstrings(source)


def test_this_pythons_docstrings_are_a_fixed_neutral_set():
    data = docstrings_as_neutral()
    assert len(data) > 1000 and set(data.labels) == {TONE_LABELS.index("neutral")}
    assert data.texts == docstrings_as_neutral().texts
    assert not any(">>>" in t for t in data.texts)
