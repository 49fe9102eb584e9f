// The extension's side of installing its own server: the offer, the progress notification,
// the error that says what failed and how to retry. The work itself is in install.ts.
import * as vscode from "vscode";
import { bundledWheel, fileHash, installServer, InstallError, managedServer, RETRY, serverCommand } from "./install";
import { Located } from "./server";

export const INSTALL = "Install the incls server";
const DEFAULT_TORCH_INDEX = "https://download.pytorch.org/whl/cpu";

/** The server a previous install put in the extension's global storage, if any. */
export function installedServer(context: vscode.ExtensionContext): Located | undefined {
  const managed = managedServer(context.globalStorageUri.fsPath);
  if (!managed) return undefined;
  const { command, args } = serverCommand(managed);
  return { command, args, how: `the server installed by the extension (${managed.dir})` };
}

/** If the installed server came from another wheel than the one this extension ships, offer to update it. */
export async function offerUpdate(context: vscode.ExtensionContext): Promise<void> {
  const managed = managedServer(context.globalStorageUri.fsPath);
  const wheel = bundledWheel(context.extensionPath);
  if (!managed || !wheel || (await fileHash(wheel)) === managed.sha256) return;
  const choice = await vscode.window.showInformationMessage(
    "incls: this version of the extension ships another incls server than the one installed. Update it?", "Update");
  if (choice === "Update") await vscode.commands.executeCommand("incls.reinstallServer");
}

/** Whether this build of the extension ships a wheel to install. */
export function canInstall(context: vscode.ExtensionContext): boolean {
  return bundledWheel(context.extensionPath) !== undefined;
}

/** Ask once whether to install the server; on yes, install it. Returns the server, or undefined. */
export async function offerInstall(context: vscode.ExtensionContext, output: vscode.LogOutputChannel)
  : Promise<Located | undefined> {
  const message = "incls: the language server is not installed. Install it now? It goes into its own Python " +
    "environment (Python 3.11 or newer is needed; PyTorch is downloaded, a few hundred MB). Or set " +
    "incls.server.path to an incls you installed.";
  output.appendLine(message);
  const choice = await vscode.window.showErrorMessage(message, INSTALL, "Open Settings", "Show Output");
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "incls.server");
  } else if (choice === "Show Output") {
    output.show(true);
  }
  return choice === INSTALL ? install(context, output) : undefined;
}

/** Install (or reinstall) the bundled server with a progress notification; undefined if it failed. */
export async function install(context: vscode.ExtensionContext, output: vscode.LogOutputChannel)
  : Promise<Located | undefined> {
  const wheel = bundledWheel(context.extensionPath);
  if (!wheel) {
    vscode.window.showErrorMessage("incls: this build of the extension ships no server wheel to install " +
      "(build the .vsix with `npm run package`).");
    return undefined;
  }
  const cfg = vscode.workspace.getConfiguration("incls");
  const python = vscode.workspace.getConfiguration("python");
  const began = Date.now();
  output.appendLine(`incls: installing the server from ${wheel} into ${context.globalStorageUri.fsPath}`);
  try {
    await vscode.window.withProgress({
      location: vscode.ProgressLocation.Notification,
      title: "incls: installing the server",
      cancellable: true,
    }, async (progress, token) => {
      const abort = new AbortController();
      token.onCancellationRequested(() => abort.abort());
      await installServer({
        storageDir: context.globalStorageUri.fsPath,
        wheel,
        pythons: [cfg.get<string>("server.python") ?? "", python.get<string>("defaultInterpreterPath") ?? ""],
        torchIndex: cfg.get<string>("server.torchIndex") ?? DEFAULT_TORCH_INDEX,
        report: { log: (line) => output.appendLine(line), progress: (m) => progress.report({ message: m }) },
        signal: abort.signal,
      });
    });
  } catch (err) {
    const failure = err instanceof InstallError ? err
      : new InstallError("unexpected", `Installing the server failed: ${String(err)}.`, `see the output, then ${RETRY}.`);
    output.appendLine(`incls: installing the server failed (${failure.step}): ${failure.message}`);
    if (failure.step !== "cancelled") {
      vscode.window.showErrorMessage(`incls: ${failure.problem} Fix: ${failure.fix}`, "Retry", "Show Output")
        .then((choice) => {
          if (choice === "Retry") void vscode.commands.executeCommand("incls.reinstallServer");
          else if (choice === "Show Output") output.show(true);
        });
    }
    return undefined;
  }
  output.appendLine(`incls: server installed in ${((Date.now() - began) / 1000).toFixed(0)} s`);
  return installedServer(context);
}
