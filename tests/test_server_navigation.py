"""End to end: the navigation and editing requests of the real server over stdio."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_lsp
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

from evaluator.ide._doc import analyse, chain_to, node_at
from evaluator.walk import children, walk

SERVER = [sys.executable, "-m", "server.lsp", "--log-level", "info"]
UPPER = [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.read().upper())"]
FAIL = [sys.executable, "-c", "import sys; sys.stderr.write('bad input\\n'); sys.exit(3)"]

# A server whose ``definition`` analysis raises, to see that a failing handler
# answers that one request with an error and the server keeps serving.  The
# analyses run in helper processes: their answer for ``definition`` is an
# error, as a helper answers an analysis that raised (``server.helper``).
BROKEN_DEFINITION = [
    sys.executable,
    "-c",
    "import sys\n"
    "from server import workers\n"
    "call = workers.Pool.call\n"
    "async def boom(self, kind, *args, **kwargs):\n"
    "    if kind == 'definition':\n"
    "        raise workers.HelperError('RuntimeError: analysis exploded')\n"
    "    return await call(self, kind, *args, **kwargs)\n"
    "workers.Pool.call = boom\n"
    "from server.lsp import main\n"
    "sys.exit(main([]))\n",
]


def rng(l1: int, c1: int, l2: int, c2: int) -> types.Range:
    return types.Range(start=types.Position(l1, c1), end=types.Position(l2, c2))


def pos(line: int, character: int) -> types.Position:
    return types.Position(line, character)


@pytest_lsp.fixture(params=["neovim"], config=ClientServerConfig(server_command=SERVER))
async def client(  # type: ignore[no-untyped-def]
    request: pytest.FixtureRequest, lsp_client: LanguageClient, tmp_path: Path
):
    # @pytest.mark.parametrize("client", [("neovim", {...})], indirect=True)
    name, options = request.param if isinstance(request.param, tuple) else (request.param, None)
    registrations: list[types.Registration] = []
    lsp_client.registrations = registrations  # type: ignore[attr-defined]

    @lsp_client.feature(types.CLIENT_REGISTER_CAPABILITY)
    def register_capability(ls: LanguageClient, params: types.RegistrationParams) -> None:
        registrations.extend(params.registrations)

    @lsp_client.feature(types.CLIENT_UNREGISTER_CAPABILITY)
    def unregister_capability(ls: LanguageClient, params: types.UnregistrationParams) -> None:
        gone = {u.id for u in params.unregisterations}
        registrations[:] = [r for r in registrations if r.id not in gone]

    static_formatting = name == "neovim-without-dynamic-formatting"
    capabilities = client_capabilities("neovim" if static_formatting else name)
    if static_formatting:
        assert capabilities.text_document is not None
        capabilities.text_document.formatting = types.DocumentFormattingClientCapabilities(
            dynamic_registration=False
        )
    params = types.InitializeParams(
        capabilities=capabilities,
        initialization_options=options,
        workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="ws")],
    )
    result = await lsp_client.initialize_session(params)
    lsp_client.server_capabilities = result.capabilities  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def open_doc(client: LanguageClient, path: Path, text: str | None = None) -> str:
    """Open ``path`` (with its text on disk unless ``text`` is given); its URI."""
    if text is None:
        text = path.read_text()
    uri = path.as_uri()
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=uri, language_id="nix", version=1, text=text)
        )
    )
    return uri


def doc_id(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def apply(text: str, edits: list[types.TextEdit]) -> str:
    """Apply LSP edits (ASCII text, so characters are code units)."""
    lines = text.split("\n")

    def offset(p: types.Position) -> int:
        return sum(len(line) + 1 for line in lines[: p.line]) + p.character

    for e in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[: offset(e.range.start)] + e.new_text + text[offset(e.range.end) :]
    return text


# ---------------------------------------------------------------- definition


async def test_definition_of_a_let_binding(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "main.nix", "let a = 1; in a")
    got = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(uri), position=pos(0, 14))
    )
    assert got == [types.Location(uri=uri, range=rng(0, 4, 0, 5))]


async def test_definition_into_another_file(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "lib.nix").write_text("{\n  mkThing = x: x;\n  version = 1;\n}\n")
    text = "let lib = import ./lib.nix; in lib.version"
    uri = open_doc(client, tmp_path / "main.nix", text)
    lib_uri = (tmp_path / "lib.nix").as_uri()
    on_path = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(uri), position=pos(0, 20))
    )
    assert on_path == [types.Location(uri=lib_uri, range=rng(0, 0, 0, 0))]
    on_attr = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(uri), position=pos(0, text.index("version")))
    )
    assert on_attr == [types.Location(uri=lib_uri, range=rng(2, 2, 2, 9))]


# ------------------------------------------------------ references, highlight


async def test_references_honour_include_declaration(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "main.nix", "let a = 1; in [ a (let a = 2; in a) a ]")

    async def refs(include: bool) -> list[types.Range]:
        got = await client.text_document_references_async(
            types.ReferenceParams(
                text_document=doc_id(uri),
                position=pos(0, 16),
                context=types.ReferenceContext(include_declaration=include),
            )
        )
        assert got is not None and all(loc.uri == uri for loc in got)
        return [loc.range for loc in got]

    assert await refs(True) == [rng(0, 4, 0, 5), rng(0, 16, 0, 17), rng(0, 36, 0, 37)]
    assert await refs(False) == [rng(0, 16, 0, 17), rng(0, 36, 0, 37)]


async def test_document_highlight_kinds(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "main.nix", "let a = 1; in a + a")
    got = await client.text_document_document_highlight_async(
        types.DocumentHighlightParams(text_document=doc_id(uri), position=pos(0, 4))
    )
    read, write = types.DocumentHighlightKind.Read, types.DocumentHighlightKind.Write
    assert got is not None and list(got) == [
        types.DocumentHighlight(range=rng(0, 4, 0, 5), kind=write),
        types.DocumentHighlight(range=rng(0, 14, 0, 15), kind=read),
        types.DocumentHighlight(range=rng(0, 18, 0, 19), kind=read),
    ]


# -------------------------------------------------------------------- rename


async def test_prepare_rename_and_rename(client: LanguageClient, tmp_path: Path) -> None:
    text = "let a = 1; in { inherit a; b = a; }"
    uri = open_doc(client, tmp_path / "main.nix", text)
    prep = await client.text_document_prepare_rename_async(
        types.PrepareRenameParams(text_document=doc_id(uri), position=pos(0, 31))
    )
    assert prep == types.PrepareRenamePlaceholder(range=rng(0, 31, 0, 32), placeholder="a")
    edit = await client.text_document_rename_async(
        types.RenameParams(text_document=doc_id(uri), position=pos(0, 31), new_name="z")
    )
    assert edit is not None and edit.changes is not None and list(edit.changes) == [uri]
    assert apply(text, list(edit.changes[uri])) == "let z = 1; in { a = z; b = z; }"


async def test_rename_refusals_are_errors_with_the_message(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = "let a = 1; in let b = 2; in a + b + map"
    uri = open_doc(client, tmp_path / "main.nix", text)
    with pytest.raises(JsonRpcException) as builtin:
        await client.text_document_prepare_rename_async(
            types.PrepareRenameParams(text_document=doc_id(uri), position=pos(0, 36))
        )
    assert builtin.value.code == types.LSPErrorCodes.RequestFailed
    assert "builtin" in builtin.value.message
    with pytest.raises(JsonRpcException) as captured:
        await client.text_document_rename_async(
            types.RenameParams(text_document=doc_id(uri), position=pos(0, 28), new_name="b")
        )
    assert captured.value.code == types.LSPErrorCodes.RequestFailed
    assert "would refer to another 'b'" in captured.value.message
    with pytest.raises(JsonRpcException) as keyword:
        await client.text_document_rename_async(
            types.RenameParams(text_document=doc_id(uri), position=pos(0, 28), new_name="in")
        )
    assert "not a valid" in keyword.value.message


# ------------------------------------------------------------------- symbols


async def test_document_symbols_are_hierarchical(client: LanguageClient, tmp_path: Path) -> None:
    text = "{\n  a.b = { x, y ? 2 }: let z = 1; in z;\n  inherit c;\n  e = { };\n}"
    uri = open_doc(client, tmp_path / "main.nix", text)
    got = await client.text_document_document_symbol_async(
        types.DocumentSymbolParams(text_document=doc_id(uri))
    )
    assert got is not None
    flat = [
        (s.name, s.kind, s.selection_range, [(c.name, c.kind) for c in s.children or []])
        for s in got
        if isinstance(s, types.DocumentSymbol)
    ]
    kinds = types.SymbolKind
    assert flat == [
        (
            "a.b",
            kinds.Function,
            rng(1, 2, 1, 5),
            [("x", kinds.Variable), ("y", kinds.Variable), ("z", kinds.Variable)],
        ),
        ("c", kinds.Field, rng(2, 10, 2, 11), []),
        ("e", kinds.Object, rng(3, 2, 3, 3), []),
    ]
    first = got[0]
    assert isinstance(first, types.DocumentSymbol)
    assert first.range == rng(1, 2, 1, 38)


async def test_document_symbols_follow_edits(client: LanguageClient, tmp_path: Path) -> None:
    # Large enough that the outline is built from reused pieces (over 2 KB).
    body = "".join(f"  m{i} = {{ a = {i}; }};\n" for i in range(300))
    text = "let\n" + body + "in m0\n"
    uri = open_doc(client, tmp_path / "big.nix", text)

    async def outline() -> list[tuple[str, types.Range]]:
        got = await client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=doc_id(uri))
        )
        assert got is not None
        return [(s.name, s.selection_range) for s in got if isinstance(s, types.DocumentSymbol)]

    first = await outline()
    assert len(first) == 300 and first[7] == ("m7", rng(8, 2, 8, 4))
    # Two lines inserted above m7, then m7 renamed in place: the names and
    # every range after the edits move; the rest stays.
    edits = [(rng(8, 0, 8, 0), '  new = 1;\n  e = "é🎉"; f = 2;\n'), (rng(10, 2, 10, 4), "n7")]
    for version, (where, insert) in enumerate(edits, start=2):
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[types.TextDocumentContentChangePartial(range=where, text=insert)],
            )
        )
    got = await outline()
    assert len(got) == 303
    assert got[6] == ("m6", rng(7, 2, 7, 4))
    assert got[7] == ("new", rng(8, 2, 8, 5))
    encoding = client.server_capabilities.position_encoding  # type: ignore[attr-defined]
    f = 16 if encoding == types.PositionEncodingKind.Utf8 else 13  # after "é🎉"
    assert encoding in (types.PositionEncodingKind.Utf8, types.PositionEncodingKind.Utf16)
    assert got[8:10] == [("e", rng(9, 2, 9, 3)), ("f", rng(9, f, 9, f + 1))]
    assert got[10] == ("n7", rng(10, 2, 10, 4))
    assert got[-1] == ("m299", rng(302, 2, 302, 6))
    assert await outline() == got  # the same version again (cached)


async def test_workspace_symbols(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "pkgs").mkdir()
    (tmp_path / "pkgs" / "hello.nix").write_text("{\n  helloWorld = 1;\n  other = 2;\n}\n")
    (tmp_path / ".hidden").mkdir()
    (tmp_path / ".hidden" / "h.nix").write_text("{ helloHidden = 1; }")
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "r.nix").write_text("{ helloResult = 1; }")
    (tmp_path / "result").symlink_to(tmp_path / "store")
    (tmp_path / "notnix.txt").write_text("{ helloText = 1; }")
    # An open buffer wins over its file on disk.
    (tmp_path / "open.nix").write_text("{ helloOld = 1; }")
    open_doc(client, tmp_path / "open.nix", "{ x = 1; helloOpen = 2; }")

    async def query(q: str) -> list[tuple[str, str, types.Range]]:
        got = await client.workspace_symbol_async(types.WorkspaceSymbolParams(query=q))
        assert got is not None
        out = []
        for s in got:
            # (the client reads a WorkspaceSymbol with a full location as SymbolInformation)
            assert isinstance(s, (types.WorkspaceSymbol, types.SymbolInformation))
            assert isinstance(s.location, types.Location)
            out.append((s.name, s.location.uri, s.location.range))
        return sorted(out)

    assert await query("hello") == [
        ("helloOpen", (tmp_path / "open.nix").as_uri(), rng(0, 9, 0, 18)),
        ("helloResult", (tmp_path / "store" / "r.nix").as_uri(), rng(0, 2, 0, 13)),
        ("helloWorld", (tmp_path / "pkgs" / "hello.nix").as_uri(), rng(1, 2, 1, 12)),
    ]
    # Cached per file until it changes.
    (tmp_path / "pkgs" / "hello.nix").write_text("{ helloAgain = 1; }")
    assert [name for name, _, _ in await query("hlw")] == []
    assert [name for name, _, _ in await query("helloag")] == ["helloAgain"]


# ---------------------------------------------------------- selection, links


async def test_selection_range(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "main.nix", "{ a = [ 1 2 ]; }")
    got = await client.text_document_selection_range_async(
        types.SelectionRangeParams(text_document=doc_id(uri), positions=[pos(0, 8)])
    )
    assert got is not None and len(got) == 1
    ranges = []
    node: types.SelectionRange | None = got[0]
    while node is not None:
        ranges.append(node.range)
        node = node.parent
    assert ranges == [rng(0, 8, 0, 9), rng(0, 6, 0, 13), rng(0, 2, 0, 14), rng(0, 0, 0, 16)]


async def test_document_links(client: LanguageClient, tmp_path: Path) -> None:
    (tmp_path / "x.nix").write_text("1")
    text = '[ ./x.nix ./missing.nix http://e.org "see https://n.org/a." ]'
    uri = open_doc(client, tmp_path / "main.nix", text)
    got = await client.text_document_document_link_async(
        types.DocumentLinkParams(text_document=doc_id(uri))
    )
    assert got is not None
    assert [(link.range, link.target) for link in got] == [
        (rng(0, 2, 0, 9), (tmp_path / "x.nix").as_uri()),
        (rng(0, 24, 0, 36), "http://e.org"),
        (rng(0, 42, 0, 57), "https://n.org/a"),
    ]


# ---------------------------------------------------------------- completion


async def test_completion_of_an_imported_attribute_set(
    client: LanguageClient, tmp_path: Path
) -> None:
    (tmp_path / "lib.nix").write_text("{ mkThing = x: x; version = 1; }")
    text = "let lib = import ./lib.nix; in lib."
    uri = open_doc(client, tmp_path / "main.nix", text)
    got = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=pos(0, len(text)))
    )
    assert isinstance(got, types.CompletionList) and got.is_incomplete is False
    assert [(i.label, i.kind) for i in got.items] == [
        ("mkThing", types.CompletionItemKind.Function),
        ("version", types.CompletionItemKind.Field),
    ]
    edit = got.items[0].text_edit
    assert isinstance(edit, types.TextEdit)
    assert edit == types.TextEdit(range=rng(0, 35, 0, 35), new_text="mkThing")
    assert all(i.sort_text for i in got.items)


async def test_completion_replaces_the_partial_word_and_resolves_docs(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "main.nix", "let mapper = 1; in ma")
    got = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=pos(0, 21))
    )
    assert isinstance(got, types.CompletionList)
    labels = [i.label for i in got.items]
    assert labels[0] == "mapper"  # locals first
    builtin_map = next(i for i in got.items if i.label == "map")
    assert builtin_map.documentation is None  # filled lazily
    assert builtin_map.text_edit == types.TextEdit(range=rng(0, 19, 0, 21), new_text="map")
    resolved = await client.completion_item_resolve_async(builtin_map)
    assert isinstance(resolved.documentation, types.MarkupContent)
    assert "list" in resolved.documentation.value
    options = client.server_capabilities.completion_provider  # type: ignore[attr-defined]
    assert list(options.trigger_characters) == [".", "/"] and options.resolve_provider is True


async def test_completion_is_capped_and_marked_incomplete(
    client: LanguageClient, tmp_path: Path
) -> None:
    names = " ".join(f"v{i} = {i};" for i in range(300))
    text = f"let {names} in v"
    uri = open_doc(client, tmp_path / "main.nix", text)
    got = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=pos(0, len(text)))
    )
    assert isinstance(got, types.CompletionList)
    assert got.is_incomplete is True and len(got.items) == 200


async def test_completion_after_edits_sees_the_new_names(
    client: LanguageClient, tmp_path: Path
) -> None:
    text = "let lib = { alpha = 1; }; abc = 1; in with lib; { x = a; }"
    uri = open_doc(client, tmp_path / "main.nix", text)
    at = pos(0, text.index("x = a") + 5)

    async def labels() -> list[str]:
        got = await client.text_document_completion_async(
            types.CompletionParams(text_document=doc_id(uri), position=at)
        )
        assert isinstance(got, types.CompletionList)
        return [i.label for i in got.items]

    assert (await labels())[:2] == ["abc", "alpha"]
    assert (await labels())[:2] == ["abc", "alpha"]  # the same version again
    # A new attribute of the `with` set and a new let binding, in two versions.
    for version, (after, insert) in enumerate(
        [("alpha = 1;", " also = 2;"), ("abc = 1;", " apt = 3;")], start=2
    ):
        where = text.index(after) + len(after)
        text = text[:where] + insert + text[where:]
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=rng(0, where, 0, where), text=insert
                    )
                ],
            )
        )
        at = pos(0, at.character + len(insert))
    assert (await labels())[:4] == ["abc", "apt", "alpha", "also"]


# ------------------------------------------------------------ signature help


async def test_signature_help(client: LanguageClient, tmp_path: Path) -> None:
    text = "let f = { alpha, beta ? 1 }: alpha; in f { beta = 2; }"
    uri = open_doc(client, tmp_path / "main.nix", text)
    got = await client.text_document_signature_help_async(
        types.SignatureHelpParams(text_document=doc_id(uri), position=pos(0, text.index("2")))
    )
    assert got is not None and got.active_signature == 0 and got.active_parameter == 1
    [sig] = got.signatures
    assert sig.label == "{ alpha, beta ? 1 }: …"
    assert [p.label for p in sig.parameters or []] == ["alpha", "beta ? 1"]
    options = client.server_capabilities.signature_help_provider  # type: ignore[attr-defined]
    assert list(options.trigger_characters) == [" ", "{"]


# -------------------------------------------------------------- code actions


async def wait_for_codes(client: LanguageClient, uri: str, code: str) -> list[types.Diagnostic]:
    async def loop() -> list[types.Diagnostic]:
        while not any(d.code == code for d in client.diagnostics.get(uri, [])):
            await client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        return list(client.diagnostics[uri])

    return await asyncio.wait_for(loop(), 15)


async def test_quick_fix_removes_an_unused_binding(client: LanguageClient, tmp_path: Path) -> None:
    text = "let\n  a = 1;\n  unused = 2;\nin a"
    uri = open_doc(client, tmp_path / "main.nix", text)
    diags = await wait_for_codes(client, uri, "unused_binding")
    [unused] = [d for d in diags if d.code == "unused_binding"]
    params = types.CodeActionParams(
        text_document=doc_id(uri),
        range=unused.range,
        context=types.CodeActionContext(diagnostics=[unused]),
    )
    actions = await client.text_document_code_action_async(params)
    assert actions is not None
    fixes = [a for a in actions if isinstance(a, types.CodeAction) and a.kind == "quickfix"]
    [fix] = fixes
    assert fix.title == "Remove unused binding" and fix.is_preferred is True
    assert fix.diagnostics is not None and list(fix.diagnostics) == [unused]
    assert fix.edit is not None and fix.edit.changes is not None
    assert apply(text, list(fix.edit.changes[uri])) == "let\n  a = 1;\nin a"
    # Only refactorings asked for: no quick fix.
    params.context.only = [types.CodeActionKind.Refactor]
    refactors = await client.text_document_code_action_async(params)
    assert refactors is not None
    assert all(
        isinstance(a, types.CodeAction) and str(a.kind).startswith("refactor") for a in refactors
    )


async def test_refactor_extract(client: LanguageClient, tmp_path: Path) -> None:
    text = "let y = 2; in { a = y + 1; }"
    uri = open_doc(client, tmp_path / "main.nix", text)
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            text_document=doc_id(uri),
            range=rng(0, 20, 0, 25),
            context=types.CodeActionContext(
                diagnostics=[], only=[types.CodeActionKind.RefactorExtract]
            ),
        )
    )
    assert actions is not None
    [act] = actions
    assert isinstance(act, types.CodeAction) and act.edit and act.edit.changes
    assert act.diagnostics is None
    assert (
        apply(text, list(act.edit.changes[uri]))
        == "let y = 2; in let value = y + 1; in { a = value; }"
    )


# --------------------------------------------------------------- inlay hints


HINTED = 'let\n  a = 1 + 2;\n  b = x: x;\n  c = "s" + "t";\nin a'


async def inlay(client: LanguageClient, uri: str, r: types.Range) -> list[types.InlayHint] | None:
    return await client.text_document_inlay_hint_async(
        types.InlayHintParams(text_document=doc_id(uri), range=r)
    )


async def test_inlay_hints_off_by_default(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "main.nix", HINTED)
    assert await inlay(client, uri, rng(0, 0, 5, 0)) is None


@pytest.mark.parametrize("client", [("neovim", {"inlayHints": {"enable": True}})], indirect=True)
async def test_inlay_hints_when_enabled(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "main.nix", HINTED)
    got = await inlay(client, uri, rng(0, 0, 5, 0))
    assert got is not None
    assert [(h.position, h.label) for h in got] == [(pos(1, 11), "= 3"), (pos(3, 15), '= "st"')]
    # Only the requested range.
    got = await inlay(client, uri, rng(3, 0, 3, 17))
    assert got is not None and [h.label for h in got] == ['= "st"']


@pytest.mark.parametrize(
    "client", [("neovim", {"inlayHints": {"enable": True, "maxLines": 3}})], indirect=True
)
async def test_inlay_hints_off_for_long_files(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "main.nix", HINTED)
    assert await inlay(client, uri, rng(0, 0, 5, 0)) is None


# ---------------------------------------------------------------- formatting


async def format_doc(client: LanguageClient, uri: str) -> list[types.TextEdit] | None:
    return await client.text_document_formatting_async(
        types.DocumentFormattingParams(
            text_document=doc_id(uri),
            options=types.FormattingOptions(tab_size=2, insert_spaces=True),
        )
    )


async def wait_for_registrations(client: LanguageClient, count: int) -> list[types.Registration]:
    registrations: list[types.Registration] = client.registrations  # type: ignore[attr-defined]
    for _ in range(100):
        if len(registrations) == count:
            break
        await asyncio.sleep(0.05)
    return registrations


@pytest.mark.parametrize("client", [("neovim", {"formatting": {"command": UPPER}})], indirect=True)
async def test_formatting_with_a_command(client: LanguageClient, tmp_path: Path) -> None:
    caps = client.server_capabilities  # type: ignore[attr-defined]
    assert caps.document_formatting_provider is None  # registered dynamically instead
    [reg] = await wait_for_registrations(client, 1)
    assert reg.method == types.TEXT_DOCUMENT_FORMATTING
    assert isinstance(reg.register_options, dict)
    assert {"language": "nix"} in reg.register_options["documentSelector"]
    uri = open_doc(client, tmp_path / "main.nix", "let a = 1;\nin a\n")
    got = await format_doc(client, uri)
    assert got is not None
    assert list(got) == [types.TextEdit(range=rng(0, 0, 2, 0), new_text="LET A = 1;\nIN A\n")]
    # Already formatted: no edits.
    upper = open_doc(client, tmp_path / "upper.nix", "{ A = 1; }")
    unchanged = await format_doc(client, upper)
    assert unchanged is not None and list(unchanged) == []
    # Unsetting the command unregisters it.
    client.set_configuration({"formatting": {"command": []}}, section="nixlens")
    client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
    assert await wait_for_registrations(client, 0) == []


@pytest.mark.parametrize(
    "client",
    [("neovim-without-dynamic-formatting", {"formatting": {"command": UPPER}})],
    indirect=True,
)
async def test_formatting_advertised_statically_without_dynamic_registration(
    client: LanguageClient, tmp_path: Path
) -> None:
    caps = client.server_capabilities  # type: ignore[attr-defined]
    assert caps.document_formatting_provider is True
    uri = open_doc(client, tmp_path / "main.nix", "{ a = 1; }")
    got = await format_doc(client, uri)
    assert got is not None
    assert list(got) == [types.TextEdit(range=rng(0, 0, 0, 10), new_text="{ A = 1; }")]
    await asyncio.sleep(0.2)
    assert client.registrations == []  # type: ignore[attr-defined]


@pytest.mark.parametrize("client", [("neovim", {"formatting": {"command": FAIL}})], indirect=True)
async def test_failing_formatter_gives_a_message_not_an_error(
    client: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(client, tmp_path / "main.nix", "let a = 1; in a")
    assert await format_doc(client, uri) is None
    for _ in range(100):
        if client.messages:
            break
        await asyncio.sleep(0.05)
    [msg] = client.messages
    assert msg.type == types.MessageType.Warning
    assert msg.message.endswith("exited with status 3: bad input")


@pytest.mark.parametrize(
    "client", [("neovim", {"formatting": {"command": ["/nonexistent/nixfmt"]}})], indirect=True
)
async def test_missing_formatter_gives_a_message(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "main.nix", "let a = 1; in a")
    assert await format_doc(client, uri) is None
    for _ in range(100):
        if client.messages:
            break
        await asyncio.sleep(0.05)
    [msg] = client.messages
    assert msg.type == types.MessageType.Warning
    assert "could not run '/nonexistent/nixfmt'" in msg.message


async def test_formatting_not_advertised_without_a_command(client: LanguageClient) -> None:
    caps = client.server_capabilities  # type: ignore[attr-defined]
    assert caps.document_formatting_provider is None
    await asyncio.sleep(0.2)
    assert client.registrations == []  # type: ignore[attr-defined]


# ------------------------------------------------------------------ robustness


async def test_unopened_document_gives_empty_results(client: LanguageClient) -> None:
    uri = "file:///nowhere/never-opened.nix"
    at = pos(0, 0)
    assert (
        await client.text_document_definition_async(
            types.DefinitionParams(text_document=doc_id(uri), position=at)
        )
        is None
    )
    assert (
        await client.text_document_completion_async(
            types.CompletionParams(text_document=doc_id(uri), position=at)
        )
        is None
    )
    assert (
        await client.text_document_document_symbol_async(
            types.DocumentSymbolParams(text_document=doc_id(uri))
        )
        is None
    )
    assert (
        await client.text_document_rename_async(
            types.RenameParams(text_document=doc_id(uri), position=at, new_name="x")
        )
        is None
    )
    assert (
        await client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=doc_id(uri),
                range=rng(0, 0, 0, 0),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        is None
    )
    assert await format_doc(client, uri) is None


async def test_positions_past_the_end_are_clamped(client: LanguageClient, tmp_path: Path) -> None:
    uri = open_doc(client, tmp_path / "main.nix", "let a = 1; in a\n")
    far = pos(0, 500)  # past the end of line 0: its end, on `a`
    got = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(uri), position=far)
    )
    assert got == [types.Location(uri=uri, range=rng(0, 4, 0, 5))]
    beyond = pos(40, 3)  # past the last line: the end of the document
    refs = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=doc_id(uri),
            position=beyond,
            context=types.ReferenceContext(include_declaration=True),
        )
    )
    assert refs is not None and list(refs) == []
    completions = await client.text_document_completion_async(
        types.CompletionParams(text_document=doc_id(uri), position=beyond)
    )
    assert isinstance(completions, types.CompletionList) and completions.items


@pytest.mark.parametrize("client", ["visual-studio-code"], indirect=True)
async def test_utf16_positions(client: LanguageClient, tmp_path: Path) -> None:
    text = 'let s = "😀"; in s'
    uri = open_doc(client, tmp_path / "main.nix", text)
    got = await client.text_document_definition_async(
        types.DefinitionParams(text_document=doc_id(uri), position=pos(0, 17))
    )
    assert got == [types.Location(uri=uri, range=rng(0, 4, 0, 5))]
    refs = await client.text_document_references_async(
        types.ReferenceParams(
            text_document=doc_id(uri),
            position=pos(0, 4),
            context=types.ReferenceContext(include_declaration=False),
        )
    )
    assert refs is not None and list(refs) == [types.Location(uri=uri, range=rng(0, 17, 0, 18))]


@pytest_lsp.fixture(config=ClientServerConfig(server_command=BROKEN_DEFINITION))
async def broken(lsp_client: LanguageClient, tmp_path: Path):  # type: ignore[no-untyped-def]
    params = types.InitializeParams(
        capabilities=client_capabilities("neovim"),
        workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="ws")],
    )
    await lsp_client.initialize_session(params)
    yield
    await lsp_client.shutdown_session()


async def test_a_failing_handler_fails_only_its_request(
    broken: LanguageClient, tmp_path: Path
) -> None:
    uri = open_doc(broken, tmp_path / "main.nix", "let a = 1; in a")
    with pytest.raises(JsonRpcException) as info:
        await broken.text_document_definition_async(
            types.DefinitionParams(text_document=doc_id(uri), position=pos(0, 14))
        )
    assert "analysis exploded" in info.value.message
    got: Any = await broken.text_document_document_highlight_async(
        types.DocumentHighlightParams(text_document=doc_id(uri), position=pos(0, 14))
    )
    assert [h.range for h in got] == [rng(0, 4, 0, 5), rng(0, 14, 0, 15)]


# ------------------------------------------------- the tree index (no server)


def test_indexed_node_search_matches_a_full_walk() -> None:
    """``node_at``/``chain_to`` use a per-tree index; they must answer exactly
    what a walk over every node answers (synthetic ``a.b = v;`` sets included)."""
    text = (
        "let f = { a, b ? 1 }: a.x + b; s = { p.q.r = 1; p.t = [ 1 (2) ]; inherit (s) u; };\n"
        'in with s; f { a = { x = "${toString p.q.r}"; }; } + (if true then 1 else 2)'
    )
    doc = analyse(text, None)
    assert doc.root is not None
    root = doc.root
    every = list(walk(root))

    def brute(offset: int, pred: Any) -> Any:
        best = None
        for n in every:
            sp = n.span
            if sp.start <= offset <= sp.end and (pred is None or pred(n)):
                if best is None or sp.end - sp.start <= best.span.end - best.span.start:
                    best = n
        return best

    preds = [None, lambda n: type(n).__name__ in ("Attrs", "Let"), lambda n: False]
    for offset in range(len(text.encode()) + 1):
        for pred in preds:
            assert node_at(root, offset, pred) is brute(offset, pred)
    for n in every:
        chain = chain_to(root, n)
        assert chain[0] is root and chain[-1] is n
        for parent, child in zip(chain, chain[1:], strict=False):
            assert any(k is child for k in children(parent))
