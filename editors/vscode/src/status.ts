/**
 * What the status bar item says about the server: its state, its version
 * (serverInfo from initialize) and whether the workspace is restricted.
 * Pure (no `vscode` import), unit tested with node's test runner.
 */

/** The server's state as the user sees it. */
export type ServerState = "starting" | "ready" | "evaluating" | "stopped" | "error";

/** What the status bar item shows. */
export interface StatusView {
  text: string;
  tooltip: string;
  /** The screen-reader label: name, version, state and restriction. */
  label: string;
  /** Whether to paint it with the error background. */
  error: boolean;
}

const ICONS: Record<ServerState, string> = {
  starting: "$(loading~spin)",
  ready: "$(check)",
  evaluating: "$(sync~spin)",
  stopped: "$(circle-slash)",
  error: "$(error)",
};

const DESCRIPTIONS: Record<ServerState, string> = {
  starting: "starting",
  ready: "ready",
  evaluating: "evaluating",
  stopped: "stopped",
  error: "not running",
};

/** The status bar text and tooltip for a state. */
export function statusView(
  state: ServerState,
  version: string | undefined,
  trusted: boolean,
  detail?: string,
): StatusView {
  const name = version ? `nixlens ${version}` : "nixlens";
  const lines = [`${name}: ${DESCRIPTIONS[state]}`];
  if (!trusted) {
    lines.push("Restricted mode: static features only (no evaluation) until you trust this folder.");
  }
  if (detail) {
    lines.push(detail);
  }
  lines.push("Click to show the nixlens output.");
  const suffix = trusted ? "" : " (restricted)";
  return {
    text: `${ICONS[state]} nixlens${suffix}`,
    tooltip: lines.join("\n"),
    label: `${lines[0]}${suffix}`,
    error: state === "error",
  };
}

/**
 * Whether a pulled diagnostic report's result id says the evaluation of that
 * version is still running (the server appends `~evaluating` until it ends).
 */
export function isEvaluating(resultId: string | undefined): boolean {
  return resultId !== undefined && resultId.endsWith("~evaluating");
}
