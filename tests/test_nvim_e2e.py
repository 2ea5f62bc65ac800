"""End to end: Neovim's real LSP client talking to ``nixlens serve``.

A headless ``nvim -u NONE`` with the plugin opens a Nix file with a syntax
error, an unused ``let`` binding and a ``builtins.trace``; a Lua script polls
``vim.diagnostic.get(0)``, fixes the syntax error, waits for its diagnostic to
go, then asks for hover on ``let x = 1 + 2; in x`` and writes what it saw as
JSON. Every wait has a timeout. Skipped without nvim or a runnable server.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PLUGIN = ROOT / "editors" / "nvim"
# Debian's Neovim 0.7 (``vim.lsp.start_client``) and 0.10 (``vim.lsp.start``,
# installed by shared/tools/modern-neovim.sh as ``nvim-0.10``): the plugin
# supports both, so the real-client test runs on each that is installed.
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

SOURCE = """let
  unused = 1;
  t = builtins.trace "hello" 2;
in t +
"""

SCRIPT = r"""
local out = {}
local function diagnostics()
  local result = {}
  for _, d in ipairs(vim.diagnostic.get(0)) do
    table.insert(result, {
      lnum = d.lnum, col = d.col, severity = d.severity,
      message = d.message, code = d.code and tostring(d.code) or vim.NIL,
    })
  end
  return result
end
local function any(pred)
  for _, d in ipairs(vim.diagnostic.get(0)) do
    if pred(d) then return true end
  end
  return false
end
local function syntax_error(d)
  return d.lnum == 3 and d.severity == vim.diagnostic.severity.ERROR
end
local function unused(d)
  local text = (d.message .. " " .. tostring(d.code or "")):lower()
  return d.lnum == 1 and text:find("unused") ~= nil
end
local function traced(d)
  return d.message:find("hello") ~= nil
end
local function clients()
  return (vim.lsp.get_clients or vim.lsp.get_active_clients)()
end
local function finish()
  vim.fn.writefile({ vim.fn.json_encode(out) }, RESULT)
  for _, c in pairs(clients()) do c.stop() end
  vim.wait(3000, function() return #clients() == 0 end, 50)
  vim.cmd("qa!")
end

local ok, err = pcall(function()
  require("nixlens").setup({ cmd = { NIXLENS, "serve" } })
  vim.cmd("edit " .. vim.fn.fnameescape(FILE))
  out.filetype = vim.bo.filetype
  local v = vim.version()
  out.version = string.format("%d.%d.%d", v.major, v.minor, v.patch)

  out.saw_syntax_error = vim.wait(TIMEOUT, function()
    return any(syntax_error) and any(unused)
  end, 100)
  out.before_fix = diagnostics()

  vim.api.nvim_buf_set_lines(0, 3, 4, false, { "in t" })
  out.syntax_error_gone = vim.wait(TIMEOUT, function()
    return not any(syntax_error) and any(traced)
  end, 100)
  out.after_fix = diagnostics()

  vim.api.nvim_buf_set_lines(0, 0, -1, false, { "let x = 1 + 2; in x" })
  vim.wait(1000)
  local params = {
    textDocument = { uri = vim.uri_from_bufnr(0) },
    position = { line = 0, character = 18 },
  }
  local responses = vim.lsp.buf_request_sync(0, "textDocument/hover", params, TIMEOUT)
  local texts = {}
  for _, response in pairs(responses or {}) do
    local contents = response.result and response.result.contents
    if type(contents) == "string" then
      table.insert(texts, contents)
    elseif type(contents) == "table" then
      if contents.value then
        table.insert(texts, contents.value)
      else
        for _, item in ipairs(contents) do
          table.insert(texts, type(item) == "table" and item.value or item)
        end
      end
    end
  end
  out.hover = table.concat(texts, "\n")
end)
out.error = ok and vim.NIL or tostring(err)
finish()
"""


@pytest.mark.parametrize("nvim", sorted(NVIMS))
def test_diagnostics_and_hover_in_neovim(tmp_path: Path, nvim: str) -> None:
    NVIM = NVIMS[nvim]
    if NVIM is None:
        pytest.skip(f"{nvim} is not installed")
    assert NIXLENS is not None
    nix_file = tmp_path / "broken.nix"
    nix_file.write_text(SOURCE)
    result_file = tmp_path / "result.json"
    script = tmp_path / "e2e.lua"
    script.write_text(
        f"FILE = {json.dumps(str(nix_file))}\nRESULT = {json.dumps(str(result_file))}\n"
        f"NIXLENS = {json.dumps(NIXLENS)}\nTIMEOUT = 20000\n" + SCRIPT
    )
    try:
        proc = subprocess.run(
            [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "--cmd", f"set rtp^={PLUGIN}"]
            + ["-c", f"luafile {script}", "-c", "qa!"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"nvim did not finish: {e.stderr!r}")
    assert result_file.exists(), proc.stderr
    out = json.loads(result_file.read_text())
    context = json.dumps(out, indent=1)
    assert out["error"] is None, context
    assert out["filetype"] == "nix"
    assert out["version"].startswith("0.10" if nvim == "nvim-0.10" else "0.7"), context
    assert out["saw_syntax_error"], f"no syntax error + unused binding diagnostics:\n{context}"
    assert out["syntax_error_gone"], f"syntax error stayed or no trace diagnostic:\n{context}"
    assert "3" in out["hover"], context


# One error each, and its fix (line 2): a syntax error (known at once) and an
# evaluation error (known after the evaluation).
ONE_ERROR = {
    "syntax": ("let\n  a = { x = 1; };\nin a.x +\n", "in a.x", "expected expression"),
    "evaluation": ("let\n  a = { x = 1; };\nin a.y\n", "in a.x", "'y' missing"),
}

COUNT_SCRIPT = r"""
local out = {}
local function clients()
  return (vim.lsp.get_clients or vim.lsp.get_active_clients)()
end
local function finish()
  vim.fn.writefile({ vim.fn.json_encode(out) }, RESULT)
  for _, c in pairs(clients()) do c.stop() end
  vim.wait(3000, function() return #clients() == 0 end, 50)
  vim.cmd("qa!")
end
local ok, err = pcall(function()
  require("nixlens").setup({ cmd = { NIXLENS, "serve" } })
  vim.cmd("edit " .. vim.fn.fnameescape(FILE))
  local buf = vim.api.nvim_get_current_buf()
  local v = vim.version()
  out.version = string.format("%d.%d.%d", v.major, v.minor, v.patch)
  out.shown = vim.wait(TIMEOUT, function() return #vim.diagnostic.get(buf) > 0 end, 50)
  -- A second copy (pulled next to pushed) would arrive within moments:
  -- sample the count for a while, keeping the largest.
  local most = 0
  vim.wait(3000, function()
    most = math.max(most, #vim.diagnostic.get(buf))
    return false
  end, 50)
  out.most = most
  out.messages = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do table.insert(out.messages, d.message) end
  vim.api.nvim_buf_set_lines(buf, 2, 3, false, { FIX })
  out.gone = vim.wait(TIMEOUT, function() return #vim.diagnostic.get(buf) == 0 end, 50)
  out.after_fix = #vim.diagnostic.get(buf)
end)
out.error = ok and vim.NIL or tostring(err)
finish()
"""


@pytest.mark.parametrize("kind", sorted(ONE_ERROR))
@pytest.mark.parametrize("nvim", sorted(NVIMS))
def test_one_error_is_shown_once(tmp_path: Path, nvim: str, kind: str) -> None:
    """Neovim 0.10 pulls diagnostics and shows pulled and pushed ones side by
    side: the server must use one way only, so one error is one diagnostic."""
    NVIM = NVIMS[nvim]
    if NVIM is None:
        pytest.skip(f"{nvim} is not installed")
    assert NIXLENS is not None
    nix_file = tmp_path / "one.nix"
    text, fix, message = ONE_ERROR[kind]
    nix_file.write_text(text)
    result_file = tmp_path / "result.json"
    script = tmp_path / "count.lua"
    script.write_text(
        f"FILE = {json.dumps(str(nix_file))}\nRESULT = {json.dumps(str(result_file))}\n"
        f"NIXLENS = {json.dumps(NIXLENS)}\nTIMEOUT = 20000\nFIX = {json.dumps(fix)}\n"
        + COUNT_SCRIPT
    )
    try:
        proc = subprocess.run(
            [NVIM, "--headless", "-u", "NONE", "-i", "NONE", "--cmd", f"set rtp^={PLUGIN}"]
            + ["-c", f"luafile {script}", "-c", "qa!"],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"nvim did not finish: {e.stderr!r}")
    assert result_file.exists(), proc.stderr
    out = json.loads(result_file.read_text())
    context = json.dumps(out, indent=1)
    assert out["error"] is None, context
    assert out["version"].startswith("0.10" if nvim == "nvim-0.10" else "0.7"), context
    assert out["shown"], context
    assert out["most"] == 1, context
    assert message in out["messages"][0], context
    assert out["gone"] and out["after_fix"] == 0, context
