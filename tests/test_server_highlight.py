"""Semantic tokens and folding ranges (``server.highlight``): units and end to end."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest
import pytest_lsp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from tree_sitter import Query, QueryCursor

from evaluator.parse import LANGUAGE
from server import highlight as H
from server.documents import DocumentStore

ROOT = Path(__file__).resolve().parent.parent
FIXTURE = ROOT / "tests" / "fixtures" / "queries" / "highlights.nix"

Tok = tuple[int, int, int, str, tuple[str, ...]]

DECL = ("declaration",)
LIB = ("defaultLibrary",)
CONST = ("readonly", "defaultLibrary")


def open_doc(text: str, uri: str = "file:///t.nix"):  # type: ignore[no-untyped-def]
    return DocumentStore().open(uri, text, 1)


def tokens(text: str, encoding: str = "utf-16") -> list[Tok]:
    """The decoded full tokens of ``text``."""
    doc = open_doc(text)
    data = H.encode_tokens(H.compute_tokens(doc.tree.root_node, doc.index, encoding))
    return H.decode_tokens(data)


def generate(lines: int) -> str:
    """A realistic Nix file of exactly ``lines`` lines (the last one ends with a newline)."""
    block = """  pkg{i} = {{ stdenv, fetchurl, lib ? null, ... }}@args:
    let
      version = "1.{i}.0";
      src = fetchurl {{ url = "https://example.org/p-${{version}}.tar.gz"; sha256 = "abc"; }};
    in
    stdenv.mkDerivation {{
      pname = "pkg{i}";
      inherit version src;
      buildInputs = [ ./patches/fix-{i}.patch builtins.currentSystem ];
      doCheck = if {i} > 10 then true else false;
      # a comment ✓ 😀
      meta = with lib; {{ description = ''
        Multi-line ${{toString {i}}} text 中文
      ''; license = licenses.mit or null; }};
      n = -{i} + 2.5 * (builtins.length [ 1 2 ]);
    }};"""
    out = ["{"]
    i = 0
    while len(out) + block.count("\n") + 1 < lines - 1:
        out += block.format(i=i).split("\n")
        i += 1
    out += ["  filler = 0;"] * (lines - 1 - len(out))
    out.append("}")
    return "\n".join(out) + "\n"


# ------------------------------------------------------------------ legend


def test_every_capture_of_the_query_has_a_listed_mapping() -> None:
    text = re.sub(r'"(?:[^"\\]|\\.)*"|;[^\n]*', "", H.load_query_text("highlights"))
    names = set(re.findall(r"@([\w.]+)", text))

    def listed(name: str) -> bool:
        while name and name not in H.MAPPING:
            name = name.rpartition(".")[0]
        return bool(name)

    unlisted = sorted(n for n in names if not n.startswith("_") and n not in H.IGNORED)
    unlisted = [n for n in unlisted if not listed(n)]
    assert unlisted == []
    assert "spell" in names and "_builtins" in names


def test_mapping_uses_only_legend_entries() -> None:
    assert H.LEGEND.token_types == list(H.TOKEN_TYPES)
    for entry in H.MAPPING.values():
        if entry is None or not entry[0]:
            continue
        kind, modifiers = entry
        assert kind in H.TOKEN_TYPES
        assert set(modifiers) <= set(H.TOKEN_MODIFIERS)


def test_token_for() -> None:
    def name(capture: str) -> tuple[str, tuple[str, ...]] | None:
        token = H.token_for(capture)
        if token is None or token < 0:
            return None
        return H.decode_tokens([0, 0, 1, token >> 16, token & 0xFFFF])[0][3:]

    assert name("keyword.conditional") == ("keyword", ())
    assert name("constant.builtin") == ("variable", CONST)
    assert name("variable.parameter") == ("parameter", DECL)
    assert name("string.special.url") == ("string", ())
    assert name("string.escape") == ("regexp", ())
    assert H.token_for("punctuation.bracket") is None
    assert H.token_for("spell") is None
    assert H.token_for("_builtins") is None
    assert H.token_for("none") == -1
    assert H.token_for("markup.heading") == -1  # unknown: hides, gives no token


# ------------------------------------------------------------------ tokens


def test_small_document() -> None:
    text = (
        "{ lib, ... }@args:\n"
        "let\n"
        "  f = x: x + 1;\n"
        '  s = "a\\n${f 2}";\n'
        "in { inherit f; a.b = builtins.map f [ 1.5 ]; ok = true; } // args\n"
    )
    assert tokens(text) == [
        (0, 2, 3, "parameter", DECL),
        (0, 7, 3, "parameter", LIB),
        (0, 12, 1, "operator", ()),
        (0, 13, 4, "parameter", DECL),
        (1, 0, 3, "keyword", ()),
        (2, 2, 1, "function", DECL),
        (2, 4, 1, "operator", ()),
        (2, 6, 1, "parameter", DECL),
        (2, 9, 1, "variable", ()),
        (2, 11, 1, "operator", ()),
        (2, 13, 1, "number", ()),
        (3, 2, 1, "variable", ()),
        (3, 4, 1, "operator", ()),
        (3, 6, 2, "string", ()),
        (3, 8, 2, "regexp", ()),
        (3, 12, 1, "function", ()),
        (3, 14, 1, "number", ()),
        (3, 16, 1, "string", ()),
        (4, 0, 2, "keyword", ()),
        (4, 5, 7, "keyword", ()),
        (4, 13, 1, "property", ()),
        (4, 16, 1, "property", ()),
        (4, 18, 1, "property", ()),
        (4, 20, 1, "operator", ()),
        (4, 22, 8, "variable", CONST),
        (4, 31, 3, "function", LIB),
        (4, 35, 1, "variable", ()),
        (4, 39, 3, "number", ()),
        (4, 46, 2, "property", ()),
        (4, 49, 1, "operator", ()),
        (4, 51, 4, "variable", CONST),
        (4, 59, 2, "operator", ()),
        (4, 62, 4, "variable", ()),
    ]


def test_later_pattern_wins_on_the_same_node() -> None:
    # `f` in a let: @variable.member, then @variable (let), then @function.
    assert tokens("let f = x: x; in f")[1] == (0, 4, 1, "function", DECL)
    # `a` in an attribute set: @variable (fallback), then @variable.member.
    assert tokens("{ a = 1; }")[0] == (0, 2, 1, "property", ())
    # `builtins.currentSystem`: @function.builtin, then @constant.builtin.
    assert tokens("builtins.currentSystem")[1] == (0, 9, 13, "variable", CONST)
    # `-1`: @operator, then @number on the same "-".
    assert tokens("-1") == [(0, 0, 2, "number", ())]


def test_interpolation_inside_a_path_is_not_path() -> None:
    assert tokens("./a/${ (b) }/c.nix") == [
        (0, 0, 4, "string", ()),
        (0, 8, 1, "variable", ()),
        (0, 12, 6, "string", ()),
    ]


@pytest.mark.parametrize(
    ("encoding", "widths"),
    [
        ("utf-16", {"😀": 2, "中": 1, "é": 1}),
        ("utf-8", {"😀": 4, "中": 3, "é": 2}),
        ("utf-32", {"😀": 1, "中": 1, "é": 1}),
    ],
)
def test_lengths_in_the_negotiated_encoding(encoding: str, widths: dict[str, int]) -> None:
    emoji, cjk, acute = widths["😀"], widths["中"], widths["é"]
    text = '# 😀 中\nlet s = "a😀中é"; in s # é\n'
    string = 3 + emoji + cjk + acute  # the quotes, a, 😀, 中, é
    assert tokens(text, encoding) == [
        (0, 0, 3 + emoji + cjk, "comment", ()),
        (1, 0, 3, "keyword", ()),
        (1, 4, 1, "variable", ()),
        (1, 6, 1, "operator", ()),
        (1, 8, string, "string", ()),
        (1, 10 + string, 2, "keyword", ()),
        (1, 13 + string, 1, "variable", ()),
        (1, 15 + string, 2 + acute, "comment", ()),
    ]


def test_multi_line_tokens_are_split_per_line() -> None:
    text = "/* one\n   😀 two */ ''\n  x\r\n\n  中 ${y}\n''\n"
    assert tokens(text) == [
        (0, 0, 6, "comment", ()),
        (1, 0, 12, "comment", ()),
        (1, 13, 2, "string", ()),
        (2, 0, 3, "string", ()),
        (4, 0, 4, "string", ()),
        (4, 6, 1, "variable", ()),
        (5, 0, 2, "string", ()),
    ]


def check_tokens(text: str, data: list[int], encoding: str = "utf-16") -> None:
    """No overlaps, nothing past a line end, nothing empty, valid types."""
    lines = text.split("\n")
    decoded = H.decode_tokens(data)
    assert len(data) == 5 * len(decoded)
    previous = (-1, 0)
    for line, char, length, _kind, _mods in decoded:
        assert length > 0
        assert (line, char) >= previous, "tokens overlap or are out of order"
        width = len(lines[line].encode("utf-16-le")) // 2 if encoding == "utf-16" else None
        if width is not None:
            assert char + length <= width
        previous = (line, char + length)


def test_no_overlaps_on_a_realistic_file() -> None:
    text = generate(400) + FIXTURE.read_text(encoding="utf-8")
    doc = open_doc(text)
    data = H.Highlighter().full(doc, "utf-16").data
    check_tokens(text, data)
    assert len(data) // 5 == 2140


def _oracle(text: str) -> dict[tuple[int, int], str]:
    """The highlight capture an editor shows at each byte, as tests/test_queries.py does."""
    query = Query(LANGUAGE, H.load_query_text("highlights"))
    root = open_doc(text).tree.root_node
    caps = []
    for pattern, groups in QueryCursor(query).matches(root):
        for name, nodes in groups.items():
            if name.startswith("_") or name in H.IGNORED:
                continue
            caps += [(n.start_byte, n.end_byte, pattern, name) for n in nodes]
    shown = {}
    for offset in range(len(text.encode("utf-8"))):
        covering = [c for c in caps if c[0] <= offset < c[1]]
        if covering:
            best = max(covering, key=lambda c: (c[0], -c[1], c[2]))
            shown[offset] = best[3]
    return shown


def test_tokens_agree_with_the_query_precedence() -> None:
    text = FIXTURE.read_text(encoding="utf-8")
    assert text.isascii()
    shown = _oracle(text)
    doc = open_doc(text)
    index = doc.index
    got = {}
    for line, char, length, kind, mods in H.decode_tokens(H.Highlighter().full(doc, "utf-8").data):
        start = index.offset(line, char, "utf-8")
        for offset in range(start, start + length):
            got[offset] = (kind, mods)
    data = text.encode("utf-8")
    mismatches = []
    for offset in range(len(data)):
        if data[offset : offset + 1].isspace():
            continue
        capture = shown.get(offset)
        token = H.token_for(capture) if capture else None
        expected = None
        if token is not None and token >= 0:
            expected = H.decode_tokens([0, 0, 1, token >> 16, token & 0xFFFF])[0][3:]
        if got.get(offset) != expected:
            mismatches.append((offset, capture, got.get(offset), expected))
    assert mismatches == []


# ------------------------------------------------------------- range, delta


@pytest.mark.parametrize("cached", [False, True])
def test_range_is_the_full_result_filtered(cached: bool) -> None:
    text = generate(120)
    doc = open_doc(text)
    full = H.decode_tokens(H.Highlighter().full(doc, "utf-16").data)
    rng = types.Range(start=types.Position(20, 10), end=types.Position(31, 7))
    highlighter = H.Highlighter()
    if cached:
        highlighter.full(doc, "utf-16")
    got = H.decode_tokens(highlighter.range(doc, "utf-16", rng))
    expected = [t for t in full if (t[0], t[1] + t[2]) > (20, 10) and (t[0], t[1]) < (31, 7)]
    assert got == expected
    assert got[0][:2] == (20, 10) and got[-1][:2] == (31, 6)


def apply_edits(data: list[int], edits: list[types.SemanticTokensEdit]) -> list[int]:
    """Apply delta edits as a client does (from the last to the first)."""
    out = list(data)
    for e in sorted(edits, key=lambda e: e.start, reverse=True):
        out[e.start : e.start + e.delete_count] = e.data or []
    return out


def test_delta_edit_is_the_differing_middle() -> None:
    assert H.token_delta([1, 2, 3, 4], [1, 2, 3, 4]) == []
    (edit,) = H.token_delta([1, 2, 3, 4, 5], [1, 9, 9, 5])
    assert (edit.start, edit.delete_count, edit.data) == (1, 3, [9, 9])
    (edit,) = H.token_delta([1, 1], [1, 1, 1])
    assert (edit.start, edit.delete_count, edit.data) == (2, 0, [1])
    (edit,) = H.token_delta([], [7])
    assert (edit.start, edit.delete_count, edit.data) == (0, 0, [7])


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.data(),
    st.lists(st.integers(0, 6), max_size=8),
)
def test_delta_applied_to_the_old_tokens_gives_the_new(data: st.DataObject, ops: list[int]) -> None:
    base = generate(40)
    pieces = ["x", " ", "\n", '"😀"', "''\n中\n''", "# c\n", "{ a = 1; }", "let", ";", "("]
    store = DocumentStore()
    doc = store.open("file:///d.nix", base, 1)
    highlighter = H.Highlighter()
    previous = highlighter.full(doc, "utf-16")
    for version, _ in enumerate(ops, 2):
        text = doc.text
        start = data.draw(st.integers(0, len(text)))
        end = data.draw(st.integers(start, min(len(text), start + 12)))
        insert = data.draw(st.sampled_from(pieces))
        new_text = text[:start] + insert + text[end:]
        store.change(
            "file:///d.nix",
            version,
            [types.TextDocumentContentChangeWholeDocument(text=new_text)],
            "utf-16",
        )
        answer = asyncio.run(highlighter.delta(doc, "utf-16", previous.result_id))
        expected = H.encode_tokens(H.compute_tokens(doc.tree.root_node, doc.index, "utf-16"))
        assert isinstance(answer, types.SemanticTokensDelta)
        assert apply_edits(previous.data, answer.edits) == expected
        assert len(answer.edits) <= 1
        previous = highlighter.full(doc, "utf-16")
        assert previous.result_id == answer.result_id
        assert previous.data == expected


def test_delta_from_an_unknown_id_is_full() -> None:
    doc = open_doc("let a = 1; in a")
    highlighter = H.Highlighter()
    first = highlighter.full(doc, "utf-16")
    answer = asyncio.run(highlighter.delta(doc, "utf-16", "no-such-id"))
    assert isinstance(answer, types.SemanticTokens)
    assert answer.data == first.data and answer.result_id == first.result_id
    same = asyncio.run(highlighter.delta(doc, "utf-16", first.result_id))
    assert isinstance(same, types.SemanticTokensDelta)
    assert same.edits == [] and same.result_id == first.result_id


def test_results_are_cached_per_version() -> None:
    store = DocumentStore()
    doc = store.open("file:///c.nix", "let a = 1; in a", 1)
    highlighter = H.Highlighter()
    first = highlighter.full(doc, "utf-16")
    assert highlighter.full(doc, "utf-16") is first
    store.change(
        "file:///c.nix", 2, [types.TextDocumentContentChangeWholeDocument(text="a")], "utf-16"
    )
    second = highlighter.full(doc, "utf-16")
    assert second is not first and second.result_id != first.result_id
    assert H.decode_tokens(second.data) == [(0, 0, 1, "variable", ())]


# ----------------------------------------------------------------- folding

FOLD_TEXT = """\
# one line
/* a
   block */
let
  a = {
    b = 1;
  };
  l = [
    1
  ];
  s = ''
    text
  '';
  c = { x = 1;
    y = 2; };
  f = x:
    x;
in
a
"""


def test_folding_ranges() -> None:
    doc = open_doc(FOLD_TEXT)
    folds = H.folding_ranges(doc.tree.root_node, doc.index)
    assert [(f.start_line, f.end_line, f.kind) for f in folds] == [
        (1, 2, "comment"),
        (3, 18, "region"),
        (4, 5, "region"),
        (7, 8, "region"),
        (10, 11, "region"),
        (13, 14, "region"),
        (15, 16, "region"),
    ]
    assert all(f.start_character is None and f.end_character is None for f in folds)
    limited = H.folding_ranges(doc.tree.root_node, doc.index, limit=2)
    assert [(f.start_line, f.end_line) for f in limited] == [(1, 2), (3, 18)]


def test_folding_with_crlf_and_a_broken_buffer() -> None:
    doc = open_doc("{\r\n  a = [\r\n    1\r\n  ];\r\n")  # unclosed attribute set
    folds = H.folding_ranges(doc.tree.root_node, doc.index)
    assert [(f.start_line, f.end_line, f.kind) for f in folds] == [
        (0, 2, "region"),  # the last line holds only "];"
        (1, 2, "region"),
    ]


def test_queries_load_from_the_checkout_or_the_package() -> None:
    assert H.load_query_text("folds") == (ROOT / "queries" / "folds.scm").read_text(
        encoding="utf-8"
    )


# --------------------------------------------------------------- end to end

SERVER = [sys.executable, "-m", "server.lsp", "--log-level", "info"]
URI = "file:///tmp/nixlens-test/hl.nix"


@pytest_lsp.fixture(
    params=["neovim", "visual-studio-code"],
    config=ClientServerConfig(server_command=SERVER),
)
async def client(request: pytest.FixtureRequest, lsp_client: LanguageClient):  # type: ignore[no-untyped-def]
    params = types.InitializeParams(
        capabilities=client_capabilities(request.param),
        workspace_folders=[types.WorkspaceFolder(uri="file:///tmp/nixlens-test", name="t")],
    )
    result = await lsp_client.initialize_session(params)
    lsp_client.init_result = result  # type: ignore[attr-defined]
    yield
    await lsp_client.shutdown_session()


def did_open(client: LanguageClient, text: str) -> None:
    client.text_document_did_open(
        types.DidOpenTextDocumentParams(
            text_document=types.TextDocumentItem(uri=URI, language_id="nix", version=1, text=text)
        )
    )


def units(client: LanguageClient, text: str) -> int:
    """Length of ``text`` in the session's position encoding."""
    encoding = client.init_result.capabilities.position_encoding  # type: ignore[attr-defined]
    if encoding == types.PositionEncodingKind.Utf8:
        return len(text.encode("utf-8"))
    if encoding == types.PositionEncodingKind.Utf32:
        return len(text)
    return len(text.encode("utf-16-le")) // 2


def decode(client: LanguageClient, data: list[int]) -> list[Tok]:
    """Decode with the legend the server announced."""
    provider = client.init_result.capabilities.semantic_tokens_provider  # type: ignore[attr-defined]
    legend = provider.legend
    out = []
    for line, char, length, kind, mods in H.decode_tokens(data):
        bits = H.TOKEN_MODIFIERS.index(mods[0]) if mods else None
        assert legend.token_types[H.TOKEN_TYPES.index(kind)] == kind
        assert bits is None or legend.token_modifiers[bits] == mods[0]
        out.append((line, char, length, kind, mods))
    return out


E2E_TEXT = '# 😀 note\nlet s = "中"; in { a = s; }\n'


def e2e_expected(client: LanguageClient) -> list[Tok]:
    note = units(client, "# 😀 note")
    string = units(client, '"中"')
    after = 8 + string  # `let s = ` then the string
    return [
        (0, 0, note, "comment", ()),
        (1, 0, 3, "keyword", ()),
        (1, 4, 1, "variable", ()),
        (1, 6, 1, "operator", ()),
        (1, 8, string, "string", ()),
        (1, after + 2, 2, "keyword", ()),
        (1, after + 7, 1, "property", ()),
        (1, after + 9, 1, "operator", ()),
        (1, after + 11, 1, "variable", ()),
    ]


async def test_capabilities(client: LanguageClient) -> None:
    caps = client.init_result.capabilities  # type: ignore[attr-defined]
    provider = caps.semantic_tokens_provider
    assert list(provider.legend.token_types) == list(H.TOKEN_TYPES)
    assert list(provider.legend.token_modifiers) == list(H.TOKEN_MODIFIERS)
    assert provider.full == types.SemanticTokensFullDelta(delta=True)
    assert provider.range is True
    assert caps.folding_range_provider is True


async def test_semantic_tokens_full_and_range(client: LanguageClient) -> None:
    did_open(client, E2E_TEXT)
    ident = types.TextDocumentIdentifier(uri=URI)
    full = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=ident)
    )
    assert full is not None and full.result_id
    assert decode(client, full.data) == e2e_expected(client)
    rng = types.Range(start=types.Position(1, 4), end=types.Position(1, 7))
    part = await client.text_document_semantic_tokens_range_async(
        types.SemanticTokensRangeParams(text_document=ident, range=rng)
    )
    assert part is not None
    assert decode(client, part.data) == e2e_expected(client)[2:4]


async def test_semantic_tokens_delta_after_a_change(client: LanguageClient) -> None:
    did_open(client, E2E_TEXT)
    ident = types.TextDocumentIdentifier(uri=URI)
    full = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=ident)
    )
    assert full is not None and full.result_id
    # `let s` -> `let ss` (and its use), as two ranged changes.
    after = 8 + units(client, '"中"')
    client.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=URI, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(
                        start=types.Position(1, after + 11), end=types.Position(1, after + 11)
                    ),
                    text="s",
                ),
                types.TextDocumentContentChangePartial(
                    range=types.Range(start=types.Position(1, 5), end=types.Position(1, 5)),
                    text="s",
                ),
            ],
        )
    )
    delta = await client.text_document_semantic_tokens_full_delta_async(
        types.SemanticTokensDeltaParams(text_document=ident, previous_result_id=full.result_id)
    )
    assert isinstance(delta, types.SemanticTokensDelta)
    assert delta.result_id and delta.result_id != full.result_id
    new = apply_edits(full.data, delta.edits)
    expected = e2e_expected(client)
    expected[2] = (1, 4, 2, "variable", ())
    expected[3:] = [(line, char + 1, n, k, m) for line, char, n, k, m in expected[3:]]
    expected[-1] = (1, after + 12, 2, "variable", ())
    assert decode(client, new) == expected
    # An unknown previous id: the full tokens.
    again = await client.text_document_semantic_tokens_full_delta_async(
        types.SemanticTokensDeltaParams(text_document=ident, previous_result_id="stale")
    )
    assert isinstance(again, types.SemanticTokens)
    assert list(again.data) == new


async def test_folding_range(client: LanguageClient) -> None:
    did_open(client, FOLD_TEXT)
    folds = await client.text_document_folding_range_async(
        types.FoldingRangeParams(text_document=types.TextDocumentIdentifier(uri=URI))
    )
    assert folds is not None
    assert [(f.start_line, f.end_line, f.kind) for f in folds] == [
        (1, 2, "comment"),
        (3, 18, "region"),
        (4, 5, "region"),
        (7, 8, "region"),
        (10, 11, "region"),
        (13, 14, "region"),
        (15, 16, "region"),
    ]


async def test_unopened_document(client: LanguageClient) -> None:
    ident = types.TextDocumentIdentifier(uri="file:///tmp/nixlens-test/closed.nix")
    full = await client.text_document_semantic_tokens_full_async(
        types.SemanticTokensParams(text_document=ident)
    )
    delta = await client.text_document_semantic_tokens_full_delta_async(
        types.SemanticTokensDeltaParams(text_document=ident, previous_result_id="1")
    )
    part = await client.text_document_semantic_tokens_range_async(
        types.SemanticTokensRangeParams(
            text_document=ident,
            range=types.Range(start=types.Position(0, 0), end=types.Position(1, 0)),
        )
    )
    folds = await client.text_document_folding_range_async(
        types.FoldingRangeParams(text_document=ident)
    )
    assert (full, delta, part, folds) == (None, None, None, None)
