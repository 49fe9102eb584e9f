"""`incls demo`: watch the real language server classify a review while a sentence is typed.

It starts `incls --stdio` as a subprocess, opens a held-out IMDB review, prints the
diagnostic, then types a sentence of the opposite sentiment at the end, one character
per didChange message, printing every update the server publishes (label, probability,
the round trip from keystroke to diagnostic) and a summary. No input is read: it runs
the same in a terminal and in CI.
"""

from __future__ import annotations

import statistics
import time

FLIP = {
    "negative": (
        " Still, I have to admit I loved it: a wonderful, moving, beautifully acted film, and I would happily watch it again."
        " The cast is superb, the music is gorgeous, and the ending is perfect. A true delight, one of the best films"
        " of the year, and I highly recommend it to everyone."
    ),
    "positive": (
        " Still, I have to admit it was awful: a boring, clumsy, badly acted mess, and a complete waste of time."
        " The cast is wooden, the music is grating, and the ending is insulting. A true chore, one of the worst films"
        " of the year, and I would not recommend it to anyone."
    ),
}


def add_arguments(parser) -> None:
    parser.add_argument("--index", type=int, default=None, help="pick this held-out review instead of the default one")
    parser.add_argument("--delay", type=float, default=0.03, help="seconds between keystrokes (default %(default)s)")
    parser.add_argument(
        "--sentence", default=None, help="the sentence to type (default: one that contradicts the review)"
    )


DEFAULT_REVIEW = 52  # a short (60 words), one-paragraph, clearly negative held-out review


def pick_review(index: int | None) -> tuple[str, str]:
    """A held-out review: by default a short negative one that one typed passage can turn around."""
    from .train.data import imdb_split

    test = imdb_split("test")
    index = DEFAULT_REVIEW if index is None else index
    return test.texts[index], test.label_names[test.labels[index]]


def _label(message: dict) -> tuple[str, str]:
    diags = message["params"]["diagnostics"]
    doc = next((d for d in diags if (d.get("data") or {}).get("kind") == "document"), None)
    return (doc["code"], doc["message"]) if doc else ("-", "(no diagnostic)")


def run(args) -> int:
    from .bench.client import StdioClient, end_position, is_diagnostics

    review, truth = pick_review(args.index)
    uri = "untitled:incls-demo-review.txt"
    print(f"incls demo: a held-out IMDB review (labelled {truth}), {len(review.split())} words:\n")
    print("  " + review[:400] + ("…" if len(review) > 400 else "") + "\n")
    started = time.perf_counter()
    client = StdioClient()
    try:
        client.initialize({"incls": {"sentenceHints": 0}})
        client.open(uri, review)
        _, message = client.wait_for(is_diagnostics(uri, 1), timeout=300)
        first_label, first_message = _label(message)
        print(f"server ready in {time.perf_counter() - started:.1f} s; diagnostic: {first_message}\n")
        sentence = args.sentence or FLIP.get(first_label, FLIP["negative"])
        print(f"typing:{sentence}\n")
        text, version, sent_at = review, 1, {}
        latencies: list[float] = []
        updates = 0
        for ch in sentence:
            position = end_position(text)
            version += 1
            sent_at[version] = client.change(
                uri, version, [{"range": {"start": position, "end": position}, "text": ch}]
            )
            text += ch
            updates += _drain(client, uri, sent_at, latencies, text)
            time.sleep(args.delay)
        stamp, message = client.wait_for(is_diagnostics(uri, version), timeout=60)
        latencies.append((stamp - sent_at[version]) * 1000)
        final_label, final_message = _label(message)
        print(f"  v{version:<4} {final_message:<28} {latencies[-1]:6.1f} ms  (final)")
        status = _last_status(client)
    finally:
        client.close()
    print("\nsummary:")
    print(
        f"  before: {first_message}   after: {final_message}   "
        f"({'label flipped' if final_label != first_label else 'label unchanged'})"
    )
    print(f"  {len(sentence)} keystrokes, {updates + 1} published updates (bursts are coalesced)")
    if latencies:
        ordered = sorted(latencies)
        p95 = ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        print(f"  keystroke -> diagnostic: median {statistics.median(ordered):.1f} ms, p95 {p95:.1f} ms")
    if status and status.get("opsSaved"):
        print(f"  last update: {status['opsSaved']:.1f}x fewer operations than a full recompute")
    return 0


def _drain(client, uri: str, sent_at: dict, latencies: list, text: str) -> int:
    """Print the updates that have arrived; return how many."""
    import queue

    count = 0
    while True:
        try:
            stamp, message = client.notifications.get_nowait()
        except queue.Empty:
            return count
        if message.get("method") == "incls/status":
            client.last_status = message["params"]
        if message.get("method") != "textDocument/publishDiagnostics" or message["params"]["uri"] != uri:
            continue
        version = message["params"].get("version")
        if version in sent_at:
            latencies.append((stamp - sent_at[version]) * 1000)
            print(f"  v{version:<4} {_label(message)[1]:<28} {latencies[-1]:6.1f} ms")
            count += 1


def _last_status(client) -> dict | None:
    import queue

    while True:
        try:
            _, message = client.notifications.get(timeout=0.5)
        except queue.Empty:
            break
        if message.get("method") == "incls/status":
            client.last_status = message["params"]
    return getattr(client, "last_status", None)
