/** Unit tests for the pure settings helpers (node's test runner, no VS Code). */

import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, it } from "node:test";

import {
  ExecutableEnv,
  defaultSettings,
  findExecutable,
  initializationOptions,
  notFoundMessage,
  readSettings,
  serverCommand,
  settingKeys,
} from "../config";

const manifest = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8"));
const contributed: Record<string, { default: unknown }> = manifest.contributes.configuration.properties;

function getterFrom(values: Record<string, unknown>): (key: string) => unknown {
  return (key) => values[key];
}

describe("settings", () => {
  it("has the same keys and defaults as package.json", () => {
    const keys = settingKeys().map((k) => `nixlens.${k}`);
    assert.deepEqual([...keys].sort(), Object.keys(contributed).sort());
    const { settings } = readSettings(() => undefined);
    for (const key of settingKeys()) {
      const value = key.split(".").reduce<unknown>((o, p) => (o as Record<string, unknown>)[p], settings);
      assert.deepEqual(value, contributed[`nixlens.${key}`].default, key);
    }
  });

  it("takes valid values", () => {
    const { settings, problems } = readSettings(
      getterFrom({
        "eval.enable": false,
        "eval.entry": "import ./default.nix { }",
        "hover.printDepth": 5,
        searchPath: ["nixpkgs=/src/nixpkgs"],
        "formatting.command": ["nixfmt"],
      }),
    );
    assert.deepEqual(problems, []);
    assert.equal(settings.eval.enable, false);
    assert.equal(settings.eval.entry, "import ./default.nix { }");
    assert.equal(settings.hover.printDepth, 5);
    assert.deepEqual(settings.searchPath, ["nixpkgs=/src/nixpkgs"]);
    assert.deepEqual(settings.formatting.command, ["nixfmt"]);
    assert.equal(settings.eval.budgetMs, 2000);
  });

  it("replaces invalid values by defaults and reports them", () => {
    const { settings, problems } = readSettings(
      getterFrom({ "eval.budgetMs": "fast", searchPath: [1, 2], "hover.budgetMs": -1 }),
    );
    assert.equal(settings.eval.budgetMs, 2000);
    assert.deepEqual(settings.searchPath, []);
    assert.equal(settings.hover.budgetMs, 200);
    assert.equal(problems.length, 3);
    assert.match(problems[0], /nixlens\.eval\.budgetMs/);
  });

  it("does not share arrays with the defaults or the caller", () => {
    const args = ["--log", "debug"];
    const { settings } = readSettings(getterFrom({ "server.args": args }));
    settings.server.args.push("x");
    assert.deepEqual(args, ["--log", "debug"]);
    assert.deepEqual(defaultSettings().server.args, []);
  });
});

describe("server command", () => {
  it("runs `nixlens serve` by default", () => {
    assert.deepEqual(serverCommand(defaultSettings()), { command: "nixlens", args: ["serve"] });
  });

  it("appends server.args and expands ~", () => {
    const settings = defaultSettings();
    settings.server.path = "~/.local/bin/nixlens";
    settings.server.args = ["--log-level", "debug"];
    assert.deepEqual(serverCommand(settings, "/home/u"), {
      command: path.join("/home/u", ".local/bin/nixlens"),
      args: ["serve", "--log-level", "debug"],
    });
  });

  it("falls back to nixlens for an empty path", () => {
    const settings = defaultSettings();
    settings.server.path = "  ";
    assert.equal(serverCommand(settings).command, "nixlens");
  });

  it("sends the whole section and the trust as initialization options", () => {
    const settings = defaultSettings();
    const options = initializationOptions(settings, true);
    assert.deepEqual(options, { ...settings, trusted: true });
    assert.notEqual(options.eval, settings.eval);
    assert.equal(initializationOptions(settings, false).trusted, false);
  });
});

describe("findExecutable", () => {
  const files = new Set(["/usr/bin/nixlens", "/opt/tools/nixlens", "C:\\py\\Scripts\\nixlens.EXE"]);
  const posix: ExecutableEnv = { pathVar: "/bin:/usr/bin", platform: "linux", isFile: (p) => files.has(p) };

  it("finds a bare name on PATH", () => {
    assert.equal(findExecutable("nixlens", posix), "/usr/bin/nixlens");
  });

  it("checks a path as is", () => {
    assert.equal(findExecutable("/opt/tools/nixlens", posix), "/opt/tools/nixlens");
    assert.equal(findExecutable("/nowhere/nixlens", posix), undefined);
  });

  it("returns undefined when missing", () => {
    assert.equal(findExecutable("nixlens", { ...posix, pathVar: "/bin" }), undefined);
  });

  it("uses PATHEXT on Windows", () => {
    const win: ExecutableEnv = {
      pathVar: "C:\\py\\Scripts",
      platform: "win32",
      pathExt: ".COM;.EXE",
      isFile: (p) => files.has(p.replace(/\//g, "\\")),
    };
    assert.ok(findExecutable("nixlens", win));
  });

  it("explains how to install in the not-found message", () => {
    const message = notFoundMessage("nixlens");
    assert.match(message, /pipx install nixlens/);
    assert.match(message, /nixlens\.server\.path/);
  });
});
