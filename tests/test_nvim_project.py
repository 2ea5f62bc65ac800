"""End to end: Neovim's real LSP client in module files of a flake (issue 11, point 7).

The demo flake (``tests/fixtures/projects/demo``) is copied into a temporary
workspace with its ``nixpkgs`` input (nixpkgs' lib) in a temporary store
(``NIX_STORE_DIR``, inherited by the server through Neovim's environment).  A
headless ``nvim -u NONE`` with the plugin opens a module of
``configurations.demo`` with no settings at all.  A Lua script waits for the
project's ``$/progress`` to end and for a hover showing the file evaluated in
its configuration, then either types ``services.web.`` on a new line of
``config.nix`` and asks for completion, or breaks a line (a failing
``assert`` in ``services.nix``; ``services.web.prot`` in ``config.nix``),
waits for the error on that line, restores it and waits for every error to
go.  It writes what it saw (with the time each wait took) as JSON.  Every wait
is a ``vim.wait`` poll with a timeout; each test runs on each installed Neovim.
The ``option_undefined`` test checks the error lands at the definition for
an entry the server discovered itself (no ``nixlens.eval.entry``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from projects import ProjectFactory

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "editors" / "nvim"
# Debian's Neovim 0.7 and 0.10 (shared/tools/modern-neovim.sh), as in test_nvim_e2e.py.
NVIMS = {name: shutil.which(name) for name in ("nvim", "nvim-0.10")}
NIXLENS = shutil.which("nixlens")


def _server_importable() -> bool:
    try:
        result = subprocess.run(
            [sys.executable, "-c", "import server.lsp"],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


pytestmark = [
    pytest.mark.skipif(
        NIXLENS is None or not _server_importable(), reason="nixlens serve is not available"
    ),
]

# config.nix of the demo flake (0-based lines):
#   0 { lib, ... }:
#   1 {
#   2   services.web.enable = true;
#   3   services.web.port = 9090;
#   4 }
SCRIPT = r"""
local out = { progress = {}, times = {} }
local function now() return (vim.uv or vim.loop).hrtime() / 1e6 end
local function clients()
  return (vim.lsp.get_clients or vim.lsp.get_active_clients)()
end

-- Record every $/progress value, then let Neovim's own handler show it.
local builtin_progress = vim.lsp.handlers["$/progress"]
vim.lsp.handlers["$/progress"] = function(err, result, ctx, config)
  if result and type(result.value) == "table" then
    table.insert(out.progress, {
      token = tostring(result.token), kind = result.value.kind,
      title = result.value.title or vim.NIL, message = result.value.message or vim.NIL,
    })
  end
  if builtin_progress then return builtin_progress(err, result, ctx, config) end
end

local function progress_ended()
  for _, p in ipairs(out.progress) do
    if p.kind == "end" then return true end
  end
  return false
end

local function diagnostics()
  local result = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(result, {
      lnum = d.lnum, col = d.col, severity = d.severity,
      message = d.message, code = d.code and tostring(d.code) or vim.NIL,
      -- Which of Neovim's namespaces: pushed, or pulled (0.10 pulls too).
      namespace = vim.diagnostic.get_namespace(d.namespace).name,
    })
  end
  return result
end

local function has_code(code)
  for _, d in ipairs(vim.diagnostic.get(0)) do
    if d.code and tostring(d.code) == code then return d end
  end
  return nil
end

local function completion_labels(line, character)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(0) },
    position = { line = line, character = character },
  }
  local responses = vim.lsp.buf_request_sync(0, "textDocument/completion", params, TIMEOUT)
  local labels = {}
  for _, response in pairs(responses or {}) do
    local result = response.result or {}
    for _, item in ipairs(result.items or result) do
      table.insert(labels, item.label)
    end
  end
  return labels
end

-- What was seen so far: a test that times out still shows how far it got.
local function save(step)
  out.step = step
  vim.fn.writefile({ vim.fn.json_encode(out) }, RESULT)
end

local function timed(name, timeout, pred)
  save("waiting: " .. name)
  local start = now()
  local ok = vim.wait(timeout, pred, 50)
  out.times[name] = math.floor(now() - start)
  return ok
end

-- Like `timed`, for a predicate that makes requests itself: a loop, not
-- `vim.wait(pred)`, so that `buf_request_sync`'s own wait is never nested.
local function timed_requests(name, timeout, pred)
  save("waiting: " .. name)
  local start = now()
  local ok = pred()
  while not ok and now() - start < timeout do
    vim.wait(100)
    ok = pred()
  end
  out.times[name] = math.floor(now() - start)
  return ok
end

local function finish()
  save("done")
  for _, c in pairs(clients()) do c.stop() end
  vim.wait(3000, function() return #clients() == 0 end, 50)
  vim.cmd("qa!")
end

local function hover_text(line, character)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(0) },
    position = { line = line, character = character },
  }
  local responses = vim.lsp.buf_request_sync(0, "textDocument/hover", params, 10000)
  for _, response in pairs(responses or {}) do
    local contents = response.result and response.result.contents
    if type(contents) == "table" and contents.value then return contents.value end
  end
  return ""
end

local ok, err = pcall(function()
  require("nixlens").setup({ cmd = { NIXLENS, "serve" } })
  vim.cmd("edit " .. vim.fn.fnameescape(FILE))
  out.filetype = vim.bo.filetype
  local v = vim.version()
  out.version = string.format("%d.%d.%d", v.major, v.minor, v.patch)
  out.attached = timed("attach", TIMEOUT, function() return #clients() > 0 end)

  -- The flake's context (its locked input, its configurations) is loaded ...
  out.context_loaded = timed("context", TIMEOUT, progress_ended)
  -- ... and this file has been evaluated in it (HOVER: line, column, needle).
  out.context_hover = timed_requests("context_hover", TIMEOUT, function()
    out.hover = hover_text(HOVER[1], HOVER[2])
    return out.hover:find(HOVER[3], 1, true) ~= nil
  end)
  out.before = diagnostics()

  if MODE == "completion" then
    -- Typing a definition on a new line: `services.web.|`.
    vim.api.nvim_buf_set_lines(0, 4, 4, false, { "  services.web." })
    save("completion")
    local start = now()
    out.completion = completion_labels(4, #"  services.web.")
    out.times.completion = math.floor(now() - start)
    vim.api.nvim_buf_set_lines(0, 4, 5, false, {})
  else
    -- EDIT: the line, its broken text, the code of the error expected there.
    local original = vim.api.nvim_buf_get_lines(0, EDIT[1], EDIT[1] + 1, false)
    vim.api.nvim_buf_set_lines(0, EDIT[1], EDIT[1] + 1, false, { EDIT[2] })
    out.saw_error = timed("error_shown", EDIT_TIMEOUT, function()
      return has_code(EDIT[3]) ~= nil
    end)
    out.with_error = diagnostics()
    -- The fix makes it go (and any other error with it).
    vim.api.nvim_buf_set_lines(0, EDIT[1], EDIT[1] + 1, false, original)
    out.error_gone = timed("error_gone", EDIT_TIMEOUT, function()
      for _, d in ipairs(vim.diagnostic.get(0)) do
        if d.severity == vim.diagnostic.severity.ERROR then return false end
      end
      return true
    end)
    out.after_fix = diagnostics()
  end
  out.text = vim.api.nvim_buf_get_lines(0, 0, -1, false)
end)
out.error = ok and vim.NIL or tostring(err)
finish()
"""


@pytest.fixture(params=sorted(NVIMS))
def nvim(request: pytest.FixtureRequest) -> str:
    """The path of one installed Neovim; the test is skipped for a missing one."""
    path = NVIMS[request.param]
    if path is None:
        pytest.skip(f"{request.param} is not installed")
    return path


# Lua values for the script: where to hover (0-based line, column, text the
# hover has once the file is evaluated in the project) and what to break.
CONFIG_HOVER = [3, len("  services.web.po"), "**option** `services.web.port`"]
SERVICES_HOVER = [20, len("    assert cfg.po"), "9090"]
PROT = [3, "  services.web.prot = 9090;", "option_undefined"]
FAILED_ASSERT = [20, "    assert cfg.port > 10000;", "assertion_failed"]


def lsp_log(tmp_path: Path) -> str:
    """The end of Neovim's LSP log (the server's stderr is logged there)."""
    log = tmp_path / "cache" / "nvim" / "lsp.log"
    return log.read_text()[-4000:] if log.exists() else "(none)"


def run_session(
    projects: ProjectFactory,
    tmp_path: Path,
    nvim: str,
    file: str,
    hover: list[object],
    edit: list[object] | None = None,
) -> dict[str, Any]:
    """Run the script on the demo flake's ``file``: completion in config.nix
    without ``edit``, else break and fix a line.  What it saw, after the checks
    common to all (progress, the file evaluated in its configuration)."""
    assert NIXLENS is not None
    demo = projects.demo()
    result_file = tmp_path / "result.json"
    script = tmp_path / "project.lua"
    script.write_text(
        f"FILE = {json.dumps(demo.path(file))}\n"
        f"RESULT = {json.dumps(str(result_file))}\nNIXLENS = {json.dumps(NIXLENS)}\n"
        f"MODE = {json.dumps('edit' if edit else 'completion')}\n"
        f"HOVER = vim.fn.json_decode({json.dumps(json.dumps(hover))})\n"
        f"EDIT = vim.fn.json_decode({json.dumps(json.dumps(edit))})\n"
        "TIMEOUT = 60000\nEDIT_TIMEOUT = 20000\n" + SCRIPT
    )
    # The server inherits Neovim's environment: this checkout, the fixture's
    # store, and an empty cache (so the context is really loaded, with progress).
    env = {
        **os.environ,
        **demo.env(),
        "PYTHONPATH": str(ROOT),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
    }
    env.pop("NIX_PATH", None)
    try:
        proc = subprocess.run(
            [nvim, "--headless", "-u", "NONE", "-i", "NONE", "--cmd", f"set rtp^={PLUGIN}"]
            + ["-c", f"luafile {script}", "-c", "qa!"],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=demo.root,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        seen = result_file.read_text() if result_file.exists() else "nothing"
        pytest.fail(f"nvim did not finish; it saw {seen}\nLSP log:\n{lsp_log(tmp_path)}")
    assert result_file.exists(), proc.stderr
    out: dict[str, Any] = json.loads(result_file.read_text())
    context = json.dumps(out, indent=1)
    print(f"{Path(nvim).name} {file} times (ms): {out.get('times')}")  # shown with -s
    assert out["error"] is None, context
    assert out["step"] == "done", f"{context}\nLSP log:\n{lsp_log(tmp_path)}"
    assert out["filetype"] == "nix"
    major = "0.10" if Path(nvim).name == "nvim-0.10" else "0.7"
    assert out["version"].startswith(major), context
    assert out["attached"], context
    # The project was loaded with $/progress: begin (titled) ... end.
    assert out["context_loaded"], f"no $/progress end:\n{context}"
    kinds = [p["kind"] for p in out["progress"]]
    assert kinds[0] == "begin" and "end" in kinds, context
    assert "nixlens: loading ws-demo" in out["progress"][0]["title"], context
    # The file was evaluated in configurations.demo (where the port is 9090).
    assert out["context_hover"], f"no hover with {hover[2]!r}:\n{context}"
    assert "configurations.demo" in out["hover"], context
    assert not [d for d in out["before"] if d["severity"] == 1], context
    return out


def test_option_completion_in_a_flake_module(
    projects: ProjectFactory, tmp_path: Path, nvim: str
) -> None:
    out = run_session(projects, tmp_path, nvim, "config.nix", CONFIG_HOVER)
    assert "16 bit unsigned integer" in out["hover"]  # the option's hover
    # Offered while typing `services.web.` on a line of its own.
    assert {"port", "enable"} <= set(out["completion"]), json.dumps(out, indent=1)
    assert out["text"][3:] == ["  services.web.port = 9090;", "}"]


def test_error_in_a_flake_module_and_its_fix(
    projects: ProjectFactory, tmp_path: Path, nvim: str
) -> None:
    out = run_session(projects, tmp_path, nvim, "services.nix", SERVICES_HOVER, FAILED_ASSERT)
    context = json.dumps(out, indent=1)
    # The assertion fails where it is written, with the configuration's value ...
    assert out["saw_error"], f"no assertion_failed diagnostic:\n{context}"
    (error,) = [d for d in out["with_error"] if d["code"] == "assertion_failed"]
    assert error["lnum"] == 20 and "10000" in error["message"], context
    # ... and is gone with the fix, with no other error left.
    assert out["error_gone"], f"an error stayed after the fix:\n{context}"
    assert out["text"][20] == "    assert cfg.port > 1024;", context


def test_option_error_in_a_flake_module(
    projects: ProjectFactory, tmp_path: Path, nvim: str
) -> None:
    out = run_session(projects, tmp_path, nvim, "config.nix", CONFIG_HOVER, PROT)
    context = json.dumps(out, indent=1)
    # The undefined option's error on the definition's line ...
    assert out["saw_error"], f"no option_undefined diagnostic:\n{context}"
    (error,) = [d for d in out["with_error"] if d["code"] == "option_undefined"]
    assert error["lnum"] == 3, context
    assert "The option `services.web.prot' does not exist" in error["message"], context
    # ... gone with the fix, with no other error left.
    assert out["error_gone"], f"an error stayed after the fix:\n{context}"
    assert out["text"][3] == "  services.web.port = 9090;", context
