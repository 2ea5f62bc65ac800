"""Workspace trust: a client says ``trusted: false`` and the server runs static features only.

The real server over stdio (pytest-lsp), once trusted and once not, on the
same text: lints always, evaluation diagnostics, hover values and a
formatter program only when trusted; settings sent later cannot undo it.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from server import settings as settings_mod
from server.settings import Settings

SERVER = [sys.executable, "-m", "server.lsp", "--log-level", "info"]
URI = "file:///tmp/nixlens-trust/main.nix"
TEXT = 'let\n  unused = 1;\n  t = builtins.trace "traced" 2;\nin\nassert t == 2; t\n'
FORMATTER = {"command": [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read())"]}


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    # Parametrized indirectly with the initializationOptions.
    registrations: list[types.Registration] = []
    lsp_client.registrations = registrations  # type: ignore[attr-defined]

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(ls: LanguageClient, params: types.RegistrationParams) -> None:
        registrations.extend(params.registrations)

    params = types.InitializeParams(
        capabilities=client_capabilities("neovim"),
        initialization_options=request.param,
        workspace_folders=[types.WorkspaceFolder(uri="file:///tmp/nixlens-trust", name="t")],
    )
    result = await lsp_client.initialize_session(params)
    lsp_client.init_result = result  # type: ignore[attr-defined]
    lsp_client.options = request.param  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def open_doc(client: LanguageClient, text: str = TEXT) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=URI, language_id="nix", version=1, text=text)
        )
    )


async def settled_diagnostics(client: LanguageClient) -> Sequence[types.Diagnostic]:
    """Pull diagnostics until the server says every layer is done for this version."""
    params = types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=URI))
    for _ in range(300):
        report = await client.text_document_diagnostic_async(params)
        assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
        if report.result_id is not None and not report.result_id.endswith("~evaluating"):
            return report.items
        await asyncio.sleep(0.05)
    raise AssertionError("diagnostics never settled")


def codes(diags: Sequence[types.Diagnostic]) -> set[str]:
    return {str(d.code) for d in diags}


async def hover_at_t(client: LanguageClient) -> types.Hover | None:
    position = types.Position(4, 15)  # the final `t`
    return await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=URI), position=position)
    )


TRUSTED: list[Any] = [None, {"formatting": FORMATTER}]
UNTRUSTED: list[Any] = [
    {"trusted": False, "formatting": FORMATTER, "eval": {"entry": "import /etc { }"}},
    {"nixlens": {"formatting": FORMATTER}, "trusted": False},
]


@pytest.mark.parametrize("client", TRUSTED, indirect=True)
async def test_trusted_workspace_evaluates(client: LanguageClient) -> None:
    open_doc(client)
    diags = await settled_diagnostics(client)
    assert {"unused_binding", "trace"} <= codes(diags)
    hover = await hover_at_t(client)
    assert hover is not None and "2" in str(hover.contents)
    # The formatter is offered (dynamically) when a command is set.
    options = client.options  # type: ignore[attr-defined]
    assert formatting_registered(client) == bool(options and options.get("formatting"))


def formatting_registered(client: LanguageClient) -> bool:
    registrations = client.registrations  # type: ignore[attr-defined]
    return any(r.method == types.TEXT_DOCUMENT_FORMATTING for r in registrations)


@pytest.mark.parametrize("client", UNTRUSTED, indirect=True)
async def test_untrusted_workspace_is_static_only(client: LanguageClient) -> None:
    caps = client.init_result.capabilities  # type: ignore[attr-defined]
    assert caps.hover_provider  # still offered: it answers nothing instead of evaluating
    open_doc(client)
    diags = await settled_diagnostics(client)
    assert "unused_binding" in codes(diags)
    assert "trace" not in codes(diags)
    assert await hover_at_t(client) is None
    # No formatter program is offered (a registration follows `initialized`,
    # long before the diagnostics settle).
    assert not formatting_registered(client)
    assert not caps.document_formatting_provider


@pytest.mark.parametrize("client", [{"trusted": False}], indirect=True)
async def test_settings_changes_cannot_trust_an_untrusted_workspace(
    client: LanguageClient,
) -> None:
    open_doc(client)
    await settled_diagnostics(client)
    # A workspace settings file may say anything; trust comes from initialize only.
    client.set_configuration(
        {"trusted": True, "eval": {"enable": True}, "diagnostics": {"ignore": ["unused_binding"]}},
        section="nixlens",
    )
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    for _ in range(100):  # the other settings do apply: wait for the lint to go
        diags = await settled_diagnostics(client)
        if "unused_binding" not in codes(diags):
            break
        await asyncio.sleep(0.05)
    assert codes(diags) == set()
    assert await hover_at_t(client) is None


def test_trusted_flag_is_read_only_when_false() -> None:
    read = settings_mod.trusted_from_initialization_options
    assert read(None) and read({}) and read({"trusted": True}) and read({"trusted": "no"})
    assert not read({"trusted": False})
    assert not read({"nixlens": {"trusted": False}})


def test_restrict_clears_every_widening_setting() -> None:
    raw = {
        "eval": {"entry": "import ./. { }", "budgetMs": 50},
        "searchPath": ["nixpkgs=/x"],
        "inlayHints": {"enable": True},
        "formatting": {"command": ["nixfmt"]},
        "sandbox": {"enable": False, "allowedPaths": ["/"]},
    }
    loaded, problems = settings_mod.load(raw)
    assert problems == []
    assert settings_mod.restrict(loaded, True) is loaded
    got = settings_mod.restrict(loaded, False)
    assert not got.eval.enable and got.eval.entry == "" and got.eval.budget_ms == 50
    assert got.search_path == [] and got.formatting.command == []
    assert not got.inlay_hints.enable
    assert got.sandbox == Settings().sandbox
