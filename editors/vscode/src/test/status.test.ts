/** Unit tests of the status bar texts (node's test runner, no VS Code). */

import { strict as assert } from "node:assert";
import { describe, it } from "node:test";

import { isEvaluating, statusView } from "../status";

describe("statusView", () => {
  it("names the state and the server version", () => {
    const view = statusView("ready", "0.1.0", true);
    assert.equal(view.text, "$(check) nixlens");
    assert.match(view.tooltip, /^nixlens 0\.1\.0: ready$/m);
    assert.equal(view.error, false);
  });

  it("says when the workspace is restricted", () => {
    const view = statusView("ready", "0.1.0", false);
    assert.equal(view.text, "$(check) nixlens (restricted)");
    assert.match(view.tooltip, /no evaluation/);
    assert.equal(view.label, "nixlens 0.1.0: ready (restricted)");
  });

  it("marks errors and keeps their detail", () => {
    const view = statusView("error", undefined, true, "not found");
    assert.equal(view.error, true);
    assert.match(view.tooltip, /^nixlens: not running$/m);
    assert.match(view.tooltip, /not found/);
  });

  it("shows evaluation in progress", () => {
    assert.match(statusView("evaluating", "0.1.0", true).text, /sync~spin/);
  });
});

describe("isEvaluating", () => {
  it("reads the server's result id", () => {
    assert.equal(isEvaluating("file:///a.nix@3~evaluating"), true);
    assert.equal(isEvaluating("file:///a.nix@3"), false);
    assert.equal(isEvaluating(undefined), false);
  });
});
