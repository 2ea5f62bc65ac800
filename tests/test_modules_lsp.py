"""End to end over LSP: module files of a ``lib.evalModules`` configuration (issue 11).

A workspace built in a temporary directory: ``services.nix`` declares
``services.web``, ``config.nix`` defines it, and ``nixlens.eval.entry``
evaluates ``lib.evalModules`` over both with nixpkgs' real lib
(``../shared/nixpkgs-lib``, used in place).  Checked: option completion (also
on an unfinished line), option hover and declarations, the configuration's
errors at the definition that caused them, values of the arguments the
module system called a module with, ``lib.`` completion and doc comments.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

ROOT = Path(__file__).resolve().parent.parent
LIB = (ROOT.parent / "shared" / "nixpkgs-lib").resolve()
SERVER = [sys.executable, "-m", "server.lsp", "--log-level", "info"]

pytestmark = pytest.mark.skipif(not (LIB / "lib" / "modules.nix").exists(), reason="no nixpkgs lib")

SERVICES = """\
{ config, lib, ... }:
let
  inherit (lib) mkIf mkOption types;
  cfg = config.services.web;
  portText = toString cfg.port;
in
{
  options.services.web = {
    enable = lib.mkEnableOption "web";
    port = mkOption {
      type = types.port;
      default = 80;
      description = "Port.";
    };
    url = mkOption {
      type = types.str;
      description = "URL.";
    };
  };
  config = mkIf cfg.enable {
    services.web.url = "http://localhost:${toString cfg.port}";
    assertions = [ { assertion = cfg.port != 1; message = "port 1 is reserved"; } ];
    warnings = lib.optional (cfg.port == 8080) "port 8080 is for proxies, not ${portText}";
  };
}
"""

ASSERTIONS = """\
{ lib, ... }:
{
  options.assertions = lib.mkOption {
    type = lib.types.listOf lib.types.unspecified;
    default = [ ];
  };
  options.warnings = lib.mkOption {
    type = lib.types.listOf lib.types.str;
    default = [ ];
  };
}
"""

CONFIG = """\
{ lib, ... }:
{
  services.web.enable = true;
  services.web.port = 9090;
}
"""

Diags = Sequence[types.Diagnostic]


def _workspace() -> Path:
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"nixlens-modules-{os.getpid()}"
    base.mkdir(parents=True, exist_ok=True)
    (base / "services.nix").write_text(SERVICES)
    (base / "assertions.nix").write_text(ASSERTIONS)
    (base / "config.nix").write_text(CONFIG)
    return base


WORKSPACE = _workspace()
ENTRY = (
    f"(import {LIB}/lib).evalModules {{ modules = [ {WORKSPACE}/services.nix "
    f"{WORKSPACE}/assertions.nix {WORKSPACE}/config.nix ]; }}"
)
SETTINGS = {
    "eval": {"entry": ENTRY, "budgetMs": 10000},
    "hover": {"budgetMs": 5000},
    "sandbox": {"allowedPaths": [str(LIB)]},
    "inlayHints": {"enable": True},
}


def uri(name: str) -> str:
    return (WORKSPACE / name).as_uri()


@pytest_lsp.fixture(config=ClientServerConfig(server_command=SERVER))
async def client(lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    params = types.InitializeParams(
        capabilities=client_capabilities("visual-studio-code"),
        initialization_options={"nixlens": SETTINGS},
        workspace_folders=[types.WorkspaceFolder(uri=WORKSPACE.as_uri(), name="w")],
    )
    # The same settings answer ``workspace/configuration``.
    lsp_client.set_configuration(SETTINGS, section="nixlens")
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def wait_for(
    client: LanguageClient, doc: str, predicate: Callable[[Diags], bool], timeout: float = 20
) -> Diags:
    """Wait until the diagnostics pushed for ``doc`` satisfy ``predicate``."""

    async def loop() -> Diags:
        while not (doc in client.diagnostics and predicate(client.diagnostics[doc])):
            await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        return client.diagnostics[doc]

    try:
        return await asyncio.wait_for(loop(), timeout)
    except TimeoutError:
        raise AssertionError(f"diagnostics of {doc}: {client.diagnostics.get(doc)}") from None


def evaluated(d: Diags) -> bool:
    """No errors (the fixture's lints are hints)."""
    return not any(x.severity == types.DiagnosticSeverity.Error for x in d)


async def open_and_settle(client: LanguageClient, name: str, text: str) -> None:
    """Open ``name`` with ``text`` and wait until its evaluation has been published."""
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(
                uri=uri(name), language_id="nix", version=1, text=text
            )
        )
    )
    await wait_for(client, uri(name), lambda d: True)
    # The evaluation layer follows the static one: a pull reports it settled.
    for _ in range(600):
        report = await client.text_document_diagnostic_async(
            types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri(name)))
        )
        if isinstance(report, types.RelatedFullDocumentDiagnosticReport) and not (
            report.result_id or ""
        ).endswith("~evaluating"):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the evaluation never settled")


def replace_all(client: LanguageClient, name: str, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri(name), version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


def position(text: str, needle: str, delta: int = 0) -> types.Position:
    offset = text.index(needle) + delta
    line = text.count("\n", 0, offset)
    return types.Position(line, offset - (text.rfind("\n", 0, offset) + 1))


async def hover(client: LanguageClient, name: str, pos: types.Position) -> str:
    result = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri(name)), position=pos)
    )
    assert result is not None and isinstance(result.contents, types.MarkupContent)
    return result.contents.value


async def complete(client: LanguageClient, name: str, pos: types.Position) -> types.CompletionList:
    result = await client.text_document_completion_async(
        types.CompletionParams(text_document=types.TextDocumentIdentifier(uri(name)), position=pos)
    )
    assert isinstance(result, types.CompletionList)
    return result


async def test_option_completion_while_typing(client: LanguageClient) -> None:
    await open_and_settle(client, "config.nix", CONFIG)
    typing = CONFIG.replace("  services.web.port", "  services.web.\n  services.web.port")
    replace_all(client, "config.nix", 2, typing)
    found = await complete(client, "config.nix", position(typing, "web.\n", 4))
    items = {i.label: i for i in found.items}
    assert {"enable", "port", "url"} <= set(items)
    assert items["port"].detail is not None and "16 bit unsigned integer" in items["port"].detail
    doc = items["port"].documentation
    assert doc is not None and "Port." in (doc if isinstance(doc, str) else doc.value)
    # Inside a nested set under mkIf.
    nested = "{ lib, ... }:\n{\n  services = lib.mkIf true { web.p };\n}\n"
    replace_all(client, "config.nix", 3, nested)
    found = await complete(client, "config.nix", position(nested, "web.p", 5))
    assert [i.label for i in found.items] == ["port"]


async def test_option_hover_and_declaration(client: LanguageClient) -> None:
    await open_and_settle(client, "config.nix", CONFIG)
    text = await hover(client, "config.nix", position(CONFIG, "port", 1))
    assert "services.web.port" in text
    assert "16 bit unsigned integer" in text and "Port." in text
    assert "`9090`" in text and "`80`" in text
    assert "services.nix" in text
    locs = await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri("config.nix")),
            position=position(CONFIG, "port", 1),
        )
    )
    assert isinstance(locs, list) and locs
    loc = locs[0]
    assert isinstance(loc, types.Location)
    assert loc.uri == uri("services.nix")
    assert loc.range.start == position(SERVICES, "port = mkOption")


async def test_option_errors_at_the_definition(client: LanguageClient) -> None:
    await open_and_settle(client, "config.nix", CONFIG)
    assert evaluated(client.diagnostics[uri("config.nix")])
    wrong_name = CONFIG.replace("port = 9090", "prot = 9090")
    replace_all(client, "config.nix", 2, wrong_name)
    diags = await wait_for(
        client, uri("config.nix"), lambda d: any(x.code == "option_undefined" for x in d)
    )
    d = next(x for x in diags if x.code == "option_undefined")
    assert d.range.start.line == 3
    assert "The option `services.web.prot' does not exist" in d.message
    assert "Did you mean `services.web.port'" in d.message
    assert "\x1b" not in d.message
    wrong_type = CONFIG.replace("9090", '"x"')
    replace_all(client, "config.nix", 3, wrong_type)
    diags = await wait_for(
        client, uri("config.nix"), lambda d: any(x.code == "option_type" for x in d)
    )
    d = next(x for x in diags if x.code == "option_type")
    assert d.range.start.line == 3
    assert "is not of type `16 bit unsigned integer" in d.message
    assert not any(x.code == "option_undefined" for x in diags)
    conflict = CONFIG.replace(
        "  services.web.port", '  services.web.url = "x";\n  services.web.port'
    )
    replace_all(client, "config.nix", 4, conflict)
    diags = await wait_for(
        client, uri("config.nix"), lambda d: any(x.code == "option_conflict" for x in d)
    )
    d = next(x for x in diags if x.code == "option_conflict")
    assert d.range.start.line == 3
    assert "`services.web.url' has conflicting definition values" in d.message
    replace_all(client, "config.nix", 5, CONFIG)
    await wait_for(client, uri("config.nix"), evaluated)


async def test_configuration_assertions(client: LanguageClient) -> None:
    await open_and_settle(client, "services.nix", SERVICES)
    assert evaluated(client.diagnostics[uri("services.nix")])
    failing = SERVICES.replace("cfg.port != 1", "cfg.port != 9090")
    replace_all(client, "services.nix", 2, failing)
    diags = await wait_for(
        client, uri("services.nix"), lambda d: any(x.code == "config_assertion" for x in d)
    )
    d = next(x for x in diags if x.code == "config_assertion")
    assert d.message == "port 1 is reserved"
    assert d.range.start == position(failing, "assertions = [")
    warning = SERVICES.replace("cfg.port == 8080", "cfg.port == 9090")
    replace_all(client, "services.nix", 3, warning)
    diags = await wait_for(
        client, uri("services.nix"), lambda d: any(x.code == "config_warning" for x in d)
    )
    d = next(x for x in diags if x.code == "config_warning")
    assert d.message == "port 8080 is for proxies, not 9090"
    assert d.severity == types.DiagnosticSeverity.Warning
    assert d.range.start == position(warning, "warnings =")
    assert not any(x.code == "config_assertion" for x in diags)


async def test_module_arguments_from_the_configuration(client: LanguageClient) -> None:
    await open_and_settle(client, "services.nix", SERVICES)
    text = await hover(client, "services.nix", position(SERVICES, "cfg.port", 5))
    assert "9090" in text
    assert "module system" in text and "evalModules" in text  # where the values come from
    assert "**option** `services.web.port`" in text  # the option it reads
    locs = await client.text_document_definition_async(
        types.DefinitionParams(
            text_document=types.TextDocumentIdentifier(uri("services.nix")),
            position=position(SERVICES, "cfg.port", 5),
        )
    )
    assert isinstance(locs, list) and [loc.range.start for loc in locs] == [  # type: ignore[union-attr]
        position(SERVICES, "port = mkOption")
    ]
    # `lib.` completes from the lib the module system passed.
    typing = SERVICES.replace('lib.mkEnableOption "web"', "lib.")
    replace_all(client, "services.nix", 2, typing)
    found = await complete(client, "services.nix", position(typing, "lib.;", 4))
    assert found.is_incomplete  # lib has more names than one answer holds
    assert {"attrsets", "strings"} & {i.label for i in found.items}
    # `cfg.` reads the configuration: its names are options.
    typing = SERVICES.replace("mkIf cfg.enable", "mkIf cfg.")
    replace_all(client, "services.nix", 3, typing)
    found = await complete(client, "services.nix", position(typing, "cfg. ", 4))
    items = {i.label: i for i in found.items}
    assert {"enable", "port", "url"} <= set(items)
    assert items["port"].kind == types.CompletionItemKind.Property
    assert items["port"].detail is not None and "16 bit unsigned" in items["port"].detail
    typing = SERVICES.replace('lib.mkEnableOption "web"', "lib.mkEn")
    replace_all(client, "services.nix", 4, typing)
    found = await complete(client, "services.nix", position(typing, "lib.mkEn;", 8))
    assert found.items[0].label == "mkEnableOption"


async def test_values_follow_an_edit_of_another_module(client: LanguageClient) -> None:
    """An edit of config.nix changes what services.nix's evaluation saw: a
    hover there shows the new value, asked at once after the edit (it waits
    for the evaluation that replaces the stale values) and again later."""
    await open_and_settle(client, "services.nix", SERVICES)
    await open_and_settle(client, "config.nix", CONFIG)
    at_port = position(SERVICES, "cfg.port", 5)
    assert "9090" in await hover(client, "services.nix", at_port)
    replace_all(client, "config.nix", 2, CONFIG.replace("9090", "7070"))
    text = await hover(client, "services.nix", at_port)
    assert "7070" in text and "9090" not in text
    replace_all(client, "config.nix", 3, CONFIG.replace("9090", "6060"))
    await asyncio.sleep(3)  # no hover meanwhile: services.nix is evaluated again anyway
    text = await hover(client, "services.nix", at_port)
    assert "6060" in text and "7070" not in text
    replace_all(client, "config.nix", 4, CONFIG)
    assert "9090" in await hover(client, "services.nix", at_port)


async def test_inlay_hints_with_module_arguments(client: LanguageClient) -> None:
    await open_and_settle(client, "services.nix", SERVICES)
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri("services.nix")),
            range=types.Range(start=types.Position(0, 0), end=types.Position(30, 0)),
        )
    )
    labels = [h.label for h in hints or []]
    assert '= "9090"' in labels


async def test_options_only_in_files_the_configuration_imports(client: LanguageClient) -> None:
    other = "{ lib, ... }:\n{\n  services.web.enable = true;\n}\n"
    (WORKSPACE / "other.nix").write_text(other)
    await open_and_settle(client, "other.nix", other)
    typing = other.replace("  services.web.enable", "  services.web.\n  services.web.enable")
    replace_all(client, "other.nix", 2, typing)
    found = await complete(client, "other.nix", position(typing, "web.\n", 4))
    assert not {"port", "url"} & {i.label for i in found.items}
    text = await hover(client, "other.nix", position(other, "enable", 1))
    assert "option" not in text


async def test_doc_comment_hover(client: LanguageClient) -> None:
    await open_and_settle(client, "services.nix", SERVICES)
    text = await hover(client, "services.nix", position(SERVICES, "mkEnableOption", 3))
    assert "Creates an option declaration with a default value of `false`" in text
    # A declaration's key shows the option too.
    text = await hover(client, "services.nix", position(SERVICES, "port = mkOption", 1))
    assert "services.web.port" in text and "`9090`" in text
