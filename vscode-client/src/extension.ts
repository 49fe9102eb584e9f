// incls for VS Code: starts `incls --stdio`, forwards settings, shows the label in the status bar.
import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";
import clientSettings from "./client-settings.json";
import { canInstall, install, installedServer, offerInstall, offerUpdate } from "./install-ui";
import { INSTALL_HINT, Located, locateServer } from "./server";
import type { StatusParams } from "./status";

const SECTION = "incls";
const CLIENT_KEYS = new Set(Object.keys(clientSettings));

let client: LanguageClient | undefined;
let output: vscode.LogOutputChannel;
let statusItem: vscode.StatusBarItem;
const statusByUri = new Map<string, StatusParams>();
let starting: Promise<void> | undefined;
let missingShown = false;
/** The server said its model failed to load (status "error"): a new model path needs a fresh server. */
let modelFailed = false;

function languages(): string[] {
  const langs = vscode.workspace.getConfiguration(SECTION).get<string[]>("languages");
  return langs && langs.length ? langs : ["plaintext", "markdown", "latex", "tex"];
}

function wanted(doc: vscode.TextDocument): boolean {
  return languages().includes(doc.languageId) && (doc.uri.scheme === "file" || doc.uri.scheme === "untitled");
}

/** What this extension reads of its package.json. */
interface PackageManifest {
  contributes?: { configuration?: { properties?: Record<string, unknown> } };
}

/** Every contributed key that is a server setting (not one of the client's own). */
function serverKeys(context: vscode.ExtensionContext): string[] {
  const manifest = context.extension.packageJSON as PackageManifest | undefined;
  const props = manifest?.contributes?.configuration?.properties ?? {};
  return Object.keys(props).filter((k) => !CLIENT_KEYS.has(k) && k.startsWith(SECTION + "."));
}

/** The server's settings as a nested object, e.g. {severity: "information", ...}. */
function serverSettings(context: vscode.ExtensionContext): Record<string, unknown> {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const out: Record<string, unknown> = {};
  for (const key of serverKeys(context)) {
    const rel = key.slice(SECTION.length + 1);
    const value = cfg.get(rel);
    if (value === undefined) continue;
    const parts = rel.split(".");
    let node: Record<string, unknown> = out;
    for (const part of parts.slice(0, -1)) {
      if (typeof node[part] !== "object" || node[part] === null) node[part] = {};
      node = node[part] as Record<string, unknown>;
    }
    node[parts[parts.length - 1]] = value;
  }
  return out;
}

function locate(): Located | undefined {
  const cfg = vscode.workspace.getConfiguration(SECTION);
  const python = vscode.workspace.getConfiguration("python");
  return locateServer({
    configuredPath: cfg.get<string>("server.path"),
    workspaceFolders: (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath),
    pythonInterpreters: [python.get<string>("defaultInterpreterPath") ?? "", python.get<string>("pythonPath") ?? ""],
  });
}

async function startClient(context: vscode.ExtensionContext): Promise<void> {
  if (client) return;
  // A server the user installed wins; the one this extension installs comes last, offered once.
  let found = locate();
  if (!found) {
    found = installedServer(context);
    if (found) void offerUpdate(context);
  }
  if (!found && !missingShown && canInstall(context)) {
    missingShown = true;
    found = await offerInstall(context, output);
  }
  if (!found) {
    output.appendLine(INSTALL_HINT);
    if (!missingShown) {
      missingShown = true;
      const choice = await vscode.window.showErrorMessage(INSTALL_HINT, "Open Settings", "Show Output");
      if (choice === "Open Settings") {
        await vscode.commands.executeCommand("workbench.action.openSettings", "incls.server.path");
      } else if (choice === "Show Output") {
        output.show(true);
      }
    }
    return;
  }
  const args = [...(found.args ?? []),
    ...(vscode.workspace.getConfiguration(SECTION).get<string[]>("server.args") ?? ["--stdio"])];
  output.appendLine(`incls: starting ${found.command} ${args.join(" ")} (found via ${found.how})`);
  const serverOptions: ServerOptions = {
    command: found.command,
    args,
    transport: args.includes("--stdio") ? undefined : TransportKind.stdio,
    options: { cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath },
  };
  const selector = languages().flatMap((language) => [
    { scheme: "file", language },
    { scheme: "untitled", language },
  ]);
  const clientOptions: LanguageClientOptions = {
    documentSelector: selector,
    outputChannel: output,
    traceOutputChannel: output,
    initializationOptions: serverSettings(context),
  };
  const c = new LanguageClient("incls", "incls", serverOptions, clientOptions);
  c.onDidChangeState((e) => {
    if (e.newState === State.Stopped) {
      statusByUri.clear();
      updateStatusBar();
    }
  });
  client = c;
  try {
    await c.start();
  } catch (err) {
    client = undefined;
    output.appendLine(`incls: the server failed to start: ${String(err)}`);
    vscode.window.showErrorMessage(`incls: the server (${found.command}) failed to start. See the output.`, "Show Output")
      .then((choice) => choice && output.show(true));
    return;
  }
  c.onNotification("incls/status", (params: StatusParams) => {
    if (!params || typeof params.uri !== "string") return;
    modelFailed = params.state === "error";
    statusByUri.set(normalizeUri(params.uri), params);
    updateStatusBar();
  });
}

async function stopClient(): Promise<void> {
  const c = client;
  client = undefined;
  modelFailed = false;
  statusByUri.clear();
  updateStatusBar();
  if (c) {
    try {
      await c.stop(5000);
    } catch (err) {
      output.appendLine(`incls: stopping the server: ${String(err)}`);
    }
  }
}

function normalizeUri(uri: string): string {
  try {
    return vscode.Uri.parse(uri).toString();
  } catch {
    return uri;
  }
}

function percent(p: number | undefined): string {
  return p === undefined ? "" : `${Math.round(p * 100)}%`;
}

function updateStatusBar(): void {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !wanted(editor.document)) {
    statusItem.hide();
    return;
  }
  const status = statusByUri.get(editor.document.uri.toString());
  if (!client) {
    statusItem.text = "$(circle-slash) incls";
    statusItem.tooltip = "incls: the server is not running. Click to show the output.";
  } else if (!status || !status.label) {
    // States without a result: loading (the model), error, disabled, skipped (e.g. too large).
    const state = status?.state;
    const icon = !state || state === "loading" ? "$(loading~spin)"
      : state === "error" ? "$(error)"
      : state === "disabled" ? "$(circle-slash)"
      : "$(info)";
    statusItem.text = `${icon} incls${state ? ": " + state : ""}`;
    statusItem.tooltip = status?.message || (state ? `incls: ${state}` : "incls: classifying…");
  } else {
    const probs = status.probabilities ?? {};
    const tone = status.tone ?? status.label;
    const top: number | undefined = status.confidence ?? probs[tone]; // a class may be missing
    statusItem.text = `$(symbol-class) incls: ${tone}${top !== undefined ? " " + percent(top) : ""}`;
    const lines = Object.entries(probs)
      .sort((a, b) => b[1] - a[1])
      .map(([label, p]) => `${label}: ${p.toFixed(3)}`);
    if (status.latencyMs != null) lines.push(`latency: ${status.latencyMs.toFixed(1)} ms`);
    if (status.opsSaved != null) lines.push(`operations saved: ${formatSaved(status.opsSaved)}`);
    statusItem.tooltip = `incls: reads ${tone}\n${lines.join("\n")}`;
  }
  statusItem.show();
}

function formatSaved(x: number): string {
  // A ratio (e.g. 14.2, "x fewer operations") or a fraction (0..1).
  return x > 1 ? `${x.toFixed(1)}x` : `${(x * 100).toFixed(1)}%`;
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("incls", { log: true });
  statusItem = vscode.window.createStatusBarItem("incls.status", vscode.StatusBarAlignment.Right, 100);
  statusItem.name = "incls";
  statusItem.command = "incls.showOutput";
  context.subscriptions.push(output, statusItem);

  const ensureStarted = async () => {
    if (client || starting) return starting;
    if (!vscode.workspace.textDocuments.some(wanted)) return;
    starting = startClient(context).finally(() => (starting = undefined));
    return starting;
  };

  context.subscriptions.push(
    vscode.commands.registerCommand("incls.restartServer", async () => {
      output.appendLine("incls: restarting the server");
      await (starting ?? Promise.resolve());
      await stopClient();
      missingShown = false;
      starting = startClient(context).finally(() => (starting = undefined));
      await starting;
    }),
    vscode.commands.registerCommand("incls.reinstallServer", async () => {
      // The old install stays in place until the new one has passed every step.
      await (starting ?? Promise.resolve());
      await stopClient();
      starting = install(context, output)
        .then(() => {
          missingShown = true; // a failed install has said so already
          return startClient(context);
        })
        .finally(() => (starting = undefined));
      await starting;
    }),
    vscode.commands.registerCommand("incls.showOutput", () => output.show(true)),
    vscode.workspace.onDidOpenTextDocument(() => void ensureStarted()),
    vscode.window.onDidChangeActiveTextEditor(() => updateStatusBar()),
    vscode.workspace.onDidCloseTextDocument((doc) => statusByUri.delete(doc.uri.toString())),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration(SECTION) && !e.affectsConfiguration("python.defaultInterpreterPath")) return;
      // A new incls.modelPath is reloaded by a running server; a stopped one, or one whose
      // model failed to load, is restarted instead.
      const restart =
        e.affectsConfiguration("incls.server") ||
        e.affectsConfiguration("incls.languages") ||
        e.affectsConfiguration("python.defaultInterpreterPath") ||
        (e.affectsConfiguration("incls.modelPath") && (!client || modelFailed));
      if (restart) {
        await vscode.commands.executeCommand("incls.restartServer");
      } else if (client) {
        await client.sendNotification("workspace/didChangeConfiguration", {
          settings: { [SECTION]: serverSettings(context) },
        });
      }
      updateStatusBar();
    }),
  );
  await ensureStarted();
  updateStatusBar();
}

export async function deactivate(): Promise<void> {
  await stopClient();
}
