"""Edit streams built from held-out IMDB reviews, as sequences of texts and token edits.

Three kinds, each a list of successive full texts (one per edit):
- `word`: atomic word edits at random places (insert a word, delete a word, replace one);
- `typing`: a sentence typed character by character at a random word boundary;
- `paste`: a sentence pasted at a random sentence boundary, then a sentence cut, alternating.

Every text is tokenized in full with the real tokenizer and turned into one TokenEdit by a
common-prefix/common-suffix diff against the previous tokens (the language server has its
own windowed text-to-token layer; here the simple diff is exact and enough).
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from incls.engine.chunked import token_diff
from incls.engine.edits import TokenEdit

KINDS = ("word", "typing", "paste")
WORD = re.compile(r"\S+")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Stream:
    kind: str
    length: int  # nominal document length in tokens
    start_ids: list[int]
    edits: list[TokenEdit]  # one per step, in the coordinates of the step before
    final_text: str = ""


def build_document(texts: list[str], tokenizer, n_tokens: int, offset: int) -> str:
    """Reviews from `offset` on, joined as paragraphs, cut to about n_tokens tokens."""
    parts, total, k = [], 0, offset
    while total < n_tokens:
        text = texts[k % len(texts)]
        parts.append(text)
        total += len(tokenizer.encode(text + "\n\n").ids)
        k += 1
    doc = "\n\n".join(parts)
    enc = tokenizer.encode(doc)
    if len(enc.ids) > n_tokens:
        doc = doc[: enc.offsets[n_tokens - 1][1]]
    return doc


def word_steps(text: str, rng: random.Random, n: int, vocabulary: list[str]) -> list[str]:
    steps = []
    for _ in range(n):
        words = list(WORD.finditer(text))
        op = rng.choice(("insert", "delete", "replace")) if words else "insert"
        if op == "insert":
            at = rng.choice([m.start() for m in words] + [len(text)])
            text = text[:at] + rng.choice(vocabulary) + " " + text[at:]
        else:
            m = rng.choice(words)
            if op == "delete":
                end = m.end() + 1 if m.end() < len(text) and text[m.end()] == " " else m.end()
                text = text[: m.start()] + text[end:]
            else:
                text = text[: m.start()] + rng.choice(vocabulary) + text[m.end() :]
        steps.append(text)
    return steps


def typing_steps(text: str, rng: random.Random, n: int, sentence: str) -> list[str]:
    starts = [m.start() for m in WORD.finditer(text)] or [0]
    at = rng.choice(starts)
    typed = (sentence.strip() + " ")[:n]
    return [text[:at] + typed[: i + 1] + text[at:] for i in range(len(typed))]


def paste_steps(text: str, rng: random.Random, n: int, sentences: list[str]) -> list[str]:
    steps = []
    for k in range(n):
        bounds = [0] + [m.end() for m in SENTENCE_END.finditer(text)]
        if k % 2 == 0:
            at = rng.choice(bounds)
            text = text[:at] + rng.choice(sentences).strip() + " " + text[at:]
        elif len(bounds) > 1:
            i = rng.randrange(len(bounds) - 1)
            text = text[: bounds[i]] + text[bounds[i + 1] :]
        steps.append(text)
    return steps


def build_stream(kind: str, texts: list[str], tokenizer, n_tokens: int, n_edits: int, seed: int) -> Stream:
    """One stream of `n_edits` edits of `kind` on a document of about n_tokens tokens."""
    rng = random.Random(seed)
    doc = build_document(texts, tokenizer, n_tokens, offset=rng.randrange(len(texts)))
    donor = texts[rng.randrange(len(texts))]
    sentences = [s for s in SENTENCE_END.split(donor) if len(s) > 10] or [donor[:80]]
    if kind == "word":
        steps = word_steps(doc, rng, n_edits, WORD.findall(donor) or ["good"])
    elif kind == "typing":
        steps = typing_steps(doc, rng, n_edits, rng.choice(sentences))
    elif kind == "paste":
        steps = paste_steps(doc, rng, n_edits, sentences)
    else:
        raise ValueError(f"unknown stream kind {kind!r} (one of {', '.join(KINDS)})")
    ids = tokenizer.encode(doc).ids
    start_ids, edits = list(ids), []
    for text in steps:
        new = tokenizer.encode(text).ids
        edit = token_diff(ids, new)
        if edit is not None:
            edits.append(edit)
        ids = new
    return Stream(kind, n_tokens, start_ids, edits, steps[-1] if steps else doc)
