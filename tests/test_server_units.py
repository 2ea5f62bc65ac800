"""server.settings, server.convert and the analysis host (server.host) without a client."""

from __future__ import annotations

import threading
import time

from lsprotocol import types

from evaluator.diagnostics import Diagnostic, Note, Severity, Tag
from evaluator.errors import EvalLimit
from evaluator.nodes import Source, Span
from server import convert
from server.host import AnalysisHost, Request
from server.positions import UTF16, LineIndex
from server.settings import DiagnosticsSettings, Settings, load
from server.wire import Context


def test_settings_defaults_and_camel_case() -> None:
    assert load(None) == (Settings(), [])
    s, problems = load({"eval": {"budgetMs": 300}, "searchPath": ["nixpkgs=/p"], "server": {}})
    assert problems == []
    assert s.eval.budget_ms == 300 and s.search_path == ["nixpkgs=/p"]
    assert s.diagnostics.debounce_ms == 200


def test_invalid_settings_are_named_and_defaulted() -> None:
    s, problems = load({"eval": {"enable": "false", "entry": "x"}, "hover": 3})
    assert s.eval.enable is True and s.eval.entry == "x"  # the valid part applies
    assert s.hover == Settings().hover
    text = " ".join(problems)
    assert "nixlens.eval.enable" in text and "nixlens.hover" in text
    assert load("nope")[1]


def _diag(src: Source, code: str, start: int, end: int, **kw) -> Diagnostic:  # type: ignore[no-untyped-def]
    return Diagnostic(code, kw.pop("severity", Severity.WARNING), code, Span(src, start, end), **kw)


def test_convert_ignore_limit_tags_related(tmp_path) -> None:  # type: ignore[no-untyped-def]
    here = Source(b"let a = 1; in import ./b.nix", str(tmp_path / "a.nix"))
    other = Source("x\n  😀 throw".encode(), str(tmp_path / "b.nix"))
    target = convert.Target("file:///a.nix", here.path, LineIndex(here.text), UTF16)
    diags = [
        _diag(here, "unused_binding", 4, 5, tags=frozenset({Tag.UNNECESSARY})),
        _diag(here, "useless_rec", 0, 3),
        _diag(
            other,
            "throw",
            9,
            14,
            severity=Severity.ERROR,
            notes=[Note("while importing", Span(here, 14, 28)), Note("no span")],
        ),
    ]
    out = convert.diagnostics(diags, target, DiagnosticsSettings(ignore=["useless_rec"]))
    assert [d.code for d in out] == ["unused_binding", "throw"]
    assert out[0].tags == [types.DiagnosticTag.Unnecessary]
    thrown = out[1]
    assert thrown.range.start == types.Position(0, 14)  # anchored at the import
    assert thrown.related_information is not None
    assert thrown.related_information[0].location.range.start == types.Position(
        1, 5
    )  # 2 spaces + pair + space
    assert "no span" in thrown.message
    limited = convert.diagnostics(diags, target, DiagnosticsSettings(max_per_file=1))
    assert [d.code for d in limited] == ["throw"]  # the most severe is kept


def _host(text: bytes, uri: str = "file:///t.nix", version: int = 1) -> AnalysisHost:
    host = AnalysisHost()
    host.open(uri, None, version, text, True)
    return host


def test_evaluation_result_and_cache() -> None:
    host = _host(b"1 + 2")
    req = Request(host.view("file:///t.nix"), Context())
    result = host.run("evaluate", req, ())
    assert result.value_text == "3" and result.version == 1
    kept = host.results["file:///t.nix"][1]
    again = host.run("evaluate", req, ())
    assert again.value_text == "3"
    assert host.results["file:///t.nix"][1] is kept  # same version: not evaluated again
    host.change("file:///t.nix", 2, [(0, 1, b"2")])
    req = Request(host.view("file:///t.nix"), Context())
    assert host.run("evaluate", req, ()).value_text == "4"
    assert host.results["file:///t.nix"][1] is not kept and kept.observed == {}  # released


def test_cancelling_stops_the_evaluation_in_flight() -> None:
    """The server cancels a superseded evaluation (``Pool.call``): the helper
    sets the call's cancel event and the evaluation stops at its next check."""
    slow = b"let f = n: if n == 0 then 0 else f (n - 1); in f 100000000"
    host = _host(slow)
    req = Request(host.view("file:///t.nix"), Context(budget_ms=60_000, max_steps=0))
    errors: list[BaseException] = []

    def run() -> None:
        try:
            host.run("evaluate", req, ())
        except EvalLimit as err:
            errors.append(err)

    started = time.monotonic()
    worker = threading.Thread(target=run)
    worker.start()
    time.sleep(0.2)
    req.cancel.set()
    worker.join(30)
    assert not worker.is_alive() and time.monotonic() - started < 30
    assert errors and "cancel" in str(errors[0]).lower()
    assert "file:///t.nix" not in host.results  # a cancelled evaluation is never kept


# ------------------------------------------------- the outline, incrementally

_OUTLINE_TEXT = """# héllo 🎉
{ lib, pkgs ? import <nixpkgs> { }, ... }@args:
let
  inherit (lib) optional;
  f = x: { y ? 1 }: x + y;
  big = rec {
    a.b.c = 1;
    "quoted %d name%" = { inner = 2; };
    ${"dyn"} = 3;
    fn = { p, q ? p }: let r = p; in r;
  };
in {
  inherit big f;
  out = big.a.b.c; # ünïcode 🎉 before: pieces on this line
}
"""


def _reference_outline(data: bytes, index: LineIndex, encoding: str) -> list:  # type: ignore[type-arg]
    """DocumentSymbol[] the straightforward way: every symbol from ide.document_symbols."""
    from evaluator import ide

    def rng(span: Span) -> dict:  # type: ignore[type-arg]
        (l1, c1), (l2, c2) = (
            index.position(span.start, encoding),
            index.position(span.end, encoding),
        )
        return {"start": {"line": l1, "character": c1}, "end": {"line": l2, "character": c2}}

    def conv(s: ide.Symbol) -> dict:  # type: ignore[type-arg]
        out = {
            "name": s.name or "«empty»",
            "kind": convert._SYMBOL_KIND[s.kind].value,
            "range": rng(s.span),
            "selectionRange": rng(s.selection),
        }
        if s.detail is not None:
            out["detail"] = s.detail
        if s.children:
            out["children"] = [conv(c) for c in s.children]
        return out

    return [conv(s) for s in ide.document_symbols(data, chunk_bytes=10**9)]


def test_outline_json_matches_the_symbols_across_edits() -> None:
    import json
    import random

    from evaluator import ide
    from evaluator.parse import make_parser, prepare_text

    rnd = random.Random(7)
    blocks = [_OUTLINE_TEXT.replace("big", f"big{i}") for i in range(6)]
    data = ("[\n" + "".join(f"({b})\n" for b in blocks) + "]\n").encode()
    inserts = [b"\n", b"z", b"\xf0\x9f\x8e\x89", b"q = 1; ", b"let w = 2; in ", b"}", b"\r\n"]
    for encoding in (UTF16, "utf-8"):
        chunks: dict = {}  # type: ignore[type-arg]
        fragments: convert.FragmentCache = {}
        text = data
        for step in range(40):
            tree = make_parser().parse(prepare_text(text))
            index = LineIndex(text)
            items = ide.outline(text, tree, chunks, chunk_bytes=64)
            got = json.loads(convert.outline_json(items, index, encoding, fragments))
            assert got == _reference_outline(text, index, encoding), (encoding, step)
            # The next version: an edit at a character boundary.
            at = rnd.randrange(len(text))
            while at < len(text) and (text[at] & 0xC0) == 0x80:
                at += 1
            text = text[:at] + rnd.choice(inserts) + text[at:]
        assert fragments and chunks  # pieces were kept for the next version


def test_outline_reuses_unchanged_pieces(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from evaluator.ide import symbols
    from evaluator.parse import make_parser

    body = "".join(f"  m{i} = {{ a = {i}; b = x: x; }};\n" for i in range(200))
    text = ("let\n" + body + "in m0\n").encode()
    chunks: dict = {}  # type: ignore[type-arg]
    computed: list[bytes] = []
    real = symbols._chunk_symbols

    def counting(node, data, in_let):  # type: ignore[no-untyped-def]
        computed.append(data[node.start_byte : node.end_byte])
        return real(node, data, in_let)

    monkeypatch.setattr(symbols, "_chunk_symbols", counting)
    symbols.outline(text, make_parser().parse(text), chunks, chunk_bytes=256)
    assert len(computed) >= 200
    computed.clear()
    edited = text.replace(b"m57 = { a = 57;", b"m57 = { a = 58;")
    items = symbols.outline(edited, make_parser().parse(edited), chunks, chunk_bytes=256)
    assert computed == [b"m57 = { a = 58; b = x: x; };"]
    flat = [s.name for s in symbols.document_symbols(edited, chunk_bytes=256)]
    assert flat == [f"m{i}" for i in range(200)]
    assert len(items) == 200


# ------------------------------------------- one parse per text (static layer)


def test_static_layer_and_requests_share_one_parse(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """A request for a text whose static layer is being lowered waits for that
    lowering instead of parsing the text again, and the other way round."""
    from evaluator.ide import _doc
    from server.analysis import snapshot, static_diagnostics
    from server.documents import DocumentStore

    cache = _doc.AnalysisCache()  # as a helper's host owns one
    parses: list[bytes] = []
    real_parse = _doc.parse

    def counting_parse(data, path=None, *args, **kwargs):  # type: ignore[no-untyped-def]
        parses.append(data)
        return real_parse(data, path, *args, **kwargs)

    monkeypatch.setattr(_doc, "parse", counting_parse)
    store = DocumentStore()
    path = "/nonexistent/nixlens-shared-parse.nix"
    doc = store.open("file://" + path, "let unusedName = 1; used = 2; in used", 1)
    snap = snapshot(doc)
    # The static layer's lowering is slow: a request meanwhile waits for it.
    lowering, release = threading.Event(), threading.Event()
    import server.analysis as analysis

    real_lower = analysis.lower

    def slow_lower(*args, **kwargs):  # type: ignore[no-untyped-def]
        lowering.set()
        assert release.wait(10)
        return real_lower(*args, **kwargs)

    monkeypatch.setattr(analysis, "lower", slow_lower)
    diags: list[list[Diagnostic]] = []
    got: list[_doc.Doc] = []

    def lint() -> None:
        with _doc.using(cache):
            diags.append(static_diagnostics(snap, path))

    def request() -> None:
        with _doc.using(cache):
            got.append(_doc.analyse(snap.data, path))

    worker = threading.Thread(target=lint)
    worker.start()
    assert lowering.wait(10)
    asking = threading.Thread(target=request)
    asking.start()
    time.sleep(0.05)
    assert not got  # waiting
    release.set()
    worker.join(10)
    asking.join(10)
    assert got and got[0].root is not None and parses == []
    assert [d.code for d in diags[0]] == ["unused_binding"]
    # A request first: the static layer uses its parse.
    doc2 = store.open("file://" + path + "2", "let a = 1; in a", 1)
    with _doc.using(cache):
        assert _doc.analyse(doc2.data, path + "2").root is not None
        assert len(parses) == 1
        monkeypatch.setattr(
            analysis, "lower", lambda *a, **k: (_ for _ in ()).throw(AssertionError)
        )
        assert static_diagnostics(snapshot(doc2), path + "2") == []
    # Another owner's cache (another helper) has none of it.
    assert _doc.AnalysisCache().cached(doc2.data, path + "2") is None


def test_a_deep_trace_is_cut_in_the_middle() -> None:
    src = Source(b"let f = n: f (n + 1); in f 0", "/w/a.nix")
    notes = tuple(Note(f"frame {k}", Span(src, 11, 20)) for k in range(500))
    diag = Diagnostic("eval_limit", Severity.ERROR, "stopped", Span(src, 11, 20), notes=notes)
    target = convert.Target("file:///w/a.nix", "/w/a.nix", LineIndex(src.text), UTF16)
    got = convert.diagnostic(diag, target)
    assert got is not None and got.related_information is not None
    shown = [r.message for r in got.related_information]
    half = convert.MAX_TRACE_NOTES // 2
    assert shown == [f"frame {k}" for k in (*range(half), *range(500 - half, 500))]
    assert f"({500 - 2 * half} more trace frames not shown)" in got.message
