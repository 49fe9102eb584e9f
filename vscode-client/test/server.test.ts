// How the extension finds the `incls` server (src/server.ts), on real files in a scratch directory:
// the setting, the workspace's virtual environments, the configured interpreter, $VIRTUAL_ENV, PATH.
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, test } from "node:test";
import { expandPath, locateServer, onPath } from "../src/server";

let root: string;
const saved = { PATH: process.env.PATH, VIRTUAL_ENV: process.env.VIRTUAL_ENV, HOME: process.env.HOME };

/** An executable file (or a plain one with `executable: false`) at root/rel; its path. */
function file(rel: string, executable = true): string {
  const at = path.join(root, rel);
  fs.mkdirSync(path.dirname(at), { recursive: true });
  fs.writeFileSync(at, "#!/bin/sh\n");
  fs.chmodSync(at, executable ? 0o755 : 0o644);
  return at;
}

function dir(rel: string): string {
  const at = path.join(root, rel);
  fs.mkdirSync(at, { recursive: true });
  return at;
}

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), "incls-discovery-"));
  process.env.PATH = dir("empty-path");
  delete process.env.VIRTUAL_ENV;
  process.env.HOME = dir("home");
});

afterEach(() => {
  for (const [key, value] of Object.entries(saved)) {
    if (value === undefined) delete process.env[key];
    else process.env[key] = value;
  }
  fs.rmSync(root, { recursive: true, force: true });
});

describe("incls.server.path", () => {
  test("an absolute path is used as it is, even one that does not exist (the error then names it)", () => {
    const missing = path.join(root, "nowhere", "incls");
    file("w/.venv/bin/incls");
    assert.deepEqual(locateServer({ configuredPath: missing, workspaceFolders: [path.join(root, "w")], pythonInterpreters: [] }),
      { command: missing, how: "incls.server.path" });
  });

  test("a bare name is looked up on PATH, and kept as it is when PATH has none", () => {
    const found = file("tools/my-incls");
    process.env.PATH = [path.join(root, "empty-path"), path.dirname(found)].join(path.delimiter);
    assert.deepEqual(locateServer({ configuredPath: "my-incls", workspaceFolders: [], pythonInterpreters: [] }),
      { command: found, how: "incls.server.path (my-incls)" });
    assert.deepEqual(locateServer({ configuredPath: "other-incls", workspaceFolders: [], pythonInterpreters: [] }),
      { command: "other-incls", how: "incls.server.path (other-incls)" });
  });

  test("${workspaceFolder} and a relative path with a directory are read in the first workspace folder", () => {
    const w = dir("w");
    assert.equal(locateServer({ configuredPath: "${workspaceFolder}/tools/incls", workspaceFolders: [w, dir("v")],
      pythonInterpreters: [] })?.command, path.join(w, "tools", "incls"));
    assert.equal(locateServer({ configuredPath: "tools/incls", workspaceFolders: [w], pythonInterpreters: [] })?.command,
      path.join(w, "tools", "incls"));
  });

  test("a blank setting is no setting", () => {
    const venv = file("w/.venv/bin/incls");
    assert.equal(locateServer({ configuredPath: "   ", workspaceFolders: [path.join(root, "w")], pythonInterpreters: [] })
      ?.command, venv);
  });
});

describe("expandPath", () => {
  test("expands ~ and ${userHome} to the home directory, trimming the setting", () => {
    const home = os.homedir();
    assert.equal(expandPath("  ~/bin/incls "), path.join(home, "bin", "incls"));
    assert.equal(expandPath("~"), home);
    assert.equal(expandPath("${userHome}/x/incls"), `${home}/x/incls`);
    assert.equal(expandPath("~other/incls"), "~other/incls", "another user's home is not guessed");
  });

  test("leaves ${workspaceFolder} and relative paths alone without a workspace", () => {
    assert.equal(expandPath("${workspaceFolder}/incls"), "${workspaceFolder}/incls");
    assert.equal(expandPath("tools/incls"), "tools/incls");
    assert.equal(expandPath("incls", "/w"), "incls", "a bare name stays a name to look up on PATH");
  });
});

describe("the search without a setting", () => {
  test("a workspace environment: .venv, then venv, then env, first folder first", () => {
    const [a, b] = [dir("a"), dir("b")];
    const env = file("a/env/bin/incls");
    const venvB = file("b/.venv/bin/incls");
    assert.deepEqual(locateServer({ workspaceFolders: [a, b], pythonInterpreters: [] }),
      { command: env, how: "workspace environment env" });
    const venv = file("a/venv/bin/incls");
    assert.equal(locateServer({ workspaceFolders: [a, b], pythonInterpreters: [] })?.command, venv);
    const dotVenv = file("a/.venv/bin/incls");
    assert.equal(locateServer({ workspaceFolders: [a, b], pythonInterpreters: [] })?.command, dotVenv);
    assert.equal(locateServer({ workspaceFolders: [b, a], pythonInterpreters: [] })?.command, venvB);
  });

  test("a file that is not executable, or a directory, is passed over", () => {
    const w = dir("w");
    file("w/.venv/bin/incls", false);
    dir("w/venv/bin/incls");
    const env = file("w/env/bin/incls");
    assert.equal(locateServer({ workspaceFolders: [w], pythonInterpreters: [] })?.command, env);
  });

  test("next to the configured Python interpreter, given as a path or a name on PATH; blank entries skipped", () => {
    file("py/bin/python3");
    const beside = file("py/bin/incls");
    assert.deepEqual(locateServer({ workspaceFolders: [], pythonInterpreters: ["", "  ", path.join(root, "py/bin/python3")] }),
      { command: beside, how: `Python interpreter ${path.join(root, "py/bin/python3")}` });
    process.env.PATH = path.join(root, "py/bin");
    assert.equal(locateServer({ workspaceFolders: [], pythonInterpreters: ["python3"] })?.command, beside);
  });

  test("an interpreter path with ${workspaceFolder} is read in the first folder; one without incls beside it is passed over", () => {
    const w = dir("w");
    file("w/tools/bin/python");
    const beside = file("w/tools/bin/incls");
    file("bare/bin/python");
    assert.equal(locateServer({ workspaceFolders: [w],
      pythonInterpreters: [path.join(root, "bare/bin/python"), "${workspaceFolder}/tools/bin/python"] })?.command, beside);
  });

  test("then $VIRTUAL_ENV, then PATH, then nothing", () => {
    const onThePath = file("path/incls");
    process.env.PATH = path.join(root, "path");
    const active = file("active/bin/incls");
    process.env.VIRTUAL_ENV = path.join(root, "active");
    assert.deepEqual(locateServer({ workspaceFolders: [], pythonInterpreters: [] }), { command: active, how: "$VIRTUAL_ENV" });
    process.env.VIRTUAL_ENV = path.join(root, "no-incls-here");
    assert.deepEqual(locateServer({ workspaceFolders: [], pythonInterpreters: [] }), { command: onThePath, how: "PATH" });
    process.env.PATH = path.join(root, "empty-path");
    assert.equal(locateServer({ workspaceFolders: [dir("w")], pythonInterpreters: ["python3"] }), undefined);
  });

  test("each place wins over the ones after it", () => {
    const w = dir("w");
    const workspace = file("w/.venv/bin/incls");
    file("py/bin/python");
    const beside = file("py/bin/incls");
    const active = file("active/bin/incls");
    file("path/incls");
    process.env.PATH = path.join(root, "path");
    process.env.VIRTUAL_ENV = path.join(root, "active");
    const interpreters = [path.join(root, "py/bin/python")];
    assert.equal(locateServer({ workspaceFolders: [w], pythonInterpreters: interpreters })?.command, workspace);
    assert.equal(locateServer({ workspaceFolders: [], pythonInterpreters: interpreters })?.command, beside);
    assert.equal(locateServer({ workspaceFolders: [], pythonInterpreters: [] })?.command, active);
  });
});

describe("onPath", () => {
  test("takes the first executable match, skipping empty entries, directories and plain files", () => {
    file("a/incls", false);
    dir("b/incls");
    const c = file("c/incls");
    file("d/incls");
    const entries = ["", ...["a", "b", "c", "d"].map((d) => path.join(root, d))];
    assert.equal(onPath("incls", entries.join(path.delimiter)), c);
    assert.equal(onPath("incls", ""), undefined);
  });
});
