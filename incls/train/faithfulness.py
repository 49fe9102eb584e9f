"""`incls faithfulness`: does deleting the evidence change the reading? (ERASER comprehensiveness)

For each document: the predicted class k and its probability p_k; the units ranked as the
server ranks its hints (by pull toward k, every unit a candidate, no threshold); then the
document is read again (a fresh model pass) with its top-k units deleted, and with k
units drawn at random deleted (`--draws` draws, averaged). Comprehensiveness is the drop
p_k(document) - p_k(document without them); evidence that is faithful to the model drops
it far more than random sentences do (DeYoung et al., "ERASER", ACL 2020). Documents with
no more than k units are left out for that k.

Data: the held-out IMDB reviews (`--imdb N`, the first N of the fixed test split), and
the everyday dev set `tests/data/everyday.jsonl` (JSONL with text,label) when it exists
(`--everyday PATH` for another file).
"""

from __future__ import annotations

import json
import random
import sys
import time
from pathlib import Path

from ..reading.core import Core
from ..reading.settings import Settings

EVERYDAY = Path(__file__).resolve().parents[2] / "tests" / "data" / "everyday.jsonl"


def add_arguments(parser) -> None:
    parser.add_argument(
        "--imdb", type=int, default=200, metavar="N", help="held-out IMDB reviews to use (default %(default)s; 0: none)"
    )
    parser.add_argument(
        "--everyday",
        type=Path,
        default=EVERYDAY,
        metavar="PATH",
        help="everyday dev set, JSONL with text,label (default %(default)s; used when it exists)",
    )
    parser.add_argument("--everyday-limit", type=int, default=None, metavar="N", help="first N everyday documents")
    parser.add_argument("--k", type=int, nargs="+", default=[1, 3], help="units deleted (default 1 3)")
    parser.add_argument("--draws", type=int, default=3, help="random draws per document and k (default %(default)s)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--rank",
        choices=("pull", "contribution"),
        default="pull",
        help="rank units by pull (what the server shows; default) or by contribution",
    )
    parser.add_argument("--model", metavar="PATH", help="model checkpoint (default: the shipped model)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")


class Reader:
    """The server's core, reading one text at a time from scratch."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.n = 0

    def read(self, text: str):
        self.n += 1
        uri = f"faithfulness:{self.n}"
        self.core.open(uri, text, 1)
        while (report := self.core.compute(uri)) is not None and report.more:  # a long one is built chunk by chunk
            pass
        assert report is not None  # the document is open
        self.core.close(uri)
        return report


def ranked_units(report, rank: str = "pull") -> list[int]:
    """The units by pull (the hints' order) or contribution toward the predicted class, strongest first."""
    ev = report.evidence
    k = max(range(len(report.probabilities)), key=report.probabilities.__getitem__)
    score = ev.pull if rank == "pull" else ev.contributions()  # (n, C)
    toward = (score[:, k] - score.mean(-1)).tolist()  # (n,)
    return sorted(range(len(ev)), key=lambda i: -toward[i])


def delete(text: str, spans: list[tuple[int, int]]) -> str:
    for start, end in sorted(spans, reverse=True):
        text = text[:start] + text[end:]
    return text


def comprehensiveness(
    reader: Reader, texts: list[str], ks: list[int], draws: int, seed: int, rank: str = "pull"
) -> dict:
    rng = random.Random(seed)
    rows: dict[int, dict[str, list]] = {k: {"top": [], "random": []} for k in ks}
    for text in texts:
        report = reader.read(text)
        if report.empty or report.evidence is None:
            continue
        ev = report.evidence
        k_doc = max(range(len(report.probabilities)), key=report.probabilities.__getitem__)
        p = report.probabilities[k_doc]
        order = ranked_units(report, rank)
        for k in ks:
            if len(ev) <= k:
                continue
            top = reader.read(delete(text, [ev.range_of(i) for i in order[:k]]))
            rows[k]["top"].append(p - top.probabilities[k_doc])
            drops = []
            for _ in range(draws):
                pick = rng.sample(range(len(ev)), k)
                other = reader.read(delete(text, [ev.range_of(i) for i in pick]))
                drops.append(p - other.probabilities[k_doc])
            rows[k]["random"].append(sum(drops) / len(drops))
    out = {}
    for k, r in rows.items():
        n = len(r["top"])
        out[f"k={k}"] = {
            "documents": n,
            "top_k_drop": round(sum(r["top"]) / n, 4) if n else None,
            "random_k_drop": round(sum(r["random"]) / n, 4) if n else None,
            "top_beats_random": round(sum(t > q for t, q in zip(r["top"], r["random"])) / n, 4) if n else None,
        }
    return out


def run(args) -> int:
    from ..model.base import load_tokenizer
    from ..model.checkpoint import load_model
    from .data import imdb_split, load_user_file

    core = Core(Settings(maxDocumentBytes=10_000_000))
    core.load(load_tokenizer(), load_model(Path(args.model) if args.model else None))
    reader = Reader(core)
    sets = {}
    if args.imdb:
        sets["imdb"] = imdb_split("test").take(args.imdb).texts
    if args.everyday and Path(args.everyday).is_file():
        sets["everyday"] = load_user_file(Path(args.everyday)).take(args.everyday_limit).texts
    elif args.everyday != EVERYDAY:
        print(f"incls: {args.everyday} not found", file=sys.stderr)
        return 2
    results = {}
    for name, texts in sets.items():
        started = time.perf_counter()
        results[name] = comprehensiveness(reader, texts, args.k, args.draws, args.seed, args.rank)
        results[name]["seconds"] = round(time.perf_counter() - started, 1)
        if not args.json:
            for k, r in results[name].items():
                if k.startswith("k="):
                    print(
                        f"{name} {k}: top-k drop {r['top_k_drop']}, random-k drop {r['random_k_drop']}, "
                        f"top beats random in {r['top_beats_random']} of {r['documents']} documents"
                    )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0
