// What the extension finds of the server it installs itself (src/install.ts): the wheel it ships,
// a finished install in its storage, the interpreters it tries. The installing itself runs against
// a real Python in tests/install/test_extension_installer.py.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { bundledWheel, managedServer, pythonCandidates, serverCommand } from "../src/install";

let root: string;

function write(rel: string, text = "", mode = 0o644): string {
  const at = path.join(root, rel);
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.writeFileSync(at, text);
  fs.chmodSync(at, mode);
  return at;
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "incls-managed-"));
});

afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

describe("bundledWheel", () => {
  test("the newest incls wheel in server/ (by name), nothing else", () => {
    write("ext/server/incls-0.1.0-py3-none-any.whl");
    const newest = write("ext/server/incls-0.2.0-py3-none-any.whl");
    write("ext/server/other-9.0.0-py3-none-any.whl");
    write("ext/server/incls-9.9.9.tar.gz");
    assert.equal(bundledWheel(path.join(root, "ext")), newest);
  });

  test("none when the build ships no wheel", () => {
    write("bare/package.json", "{}");
    assert.equal(bundledWheel(path.join(root, "bare")), undefined);
    write("empty/server/README", "");
    assert.equal(bundledWheel(path.join(root, "empty")), undefined);
  });
});

describe("managedServer", () => {
  const stamp = JSON.stringify({ wheel: "incls-0.1.0-py3-none-any.whl", sha256: "ab12", python: "/usr/bin/python3" });

  test("a finished install: its interpreter, and the wheel it came from", () => {
    const python = write("storage/server/bin/python", "#!/bin/sh\n", 0o755);
    write("storage/server/incls-install.json", stamp);
    const managed = managedServer(path.join(root, "storage"));
    assert.deepEqual(managed, { python, dir: path.join(root, "storage", "server"),
      wheel: "incls-0.1.0-py3-none-any.whl", sha256: "ab12" });
    assert.deepEqual(serverCommand(managed), { command: python, args: ["-I", "-m", "incls.cli"] });
  });

  test("no server before the stamp (written last), nor without a runnable interpreter, nor from a corrupt stamp", () => {
    const storage = path.join(root, "storage");
    assert.equal(managedServer(storage), undefined, "no storage yet");
    write("storage/server/bin/python", "#!/bin/sh\n", 0o755);
    assert.equal(managedServer(storage), undefined, "an install that did not finish");
    write("storage/server/incls-install.json", "{ not json");
    assert.equal(managedServer(storage), undefined, "a corrupt stamp");
    write("storage/server/incls-install.json", stamp);
    fs.chmodSync(path.join(storage, "server/bin/python"), 0o644);
    assert.equal(managedServer(storage), undefined, "an interpreter that cannot run");
  });

  test("fields of the wrong kind in the stamp read as unknown (so the shipped wheel is offered again)", () => {
    write("storage/server/bin/python", "#!/bin/sh\n", 0o755);
    write("storage/server/incls-install.json", JSON.stringify({ wheel: { name: "x" }, sha256: 12 }));
    const managed = managedServer(path.join(root, "storage"));
    assert.equal(managed?.wheel, "");
    assert.equal(managed?.sha256, "");
  });
});

describe("pythonCandidates", () => {
  test("the configured interpreters first (trimmed, blanks dropped), then the usual names", () => {
    const usual = process.platform === "win32" ? ["py", "python"]
      : ["python3.13", "python3.12", "python3.11", "python3", "python"];
    assert.deepEqual(pythonCandidates(["", " /opt/py/bin/python3 ", "  "]), ["/opt/py/bin/python3", ...usual]);
    assert.deepEqual(pythonCandidates([]), usual);
  });
});
