/**
 * The nixlens VS Code extension: starts `nixlens serve` as a language
 * server for Nix files over stdio, shows its state in the status bar and
 * restarts it on demand.  In an untrusted (restricted) workspace it tells the
 * server `trusted: false`, and the server runs static features only.
 */

import * as vscode from "vscode";
import {
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  TransportKind,
} from "vscode-languageclient/node";

import { findExecutable, initializationOptions, notFoundMessage, readSettings, serverCommand } from "./config";
import { isEvaluating, ServerState, statusView } from "./status";

let client: LanguageClient | undefined;
let output: vscode.OutputChannel | undefined;
let status: vscode.StatusBarItem | undefined;
// Whether the last pulled diagnostics of a document were still evaluating.
const evaluating = new Map<string, boolean>();
// Set while we stop the client ourselves, so that stopping is not an error.
let stopping = false;

/** Called by VS Code when a Nix file or a flake is present, or a nixlens command runs. */
export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("nixlens");
  status = vscode.window.createStatusBarItem("nixlens.status", vscode.StatusBarAlignment.Left, 0);
  status.name = "nixlens";
  status.command = "nixlens.showOutput";
  context.subscriptions.push(output, status);
  context.subscriptions.push(
    vscode.commands.registerCommand("nixlens.restartServer", async () => {
      await stopServer();
      await startServer();
    }),
    vscode.commands.registerCommand("nixlens.showOutput", () => output?.show(true)),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      // Other settings reach the running server through workspace/configuration.
      if (event.affectsConfiguration("nixlens.server")) {
        await stopServer();
        await startServer();
      }
    }),
    // Trust is read by the server at initialize: start it again with evaluation.
    vscode.workspace.onDidGrantWorkspaceTrust(async () => {
      output?.appendLine("Workspace trusted: restarting the server with evaluation on.");
      await stopServer();
      await startServer();
    }),
    vscode.workspace.onDidCloseTextDocument((document) => {
      evaluating.delete(document.uri.toString());
      refreshStatus();
    }),
  );
  await startServer();
}

/** Called by VS Code on shutdown. */
export async function deactivate(): Promise<void> {
  await stopServer();
}

function showStatus(state: ServerState, detail?: string): void {
  if (status === undefined) {
    return;
  }
  const version = client?.initializeResult?.serverInfo?.version;
  const view = statusView(state, version, vscode.workspace.isTrusted, detail);
  status.text = view.text;
  status.tooltip = view.tooltip;
  status.accessibilityInformation = { label: view.label };
  status.backgroundColor = view.error ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
  status.show();
}

/** Ready or evaluating, from the last pulled diagnostics of the open documents. */
function refreshStatus(): void {
  if (client?.state === State.Running) {
    showStatus([...evaluating.values()].some(Boolean) ? "evaluating" : "ready");
  }
}

async function startServer(): Promise<void> {
  const channel = output ?? vscode.window.createOutputChannel("nixlens");
  const config = vscode.workspace.getConfiguration("nixlens");
  const { settings, problems } = readSettings((key) => config.get(key));
  for (const problem of problems) {
    channel.appendLine(problem);
    void vscode.window.showWarningMessage(problem);
  }
  evaluating.clear();
  showStatus("starting");

  const { command, args } = serverCommand(settings);
  if (findExecutable(command) === undefined) {
    const message = notFoundMessage(command);
    channel.appendLine(message);
    showStatus("error", `"${command}" was not found.`);
    void vscode.window.showErrorMessage(message, "Open Settings").then(async (choice) => {
      if (choice === "Open Settings") {
        await vscode.commands.executeCommand("workbench.action.openSettings", "nixlens.server.path");
      }
    });
    return;
  }

  const trusted = vscode.workspace.isTrusted;
  const serverOptions: ServerOptions = { command, args, transport: TransportKind.stdio };
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "nix" },
      { scheme: "untitled", language: "nix" },
    ],
    initializationOptions: initializationOptions(settings, trusted),
    // Sends didChangeConfiguration for `nixlens` and lets the server pull the
    // section with workspace/configuration.
    synchronize: { configurationSection: "nixlens" },
    outputChannel: channel,
    traceOutputChannel: channel,
    middleware: {
      // The server pushes diagnostics and answers pulls; VS Code would show
      // both copies, so the pushed ones are dropped when pulls are on.
      handleDiagnostics: (uri, diagnostics, next) => {
        if (client?.initializeResult?.capabilities.diagnosticProvider === undefined) {
          next(uri, diagnostics);
        }
      },
      // The server marks a report whose evaluation is still running; it asks
      // for a new pull (workspace/diagnostic/refresh) when it ends.
      provideDiagnostics: async (document, previousResultId, token, next) => {
        const report = await next(document, previousResultId, token);
        const uri = document instanceof vscode.Uri ? document : document.uri;
        if (report) {
          evaluating.set(uri.toString(), isEvaluating(report.resultId));
          refreshStatus();
        }
        return report;
      },
    },
  };

  channel.appendLine(`Starting ${command} ${args.join(" ")}${trusted ? "" : " (untrusted workspace)"}`);
  const started = new LanguageClient("nixlens", "nixlens", serverOptions, clientOptions);
  client = started;
  started.onDidChangeState((event) => {
    if (client !== started) {
      return;
    }
    if (event.newState === State.Running) {
      const info = started.initializeResult?.serverInfo;
      channel.appendLine(`Server ${info?.name ?? "nixlens"} ${info?.version ?? ""} is running.`);
      refreshStatus();
    } else if (event.newState === State.Starting) {
      showStatus("starting");
    } else if (event.newState === State.Stopped) {
      showStatus(stopping ? "stopped" : "error", stopping ? undefined : "The server stopped; see the output.");
    }
  });
  try {
    await started.start();
  } catch (error) {
    const message = `nixlens: the language server failed to start: ${String(error)}`;
    channel.appendLine(message);
    showStatus("error", message);
    void vscode.window.showErrorMessage(message, "Show Output").then((choice) => {
      if (choice === "Show Output") {
        channel.show(true);
      }
    });
    if (client === started) {
      client = undefined;
    }
  }
}

async function stopServer(): Promise<void> {
  const running = client;
  if (running === undefined) {
    return;
  }
  stopping = true;
  try {
    await running.stop();
  } catch (error) {
    output?.appendLine(`Stopping the server failed: ${String(error)}`);
  } finally {
    stopping = false;
    if (client === running) {
      client = undefined;
    }
  }
}
