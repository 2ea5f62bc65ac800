"""Tests for name resolution (``evaluator.scope``) and static lints
(``evaluator.lint``).

Lint fixtures are one snippet each and list every expected diagnostic as
``(code, line, column, text)``: 1-based line and column of the span's start,
and the exact source text the span covers (so the column range is
``column .. column + len(text)``).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evaluator import nodes as N
from evaluator.diagnostics import CODES, Severity, Tag
from evaluator.lint import lint
from evaluator.parse import parse
from evaluator.scope import (
    GLOBAL_NAMES,
    definition_at,
    enclosing_withs,
    reference_at,
    resolve,
    visible_names,
)

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("NIXLENS_LANG_TESTS", ROOT.parent / "shared" / "nix-lang-tests"))


def parsed(src: str) -> tuple[N.Node, N.Source]:
    res = parse(src)
    assert res.root is not None, [str(e) for e in res.errors]
    return res.root, res.source


def diags(src: str) -> set[tuple[str, int, int, str]]:
    root, source = parsed(src)
    out = set()
    for d in lint(root, source):
        assert d.code in CODES, d.code
        assert d.span is not None
        line, col = d.span.line_col()
        out.add((d.code, line, col, source.text[d.span.start : d.span.end].decode()))
    return out


def check(src: str, *expected: tuple[str, int, int, str]) -> None:
    assert diags(src) == set(expected)


def codes(src: str) -> set[str]:
    return {d[0] for d in diags(src)}


# ----------------------------------------------------------- resolution
def refs_by_name(src: str) -> dict[str, list[str]]:
    root, _ = parsed(src)
    res = resolve(root)
    out: dict[str, list[str]] = {}
    for var, ref in sorted(res.refs.items(), key=lambda kv: kv[0].span.start):
        desc = ref.kind
        if ref.definition is not None:
            desc = f"{ref.definition.kind}@{ref.definition.span.start}"
        elif ref.kind == "with":
            desc = "with" + "".join(f"@{w.span.start}" for w in ref.withs)
        out.setdefault(var.name, []).append(desc)
    return out


def test_let_is_recursive_and_inherit_looks_outside():
    #     0         1         2         3
    #     0123456789012345678901234567890123456
    r = refs_by_name("let a = 1; in let inherit a; b = a; in b")
    # `inherit a;` refers to the outer a; `b = a` to the inner (inherited) one.
    assert r["a"] == ["let@4", "let@26"]
    assert r["b"] == ["let@29"]


def test_inherit_from_source_sees_rec_scope():
    r = refs_by_name("rec { inherit (a) b; a = { b = 1; }; }")
    assert r["a"] == ["rec@21"]


def test_plain_attrs_do_not_bind():
    r = refs_by_name("let a = 1; in { a = 2; b = a; }")
    assert r["a"] == ["let@4"]


def test_formal_defaults_see_all_formals_and_at_name():
    r = refs_by_name("args@{ a ? b, b ? args }: a")
    assert r["b"] == ["formal@14"]
    assert r["args"] == ["arg@0"]


def test_builtin_beats_with_and_lexical_beats_both():
    r = refs_by_name("with { true = 1; x = 2; }; [ true x ]")
    assert r["true"] == ["builtin"]
    assert r["x"] == ["with@0"]
    r = refs_by_name("x: with { x = 1; }; x")
    assert r["x"] == ["arg@0"]


def test_nested_withs_innermost_first():
    r = refs_by_name("with a; with b; c")
    assert r["a"] == ["undefined"]
    assert r["b"] == ["with@0"]
    assert r["c"] == ["with@8@0"]


def test_with_env_is_outside_the_with():
    r = refs_by_name("with x; 1")
    assert r["x"] == ["undefined"]


def test_search_path_uses_find_file():
    root, _ = parsed("let __findFile = a: _b: a; in <p>")
    res = resolve(root)
    (d,) = [d for d in res.definitions if d.name == "__findFile"]
    assert len(d.uses) == 1 and isinstance(d.uses[0], N.SearchPath)


def test_definitions_and_uses():
    root, _ = parsed("let a = 1; b = a + a; in b")
    res = resolve(root)
    by_name = {d.name: d for d in res.definitions}
    assert [d.name for d in res.definitions] == ["a", "b"]
    assert [u.span.start for u in by_name["a"].uses] == [15, 19]
    assert by_name["a"].value is not None and by_name["a"].kind == "let"


def test_visible_names_and_withs():
    src = "let a = 1; in x: with {}; { b ? 0 }: a"
    root, _ = parsed(src)
    res = resolve(root)
    at = src.rindex("a")
    names = visible_names(res, at)
    assert names["a"] is not None and names["a"].kind == "let"
    assert names["x"] is not None and names["b"] is not None
    assert "map" in names and names["map"] is None
    assert len(enclosing_withs(res, at)) == 1
    outside = visible_names(res, 0)
    assert "x" not in outside and "a" in outside
    assert enclosing_withs(res, 2) == []


def test_definition_at_and_reference_at():
    src = "let a = 1; in let inherit a; in a"
    root, _ = parsed(src)
    res = resolve(root)
    d = definition_at(res, src.rindex("a"))
    assert d is not None and d.span.start == src.index("inherit a") + 8
    # On the inherit site itself: go to the outer binding.
    d = definition_at(res, src.index("inherit a") + 8)
    assert d is not None and d.span.start == 4
    found = reference_at(res, src.rindex("a"))
    assert found is not None and found[1].kind == "definition"
    assert reference_at(res, 0) is None


def test_global_names():
    for name in ("true", "false", "null", "builtins", "import", "map", "toString", "throw"):
        assert name in GLOBAL_NAMES
    for name in ("__add", "__currentSystem", "__nixPath", "__findFile", "__storeDir"):
        assert name in GLOBAL_NAMES
    # Registered without the prefix only / with the prefix only.
    for name in ("__map", "__import", "add", "fetchurl", "currentSystem", "attrNames"):
        assert name not in GLOBAL_NAMES


# ------------------------------------------------------------ lints
def test_undefined_variable():
    check("x", ("undefined_variable", 1, 1, "x"))
    check("let a = b; in a", ("undefined_variable", 1, 9, "b"))
    check("{ a = a; }", ("undefined_variable", 1, 7, "a"))
    check("rec { a = 1; b = a; }")
    check("with import ./x.nix; y")  # under a `with`: looked up at run time
    check("[ true false null builtins map __add ]")
    check("fetchurl", ("undefined_variable", 1, 1, "fetchurl"))
    root, source = parsed("x")
    (d,) = lint(root, source)
    assert d.severity is Severity.ERROR and d.message == "undefined variable 'x'"


def test_unused_binding():
    check("let _x = 1; in 2")
    check("let a = 1; in 2", ("unused_binding", 1, 5, "a"))
    check("let a = 1; b = a; in b")
    # Used only by itself or by other unused bindings: still unused.
    check("let a = a; in 1", ("unused_binding", 1, 5, "a"))
    check(
        "let a = b; b = a; c = 1; in c",
        ("unused_binding", 1, 5, "a"),
        ("unused_binding", 1, 12, "b"),
    )
    check("let a = 1; b = a; in 1", ("unused_binding", 1, 5, "a"), ("unused_binding", 1, 12, "b"))
    # Shadowed.
    check("let a = 1; in let a = 2; in a", ("unused_binding", 1, 5, "a"))
    check("let a = 1; in let a = a; in a", ("unused_binding", 1, 5, "a"))
    check("let inherit ({ a = 1; }) a; in 1", ("unused_binding", 1, 26, "a"))
    check("let inherit ({ a = 1; b = 2; }) a b; in a", ("unused_binding", 1, 35, "b"))
    # Bindings of a rec set are its attributes, never unused.
    check("rec { a = 1; b = a; }")
    root, source = parsed("let a = 1; in 2")
    (d,) = lint(root, source)
    assert d.severity is Severity.WARNING and Tag.UNNECESSARY in d.tags


def test_unused_argument():
    check("x: x")
    check("_x: 1")
    check("x: 1", ("unused_argument", 1, 1, "x"))
    check("args@{ a }: a", ("unused_argument", 1, 1, "args"))
    check("args@{ a }: args")  # `a` may be read as `args.a`
    check("x: let a = x; in 1", ("unused_binding", 1, 8, "a"))  # the binding is the problem


def test_unused_formal():
    check("{ a, b }: a", ("unused_formal", 1, 6, "b"))
    check("{ a, b ? a }: b")
    check("{ a, _b, ... }: a")
    check("{ a, ... }@args: args")
    check("{ a, b, ... }@args: a", ("unused_argument", 1, 15, "args"), ("unused_formal", 1, 6, "b"))
    root, source = parsed("{ a }: 1")
    (d,) = lint(root, source)
    assert d.code == "unused_formal" and d.severity is Severity.HINT


def test_unused_with():
    check("with {}; 1", ("unused_with", 1, 1, "with {};"))
    check("with { a = 1; }; a")
    check("let a = 1; in with { a = 2; }; a", ("unused_with", 1, 15, "with { a = 2; };"))
    check("with { true = 2; }; true", ("unused_with", 1, 1, "with { true = 2; };"))
    check("with {}; with {}; x")  # both searched at run time
    check("with /* ; */ {} ; 1", ("unused_with", 1, 1, "with /* ; */ {} ;"))
    # A with used only from an unused let binding still counts as used.
    check("with {}; let a = b; in 1", ("unused_binding", 1, 14, "a"))


def test_useless_rec():
    check("rec { a = 1; b = 2; }", ("useless_rec", 1, 1, "rec"))
    check("rec { }", ("useless_rec", 1, 1, "rec"))
    check("rec { a = 1; b = a; }")
    check("rec { a = a; }")
    check("rec { inherit (a) b; a = { b = 1; }; }")
    check('rec { ${a} = 1; a = "x"; }')
    check("let a = 1; in rec { inherit a; }", ("useless_rec", 1, 15, "rec"))
    check("{ a = 1; b = 2; }")
    check("let { a = 1; body = a; }", ("legacy_let", 1, 1, "let"))


def test_useless_inherit():
    check(
        "let a = 1; in let inherit a; in a",
        ("useless_inherit", 1, 27, "a"),
    )
    check("let inherit map; in map", ("useless_inherit", 1, 13, "map"))
    check("with { a = 1; }; let inherit a; in a")  # pins a `with` attribute
    check("let a = 1; in { inherit a; }")  # exports a: not a rebinding
    check("let a = 1; in rec { inherit a; b = a; }")


def test_shadowed_builtin():
    check("let true = 1; in true", ("shadowed_builtin", 1, 5, "true"))
    check("map: map", ("shadowed_builtin", 1, 1, "map"))
    check("{ toString }: toString", ("shadowed_builtin", 1, 3, "toString"))
    check("rec { import = 1; a = import; }", ("shadowed_builtin", 1, 7, "import"))
    check("{ map = 1; }")  # a plain attribute binds nothing
    check("let inherit (builtins) toString; in toString")
    check("let __findFile = a: _b: a; in <p>")
    check("{ fetchurl, lib }: [ fetchurl lib ]")  # fetchurl is builtins.fetchurl only


def test_legacy_let():
    root, source = parsed("let { body = 1; }")
    (d,) = lint(root, source)
    assert d.code == "legacy_let" and Tag.DEPRECATED in d.tags
    assert source.text[d.span.start : d.span.end] == b"let"
    check("let a = 1; in a")


def test_url_literal():
    check("http://example.org/x", ("url_literal", 1, 1, "http://example.org/x"))
    check('"http://example.org/x"')
    root, source = parsed("[ https://a.b ]")
    (d,) = lint(root, source)
    assert Tag.DEPRECATED in d.tags and '"https://a.b"' in d.message


def test_empty_let():
    check("let in 1", ("empty_let", 1, 1, "let in"))
    check("let\n  # nothing\nin 1", ("empty_let", 1, 1, "let\n  # nothing\nin"))
    check("let a = 1; in a")


def test_empty_inherit():
    # Nix accepts `inherit;` and `inherit (e);`.  While the parser rejects
    # them, build the AST it should produce by hand.
    for src, text in (
        ("{ inherit; a = 1; }", "inherit;"),
        ("let inherit (x); in 1", "inherit (x);"),
        ("{ inherit ({ }) /* ; */ ; }", "inherit ({ }) /* ; */ ;"),
        ("rec { inherit # c\n ; }", "inherit # c\n ;"),
    ):
        res = parse(src)
        if res.root is not None:
            found = {d for d in diags(src) if d[0] == "empty_inherit"}
        else:
            source = N.Source(src.encode())
            root = _empty_inherit_ast(src, source)
            found = set()
            for d in lint(root, source):
                assert d.span is not None
                if d.code == "empty_inherit":
                    line, col = d.span.line_col()
                    found.add((d.code, line, col, src[d.span.start : d.span.end]))
        assert found == {("empty_inherit", 1, src.index("inherit") + 1, text)}, src
    check("{ inherit ({ a = 1; }) a; }")
    check("let a = 1; in { inherit a; }")
    check("{ a = 1; /* inherit; */ }")


def _empty_inherit_ast(src: str, source: N.Source) -> N.Node:
    """The AST of one of the empty-inherit snippets above."""

    def sp(a: int, b: int) -> N.Span:
        return N.Span(source, a, b)

    end = len(src)
    if src.startswith("let"):
        x = src.index("x")
        body = src.rindex("1")
        return N.Let(sp(0, end), {}, N.Int(sp(body, body + 1), 1), [N.Var(sp(x, x + 1), "x")])
    attrs = N.Attrs(sp(0, end), src.startswith("rec"), {})
    if "a = 1" in src:
        a = src.index("a = 1")
        attrs.attrs["a"] = N.AttrDef(N.Int(sp(a + 4, a + 5), 1), sp(a, a + 1))
    if "({ })" in src:
        e = src.index("{ })")
        attrs.inherit_from.append(N.Attrs(sp(e, e + 3), False, {}))
    return attrs


def test_literal_boolean_operand():
    check("x: true && x", ("literal_boolean_operand", 1, 4, "true"))
    check("x: x || false", ("literal_boolean_operand", 1, 9, "false"))
    check("x: x -> false", ("literal_boolean_operand", 1, 9, "false"))
    check("x: y: x && y")
    check("x: true == x")
    check("let true = x: x; in y: true && y", ("shadowed_builtin", 1, 5, "true"))


def test_sorted_and_deterministic():
    src = "let a = 1; in with {}; x: [ b http://u.v ]"
    root, source = parsed(src)
    first = lint(root, source)
    starts = [d.span.start for d in first if d.span is not None]
    assert starts == sorted(starts)
    assert [str(d) for d in first] == [str(d) for d in lint(*parsed(src))]


def test_deep_nesting():
    n = 5000
    cases = [
        "let x0 = 1; in " + "".join(f"let x{i} = x{i - 1}; in " for i in range(1, n)) + f"x{n - 1}",
        "(" * n + "1" + ")" * n,
        "with {}; " * n + "y",
        "{a=" * n + "1" + ";}" * n,
        "1 + " * n + "1",
        "[ " * n + "true" + " ]" * n,
        "".join(f"x{i}: " for i in range(n)) + "x0",
    ]
    for src in cases:
        root, source = parsed(src)
        lint(root, source)
    root, source = parsed(cases[-1])
    assert len([d for d in lint(root, source) if d.code == "unused_argument"]) == n - 1


def test_corpus_never_raises():
    files = sorted(CORPUS.glob("*.nix")) if CORPUS.is_dir() else []
    if not files:
        pytest.skip("Nix language test corpus not found (set NIXLENS_LANG_TESTS)")
    for f in files:
        res = parse(f.read_bytes(), path=str(f))
        if res.root is None:
            continue
        ds = lint(res.root, res.source)
        # Nix reports undefined variables before evaluating: an eval-okay
        # test can have none.
        if f.name.startswith("eval-okay-"):
            assert not [d for d in ds if d.code == "undefined_variable"], f.name
