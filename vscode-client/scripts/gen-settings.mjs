#!/usr/bin/env node
// Generate `contributes.configuration` in package.json from the server's settings schema
// (the single source of truth: `python -m incls.lsp.settings --json`), plus the client's own
// settings (src/client-settings.json).
//
//   node scripts/gen-settings.mjs            rewrite package.json
//   node scripts/gen-settings.mjs --check    exit 1 if package.json is out of date
//   node scripts/gen-settings.mjs --schema F read the server schema from F instead
//
// The Python interpreter: $INCLS_PYTHON, else `python3` (run in the repository root).
import { execFileSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(dirname(fileURLToPath(import.meta.url)));
const args = process.argv.slice(2);
const check = args.includes("--check");
const schemaAt = args.indexOf("--schema");

// The JSON-schema keywords VS Code's settings understand.
const KEYWORDS = [
  "type", "default", "description", "markdownDescription", "enum", "enumDescriptions",
  "markdownEnumDescriptions", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
  "items", "properties", "additionalProperties", "pattern", "patternErrorMessage",
  "minItems", "maxItems", "uniqueItems", "format", "scope", "order", "deprecationMessage",
  "markdownDeprecationMessage", "editPresentation", "anyOf", "oneOf",
];

function serverSchema() {
  const text = schemaAt >= 0
    ? readFileSync(args[schemaAt + 1], "utf8")
    : execFileSync(process.env.INCLS_PYTHON || "python3", ["-m", "incls.lsp.settings", "--json"], {
        encoding: "utf8",
        cwd: dirname(here),
        stdio: ["ignore", "pipe", "inherit"],
      });
  return JSON.parse(text);
}

/** Server schema -> {"incls.key": property}. Accepts a JSON schema (with `properties`) or a
 *  VS Code `configuration` block; keys with or without the `incls.` prefix. */
export function toContributed(schema) {
  const props = schema.properties ?? schema.contributes?.configuration?.properties ?? schema;
  const out = {};
  for (const [rawKey, prop] of Object.entries(props)) {
    const key = rawKey.startsWith("incls.") ? rawKey : `incls.${rawKey}`;
    const p = {};
    for (const k of KEYWORDS) if (prop[k] !== undefined) p[k] = prop[k];
    out[key] = p;
  }
  return out;
}

const pkgPath = join(here, "package.json");
const pkgText = readFileSync(pkgPath, "utf8");
const pkg = JSON.parse(pkgText);
const client = JSON.parse(readFileSync(join(here, "src", "client-settings.json"), "utf8"));
const server = toContributed(serverSchema());
for (const key of Object.keys(client)) {
  if (key in server) throw new Error(`${key} is both a server and a client setting`);
}
const properties = {};
for (const key of Object.keys(server).sort()) properties[key] = server[key];
for (const key of Object.keys(client)) properties[key] = client[key];
pkg.contributes.configuration = { title: "incls", properties };
const next = JSON.stringify(pkg, null, 2) + "\n";
if (check) {
  if (next !== pkgText) {
    console.error("package.json's contributes.configuration differs from the server's settings: run `npm run settings`");
    process.exit(1);
  }
  console.log("settings in sync");
} else if (next !== pkgText) {
  writeFileSync(pkgPath, next);
  console.log(`wrote ${Object.keys(properties).length} settings to package.json`);
}
