/**
 * The nixlens VS Code extension: starts `nixlens serve` as a language
 * server for Nix files over stdio and restarts it on demand.
 */

import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions, TransportKind } from "vscode-languageclient/node";

import { findExecutable, initializationOptions, notFoundMessage, readSettings, serverCommand } from "./config";

let client: LanguageClient | undefined;
let output: vscode.OutputChannel | undefined;

/** Called by VS Code when a Nix file is opened or a nixlens command runs. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("nixlens");
  context.subscriptions.push(output);
  context.subscriptions.push(
    vscode.commands.registerCommand("nixlens.restartServer", async () => {
      await stopServer();
      await startServer();
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      // Other settings reach the running server through workspace/configuration.
      if (event.affectsConfiguration("nixlens.server")) {
        await stopServer();
        await startServer();
      }
    }),
  );
  await startServer();
}

/** Called by VS Code on shutdown. */
export async function deactivate(): Promise<void> {
  await stopServer();
}

async function startServer(): Promise<void> {
  const channel = output ?? vscode.window.createOutputChannel("nixlens");
  const config = vscode.workspace.getConfiguration("nixlens");
  const { settings, problems } = readSettings((key) => config.get(key));
  for (const problem of problems) {
    channel.appendLine(problem);
    void vscode.window.showWarningMessage(problem);
  }

  const { command, args } = serverCommand(settings);
  if (findExecutable(command) === undefined) {
    const message = notFoundMessage(command);
    channel.appendLine(message);
    const choice = await vscode.window.showErrorMessage(message, "Open Settings");
    if (choice === "Open Settings") {
      await vscode.commands.executeCommand("workbench.action.openSettings", "nixlens.server.path");
    }
    return;
  }

  const serverOptions: ServerOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "nix" },
      { scheme: "untitled", language: "nix" },
    ],
    initializationOptions: initializationOptions(settings),
    // Sends didChangeConfiguration for `nixlens` and lets the server pull the
    // section with workspace/configuration.
    synchronize: { configurationSection: "nixlens" },
    outputChannel: channel,
    traceOutputChannel: channel,
  };

  channel.appendLine(`Starting ${command} ${args.join(" ")}`);
  client = new LanguageClient("nixlens", "nixlens", serverOptions, clientOptions);
  try {
    await client.start();
  } catch (error) {
    const message = `nixlens: the language server failed to start: ${String(error)}`;
    channel.appendLine(message);
    void vscode.window.showErrorMessage(message);
    client = undefined;
  }
}

async function stopServer(): Promise<void> {
  const running = client;
  client = undefined;
  if (running !== undefined) {
    try {
      await running.stop();
    } catch (error) {
      output?.appendLine(`Stopping the server failed: ${String(error)}`);
    }
  }
}
