#!/usr/bin/env node
// Build the incls wheel from the repository root into server/, where the .vsix picks it up:
// the extension installs its own server from it ("Install the incls server").
//
// `python -m build --wheel` when the `build` package is there, else `python -m pip wheel --no-deps`.
// The interpreter: $INCLS_PYTHON, else `python3`.
import { spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const root = dirname(here);
const python = process.env.INCLS_PYTHON || "python3";
const out = join(here, "server");

rmSync(out, { recursive: true, force: true });
mkdirSync(out);
// setuptools reuses build/lib between builds, so a module deleted since would ship again
rmSync(join(root, "build"), { recursive: true, force: true });
const hasBuild = spawnSync(python, ["-c", "import build"], { stdio: "ignore" }).status === 0;
const args = hasBuild
  ? ["-m", "build", "--wheel", "--outdir", out, root]
  : ["-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q", "-w", out, root];
console.log(`building the incls wheel: ${python} ${args.join(" ")}`);
const built = spawnSync(python, args, { stdio: "inherit", cwd: root });
if (built.error || built.status !== 0) {
  console.error(`building the wheel failed (${built.error ?? `exit ${built.status}`}); set INCLS_PYTHON to a Python ` +
    "3.11+ with pip");
  process.exit(1);
}
const wheels = readdirSync(out).filter((f) => /^incls-.*\.whl$/.test(f));
if (wheels.length !== 1) {
  console.error(`expected one incls wheel in ${out}, found: ${readdirSync(out).join(", ") || "nothing"}`);
  process.exit(1);
}
console.log(`server/${wheels[0]} (${(statSync(join(out, wheels[0])).size / 1e6).toFixed(1)} MB)`);
