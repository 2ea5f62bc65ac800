"""Projects on the helper-process architecture: ``project_load`` and project
evaluations in one ``AnalysisHost`` (no process), and option features in a
flake's module file over LSP (the context loaded in a helper, the module
evaluated there as the configuration that imports it)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import threading
import time
from typing import Any

import pytest
from lsp_client import LspClient
from lsprotocol import types
from projects import ROOT, Project, ProjectFactory
from pygls.uris import from_fs_path
from test_project_lsp import open_file, server, wait_for

from evaluator.errors import EvalLimit
from evaluator.project.context import find_project
from server.host import AnalysisHost, Request
from server.wire import Context, ProjectRef


@pytest.fixture
def demo(projects: ProjectFactory, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the disk cache of inputs
    return projects.demo()


def _open(host: AnalysisHost, path: str, text: bytes | None = None) -> str:
    uri = "file://" + path
    if text is None:
        with open(path, "rb") as f:
            text = f.read()
    host.open(uri, path, 1, text, True)
    return uri


def test_load_and_evaluate_in_a_host(demo: Project) -> None:
    host = AnalysisHost()
    config = demo.path("config.nix")
    uri = _open(host, config)
    spec = find_project(config, [demo.root], demo.store_dir)
    assert spec is not None
    steps: list[tuple[str, int]] = []
    req = Request(host.view(uri), Context())
    req.progress = lambda message, pct: steps.append((message, pct))
    key = (spec.root, 1)
    ctx = host.run("project_load", req, (key, spec, "test"))
    assert [m for m, _ in steps] == [
        "reading flake.lock",
        "discovering entries",
        "evaluating configurations.demo",
        "evaluating nixosConfigurations.web",
        "ready",
    ]
    entry = ctx.entry_for(config)
    assert entry is not None and entry.label == "configurations.demo"
    # The loading host kept the context: the reference alone is enough.
    done = host.run("evaluate", Request(host.view(uri), Context()), (ProjectRef(key, entry),))
    assert not done.needs_project and done.diagnostics == []
    kept = host.results[uri][1]
    assert kept.origin == "configurations.demo" and kept.context is not None
    # Another helper has not got it: it says so, and takes it when sent.
    other = AnalysisHost()
    other_uri = _open(other, config)
    bare = Request(other.view(other_uri), Context())
    assert other.run("evaluate", bare, (ProjectRef(key, entry),)).needs_project
    sent = other.run("evaluate", bare, (ProjectRef(key, entry, ctx),))
    assert not sent.needs_project and sent.diagnostics == []
    assert other.run("evaluate", bare, (ProjectRef(key, entry),)).diagnostics == []


def test_option_checks_of_a_module_evaluated_as_its_entry(demo: Project) -> None:
    host = AnalysisHost()
    config = demo.path("config.nix")
    text = b"{ lib, ... }:\n{\n  services.web.port = 9090;\n  services.web.prot = 1;\n}\n"
    uri = _open(host, config, text)
    spec = find_project(config, [demo.root], demo.store_dir)
    assert spec is not None
    req = Request(host.view(uri), Context())
    ctx = host.run("project_load", req, ((spec.root, 1), spec, "test"))
    entry = ctx.entry_for(config)
    assert entry is not None
    ref = ProjectRef((spec.root, 1), entry)
    done = host.run("evaluate", Request(host.view(uri), Context(budget_ms=20_000)), (ref,))
    undefined = [d for d in done.diagnostics if d.code == "option_undefined"]
    assert undefined and undefined[0].span is not None
    assert text[undefined[0].span.start : undefined[0].span.end].startswith(b"services.web.prot")
    # Option completion from the configuration the evaluation kept.
    at = text.index(b"services.web.port") + len(b"services.web.")
    items = host.run("completion", Request(host.view(uri), Context()), (at,))
    assert {"port", "enable", "url"} <= {i.label for i in items}


def test_a_cancelled_load_stops(demo: Project) -> None:
    host = AnalysisHost()
    config = demo.path("config.nix")
    uri = _open(host, config)
    spec = find_project(config, [demo.root], demo.store_dir)
    assert spec is not None
    req = Request(host.view(uri), Context())
    req.cancel.set()
    errors: list[BaseException] = []

    def run() -> None:
        try:
            host.run("project_load", req, ((spec.root, 1), spec, "test"))
        except EvalLimit as err:
            errors.append(err)

    worker = threading.Thread(target=run)
    worker.start()
    worker.join(30)
    assert not worker.is_alive() and errors and errors[0].kind == "cancelled"
    assert host.projects == {}


async def test_option_hover_and_completion_in_a_flake_module(demo: Project, tmp_path: Any) -> None:
    config = demo.path("config.nix")
    # A budget the machine's load cannot exhaust (the default is 2 s).
    options = {"eval": {"budgetMs": 30_000}}
    async with server(demo.root, demo.env(), str(tmp_path), "neovim", options) as client:
        uri = open_file(client, config)
        # `lib` is unused there: only that hint.
        await wait_for(client, uri, lambda d: [x.code for x in d] == ["unused_formal"])
        with open(config, encoding="utf-8") as f:
            lines = f.read().splitlines()
        line = next(i for i, text in enumerate(lines) if "services.web.port" in text)
        col = lines[line].index("port")
        where = types.TextDocumentPositionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line, col + 1),
        )
        text = ""
        for _ in range(100):  # the evaluation follows the static layer
            hover = await client.text_document_hover_async(
                types.HoverParams(text_document=where.text_document, position=where.position)
            )
            markup = hover.contents if hover is not None else None
            text = markup.value if isinstance(markup, types.MarkupContent) else ""
            if "Port the web service listens on." in text:
                break
            await asyncio.sleep(0.2)
        assert "Port the web service listens on." in text, text
        assert "configurations.demo" in text
        found = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=where.text_document, position=types.Position(line, col)
            )
        )
        assert found is not None
        items = found.items if isinstance(found, types.CompletionList) else found
        assert {"port", "enable", "url"} <= {i.label for i in items}


def test_a_replaced_helper_gets_the_context_again(demo: Project, tmp_path: Any) -> None:
    """The server sends a loaded context with the first evaluation a helper
    makes in it: a helper started after a crash gets it too."""
    env = {**os.environ, "PYTHONPATH": ROOT, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    env.pop("NIX_PATH", None)
    env.update(demo.env())
    config = demo.path("config.nix")
    uri = from_fs_path(config) or config
    with open(config, encoding="utf-8") as f:
        text = f.read()
    line = text.splitlines().index("  services.web.port = 9090;")
    on_port = {"line": line, "character": len("  services.web.po")}
    with LspClient(env=env) as client:
        options = {"workers": 1, "eval": {"budgetMs": 30_000}}
        client.initialize(options, root=from_fs_path(demo.root) or demo.root)
        client.open(uri, text)

        hover = ""
        for _ in range(300):  # until evaluated as configurations.demo
            got = client.request(
                "textDocument/hover", {"textDocument": {"uri": uri}, "position": on_port}
            )
            hover = got["contents"]["value"] if got is not None else ""
            if "Port the web service" in hover:
                break
            time.sleep(0.2)
        assert "Port the web service" in hover, hover
        # The document's helper (the other child is the project loader).
        found = re.search(r"project loader is helper \d+ \(pid (\d+)\)", client.stderr_text())
        assert found is not None, client.stderr_text()
        loader = int(found.group(1))
        (pid,) = [p for p in client.helper_pids() if p != loader]
        os.kill(pid, signal.SIGKILL)

        def replaced() -> bool:
            pids = client.helper_pids()
            return pid not in pids and len(pids) == 2

        assert client.wait_until(replaced, 30)
        bad = text.replace("9090;", "9090;\n  services.web.prot = 1;")
        client.change(uri, 2, [{"text": bad}])

        def undefined() -> bool:
            return any(
                v == 2 and any(d.get("code") == "option_undefined" for d in diags)
                for v, diags, _t in client.diagnostics.get(uri, [])
            )

        assert client.wait_until(undefined, 60), client.diagnostics.get(uri)
