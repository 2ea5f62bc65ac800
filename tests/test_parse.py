"""Tests for the parser (``evaluator.parse``) and the ``--parse`` dump
(``evaluator.astdump``): the upstream corpus plus focused unit tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evaluator import nodes as N
from evaluator.astdump import dump
from evaluator.parse import parse

ROOT = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("NIXLENS_LANG_TESTS", ROOT.parent / "shared" / "nix-lang-tests"))

# parse-fail tests whose error Nix finds while binding variables, which is
# the compiler's job, not the parser's.
SCOPE_ERRORS = {"parse-fail-undef-var", "parse-fail-regression-20060610"}

# Words in an eval-fail test's expected stderr that mark a parse-time error.
PARSE_ERROR_MARKERS = (
    "syntax error",
    "already defined at",
    "duplicate formal",
    "not allowed in",
    "path has a trailing slash",
    "cannot be represented as Nix string",
    "pipe-operators' is disabled",
    "invalid integer",
)


def corpus(pattern: str) -> list[Path]:
    if not CORPUS.is_dir():
        return []
    return sorted(CORPUS.glob(pattern))


def needs_corpus() -> None:
    if not CORPUS.is_dir():
        pytest.skip("Nix language test corpus not found (set NIXLENS_LANG_TESTS)")


def ok(text: str, **kw: object) -> N.Node:
    res = parse(text, **kw)  # type: ignore[arg-type]
    assert not res.errors, [str(e) for e in res.errors]
    assert res.root is not None
    return res.root


def errors(text: str) -> list[str]:
    res = parse(text, None, "«stdin»")
    assert res.root is None
    assert res.errors
    return [str(e) for e in res.errors]


# ---------------------------------------------------------------- corpus
@pytest.mark.parametrize("path", corpus("parse-okay-*.nix"), ids=lambda p: p.stem)
def test_parse_okay(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Upstream runs `nix-instantiate --parse - < lang/X.nix` from the parent
    # of a folder named `lang`, then replaces that directory with /pwd.
    (tmp_path / "lang").symlink_to(CORPUS)
    monkeypatch.chdir(tmp_path)
    res = parse(path.read_bytes(), None, "«stdin»", home="/fake-home")
    assert not res.errors, [str(e) for e in res.errors]
    got = dump(res.root).replace(str(tmp_path), "/pwd")
    assert got == path.with_suffix(".exp").read_text().rstrip("\n")


@pytest.mark.parametrize("path", corpus("parse-fail-*.nix"), ids=lambda p: p.stem)
def test_parse_fail(path: Path) -> None:
    res = parse(path.read_bytes(), None, "«stdin»", home="/fake-home")
    if path.stem in SCOPE_ERRORS:
        assert not res.errors
        return
    assert res.errors and res.root is None


@pytest.mark.parametrize("path", corpus("eval-*.nix"), ids=lambda p: p.stem)
def test_eval_sources_parse(path: Path) -> None:
    res = parse(path.read_bytes(), str(path), home="/fake-home")
    err = path.with_suffix(".err.exp")
    expected = err.read_text(errors="replace") if err.exists() else ""
    # The message proper: everything before the first position line.
    first = expected.split("\n       at ", 1)[0]
    # Parse errors have no trace: the message follows "error:" directly.
    direct = not first.startswith("error:\n")
    if (
        path.stem.startswith("eval-fail")
        and direct
        and any(m in first for m in PARSE_ERROR_MARKERS)
    ):
        assert res.errors, "Nix rejects this while parsing"
        assert any(e.message[:15] in first for e in res.errors) or "syntax error" in first
    else:
        assert not res.errors, [str(e) for e in res.errors]


def test_corpus_present_or_skip() -> None:
    needs_corpus()
    assert len(corpus("parse-okay-*.nix")) == 13
    assert len(corpus("parse-fail-*.nix")) == 41


# ---------------------------------------------------------------- strings
def lit(text: str) -> str:
    root = ok(text)
    assert isinstance(root, N.Str)
    assert all(isinstance(p, str) for p in root.parts)
    return "".join(root.parts)  # type: ignore[arg-type]


def test_string_escapes() -> None:
    assert lit(r'"a\nb\tc\rd\\e\"f\$g\qh"') == 'a\nb\tc\rd\\e"f$gqh'
    assert lit(r'"\${x}"') == "${x}"
    assert lit('"$${x}"') == "$${x}"
    assert lit('"a$"') == "a$"
    assert lit('""') == ""
    assert lit('"a\r\nb\rc"') == "a\nb\nc"


def test_string_interpolation_parts() -> None:
    root = ok('"a${x}b${y}"')
    assert isinstance(root, N.Str)
    assert root.parts[0] == "a" and root.parts[2] == "b"
    assert isinstance(root.parts[1], N.Var) and isinstance(root.parts[3], N.Var)
    assert dump(root) == '("a" + x + "b" + y)'


def test_indented_string_escapes() -> None:
    assert lit("''''$x'''y''\\nz''\\tw''\\qv''") == "$x''y\nz\twqv"
    assert lit("''a$${b}''") == "a$${b}"
    assert lit("''$''") == "$"


def test_indentation_stripping() -> None:
    assert lit("''\n  a\n    b\n  c\n''") == "a\n  b\nc\n"
    # Whitespace-only lines do not count; the last one is dropped.
    assert lit("''\n    a\n\n      b\n  ''") == "a\n\n  b\n"
    assert lit("''  a\n  b''") == "a\nb"
    assert lit("''\n  a\n  ''") == "a\n"
    assert lit("''''") == ""
    # Escapes end leading whitespace: min indent is 0 here.
    assert lit("''\n  a\n''\\tb\n''") == "  a\n\tb\n"
    # Tabs are not indentation.
    assert lit("''\n\ta\n  b\n''") == "\ta\n  b\n"


def test_indented_interpolation_counts_as_text() -> None:
    root = ok("''\n  ${x}\n    a\n''")
    assert isinstance(root, N.Str)
    assert isinstance(root.parts[0], N.Var)
    assert root.parts[1] == "\n  a\n"


def test_nul_in_string() -> None:
    (msg,) = errors('"a\0b"')
    assert msg.startswith("input string 'a␀b' cannot be represented as Nix string")


# ---------------------------------------------------------------- numbers
def test_numbers() -> None:
    assert ok("9223372036854775807").value == 2**63 - 1  # type: ignore[attr-defined]
    assert errors("9223372036854775808")[0].startswith("invalid integer '9223372036854775808'")
    assert ok("1.5").value == 1.5  # type: ignore[attr-defined]
    assert ok(".5").value == 0.5  # type: ignore[attr-defined]
    assert ok("1.5e-3").value == 0.0015  # type: ignore[attr-defined]
    assert dump(ok("-1")) == "(__sub 0 1)"


# ---------------------------------------------------------------- paths
def test_paths(tmp_path: Path) -> None:
    base = tmp_path / "dir" / "f.nix"
    root = ok("./a/../b//c/.", path=str(base))
    assert isinstance(root, N.Path) and root.parts == [str(tmp_path / "dir" / "b" / "c")]
    assert ok("../x", path=str(base)).parts == [str(tmp_path / "x")]  # type: ignore[attr-defined]
    assert ok("/abs/./p").parts == ["/abs/p"]  # type: ignore[attr-defined]
    assert ok("~/x", home="/h").parts == ["/h/x"]  # type: ignore[attr-defined]
    assert ok("a/b", path="/src/f.nix").parts == ["/src/a/b"]  # type: ignore[attr-defined]


def test_interpolated_paths() -> None:
    root = ok("./a/${x}/b", path="/src/f.nix")
    assert isinstance(root, N.Path)
    assert root.parts[0] == "/src/a/" and isinstance(root.parts[1], N.Var)
    assert root.parts[2] == "/b"
    home = ok("~/${x}", home="/h")
    assert isinstance(home, N.Path) and home.parts[0] == "/h/"


def test_path_trailing_slash() -> None:
    (msg,) = errors("x: /nix/store/")
    assert msg == "path has a trailing slash at «stdin»:1:15"


def test_search_path_and_uri() -> None:
    assert ok("<nixpkgs/lib>").name == "nixpkgs/lib"  # type: ignore[attr-defined]
    assert dump(ok("<nixpkgs>")) == '(__findFile __nixPath "nixpkgs")'
    assert ok("http://example.org/x").value == "http://example.org/x"  # type: ignore[attr-defined]


# ---------------------------------------------------------------- attrs
def test_nested_attr_paths_merge() -> None:
    assert dump(ok("{ a.b = 1; a.c = 2; }")) == "{ a = { b = 1; c = 2; }; }"
    assert dump(ok("{ a = { b = 1; }; a.c = 2; }")) == "{ a = { b = 1; c = 2; }; }"
    assert dump(ok("{ a.c = 2; a = rec { b = 1; }; }")) == "{ a = { b = 1; c = 2; }; }"
    assert dump(ok('{ "a b" = 1; ${"c"} = 2; }')) == '{ "a b" = 1; c = 2; }'
    assert dump(ok('{ "${"c"}" = 2; }')) == '{ "${("c")}" = 2; }'


def test_rec_merging_keeps_outer_rec() -> None:
    assert dump(ok("{ a = rec { x = 1; }; a.y = 2; }")) == "{ a = rec { x = 1; y = 2; }; }"


def test_duplicate_attributes() -> None:
    assert errors("{ a = 1; a = 2; }") == [
        "attribute 'a' already defined at «stdin»:1:3 at «stdin»:1:10"
    ]
    assert errors("{ a = 1; a.b = 2; }")[0].startswith("attribute 'a' already defined")
    assert errors("{ a.b = 1; a.b = 2; }")[0].startswith("attribute 'a.b' already defined")
    assert errors("{ inherit a; a = 1; }")[0].startswith("attribute 'a' already defined")
    assert errors("let a = 1; a = 2; in a")[0].startswith("attribute 'a' already defined")


def test_all_errors_are_collected() -> None:
    msgs = errors("{ a = 1; a = 2; b = 1; b = 2; }")
    assert len(msgs) == 2


def test_inherit() -> None:
    root = ok("{ inherit a; inherit (e) b c; inherit (f) d; }")
    assert isinstance(root, N.Attrs)
    assert root.attrs["a"].kind == "inherit" and isinstance(root.attrs["a"].value, N.Var)
    assert [d.from_index for k, d in sorted(root.attrs.items()) if k != "a"] == [0, 0, 1]
    b = root.attrs["b"].value
    assert isinstance(b, N.Select) and b.expr is root.inherit_from[0] and b.path == ["b"]
    assert dump(root) == "{ inherit a; inherit (e) b c; inherit (f) d; }"


def test_dynamic_attributes() -> None:
    root = ok("{ ${x} = 1; a.${y}.b = 2; }")
    assert isinstance(root, N.Attrs) and len(root.dynamic) == 1
    assert errors("let ${x} = 1; in 1") == ["dynamic attributes not allowed in let at «stdin»:1:1"]
    assert errors("{ inherit ${x}; }")[0].startswith("dynamic attributes not allowed in inherit")


def test_legacy_let_and_cur_pos() -> None:
    root = ok("let { a = 1; body = a; }")
    assert isinstance(root, N.LegacyLet) and root.attrs.rec
    assert dump(root) == "(rec { a = 1; body = a; }).body"
    assert isinstance(ok("__curPos"), N.CurPos)


# ---------------------------------------------------------------- lambdas
def test_lambda_forms_and_names() -> None:
    root = ok("{ f = x: y: x; g = { a, b ? 1, ... }@args: a; h = args@{ c }: c; }")
    assert isinstance(root, N.Attrs)
    f = root.attrs["f"].value
    assert isinstance(f, N.Lambda) and f.name == "f" and f.body.name == "f"  # type: ignore[attr-defined]
    g = root.attrs["g"].value
    assert isinstance(g, N.Lambda) and g.arg == "args" and g.ellipsis
    assert [x.name for x in g.formals or []] == ["a", "b"]
    assert dump(g) == "({ a, b ? 1, ... } @ args: a)"
    assert dump(ok("{ x, y, }: x")) == "({ x, y }: x)"
    assert dump(ok("{ x ? 1, }: x")) == "({ x ? 1 }: x)"


def test_duplicate_formals() -> None:
    assert errors("{ x, y, x }: x") == ["duplicate formal function argument 'x' at «stdin»:1:9"]
    assert errors("x@{ x }: x") == ["duplicate formal function argument 'x' at «stdin»:1:1"]


# ---------------------------------------------------------------- operators
def test_operators_dump() -> None:
    assert dump(ok("a + b * c - d / e")) == "(__sub (a + (__mul b c)) (__div d e))"
    assert dump(ok("a < b")) == "(__lessThan a b)"
    assert dump(ok("a > b")) == "(__lessThan b a)"
    assert dump(ok("a <= b")) == "(! (__lessThan b a))"
    assert dump(ok("a >= b")) == "(! (__lessThan a b))"
    assert dump(ok("a ++ b // c == d")) == "(((a ++ b) // c) == d)"
    assert dump(ok("!a && b || c -> d")) == "((((! a) && b) || c) -> d)"
    assert dump(ok("a ? b.c")) == "((a) ? b.c)"
    assert dump(ok("a.b.${c} or d")) == '(a).b."${c}" or (d)'
    assert dump(ok("f a (g b) c")) == "(f a (g b) c)"
    assert dump(ok("map or")) == "(map or)"


def test_op_span_and_path_spans() -> None:
    root = ok("a  ++ b")
    assert isinstance(root, N.BinOp) and root.op == "++"
    assert root.op_span is not None and (root.op_span.start, root.op_span.end) == (3, 5)
    sel = ok("x.a.b")
    assert isinstance(sel, N.Select)
    assert [(s.start, s.end) for s in sel.path_spans] == [(2, 3), (4, 5)]


# ---------------------------------------------------------------- syntax errors
def test_syntax_error_messages() -> None:
    assert errors("{ a = ; }") == ["expected expression after `=` at «stdin»:1:5"]
    assert errors("{ a = 1 }") == ["expected `;` after attribute definition at «stdin»:1:7"]
    assert errors("(1") == ["unclosed `(` at «stdin»:1:1"]
    assert errors("[ 1 2") == ["unclosed `[` at «stdin»:1:1"]
    assert errors("if 1 else 2") == ["unexpected `else`, expected `then` at «stdin»:1:6"]
    assert errors("a.if")[0].startswith("keyword `if` cannot be used as a name here")
    assert errors("1 |> f")[0].startswith("experimental Nix feature 'pipe-operators' is disabled")


def test_error_spans_are_not_empty() -> None:
    for text in ("{ a = ; }", "(1", "if then", "x: )", "{ a = 1; a = 2; }"):
        res = parse(text)
        for e in res.errors:
            assert e.span.end > e.span.start, (text, str(e))


def test_lone_cr_is_a_line_end() -> None:
    root = ok("rec {\r  x = # comment\ry;\r  y = 1;\r}")
    assert dump(root) == "rec { x = y; y = 1; }"


# ---------------------------------------------------------------- depth
N_DEEP = 10000


@pytest.mark.parametrize(
    "text",
    [
        "[" * N_DEEP + "]" * N_DEEP,
        "1+(" * N_DEEP + "1" + ")" * N_DEEP,
        "a" + ".b" * N_DEEP,
        "f" + " a" * N_DEEP,
        " ++ ".join(["[1]"] * N_DEEP),
        " + ".join(["1"] * N_DEEP),
        "x: " * N_DEEP + "x",
        "-" * N_DEEP + "1",
        "let a = 1; in " * 3000 + "a",
    ],
    ids=["list", "paren-plus", "select", "apply", "concat", "sum", "lambda", "neg", "let"],
)
def test_deep_nesting(text: str) -> None:
    root = ok(text)
    assert dump(root)
