"""The Neovim plugin in ``editors/nvim`` loads and starts a client.

Runs a headless ``nvim -u NONE`` with the plugin on the runtime path; a Lua
script writes what it observed as JSON to a temp file. Skipped without nvim.
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
# Neovim 0.7 (Debian) and 0.10 (shared/tools/modern-neovim.sh): each installed one runs.
NVIMS = {name: shutil.which(name) for name in ("nvim", "nvim-0.10")}


@pytest.fixture(params=sorted(NVIMS))
def nvim(request: pytest.FixtureRequest) -> str:
    """The path of one installed Neovim; the test is skipped for a missing one."""
    path = NVIMS[request.param]
    if path is None:
        pytest.skip(f"{request.param} is not installed")
    return path


def run_nvim(nvim: str, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run headless nvim without user config, with the plugin on the rtp."""
    return subprocess.run(
        [nvim, "--headless", "-u", "NONE", "-i", "NONE", "--cmd", f"set rtp^={PLUGIN}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )


def test_plugin_loads(nvim: str) -> None:
    result = run_nvim(nvim, "-c", 'lua require("nixlens")', "-c", "qa!")
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stderr


# A stand-in language server: answers initialize and shutdown, asks the client
# for workspace/configuration once initialized, and logs what it received.
FAKE_SERVER = r"""
import json, sys

log = open(sys.argv[1], "a")
inp, out = sys.stdin.buffer, sys.stdout.buffer


def send(msg):
    body = json.dumps(msg).encode()
    out.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
    out.flush()


while True:
    length = 0
    while True:
        line = inp.readline()
        if not line:
            sys.exit(0)
        if line in (b"\r\n", b"\n"):
            break
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    msg = json.loads(inp.read(length))
    log.write(json.dumps(msg) + "\n")
    log.flush()
    method = msg.get("method")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": msg["id"], "result": {"capabilities": {}}})
    elif method == "initialized":
        send({"jsonrpc": "2.0", "id": 900, "method": "workspace/configuration",
              "params": {"items": [{"section": "nixlens"}]}})
    elif method == "shutdown":
        send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
    elif method == "exit":
        sys.exit(0)
"""

SETUP_SCRIPT = """
local out = {}
local active = vim.lsp.get_clients or vim.lsp.get_active_clients
local nixlens = require("nixlens")
nixlens.setup({
  cmd = FAKE_CMD,
  settings = { nixlens = { eval = { enable = false } } },
})
vim.cmd("edit " .. vim.fn.fnameescape(PROJECT .. "/sub/pkg.nix"))
out.filetype = vim.bo.filetype
vim.wait(2000, function() return #active() > 0 end, 50)
local clients = active()
out.clients = #clients
if clients[1] then
  out.name = clients[1].name
  out.cmd = clients[1].config.cmd
  out.root = clients[1].config.root_dir
  out.eval_enable = clients[1].config.settings.nixlens.eval.enable
  out.budget = clients[1].config.settings.nixlens.eval.budgetMs
  out.init_eval_enable = clients[1].config.init_options.eval.enable
end
-- A second buffer under the same root reuses the client.
vim.cmd("edit " .. vim.fn.fnameescape(PROJECT .. "/sub/other.nix"))
vim.wait(500)
out.clients_after_second = #active()
out.queries = vim.api.nvim_get_runtime_file("queries/nix/highlights.scm", true)
out.has_restart = vim.fn.exists(":NixlensRestart") == 2
vim.wait(1000)
vim.fn.writefile({ vim.fn.json_encode(out) }, RESULT)
for _, c in pairs(active()) do c.stop() end
vim.wait(2000, function() return #active() == 0 end, 50)
"""


def test_setup_detects_nix_and_starts_one_client_per_root(tmp_path: Path, nvim: str) -> None:
    project = tmp_path / "project"
    (project / "sub").mkdir(parents=True)
    (project / "flake.nix").write_text("{ }\n")
    (project / "sub" / "pkg.nix").write_text("{ }\n")
    (project / "sub" / "other.nix").write_text("{ }\n")
    result_file = tmp_path / "result.json"
    server_log = tmp_path / "server.log"
    server = tmp_path / "fake_server.py"
    server.write_text(FAKE_SERVER)
    fake_cmd = [sys.executable, str(server), str(server_log)]
    script = tmp_path / "check.lua"
    script.write_text(
        f"PROJECT = {json.dumps(str(project))}\nRESULT = {json.dumps(str(result_file))}\n"
        f"FAKE_CMD = vim.fn.json_decode({json.dumps(json.dumps(fake_cmd))})\n" + SETUP_SCRIPT
    )
    result = run_nvim(nvim, "-c", f"luafile {script}", "-c", "qa!")
    assert result_file.exists(), result.stderr
    out = json.loads(result_file.read_text())
    assert out["filetype"] == "nix"
    assert out["clients"] == 1
    assert out["name"] == "nixlens"
    assert out["cmd"] == fake_cmd
    assert out["root"] == str(project)
    assert out["eval_enable"] is False
    assert out["budget"] == 2000  # defaults kept where not overridden
    assert out["init_eval_enable"] is False
    assert out["clients_after_second"] == 1
    assert str(PLUGIN / "queries" / "nix" / "highlights.scm") in out["queries"]
    assert out["has_restart"] is True
    # What the server saw: initializationOptions and the configuration answer.
    received = [json.loads(line) for line in server_log.read_text().splitlines()]
    init = next(m for m in received if m.get("method") == "initialize")
    assert init["params"]["initializationOptions"]["eval"]["enable"] is False
    assert init["params"]["initializationOptions"]["hover"]["printDepth"] == 3
    answer = next(m for m in received if m.get("id") == 900)
    assert answer["result"][0]["eval"]["enable"] is False
    assert answer["result"][0]["searchPath"] == []


def test_lsp_config_file_returns_a_table(nvim: str) -> None:
    lua = (
        'local c = dofile("editors/nvim/lsp/nixlens.lua") '
        'assert(c.cmd[1] == "nixlens" and c.cmd[2] == "serve") '
        'assert(c.filetypes[1] == "nix") '
        'assert(c.root_markers[1] == "flake.nix") '
        "assert(c.settings.nixlens.hover.printDepth == 3) "
        "local p = {} c.before_init(p, c) "
        "assert(p.initializationOptions.eval.budgetMs == 2000)"
    )
    result = run_nvim(nvim, "-c", f"lua {lua}", "-c", "qa!")
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stderr, result.stderr


def test_untrusted_root_is_sent_as_trusted_false(nvim: str) -> None:
    lua = (
        'local n = require("nixlens") '
        "local c = n.lsp_config({}) "
        "assert(n.init_options(c, '/p').trusted == nil) "
        "assert(n.init_options(c, '/p').eval.budgetMs == 2000) "
        "c = n.lsp_config({ trusted = false }) "
        "assert(n.init_options(c, '/p').trusted == false) "
        "c = n.lsp_config({ trusted = function(root) return root ~= '/untrusted' end }) "
        "assert(n.init_options(c, '/untrusted').trusted == false) "
        "assert(n.init_options(c, '/ok').trusted == nil) "
        'local f = dofile("editors/nvim/lsp/nixlens.lua") '
        "f.trusted = false f.root_dir = '/p' "
        "local p = {} f.before_init(p, f) "
        "assert(p.initializationOptions.trusted == false)"
    )
    result = run_nvim(nvim, "-c", f"lua {lua}", "-c", "qa!")
    assert result.returncode == 0, result.stderr
    assert "Error" not in result.stderr, result.stderr
