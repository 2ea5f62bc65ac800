"""End to end over LSP: flake projects (inputs in a temporary store), NIX_PATH, progress."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable, Sequence

import pytest
from lsprotocol import types
from projects import NIXPKGS_LIB, ROOT, Project, ProjectFactory
from pygls.uris import from_fs_path
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER = [sys.executable, "-m", "server.lsp", "--log-level", "info"]

Diags = Sequence[types.Diagnostic]


@contextlib.asynccontextmanager
async def server(
    folder: str,
    env: dict[str, str],
    tmp: str,
    client_name: str = "visual-studio-code",
    options: dict[str, object] | None = None,
) -> AsyncIterator[LanguageClient]:
    """The real server with ``env`` added to its environment, ``folder`` as workspace."""
    full = {
        **os.environ,
        "PYTHONPATH": ROOT,
        "XDG_CACHE_HOME": os.path.join(tmp, "cache"),
        **env,
    }
    full.pop("NIX_PATH", None) if "NIX_PATH" not in env else None
    client = await ClientServerConfig(server_command=SERVER, server_env=full).start()
    assert isinstance(client, LanguageClient)
    uri = from_fs_path(folder) or folder
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(client_name),
            workspace_folders=[types.WorkspaceFolder(uri=uri, name="ws")],
            root_uri=uri,
            initialization_options=options,
        )
    )
    try:
        yield client
    finally:
        await client.shutdown_session()


def uri_of(path: str) -> str:
    return from_fs_path(path) or path


def open_file(client: LanguageClient, path: str, text: str | None = None) -> str:
    uri = uri_of(path)
    if text is None:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="nix", version=1, text=text)
        )
    )
    return uri


async def wait_for(
    client: LanguageClient, uri: str, predicate: Callable[[Diags], bool], timeout: float = 60
) -> Diags:
    async def loop() -> Diags:
        while not (uri in client.diagnostics and predicate(client.diagnostics[uri])):
            await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        return client.diagnostics[uri]

    return await asyncio.wait_for(loop(), timeout)


async def hover_text(client: LanguageClient, uri: str, line: int, character: int) -> str:
    hover = await client.text_document_hover_async(
        types.HoverParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=types.Position(line, character),
        )
    )
    assert hover is not None
    assert isinstance(hover.contents, types.MarkupContent)
    return hover.contents.value


def errors(diags: Diags) -> list[types.Diagnostic]:
    return [d for d in diags if d.severity == types.DiagnosticSeverity.Error]


def line_of(path: str, needle: str) -> tuple[int, int]:
    with open(path, encoding="utf-8") as f:
        for i, line in enumerate(f):
            if needle in line:
                return i, line.index(needle)
    raise AssertionError(f"{needle!r} not in {path}")


@pytest.fixture
def demo(projects: ProjectFactory) -> Project:
    return projects.demo()


async def test_assert_in_a_module_shows_in_that_module(demo: Project, tmp_path: object) -> None:
    services = demo.path("services.nix")
    async with server(demo.root, demo.env(), str(tmp_path)) as client:
        uri = open_file(client, services)
        await wait_for(client, uri, lambda d: not d)
        # The module is evaluated as configurations.demo calls it: `config` is
        # that configuration's (config.nix sets the port).
        line, col = line_of(services, "cfg = config.services.web")
        for _ in range(100):
            text = await hover_text(client, uri, line, col + 1)
            if "depends on the function argument" not in text:
                break
            await asyncio.sleep(0.2)
        assert "port = 9090" in text, text
        # Reached through configurations.demo (port 9090): make the assertion fail.
        line, col = line_of(services, "cfg.port > 1024")
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line, col + len("cfg.port > ")),
                            end=types.Position(line, col + len("cfg.port > 1024")),
                        ),
                        text="10000",
                    )
                ],
            )
        )
        diags = await wait_for(client, uri, lambda d: any(x.code == "assertion_failed" for x in d))
        d = next(x for x in diags if x.code == "assertion_failed")
        assert d.range.start.line == line
        assert "10000" in d.message and "services.web.url" in d.message


async def test_progress_and_hover_of_an_input_in_flake_nix(demo: Project, tmp_path: object) -> None:
    flake = demo.path("flake.nix")
    async with server(demo.root, demo.env(), str(tmp_path)) as client:
        uri = open_file(client, flake)
        await wait_for(client, uri, lambda d: errors(d) == [] and d != [])
        line, col = line_of(flake, "nixpkgs.lib.version")
        # The inputs are the arguments the flake's evaluation passed to
        # `outputs`: once it has run (it follows the static diagnostics).
        for _ in range(100):
            text = await hover_text(client, uri, line, col + len("nixpkgs.lib.ver"))
            if "depends on the function argument" not in text:
                break
            await asyncio.sleep(0.2)
        # nixpkgs' lib version, with the locked input's date and revision.
        assert '"26.11.20260614.de42d44"' in text, text
        line, col = line_of(flake, "answer = lib.add 40 2")
        assert "42" in await hover_text(client, uri, line, col + 2)
        # The context was loaded with $/progress (VS Code supports it).
        reports = [v for vs in client.progress_reports.values() for v in vs]
        kinds = [getattr(v, "kind", None) for v in reports]
        assert kinds[0] == "begin" and kinds[-1] == "end", kinds
        assert any(getattr(v, "message", "") == "evaluating configurations.demo" for v in reports)


async def test_missing_inputs_get_one_diagnostic_each(
    projects: ProjectFactory, tmp_path: object
) -> None:
    p = projects.missing()
    flake = p.path("flake.nix")
    async with server(p.root, p.env(), str(tmp_path), "neovim") as client:
        uri = open_file(client, flake)
        diags = await wait_for(
            client, uri, lambda d: sum(x.code == "flake_input_missing" for x in d) == 2
        )
        # No cascade: `libVersion` needs nixpkgs, and is not reported.
        assert errors(diags) == []
        diags = [x for x in diags if x.code == "flake_input_missing"]
        assert {x.severity for x in diags} == {types.DiagnosticSeverity.Warning}
        by_line = {x.range.start.line: x for x in diags}
        line, col = line_of(flake, "nixpkgs.url")
        assert by_line[line].range.start.character == col
        assert "flake input 'nixpkgs'" in by_line[line].message
        assert "nix flake archive" in by_line[line].message
        line, _ = line_of(flake, "utils.url")
        assert "flake input 'utils'" in by_line[line].message
        # Static features and the rest of the flake keep working.
        line, col = line_of(flake, "own = import")
        assert "hello" in await hover_text(client, uri, line, col + 1)


async def test_broken_lock_is_explained_on_the_inputs(
    projects: ProjectFactory, tmp_path: object
) -> None:
    p = projects.broken()
    flake = p.path("flake.nix")
    async with server(p.root, p.env(), str(tmp_path), "neovim") as client:
        uri = open_file(client, flake)
        diags = await wait_for(
            client, uri, lambda d: sum(x.code == "flake_input_missing" for x in d) == 2
        )
        assert errors(diags) == []
        line, col = line_of(flake, "utils.url")
        d = next(x for x in diags if x.range.start.line == line)
        assert d.range.start.character == col
        assert "not valid JSON" in d.message and "nix flake archive" in d.message
        # A module of the flake with an error of its own still gets it.
        own = p.path("own.nix")
        own_uri = open_file(client, own, '{ greeting = 1 + "x"; }')
        own_diags = await wait_for(client, own_uri, lambda d: bool(d))
        assert own_diags[0].code == "eval_error"


async def test_nix_path_from_the_server_environment(tmp_path: object) -> None:
    folder = os.path.join(str(tmp_path), "ws")
    os.makedirs(folder)
    main = os.path.join(folder, "main.nix")
    text = 'let lib = import <nixpkgs/lib>; up = lib.strings.toUpper "ok"; in up\n'
    with open(main, "w", encoding="utf-8") as f:
        f.write(text)
    env = {"NIX_PATH": f"nixpkgs={NIXPKGS_LIB}"}
    # The first hover imports and compiles all of lib: more than the default 200 ms.
    options = {"hover": {"budgetMs": 10000}}
    async with server(folder, env, str(tmp_path), "neovim", options) as client:
        uri = open_file(client, main)
        await wait_for(client, uri, lambda d: not d)
        assert '"OK"' in await hover_text(client, uri, 0, text.rindex("up") + 1)
        # And a wrong entry is an error naming the search path.
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangeWholeDocument(text="import <nope>")
                ],
            )
        )
        diags = await wait_for(client, uri, lambda d: bool(d))
        assert "nope" in diags[0].message


async def test_an_edit_of_flake_nix_reloads_the_context(demo: Project, tmp_path: object) -> None:
    extra = demo.path("extra.nix")
    with open(extra, "w", encoding="utf-8") as f:
        f.write("{\n  services.web.port = 80;\n}\n")
    flake = demo.path("flake.nix")
    async with server(demo.root, demo.env(), str(tmp_path), "neovim") as client:
        flake_uri = open_file(client, flake)
        extra_uri = open_file(client, extra)
        await wait_for(client, flake_uri, lambda d: errors(d) == [] and d != [])
        await wait_for(client, extra_uri, lambda d: errors(d) == [])
        # Unsaved: a configuration importing extra.nix, whose port fails services.nix's assert.
        line, col = line_of(flake, "answer = ")
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=flake_uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line, col), end=types.Position(line, col)
                        ),
                        text="configurations.extra = lib.evalModules "
                        "{ modules = [ ./services.nix ./extra.nix ]; };\n      ",
                    )
                ],
            )
        )
        diags = await wait_for(client, extra_uri, lambda d: bool(errors(d)))
        (d,) = errors(diags)
        assert d.code == "assertion_failed" and "services.web.url" in d.message


async def test_the_entry_setting_overrides_discovery(demo: Project, tmp_path: object) -> None:
    services = demo.path("services.nix")
    options = {"eval": {"entry": 'throw "from the setting"'}}
    async with server(demo.root, demo.env(), str(tmp_path), "neovim", options) as client:
        uri = open_file(client, services)
        diags = await wait_for(client, uri, lambda d: bool(errors(d)))
        assert "from the setting" in errors(diags)[0].message
        assert client.progress_reports == {}  # no project was loaded


async def test_option_error_appears_and_goes(demo: Project, tmp_path: object) -> None:
    """Done-when of issue 11 (its timing is measured by bench/bench_options.py):
    with default settings, an edit of config.nix that gives the port a string
    shows the module system's type error at that definition, and undoing the
    edit removes it (each within a generous timeout)."""
    config = demo.path("config.nix")
    async with server(demo.root, demo.env(), str(tmp_path)) as client:
        uri = open_file(client, config)
        await wait_for(client, uri, lambda d: errors(d) == [])
        line, col = line_of(config, "9090")
        for version, (text, old) in enumerate([('"x"', 4), ("9090", 3)], start=2):
            client.text_document_did_change(
                types.DidChangeTextDocumentParams(
                    text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                    content_changes=[
                        types.TextDocumentContentChangePartial(
                            range=types.Range(
                                start=types.Position(line, col),
                                end=types.Position(line, col + old),
                            ),
                            text=text,
                        )
                    ],
                )
            )
            if version == 2:
                diags = await wait_for(
                    client, uri, lambda d: any(x.code == "option_type" for x in d), timeout=30
                )
                d = next(x for x in diags if x.code == "option_type")
                assert d.range.start.line == line
                assert "services.web.port" in d.message and "is not of type" in d.message
            else:
                await wait_for(client, uri, lambda d: errors(d) == [], timeout=30)


async def test_paths_in_flake_nix_are_in_the_flakes_store_copy(
    demo: Project, tmp_path: object
) -> None:
    """As Nix evaluates a flake from its store copy, `toString ./x` in
    flake.nix is a path in that copy (computed from the workspace, the
    unsaved buffer included), not the workspace path."""
    from evaluator.eval import Evaluator
    from evaluator.io import OverlayIO

    flake = demo.path("flake.nix")
    with open(flake, encoding="utf-8") as f:
        text = f.read().replace(
            "answer = lib.add 40 2;", "answer = lib.add 40 2;\n      src = toString ./web.nix;"
        )
    ev = Evaluator(store_dir=demo.store_dir, io=OverlayIO({flake: text.encode()}))
    ev.experimental_features = {"flakes"}
    out = ev.eval_text(f'(builtins.getFlake "path:{demo.root}").outPath'.encode(), "/t.nix")
    expected = f"{out}/web.nix"
    assert expected.startswith(demo.store_dir + "/")
    async with server(demo.root, demo.env(), str(tmp_path)) as client:
        uri = open_file(client, flake, text)
        await wait_for(client, uri, lambda d: errors(d) == [] and d != [])
        line, col = line_of(flake, "answer = lib.add 40 2")
        for _ in range(100):  # the flake's evaluation follows the static layer
            hover = await hover_text(client, uri, line + 1, col + 1)  # `src`
            if demo.store_dir in hover:
                break
            await asyncio.sleep(0.2)
        assert f'"{expected}"' in hover, hover
