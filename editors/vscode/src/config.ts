/**
 * Pure helpers that turn the `nixlens.*` settings into the server's command
 * line and initialization options. No `vscode` import, so they are unit
 * tested with node's test runner outside VS Code.
 */

import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";

/** The `nixlens` settings section, fully defaulted (mirrors package.json). */
export interface NixlensSettings {
  server: { path: string; args: string[] };
  eval: {
    enable: boolean;
    entry: string;
    budgetMs: number;
    maxSteps: number;
    maxValues: number;
    maxDepth: number;
    maxMemoryMB: number;
  };
  hover: { budgetMs: number; printDepth: number; maxChars: number };
  searchPath: string[];
  diagnostics: { ignore: string[]; debounceMs: number; maxPerFile: number };
  inlayHints: { enable: boolean; maxLines: number };
  formatting: { command: string[] };
  sandbox: { enable: boolean; allowedPaths: string[] };
  workers: number;
}

/** The defaults, identical to the ones contributed in package.json. */
export function defaultSettings(): NixlensSettings {
  return {
    server: { path: "nixlens", args: [] },
    eval: { enable: true, entry: "", budgetMs: 2000, maxSteps: 5000000, maxValues: 10000000, maxDepth: 2500000, maxMemoryMB: 2048 },
    hover: { budgetMs: 200, printDepth: 3, maxChars: 20000 },
    searchPath: [],
    diagnostics: { ignore: [], debounceMs: 200, maxPerFile: 200 },
    inlayHints: { enable: false, maxLines: 5000 },
    formatting: { command: [] },
    sandbox: { enable: true, allowedPaths: [] },
    workers: 0,
  };
}

/** Reads one setting by its dotted key below `nixlens` (e.g. `eval.enable`). */
export type SettingGetter = (key: string) => unknown;

/** The result of reading settings: the values and a note per invalid one. */
export interface ReadResult {
  settings: NixlensSettings;
  problems: string[];
}

/**
 * Builds the settings from a getter, replacing any value of the wrong type
 * by its default and reporting it, so a typo never stops the server.
 */
export function readSettings(get: SettingGetter): ReadResult {
  const settings = defaultSettings();
  const problems: string[] = [];
  const root = settings as unknown as Record<string, unknown>;
  for (const key of settingKeys()) {
    const value = get(key);
    if (value === undefined || value === null) {
      continue;
    }
    const parts = key.split(".");
    let holder = root;
    for (const part of parts.slice(0, -1)) {
      holder = holder[part] as Record<string, unknown>;
    }
    const last = parts[parts.length - 1];
    const fallback = holder[last];
    if (isSameType(value, fallback)) {
      holder[last] = Array.isArray(value) ? [...value] : value;
    } else {
      problems.push(
        `nixlens.${key}: expected ${describe(fallback)}, got ${JSON.stringify(value)}; using the default`,
      );
    }
  }
  return { settings, problems };
}

/** Every leaf setting key below `nixlens`, in package.json order. */
export function settingKeys(): string[] {
  const keys: string[] = [];
  const walk = (obj: Record<string, unknown>, prefix: string): void => {
    for (const [name, value] of Object.entries(obj)) {
      const key = prefix ? `${prefix}.${name}` : name;
      if (value !== null && typeof value === "object" && !Array.isArray(value)) {
        walk(value as Record<string, unknown>, key);
      } else {
        keys.push(key);
      }
    }
  };
  walk(defaultSettings() as unknown as Record<string, unknown>, "");
  return keys;
}

function isSameType(value: unknown, fallback: unknown): boolean {
  if (Array.isArray(fallback)) {
    return Array.isArray(value) && value.every((item) => typeof item === "string");
  }
  if (typeof fallback === "number") {
    return typeof value === "number" && Number.isFinite(value) && value >= 0;
  }
  return typeof value === typeof fallback;
}

function describe(fallback: unknown): string {
  if (Array.isArray(fallback)) {
    return "an array of strings";
  }
  if (typeof fallback === "number") {
    return "a non-negative number";
  }
  return `a ${typeof fallback}`;
}

/** How to start the server: `<server.path> serve <server.args...>`. */
export interface ServerCommand {
  command: string;
  args: string[];
}

/** The server's command line from the settings, with `~` expanded. */
export function serverCommand(settings: NixlensSettings, home: string = os.homedir()): ServerCommand {
  const configured = settings.server.path.trim() || "nixlens";
  return { command: expandHome(configured, home), args: ["serve", ...settings.server.args] };
}

/** The initialization options: the settings plus the workspace's trust. */
export type InitializationOptions = NixlensSettings & { trusted: boolean };

/**
 * The initialization options sent to the server: the whole `nixlens`
 * section (the same object `workspace/configuration` answers for it) and
 * `trusted`, false in a restricted workspace.  The server reads trust only
 * here, so a workspace's own settings can never turn evaluation back on.
 */
export function initializationOptions(settings: NixlensSettings, trusted: boolean): InitializationOptions {
  return { ...(JSON.parse(JSON.stringify(settings)) as NixlensSettings), trusted };
}

function expandHome(p: string, home: string): string {
  if (p === "~") {
    return home;
  }
  if (p.startsWith("~/") || p.startsWith("~\\")) {
    return path.join(home, p.slice(2));
  }
  return p;
}

/** What `findExecutable` needs from the system, injectable for tests. */
export interface ExecutableEnv {
  pathVar: string;
  platform: NodeJS.Platform;
  pathExt?: string;
  isFile: (p: string) => boolean;
}

/** The real environment of this process. */
export function processEnv(): ExecutableEnv {
  return {
    pathVar: process.env.PATH ?? "",
    platform: process.platform,
    pathExt: process.env.PATHEXT,
    isFile: (p) => {
      try {
        return fs.statSync(p).isFile();
      } catch {
        return false;
      }
    },
  };
}

/**
 * Resolves a command the way a shell would: a name containing a path
 * separator is checked as is, a bare name is looked up on PATH. Returns the
 * file found, or undefined.
 */
export function findExecutable(command: string, env: ExecutableEnv = processEnv()): string | undefined {
  const windows = env.platform === "win32";
  const exts = windows ? ["", ...(env.pathExt ?? ".EXE;.CMD;.BAT").split(";").filter(Boolean)] : [""];
  const hasSeparator = command.includes("/") || (windows && command.includes("\\"));
  const dirs = hasSeparator ? [""] : env.pathVar.split(windows ? ";" : ":").filter(Boolean);
  for (const dir of dirs) {
    for (const ext of exts) {
      const candidate = dir ? path.join(dir, command + ext) : command + ext;
      if (env.isFile(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

/** The message shown when the server executable cannot be found. */
export function notFoundMessage(command: string): string {
  return (
    `nixlens executable "${command}" not found: install it with \`pipx install nixlens\` ` +
    "(or `pip install nixlens` into an environment on your PATH), " +
    'or set "nixlens.server.path" to the full path of the nixlens executable, then run "nixlens: Restart Server".'
  );
}
