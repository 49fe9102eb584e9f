// Installing the server this extension ships: find a Python >= 3.11, create a virtual
// environment in the extension's global storage, pip-install the bundled incls wheel, run
// `incls setup`. Everything happens in a temporary directory that is renamed into place only
// when every step has passed, so a failed or cancelled attempt leaves nothing behind that the
// next start could mistake for a server. No VS Code API here: extension.ts wires it to the UI.
import { spawn } from "child_process";
import { createHash } from "crypto";
import * as fs from "fs";
import * as https from "https";
import * as os from "os";
import * as path from "path";

const WIN = process.platform === "win32";
const BIN = WIN ? "Scripts" : "bin";
const PYTHON_EXE = WIN ? "python.exe" : "python";
const SERVER_DIR = "server";
const STAMP = "incls-install.json";
const MIN_PYTHON = [3, 11];
const TAIL_LINES = 40;
export const RETRY = 'run "incls: Reinstall Server"';

/** A failed step: what failed, how to fix it, and the tail of the output it came with. */
export class InstallError extends Error {
  constructor(
    readonly step: string,
    readonly problem: string,
    readonly fix: string,
    readonly detail: string[] = [],
  ) {
    super(`${problem} Fix: ${fix}`);
  }
}

export interface Reporter {
  /** A line for the output channel. */
  log(line: string): void;
  /** What is happening now, for the progress notification. */
  progress(message: string): void;
}

export interface InstallOptions {
  /** The extension's global storage directory. */
  storageDir: string;
  /** The incls wheel shipped inside the .vsix. */
  wheel: string;
  /** Interpreters to try first (the user's settings), before python3.13 ... python3 on PATH. */
  pythons: string[];
  /** PyTorch's CPU wheel index, passed to pip on Linux when it answers; "" leaves it to pip's configuration. */
  torchIndex: string;
  report: Reporter;
  signal?: AbortSignal;
}

/** An installed server: run `python -I -m incls.cli ...` (isolated: neither the working directory nor
 * PYTHONPATH can put another incls first). */
export interface Managed {
  python: string;
  dir: string;
  wheel: string;
  /** sha256 of the wheel it was installed from. */
  sha256: string;
}

/** sha256 of a file, hex (to tell whether the shipped wheel is the one installed). */
export async function fileHash(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/** The wheel inside the extension (server/incls-*.whl), if this build ships one. */
export function bundledWheel(extensionDir: string): string | undefined {
  const dir = path.join(extensionDir, SERVER_DIR);
  try {
    const found = fs.readdirSync(dir).filter((f) => /^incls-.*\.whl$/.test(f)).sort();
    return found.length ? path.join(dir, found[found.length - 1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The server a previous install left in `storageDir`, if it completed (its stamp is written last). */
export function managedServer(storageDir: string): Managed | undefined {
  const dir = path.join(storageDir, SERVER_DIR);
  const python = path.join(dir, BIN, PYTHON_EXE);
  try {
    const stamp = JSON.parse(fs.readFileSync(path.join(dir, STAMP), "utf8")) as { wheel?: unknown; sha256?: unknown };
    fs.accessSync(python, fs.constants.X_OK);
    const text = (value: unknown) => (typeof value === "string" ? value : "");
    return { python, dir, wheel: text(stamp.wheel), sha256: text(stamp.sha256) };
  } catch {
    return undefined;
  }
}

/** The command line that serves LSP from an installed server. */
export function serverCommand(managed: Managed): { command: string; args: string[] } {
  return { command: managed.python, args: ["-I", "-m", "incls.cli"] };
}

interface Ran {
  code: number;
  tail: string[];
}

/** The environment for child processes: nothing that would point Python at another installation. */
function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, PIP_DISABLE_PIP_VERSION_CHECK: "1", PYTHONUNBUFFERED: "1" };
  delete env.PYTHONPATH;
  delete env.PYTHONHOME;
  delete env.VIRTUAL_ENV;
  return env;
}

/** Run a command, relaying its output line by line; resolves with its exit code (-1: it could not start). */
function run(command: string, args: string[], report: Reporter, signal?: AbortSignal,
  onLine?: (line: string) => void, quiet = false): Promise<Ran> {
  const cwd = os.tmpdir(); // never a directory whose own `incls` could shadow the installed one
  return new Promise((resolve) => {
    const tail: string[] = [];
    let settled = false;
    const done = (code: number) => {
      if (!settled) {
        settled = true;
        resolve({ code, tail });
      }
    };
    if (!quiet) report.log(`$ ${[command, ...args].join(" ")}`);
    const child = spawn(command, args, { env: childEnv(), stdio: ["ignore", "pipe", "pipe"], signal, cwd });
    let pending = "";
    const take = (chunk: Buffer) => {
      pending += chunk.toString("utf8");
      const lines = pending.split(/\r?\n|\r/);
      pending = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.trim()) continue;
        tail.push(line);
        if (tail.length > TAIL_LINES) tail.shift();
        if (!quiet) report.log(line);
        onLine?.(line);
      }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.on("error", (err) => {
      tail.push(String(err.message ?? err));
      done(-1);
    });
    child.on("close", (code) => {
      if (pending.trim()) take(Buffer.from("\n"));
      done(code ?? -1);
    });
  });
}

function cancelled(signal?: AbortSignal): void {
  if (signal?.aborted) {
    throw new InstallError("cancelled", "The installation was cancelled; nothing was installed.",
      `${RETRY} to install it.`);
  }
}

/** Candidate interpreters: the configured ones, then the usual names on PATH. */
export function pythonCandidates(configured: string[]): string[] {
  const usual = WIN ? ["py", "python"] : ["python3.13", "python3.12", "python3.11", "python3", "python"];
  return [...configured.filter((p) => p && p.trim()).map((p) => p.trim()), ...usual];
}

const PROBE = "import sys, venv, ensurepip; print('%d.%d' % sys.version_info[:2]); print(sys.executable)";

/** The first candidate that is Python >= 3.11 with venv and ensurepip; its absolute path. */
export async function findPython(candidates: string[], report: Reporter, signal?: AbortSignal): Promise<string> {
  const seen: string[] = [];
  for (const candidate of candidates) {
    const ran = await run(candidate, [...(WIN && candidate === "py" ? ["-3"] : []), "-c", PROBE], report, signal,
      undefined, true);
    cancelled(signal);
    if (ran.code === -1) continue; // not installed under this name
    const [version, executable] = ran.tail.slice(-2);
    const match = ran.code === 0 ? /^(\d+)\.(\d+)$/.exec(version ?? "") : null;
    if (!match) {
      const why = ran.tail.some((l) => /ensurepip|venv/.test(l)) ? "has no venv module" : "does not run";
      seen.push(`${candidate} ${why}`);
      continue;
    }
    const [major, minor] = [Number(match[1]), Number(match[2])];
    if (major > MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor >= MIN_PYTHON[1])) {
      report.log(`incls: using Python ${version} at ${executable}`);
      return executable;
    }
    seen.push(`${candidate} is Python ${version}`);
  }
  throw new InstallError("python",
    `No Python ${MIN_PYTHON.join(".")} or newer with the venv module was found` +
      (seen.length ? ` (${seen.join("; ")}).` : " (none on PATH)."),
    "install Python 3.11 or newer (Debian/Ubuntu: sudo apt-get install python3 python3-venv; " +
      "others: https://www.python.org/downloads/), or point the setting incls.server.python at one, then " +
      `${RETRY}.`);
}

/** Whether PyTorch's CPU index answers within a few seconds (an unreachable index makes pip retry for minutes). */
export function reachable(url: string, timeoutMs = 5000): Promise<boolean> {
  return new Promise((resolve) => {
    try {
      const req = https.get(url.replace(/\/?$/, "/torch/"), { timeout: timeoutMs }, (res) => {
        res.resume();
        resolve((res.statusCode ?? 500) < 400);
      });
      req.on("timeout", () => req.destroy(new Error("timeout")));
      req.on("error", () => resolve(false));
    } catch {
      resolve(false);
    }
  });
}

const OFFLINE = /NameResolutionError|Failed to establish a new connection|Could not fetch URL|ConnectTimeout|Network is unreachable|ProxyError|Temporary failure in name resolution/;

function lastError(tail: string[]): string {
  return [...tail].reverse().find((l) => /^ERROR|error:/i.test(l)) ?? tail[tail.length - 1] ?? "";
}

/** Remove what earlier attempts left (a crash mid-install, an interrupted swap). */
async function removeLeftovers(storageDir: string): Promise<void> {
  let entries: string[];
  try {
    entries = await fs.promises.readdir(storageDir);
  } catch {
    return;
  }
  await Promise.all(entries.filter((e) => /^server\.(tmp|old)-/.test(e))
    .map((e) => fs.promises.rm(path.join(storageDir, e), { recursive: true, force: true })));
}

/** Install the bundled server into `storageDir/server`; throws InstallError, leaving the old one (if any) intact. */
export async function installServer(opts: InstallOptions): Promise<Managed> {
  const { report, signal } = opts;
  await fs.promises.mkdir(opts.storageDir, { recursive: true });
  await removeLeftovers(opts.storageDir);
  report.progress("looking for Python 3.11 or newer");
  const python = await findPython(pythonCandidates(opts.pythons), report, signal);
  const tmp = path.join(opts.storageDir, `server.tmp-${process.pid}-${Date.now()}`);
  try {
    report.progress("creating a virtual environment");
    const venv = await run(python, ["-m", "venv", tmp], report, signal);
    cancelled(signal);
    if (venv.code !== 0) {
      throw new InstallError("venv", `Creating a virtual environment with ${python} failed (${lastError(venv.tail)}).`,
        `install the venv module (Debian/Ubuntu: sudo apt-get install python3-venv), then ${RETRY}.`, venv.tail);
    }
    const venvPython = path.join(tmp, BIN, PYTHON_EXE);

    const pipArgs = ["-m", "pip", "install", "--progress-bar", "off", opts.wheel];
    if (process.platform === "linux" && opts.torchIndex) {
      report.progress("checking PyTorch's CPU wheel index");
      if (await reachable(opts.torchIndex)) {
        pipArgs.push("--extra-index-url", opts.torchIndex);
      } else {
        report.log(`incls: ${opts.torchIndex} does not answer: pip's own configuration decides which PyTorch build ` +
          "is installed (incls setup warns if it is a CUDA build on a machine without a GPU)");
      }
    }
    report.progress("installing incls and its dependencies (PyTorch and transformers: a few hundred MB)");
    const pip = await run(venvPython, ["-I", ...pipArgs], report, signal);
    cancelled(signal);
    if (pip.code !== 0) {
      const offline = pip.tail.some((l) => OFFLINE.test(l));
      throw new InstallError("pip",
        offline ? "pip could not reach the package index to download incls's dependencies."
          : `pip could not install ${path.basename(opts.wheel)} (${lastError(pip.tail)}).`,
        (offline ? "check the network connection (a proxy goes in pip's configuration: pip config set global.proxy URL)"
          : "see the output for pip's message") + `, then ${RETRY}.`, pip.tail);
    }

    report.progress("incls setup: base model and kernels");
    const setup = await run(venvPython, ["-I", "-m", "incls.cli", "setup"], report, signal, (line) => {
      const m = /^incls setup \[(\d+)\/(\d+)\] (.*)$/.exec(line);
      if (m) report.progress(`incls setup ${m[1]}/${m[2]}: ${m[3]}`);
    });
    cancelled(signal);
    if (setup.code !== 0) {
      // "incls setup: failed at step i/n (what): problem[: path] [Fix: ...]", the fix maybe on the next line
      const at = setup.tail.findIndex((l) => l.startsWith("incls setup: failed"));
      const said = at >= 0 ? setup.tail.slice(at).filter((l) => !l.startsWith("incls setup: nothing")).join(" ")
        : lastError(setup.tail);
      const [problem, fix] = said.replace(/^incls setup: /, "incls setup ").split(/\s*\b[Ff]ix: /, 2);
      throw new InstallError("setup", problem.replace(/\.?$/, "."),
        `${fix ? fix.replace(/\.?$/, "") : "see the output"}; then ${RETRY}.`, setup.tail);
    }

    await fs.promises.writeFile(path.join(tmp, STAMP), JSON.stringify({
      wheel: path.basename(opts.wheel), sha256: await fileHash(opts.wheel), python,
      installed: new Date().toISOString(),
    }, null, 2));
    const final = path.join(opts.storageDir, SERVER_DIR);
    const old = path.join(opts.storageDir, `server.old-${Date.now()}`);
    if (fs.existsSync(final)) await fs.promises.rename(final, old);
    await fs.promises.rename(tmp, final);
    await fs.promises.rm(old, { recursive: true, force: true });
    const managed = managedServer(opts.storageDir);
    if (!managed) throw new InstallError("swap", `The installed server in ${final} cannot be read back.`, RETRY + ".");
    report.log(`incls: the server is installed in ${final}`);
    return managed;
  } finally {
    await fs.promises.rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  }
}
