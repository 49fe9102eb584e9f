"""Shared pieces of the live editor tests: the server command, the review, the latency record.

Every live test drives a real editor against the real server (`incls --stdio` with the
shipped model). A test whose editor is missing fails: run `scripts/install-editors.sh`.

Environment:
  INCLS_LIVE_SERVER_CMD   the server command line (shell words), default: the `incls` next to
                          this Python, else on PATH, with `--stdio`
  INCLS_LIVE_TIMEOUT      seconds an editor may wait for a diagnostic (default 90; the first one
                          includes the server's start-up and model load)
  INCLS_LIVE_FLIP_TIMEOUT seconds to wait for the flipped label after the edit (default 20)
  INCLS_LIVE_KEEP         keep each test's scratch directory (for debugging)
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
LATENCY_FILE = ARTIFACTS / "live-latency.json"
TIMEOUT_S = float(os.environ.get("INCLS_LIVE_TIMEOUT", "90"))
# Once the server has answered the edit, the flipped label must show within this many seconds.
FLIP_TIMEOUT_S = float(os.environ.get("INCLS_LIVE_FLIP_TIMEOUT", "20"))

# A short, clearly positive review: short, so that one typed sentence outweighs it (the model
# reads the whole document, so the flip has to be longer and stronger than the review).
REVIEW = "A wonderful film: superb acting and a moving, beautifully told story.\nI loved every minute of it.\n"
# Typed at the end of the review: afterwards it reads negative.
FLIP = (
    " Then it all falls apart. The second half is the worst, most boring and awful mess I have"
    " ever sat through: a dreadful, stupid, pointless waste of time. I hated it. Terrible acting,"
    " terrible script. Avoid this disaster."
)
FIRST_LABEL = "positive"
FLIPPED_LABEL = "negative"
# The document diagnostic: "Reads positive (0.94)" (Flymake and others may add a prefix).
MESSAGE_RE = re.compile(r"Reads (?P<label>[\w-]+) \((?P<p>[01](?:\.\d+)?)\)\s*$")


# The complaint letter of the server tests (tests/lsp): its hints must land on the complaint's
# sentences, none on the greeting, the sign-off or the signature.
LETTER = (ROOT / "tests" / "data" / "complaint_letter.txt").read_text(encoding="utf-8")
LETTER_FILE = "letter.txt"
LETTER_LABEL = "negative"
COMPLAINT_LINE = 2  # 0-based: the paragraph of the complaint
COMPLAINT_SENTENCES = (
    "I am writing to complain about the service I received at your store on Main St. last week.",
    "The staff were rude, the order was wrong, and nobody apologised.",
    "I waited forty minutes for a refund that never came.",
)
QUIET_LINES = {0: "the greeting", 6: "the sign-off", 7: "the signature"}
# The cheerful team update of the server tests, with one annoyed paragraph: it reads positive,
# and the annoyed sentence is pointed out as pulling against it.
UPDATE = (ROOT / "tests" / "data" / "team_update.txt").read_text(encoding="utf-8")
UPDATE_FILE = "update.txt"
UPDATE_LABEL = "positive"
ANNOYED_LINE = 4  # 0-based: "One thing though: I am really annoyed ..."
UPDATE_QUIET_LINES = {0: "the greeting", 6: "the sign-off", 7: "the signature"}
AGAINST = "against the document's"  # in the message of a hint that pulls against the tone
EMPTY_FILE = "empty.txt"
INFORMATION, HINT = 3, 4  # DiagnosticSeverity
SENTENCE = "This sentence reads "  # how a hint's message begins


def server_command() -> list[str]:
    """The server's argv. INCLS_LIVE_SERVER_CMD overrides (e.g. to run a broken server)."""
    env = os.environ.get("INCLS_LIVE_SERVER_CMD")
    if env:
        return shlex.split(env)
    beside = Path(sys.executable).parent / "incls"
    if beside.exists():
        return [str(beside), "--stdio"]
    found = shutil.which("incls")
    if found:
        return [found, "--stdio"]
    pytest.fail("no `incls` executable: `pip install -e .` into this venv, or set INCLS_LIVE_SERVER_CMD")


def require_tool(path_or_name: str, hint: str = "run scripts/install-editors.sh") -> str:
    """Resolve an editor executable or FAIL (a live test never skips)."""
    p = Path(path_or_name)
    if p.is_absolute() or "/" in path_or_name:
        if p.exists() and os.access(p, os.X_OK):
            return str(p)
    else:
        found = shutil.which(path_or_name)
        if found:
            return found
    pytest.fail(f"{path_or_name} not found: {hint}")


@pytest.fixture
def workspace(tmp_path: Path, request) -> Path:
    """A scratch workspace: the review (review.txt), the complaint letter (letter.txt), the team
    update (update.txt) and an empty file (empty.txt)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "review.txt").write_text(REVIEW, encoding="utf-8")
    (ws / LETTER_FILE).write_text(LETTER, encoding="utf-8")
    (ws / UPDATE_FILE).write_text(UPDATE, encoding="utf-8")
    (ws / EMPTY_FILE).write_text("", encoding="utf-8")
    yield ws
    if os.environ.get("INCLS_LIVE_KEEP"):
        print(f"kept {tmp_path}")


class LatencyRecord:
    """Collects what each editor saw; merged into test-artifacts/live-latency.json."""

    def __init__(self) -> None:
        self.entries: dict[str, dict] = {}

    def add(self, editor: str, **values) -> None:
        entry = {k: (round(v, 1) if isinstance(v, float) else v) for k, v in values.items()}
        entry["recorded"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
        self.entries[editor] = entry

    def write(self) -> None:
        if not self.entries:
            return
        ARTIFACTS.mkdir(exist_ok=True)
        data = {}
        if LATENCY_FILE.exists():
            try:
                data = json.loads(LATENCY_FILE.read_text())
            except ValueError:
                data = {}
        data.setdefault("editors", {}).update(self.entries)
        data["server"] = server_command()
        data["units"] = (
            "milliseconds, as each editor saw them. first_diagnostic_ms: open -> first incls diagnostic "
            "(includes server start and model load); typed_update_ms / typed_flip_ms: end of typing the "
            "sentence (one change per keystroke) -> the next diagnostic / the flipped label; cut_ms: one "
            "edit deleting the sentence -> the first label back; paste_ms: one edit inserting it again -> "
            "the flipped label back (cut/paste are single-change round trips: edit -> didChange -> "
            "server -> publishDiagnostics -> shown); server_latency_median_ms: median latencyMs of the "
            "server's incls/status notifications"
        )
        LATENCY_FILE.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


_RECORD = LatencyRecord()


@pytest.fixture(scope="session")
def latency() -> LatencyRecord:
    yield _RECORD
    _RECORD.write()


def parse_message(message: str | None) -> tuple[str, float] | None:
    if not message:
        return None
    m = MESSAGE_RE.search(message.strip())
    return (m.group("label"), float(m.group("p"))) if m else None


def check_outcome(result: dict, editor: str, latency: LatencyRecord, *, hover: bool = True) -> None:
    try:
        _check_outcome(result, editor, latency, hover=hover)
    except AssertionError as exc:
        if result.get("error") and str(result["error"]) not in str(exc):
            raise AssertionError(f"{exc}\n{editor} driver reported: {result['error']}") from None
        raise


def _check_outcome(result: dict, editor: str, latency: LatencyRecord, *, hover: bool = True) -> None:
    """The assertions every editor shares, on the JSON its script wrote.

    result: {first: {message, code?, ms}, update: {message, ms}?, flipped: {message, code?, ms}?,
             hover: str?, status: [incls/status params]?, error: str?}
    """
    first = result.get("first") or {}
    update = result.get("update") or {}
    flipped = result.get("flipped") or {}
    cut = result.get("cut") or {}
    paste = result.get("paste") or {}
    statuses = [s for s in (result.get("status") or []) if isinstance(s, dict)]
    server_ms = sorted(float(s["latencyMs"]) for s in statuses if isinstance(s.get("latencyMs"), (int, float)))
    latency.add(
        editor,
        first_diagnostic_ms=first.get("ms"),
        typed_update_ms=update.get("ms"),
        typed_flip_ms=flipped.get("ms"),
        cut_ms=cut.get("ms"),
        paste_ms=paste.get("ms"),
        server_latency_median_ms=(server_ms[len(server_ms) // 2] if server_ms else None),
        status_notifications=len(statuses),
        editor_version=result.get("version"),
    )
    assert first.get("message"), f"{editor}: no incls diagnostic after opening the review ({result.get('error')})"
    parsed = parse_message(first["message"])
    assert parsed, f"{editor}: unexpected diagnostic message {first['message']!r}"
    assert parsed[0] == FIRST_LABEL, f"{editor}: the review reads {parsed[0]!r}, expected {FIRST_LABEL!r}"
    if first.get("code") is not None:
        assert str(first["code"]) == parsed[0], f"{editor}: diagnostic code {first['code']!r} != label"
    assert update.get("message"), f"{editor}: no new diagnostic after typing ({result.get('error')})"
    assert flipped.get("message"), (
        f"{editor}: the label did not flip after typing the sentence; last diagnostic "
        f"{update.get('last') or update.get('message')!r} ({result.get('error')})"
    )
    parsed = parse_message(flipped["message"])
    assert parsed and parsed[0] == FLIPPED_LABEL, f"{editor}: after the edit: {flipped['message']!r}"
    if flipped.get("code") is not None:
        assert str(flipped["code"]) == FLIPPED_LABEL
    if "cut" in result or "paste" in result:
        assert parse_message(cut.get("message")) and parse_message(cut["message"])[0] == FIRST_LABEL, (
            f"{editor}: cutting the sentence did not bring back {FIRST_LABEL!r}: {cut!r}"
        )
        assert parse_message(paste.get("message")) and parse_message(paste["message"])[0] == FLIPPED_LABEL, (
            f"{editor}: pasting the sentence again did not bring back {FLIPPED_LABEL!r}: {paste!r}"
        )
    if hover:
        text = result.get("hover") or ""
        assert FIRST_LABEL in text and FLIPPED_LABEL in text and re.search(r"\d\.\d", text), (
            f"{editor}: hover does not show the class probabilities: {text!r}"
        )


def check_letter_hints(
    result: dict, editor: str, diagnostics: list[dict] | None = None, severity: int | None = HINT
) -> list:
    """The assertions on the complaint letter's first reading, on the JSON its driver wrote.

    result: {first: {message}, diagnostics: [{line, character, end_line, end_character,
    severity (1-4, as LSP numbers them), message}], error?}; positions 0-based in characters
    (the letter is ASCII). An end or a message the editor does not show may be None (VS Code
    draws a hint as three dots at its start): the hint must then start a complaint sentence.
    `diagnostics` replaces result["diagnostics"]; `severity` is the hints' (4: Hint), None for an
    editor that shows hints like other diagnostics (Vim's ALE, eglot): the sentence diagnostics are
    then the hints. Returns the hints."""
    first = result.get("first") or {}
    assert first.get("message"), f"{editor}: no incls diagnostic on the letter ({result.get('error')})"
    parsed = parse_message(first["message"])
    assert parsed and parsed[0] == LETTER_LABEL, f"{editor}: the letter reads {first['message']!r}"
    diagnostics = result.get("diagnostics") if diagnostics is None else diagnostics
    hints = [
        d
        for d in diagnostics or []
        if (d.get("severity") == severity if severity is not None else str(d.get("message")).startswith(SENTENCE))
    ]
    assert hints, f"{editor}: no sentence hints on the letter: {diagnostics!r} ({result.get('error')})"
    lines = LETTER.split("\n")
    for d in hints:
        where = (
            f"{editor}: hint {d.get('message')!r} at {d['line']}:{d['character']}-{d['end_line']}:{d['end_character']}"
        )
        assert d["line"] not in QUIET_LINES, f"{where} is on {QUIET_LINES[d['line']]}"
        assert d["line"] == d["end_line"] == COMPLAINT_LINE, f"{where} is not on the complaint"
        if d["end_character"] is None:
            rest = lines[d["line"]][d["character"] :]
            assert rest.startswith(COMPLAINT_SENTENCES), f"{where}: {rest[:30]!r}... does not start a sentence"
        else:
            text = lines[d["line"]][d["character"] : d["end_character"]].strip()
            assert text in COMPLAINT_SENTENCES, f"{where} covers {text!r}, not one of the complaint's sentences"
        if d.get("message") is not None:
            assert str(d["message"]).startswith(SENTENCE), where
    return hints


def check_update_hints(result: dict, editor: str, severity: int | None = HINT) -> list:
    """The team update's first reading: positive, with the annoyed sentence (and only it) pointed
    out as pulling against the tone, and no hint on the greeting, sign-off or signature. The
    result's shape and `severity` are as for `check_letter_hints`. Returns the hints against."""
    first = result.get("first") or {}
    assert first.get("message"), f"{editor}: no incls diagnostic on the update ({result.get('error')})"
    parsed = parse_message(first["message"])
    assert parsed and parsed[0] == UPDATE_LABEL, f"{editor}: the update reads {first['message']!r}"
    hints = [
        d
        for d in result.get("diagnostics") or []
        if (d.get("severity") == severity if severity is not None else str(d.get("message")).startswith(SENTENCE))
    ]
    for d in hints:
        assert d["line"] not in UPDATE_QUIET_LINES, f"{editor}: hint {d!r} is on {UPDATE_QUIET_LINES[d['line']]}"
    against = [d for d in hints if AGAINST in str(d.get("message"))]
    assert against, f"{editor}: nothing pointed out against the positive tone: {hints!r}"
    assert all(d["line"] == d["end_line"] == ANNOYED_LINE for d in against), f"{editor}: against: {against!r}"
    return against


def run_driver(
    name: str,
    argv: list[str],
    workspace: Path,
    *,
    env: dict | None = None,
    extra: dict | None = None,
    timeout_s: float | None = None,
) -> dict:
    """Run an editor (argv) on a driver script that reads $INCLS_LIVE_CONFIG and writes JSON.

    The config: cmd (server argv), root, file (the review), append (the flip sentence),
    timeout_ms, out (where to write the result). The editor runs in its own process group,
    killed afterwards. Fails the test if the editor writes nothing.
    """

    scratch = workspace.parent
    out = scratch / f"{name}-result.json"
    config = {
        "cmd": server_command(),
        "root": str(workspace),
        "file": str(workspace / "review.txt"),
        "append": FLIP,
        "timeout_ms": int(TIMEOUT_S * 1000),
        "flip_timeout_ms": int(FLIP_TIMEOUT_S * 1000),
        "out": str(out),
        **(extra or {}),
    }
    cfg_path = scratch / f"{name}-config.json"
    cfg_path.write_text(json.dumps(config))
    log_path = scratch / f"{name}.log"
    budget = timeout_s if timeout_s is not None else 3 * TIMEOUT_S + 30
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=workspace,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "INCLS_LIVE_CONFIG": str(cfg_path), **(env or {})},
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=budget)
        except subprocess.TimeoutExpired:
            rc = "timeout"
        finally:
            kill_group(proc)
    tail = log_path.read_bytes()[-3000:].decode("utf-8", "replace")
    if not out.exists():
        pytest.fail(f"{name}: the editor wrote no result (exit {rc}); its output:\n{tail}")
    try:
        result = json.loads(out.read_text())
    except ValueError:
        pytest.fail(f"{name}: unreadable result {out.read_text()[:500]!r}; output:\n{tail}")
    result["_log"] = tail
    return result


def kill_group(proc: subprocess.Popen) -> None:
    """Kill a process started with start_new_session=True and everything it spawned."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
