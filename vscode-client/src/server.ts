// Finding the `incls` executable: the setting, then a Python environment, then PATH.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface Located {
  command: string;
  /** Arguments before the configured ones (the installed server runs as `python -m incls.cli`). */
  args?: string[];
  /** Where it was found, for the output channel. */
  how: string;
}

const EXE = process.platform === "win32" ? "incls.exe" : "incls";
const BIN = process.platform === "win32" ? "Scripts" : "bin";

function isExecutable(file: string): boolean {
  try {
    const st = fs.statSync(file);
    if (!st.isFile()) return false;
    if (process.platform === "win32") return true;
    fs.accessSync(file, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Expand `~` and `${workspaceFolder}` / `${userHome}` in a configured path. */
export function expandPath(p: string, workspaceFolder?: string): string {
  let out = p.trim();
  if (out === "~" || out.startsWith("~/")) out = path.join(os.homedir(), out.slice(1));
  out = out.replace(/\$\{userHome\}/g, os.homedir());
  if (workspaceFolder) {
    out = out.replace(/\$\{workspaceFolder\}/g, workspaceFolder);
    if (!path.isAbsolute(out) && out.includes(path.sep)) out = path.join(workspaceFolder, out);
  }
  return out;
}

/** The `incls` next to a Python interpreter (same bin/ or Scripts/ directory). */
function besideInterpreter(python: string): string | undefined {
  const candidate = path.join(path.dirname(python), EXE);
  return isExecutable(candidate) ? candidate : undefined;
}

/** Look `name` up on PATH. */
export function onPath(name: string, envPath = process.env.PATH ?? ""): string | undefined {
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

export interface SearchInput {
  /** `incls.server.path`, if set. */
  configuredPath?: string;
  /** Workspace folder paths, in order. */
  workspaceFolders: string[];
  /** `python.defaultInterpreterPath` (and similar) if set. */
  pythonInterpreters: string[];
}

/**
 * Find the server. Order: `incls.server.path`; `incls` in a virtual environment of the
 * workspace (.venv, venv, env); next to the configured Python interpreter; `$VIRTUAL_ENV`;
 * `incls` on PATH. Returns undefined if none is found. A configured path that does not
 * exist is returned anyway (the error then names it).
 */
export function locateServer(input: SearchInput): Located | undefined {
  const first = input.workspaceFolders[0];
  if (input.configuredPath && input.configuredPath.trim()) {
    const p = expandPath(input.configuredPath, first);
    if (!p.includes(path.sep)) {
      const found = onPath(p);
      return { command: found ?? p, how: `incls.server.path (${p})` };
    }
    return { command: p, how: "incls.server.path" };
  }
  for (const folder of input.workspaceFolders) {
    for (const venv of [".venv", "venv", "env"]) {
      const candidate = path.join(folder, venv, BIN, EXE);
      if (isExecutable(candidate)) return { command: candidate, how: `workspace environment ${venv}` };
    }
  }
  for (const raw of input.pythonInterpreters) {
    if (!raw || !raw.trim()) continue;
    let python = expandPath(raw, first);
    if (!python.includes(path.sep)) python = onPath(python) ?? python;
    const found = besideInterpreter(python);
    if (found) return { command: found, how: `Python interpreter ${python}` };
  }
  const venv = process.env.VIRTUAL_ENV;
  if (venv) {
    const candidate = path.join(venv, BIN, EXE);
    if (isExecutable(candidate)) return { command: candidate, how: "$VIRTUAL_ENV" };
  }
  const found = onPath(EXE);
  if (found) return { command: found, how: "PATH" };
  return undefined;
}

export const INSTALL_HINT =
  "incls: the language server was not found. Install it: `pip install <the incls wheel>`, then " +
  "`incls setup` (see the README), or set `incls.server.path` to the `incls` executable.";
