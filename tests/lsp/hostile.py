"""A client that writes raw bytes to the real `incls --stdio` and reads raw frames back.

No client library: the point is to send what a library would refuse to (broken frames,
null params, lone surrogates) and to see exactly what the server answers.
"""

from __future__ import annotations

import itertools
import os
import queue
import subprocess
import sys
import threading
import time

from incls.bench.client import answer, frame, read_message

SERVER = [sys.executable, "-m", "incls.cli", "--stdio"]


class RawServer:
    def __init__(self, env: dict | None = None) -> None:
        self.process = subprocess.Popen(
            SERVER,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=dict(os.environ, **(env or {})),
        )
        self.messages: queue.Queue = queue.Queue()
        self.seen: list[dict] = []
        self.ids = itertools.count(1)
        threading.Thread(target=self._read, daemon=True).start()

    # -- wire ---------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def send(self, message: dict) -> None:
        self.write(frame(message))

    def _read(self) -> None:
        while (message := read_message(self.process.stdout)) is not None:
            if isinstance(message, dict) and "method" in message and "id" in message:  # the server's own requests
                self.send(answer(message))
            self.messages.put(message)

    # -- conversation -------------------------------------------------------------------

    def next(self, predicate, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        for message in self.seen:
            if predicate(message):
                self.seen.remove(message)
                return message
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no such message from the server")
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                raise TimeoutError("no such message from the server") from None
            if predicate(message):
                return message
            self.seen.append(message)

    def request_message(self, method: str, params) -> dict:
        return {"jsonrpc": "2.0", "id": next(self.ids), "method": method, "params": params}

    def request(self, method: str, params, timeout: float = 60.0) -> dict:
        """The whole response (result or error) to a request."""
        message = self.request_message(method, params)
        self.send(message)
        return self.response(message["id"], timeout)

    def response(self, msg_id, timeout: float = 60.0) -> dict:
        return self.next(lambda m: isinstance(m, dict) and m.get("id") == msg_id and "method" not in m, timeout)

    def notify(self, method: str, params) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def initialize(self, options: dict | None = None) -> None:
        reply = self.request(
            "initialize",
            {"processId": None, "rootUri": None, "capabilities": {}, "initializationOptions": options or {}},
        )
        assert "result" in reply, reply
        self.notify("initialized", {})

    def open(self, uri: str, text: str, version: int = 1, language: str = "plaintext") -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": language, "version": version, "text": text}},
        )

    def change(self, uri: str, version: int, text: str, start=None, end=None) -> None:
        event = (
            {"text": text}
            if start is None
            else {
                "range": {
                    "start": {"line": start[0], "character": start[1]},
                    "end": {"line": end[0], "character": end[1]},
                },
                "text": text,
            }
        )
        self.notify(
            "textDocument/didChange", {"textDocument": {"uri": uri, "version": version}, "contentChanges": [event]}
        )

    def diagnostics(self, uri: str, version: int | None = None, timeout: float = 120.0) -> list:
        def match(m):
            if not isinstance(m, dict):
                return False
            p = m.get("params") or {}
            return (
                m.get("method") == "textDocument/publishDiagnostics"
                and p.get("uri") == uri
                and (version is None or p.get("version") == version)
            )

        return self.next(match, timeout)["params"]["diagnostics"]

    def inspect(self, uri: str) -> dict | None:
        return self.request("workspace/executeCommand", {"command": "incls.inspect", "arguments": [uri]})["result"]

    def popups(self) -> list[str]:
        """Every window/showMessage received so far (the queue is drained into `seen`)."""
        while True:
            try:
                self.seen.append(self.messages.get_nowait())
            except queue.Empty:
                break
        return [
            m["params"]["message"] for m in self.seen if isinstance(m, dict) and m.get("method") == "window/showMessage"
        ]

    def log_messages(self) -> list[str]:
        """Every window/logMessage received so far (the queue is drained into `seen`)."""
        self.popups()
        return [
            m["params"]["message"] for m in self.seen if isinstance(m, dict) and m.get("method") == "window/logMessage"
        ]

    def wait(self, timeout: float) -> int | None:
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None

    def hover_ms(self, uri: str, line: int = 0, character: int = 0, timeout: float = 60.0) -> float:
        """The round trip of one hover request, in milliseconds."""
        started = time.perf_counter()
        self.request(
            "textDocument/hover",
            {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
            timeout,
        )
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def peak_rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return 0.0


def serving(uri: str, text: str):
    """A raw server with one small document read, for a module fixture (`yield from`)."""
    s = RawServer()
    s.initialize()
    s.open(uri, text)
    s.diagnostics(uri, 1)
    yield s
    s.close()
