"""Each client gets its diagnostics one way, never both (pytest-lsp, the real server).

A client that pulls (``textDocument.diagnostic``) and can be told to pull
again (``workspace.diagnostics.refreshSupport``, as vscode-languageclient) is
offered ``diagnosticProvider`` and is never pushed diagnostics; any other
client (Neovim 0.10/0.11: pulls but has no refresh; an old VS Code: neither)
is not offered pulling and gets them pushed.  Either way a document with one
error shows exactly one diagnostic, and it goes when the error is fixed.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Sequence

import pytest
import pytest_lsp
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER = [sys.executable, "-m", "server.lsp", "--log-level", "info"]
URI = "file:///tmp/nixlens-modes/main.nix"
BROKEN = "let\n  a = { x = 1; };\nin a.y\n"  # one evaluation error: `y` missing
FIXED = "let\n  a = { x = 1; };\nin a.x\n"

Diags = Sequence[types.Diagnostic]


def pulling_capabilities() -> types.ClientCapabilities:
    """VS Code 1.65's capabilities with pulling and refresh, as vscode-languageclient 9 sends."""
    caps = client_capabilities("visual-studio-code")
    assert caps.text_document is not None and caps.workspace is not None
    caps.text_document.diagnostic = types.DiagnosticClientCapabilities(
        dynamic_registration=True, related_document_support=False
    )
    caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    return caps


CAPABILITIES: dict[str, Callable[[], types.ClientCapabilities]] = {
    "pull": pulling_capabilities,
    "neovim": lambda: client_capabilities("neovim"),  # diagnostic, no refreshSupport
    "neovim-0.10": lambda: client_capabilities("neovim@v0.10.0"),
    "visual-studio-code": lambda: client_capabilities("visual-studio-code"),  # neither
}


@pytest_lsp.fixture(params=sorted(CAPABILITIES), config=ClientServerConfig(server_command=SERVER))
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    params = types.InitializeParams(
        capabilities=CAPABILITIES[request.param](),
        workspace_folders=[types.WorkspaceFolder(uri="file:///tmp/nixlens-modes", name="m")],
    )
    result = await lsp_client.initialize_session(params)
    lsp_client.pulls = request.param == "pull"  # type: ignore[attr-defined]
    lsp_client.init_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def open_doc(client: LanguageClient, text: str) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=URI, language_id="nix", version=1, text=text)
        )
    )


def replace(client: LanguageClient, version: int, text: str) -> None:
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=version),
            content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
        )
    )


async def pulled(client: LanguageClient, previous: str | None) -> tuple[str | None, Diags | None]:
    """One pull: (result id, items; None when unchanged)."""
    report = await client.text_document_diagnostic_async(
        types.DocumentDiagnosticParams(
            text_document=types.TextDocumentIdentifier(uri=URI), previous_result_id=previous
        )
    )
    if isinstance(report, types.RelatedUnchangedDocumentDiagnosticReport):
        return report.result_id, None
    assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
    return report.result_id, report.items


async def shown(
    client: LanguageClient, want: Callable[[Diags], bool], timeout: float = 30
) -> Diags:
    """What the editor shows for ``URI`` once it satisfies ``want`` and the
    server is done with the document: for a pulling client, the items of its
    pulls, made as an editor does (on open, on change, on each refresh);
    otherwise the pushed ones."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    result_id: str | None = None
    items: Diags = []
    refreshes = -1
    while loop.time() < deadline:
        if client.pulls:  # type: ignore[attr-defined]
            if refreshes != client.diagnostic_refresh_count:
                refreshes = client.diagnostic_refresh_count
                result_id, got = await pulled(client, result_id)
                if got is not None:
                    items = got
            settled = result_id is not None and not result_id.endswith("~evaluating")
        else:
            items = client.diagnostics.get(URI, [])
            # Not pulled by this client: the server still answers a pull,
            # which says whether the evaluation is done.
            rid, _ = await pulled(client, None)
            settled = rid is not None and not rid.endswith("~evaluating")
        if settled and want(items):
            return items
        await asyncio.sleep(0.05)
    raise AssertionError(f"diagnostics shown: {items}")


def errors(diags: Diags) -> list[types.Diagnostic]:
    return [d for d in diags if d.severity == types.DiagnosticSeverity.Error]


async def test_provider_offered_only_to_a_client_that_pulls_and_refreshes(
    client: LanguageClient,
) -> None:
    provider = client.init_result.capabilities.diagnostic_provider  # type: ignore[attr-defined]
    if client.pulls:  # type: ignore[attr-defined]
        assert isinstance(provider, types.DiagnosticOptions)
        assert provider.inter_file_dependencies
    else:
        assert provider is None


async def test_one_error_shows_once_and_goes_when_fixed(client: LanguageClient) -> None:
    open_doc(client, BROKEN)
    diags = await shown(client, lambda d: bool(errors(d)))
    assert len(diags) == 1, diags
    assert diags[0].range.start.line == 2
    assert "'y' missing" in diags[0].message
    replace(client, 2, FIXED)
    assert list(await shown(client, lambda d: not d)) == []
    if client.pulls:  # type: ignore[attr-defined]
        # Told to pull (at least once per change), never pushed.
        assert client.diagnostic_refresh_count >= 2
        assert URI not in client.diagnostics
    else:
        assert client.diagnostic_refresh_count == 0
        assert URI in client.diagnostics  # pushed (the empty list after the fix)


async def test_close_clears_pushed_diagnostics_only(client: LanguageClient) -> None:
    open_doc(client, BROKEN)
    await shown(client, lambda d: bool(errors(d)))
    client.text_document_did_close(
        types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    if client.pulls:  # type: ignore[attr-defined]
        # The editor forgets a closed document's pulled diagnostics itself.
        await asyncio.sleep(0.5)
        assert URI not in client.diagnostics
    else:
        for _ in range(100):
            if list(client.diagnostics.get(URI, [None])) == []:
                break
            await asyncio.sleep(0.05)
        assert list(client.diagnostics.get(URI, [None])) == []
