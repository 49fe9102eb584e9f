"""A minimal LSP client over a subprocess's stdio, for the demo and the latency benchmark.

It speaks plain JSON-RPC (Content-Length framing) to the real `incls --stdio` server,
answers the server's requests (progress tokens, configuration) and hands every
notification to the caller through a queue, stamped with its arrival time.
"""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import sys
import threading
import time

SERVER_COMMAND = [sys.executable, "-m", "incls.cli", "--stdio"]


def frame(message: dict) -> bytes:
    """One JSON-RPC message with its Content-Length header."""
    body = json.dumps(message).encode("utf-8")
    return f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def read_message(stream) -> dict | None:
    """The next message on a byte stream, or None at its end."""
    length = None
    while True:
        line = stream.readline()
        if not line:
            return None
        if line in (b"\r\n", b"\n"):
            break
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    return json.loads(stream.read(length))


def answer(request: dict) -> dict:
    """What a plain client answers the server's own requests (progress tokens, configuration)."""
    params = request.get("params") or {}
    result: list[dict] | None = [{}] * len(params["items"]) if request["method"] == "workspace/configuration" else None
    return {"jsonrpc": "2.0", "id": request["id"], "result": result}


class StdioClient:
    def __init__(self, command: list[str] | None = None, env: dict | None = None, stderr=subprocess.DEVNULL) -> None:
        self.process = subprocess.Popen(
            command or SERVER_COMMAND, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, env=env
        )
        self.notifications: queue.Queue = queue.Queue()
        self.responses: dict[int, queue.Queue] = {}
        self.ids = itertools.count(1)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    # -- wire -----------------------------------------------------------------------------

    def _send(self, message: dict) -> None:
        stdin = self.process.stdin
        assert stdin is not None  # opened as a pipe
        stdin.write(frame(message))
        stdin.flush()

    def _read(self) -> None:
        while (message := read_message(self.process.stdout)) is not None:
            now = time.perf_counter()
            if "method" in message and "id" in message:  # a request from the server
                self._send(answer(message))
            elif "method" in message:
                self.notifications.put((now, message))
            else:
                self.responses.setdefault(message["id"], queue.Queue()).put(message)
        self.notifications.put((time.perf_counter(), {"method": "$/exit"}))

    # -- API ------------------------------------------------------------------------------

    def request(self, method: str, params, timeout: float = 120.0):
        msg_id = next(self.ids)
        box = self.responses.setdefault(msg_id, queue.Queue())
        self._send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        reply = box.get(timeout=timeout)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result")

    def notify(self, method: str, params) -> None:
        self._send({"jsonrpc": "2.0", "method": method, "params": params})

    def initialize(self, options: dict | None = None) -> dict:
        result = self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": None,
                "initializationOptions": options or {},
                "capabilities": {
                    "window": {"workDoneProgress": True},
                    "textDocument": {"publishDiagnostics": {"versionSupport": True}},
                },
            },
        )
        self.notify("initialized", {})
        return result

    def wait_for(self, predicate, timeout: float = 120.0):
        """(arrival time, message) of the next notification satisfying `predicate`."""
        deadline = time.perf_counter() + timeout
        while True:
            left = deadline - time.perf_counter()
            if left <= 0:
                raise TimeoutError("no matching notification from the server")
            stamp, message = self.notifications.get(timeout=left)
            if message.get("method") == "$/exit":
                raise RuntimeError("the server exited")
            if predicate(message):
                return stamp, message

    def open(self, uri: str, text: str, version: int = 1, language: str = "plaintext") -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language, "version": version, "text": text}},
        )

    def change(self, uri: str, version: int, changes: list[dict]) -> float:
        """Send a didChange; return when it was sent."""
        sent = time.perf_counter()
        self.notify(
            "textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}
        )
        return sent

    def close(self) -> None:
        try:
            self.request("shutdown", None, timeout=10)
            self.notify("exit", None)
            self.process.wait(timeout=10)
        except Exception:
            self.process.kill()
            self.process.wait()


def is_diagnostics(uri: str, version: int | None = None):
    def match(message: dict) -> bool:
        params = message.get("params") or {}
        return (
            message.get("method") == "textDocument/publishDiagnostics"
            and params.get("uri") == uri
            and (version is None or params.get("version") == version)
        )

    return match


def end_position(text: str) -> dict:
    """LSP position (UTF-16) of the end of `text`."""
    import re

    last = re.split(r"\r\n|\r|\n", text)[-1]
    return {"line": len(re.findall(r"\r\n|\r|\n", text)), "character": len(last.encode("utf-16-le")) // 2}
