"""Serialisation, file-system and fetcher builtins: Nix's output byte for
byte, error messages and traces, and unbounded depth
(evaluator/builtins/serial.py and evaluator/builtins/paths.py)."""

from __future__ import annotations

import os

import pytest

from evaluator.builtins.paths import base_name
from evaluator.builtins.serial import from_json, json_float, to_xml
from evaluator.errors import NixError
from evaluator.eval import Evaluator
from evaluator.printer import show_value
from evaluator.values import context_of


def ev_val(src: str, **kw: object) -> object:
    ev = Evaluator(**kw)  # type: ignore[arg-type]
    v = ev.eval_text(src)
    ev.deep_force(v)
    return v


def ev_str(src: str, **kw: object) -> str:
    return show_value(ev_val(src, **kw))


def ev_err(src: str, **kw: object) -> NixError:
    ev = Evaluator(**kw)  # type: ignore[arg-type]
    with pytest.raises(NixError) as info:
        ev.deep_force(ev.eval_text(src))
    return info.value


def trace_of(err: NixError) -> list[str]:
    return [msg for msg, _span in err.trace]


# ------------------------------------------------------------------ toJSON
@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("{ b = 1; a = [ true false null ]; }", '{"a":[true,false,null],"b":1}'),
        ('"q\\"b\\\\n\\nt\\tr\\r"', '"q\\"b\\\\n\\nt\\tr\\r"'),
        ('"\\u0001 é"'.replace("\\u0001", "\x01"), '"\\u0001 é"'),
        ("{ }", "{}"),
        ("[ ]", "[]"),
        ("-456", "-456"),
        ('{ outPath = "o"; x = 1; }', '"o"'),
        ("{ outPath = 42; }", "42"),
        ("{ outPath = { a = 1; }; }", '{"a":1}'),
        ('{ __toString = s: "won"; outPath = abort "no"; }', '"won"'),
        ('{ __toString = s: { outPath = "deep"; }; }', '"deep"'),
    ],
)
def test_to_json(src: str, want: str) -> None:
    assert ev_val(f"builtins.toJSON ({src})") == want


@pytest.mark.parametrize(
    ("f", "want"),
    [
        (1.0, "1.0"),
        (0.1, "0.1"),
        (1.44, "1.44"),
        (-0.0, "-0.0"),
        (1e-5, "1e-05"),
        (0.0001, "0.0001"),
        (1e15, "1e+15"),
        (1e14, "100000000000000.0"),
        (123456789012345678.0, "1.2345678901234568e+17"),
        (1e100, "1e+100"),
        (float("inf"), "null"),
    ],
)
def test_json_float(f: float, want: str) -> None:
    assert json_float(f) == want


def test_to_json_keeps_context_and_copies_paths(tmp_path: object) -> None:
    d = str(tmp_path)
    with open(os.path.join(d, "a.txt"), "w") as f:
        f.write("hi")
    ev = Evaluator()
    v = ev.eval_text(f"builtins.toJSON [ {d}/a.txt ]")
    ctx = context_of(v)
    assert len(ctx) == 1
    (sp,) = ctx
    assert sp.startswith("/nix/store/") and sp.endswith("-a.txt")
    assert v == f'["{sp}"]'


def test_to_json_errors() -> None:
    assert ev_err("builtins.toJSON (x: x)").msg == "cannot convert a function to JSON"
    err = ev_err('builtins.toJSON { a.b = [ 1 2 3 { c.d = throw "hah"; } ]; }')
    assert err.msg == "hah"
    assert trace_of(err)[-6:] == [
        "while evaluating attribute 'd'",
        "while evaluating attribute 'c'",
        "while evaluating list element at index 3",
        "while evaluating attribute 'b'",
        "while evaluating attribute 'a'",
        "while calling the 'toJSON' builtin",
    ]
    err = ev_err("builtins.toJSON { __toString = self: 42; }")
    assert err.msg == "`__toString` should return a string, but got an integer: 42"
    err = ev_err("builtins.toJSON { __toString = self: { a = 1; }; }")
    assert err.msg == "`__toString` must return a string, but got a set: { a = 1; }"
    ev = Evaluator()
    with pytest.raises(NixError) as info:
        ev.eval_text(b'builtins.toJSON "_\xff_"')
    assert info.value.msg == (
        "JSON serialization error: [json.exception.type_error.316] "
        "invalid UTF-8 byte at index 1: 0xFF"
    )


def test_to_json_million_deep() -> None:
    src = (
        "let f = n: if n == 0 then [] else [(f (n - 1))]; "
        "in builtins.stringLength (builtins.toJSON (f 1000000))"
    )
    assert ev_val(src) == 2_000_002


# ---------------------------------------------------------------- fromJSON
def test_from_json_values() -> None:
    src = r"""builtins.fromJSON ''{"a": [1, -2.5, true, false, null, "x\u00e9\n"], "b": {}, "a": 3}''"""
    assert ev_str(src) == "{ a = 3; b = { }; }"
    assert ev_str(r"""builtins.fromJSON ''[1e3, 18446744073709551616, -0, "\ud83d\ude00"]''""") == (
        '[ 1000 1.84467e+19 0 "😀" ]'
    )


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        (
            '{"attr": 18446744073709551615}',
            "unsigned json number 18446744073709551615 outside of Nix integer range",
        ),
        (
            '"a\\u0000b"',
            "input string 'a\u2400b' cannot be represented as Nix string because it "
            "contains null bytes",
        ),
        (
            "{",
            "[json.exception.parse_error.101] parse error at line 1, column 2: syntax error "
            "while parsing object key - unexpected end of input; expected string literal",
        ),
        (
            "[1,]",
            "[json.exception.parse_error.101] parse error at line 1, column 4: syntax error "
            "while parsing value - unexpected ']'; expected '[', '{', or a literal",
        ),
        ("1e400", "[json.exception.out_of_range.406] number overflow parsing '1e400'"),
    ],
)
def test_from_json_errors(text: str, msg: str) -> None:
    with pytest.raises(NixError) as info:
        from_json(text)
    assert info.value.msg == msg


def test_from_json_deep_and_large_round_trip() -> None:
    deep = "[" * 1_000_000 + "]" * 1_000_000
    v = from_json(deep)
    depth = 0
    while v:
        v = v[0]
        depth += 1
    assert depth == 999_999
    src = (
        'let d = builtins.genList (i: { name = "k${toString i}"; '
        'v = [ i (i * 1.5) "x\\n\\"${toString i}" null true { } ]; }) 20000; '
        "j = builtins.toJSON d; "
        "in [ (builtins.stringLength j > 1000000) (builtins.fromJSON j == d) ]"
    )
    assert ev_str(src) == "[ true true ]"


# ---------------------------------------------------------------- fromTOML
def test_from_toml() -> None:
    src = "builtins.fromTOML ''\n  a = 1\n  f = 1.5\n  [t]\n  l = [ \"x\", 'y' ]\n''"
    assert ev_str(src) == '{ a = 1; f = 1.5; t = { l = [ "x" "y" ]; }; }'


def test_from_toml_errors() -> None:
    err = ev_err("builtins.fromTOML ''d = 1979-05-27''")
    assert err.msg == "while parsing TOML: Dates and times are not supported"
    err = ev_err("builtins.fromTOML ''attr = 9223372036854775808''")
    assert err.msg.split("\n") == [
        "while parsing TOML: [error] toml::parse_dec_integer: too large integer: "
        "current max digits = 2^63",
        " --> fromTOML",
        "   |",
        " 1 | attr = 9223372036854775808",
        "   |                           ^-- must be < 2^63",
        "",
    ]
    err = ev_err("builtins.fromTOML ''k = \"a\\u0000b\"''")
    assert err.msg.startswith("while parsing TOML: error: input string 'a\u2400b'")


def test_from_toml_timestamps_feature() -> None:
    ev = Evaluator()
    ev.experimental_features = {"parse-toml-timestamps"}  # type: ignore[attr-defined]
    src = (
        "builtins.fromTOML ''\n  a = 1979-05-27 07:32:00.1234567Z\n  b = 00:32:00.1234567891\n"
        "  c = 1979-05-27T00:32:00-07:00\n  s = \"07:32:00.5\"\n''"
    )
    v = ev.eval_text(src)
    ev.deep_force(v)
    assert show_value(v) == (
        '{ a = { _type = "timestamp"; value = "1979-05-27T07:32:00.123456700Z"; }; '
        'b = { _type = "timestamp"; value = "00:32:00.123456789"; }; '
        'c = { _type = "timestamp"; value = "1979-05-27T00:32:00-07:00"; }; '
        's = "07:32:00.5"; }'
    )


# ------------------------------------------------------------------- toXML
def test_to_xml() -> None:
    v = ev_val(
        'builtins.toXML { a = "s<\\"&>\\n"; l = [ 1 1.5 null true ]; f = args@{ y, x ? 1, ... }: x; g = x: x; }'
    )
    assert v == (
        "<?xml version='1.0' encoding='utf-8'?>\n<expr>\n  <attrs>\n"
        '    <attr name="a">\n      <string value="s&lt;&quot;&amp;&gt;&#xA;" />\n    </attr>\n'
        '    <attr name="f">\n      <function>\n        <attrspat ellipsis="1" name="args">\n'
        '          <attr name="x" />\n          <attr name="y" />\n        </attrspat>\n'
        "      </function>\n    </attr>\n"
        '    <attr name="g">\n      <function>\n        <varpat name="x" />\n'
        "      </function>\n    </attr>\n"
        '    <attr name="l">\n      <list>\n        <int value="1" />\n'
        '        <float value="1.5" />\n        <null />\n        <bool value="true" />\n'
        "      </list>\n    </attr>\n  </attrs>\n</expr>\n"
    )


def test_to_xml_derivations_and_location() -> None:
    src = (
        '{ d = { type = "derivation"; drvPath = "/nix/store/a.drv"; outPath = "/nix/store/a"; }; '
        "e = [ ]; }"
    )
    ev = Evaluator()
    v = ev.eval_text(src, None, "«string»")
    ev.deep_force(v)
    text = ev.run(to_xml(v, location=True))
    assert '<attr column="3" line="1" name="d" path="«string»">' in text
    assert '<derivation drvPath="/nix/store/a.drv" outPath="/nix/store/a">' in text
    assert "      <list>\n      </list>\n" in text
    twice = ev_val(f"let d = {src}.d; in builtins.toXML [ d d ]")
    assert "<repeated />" in str(twice)


# ------------------------------------------------------------------- paths
@pytest.mark.parametrize(
    ("s", "want"),
    [("", ""), ("a/", "a"), ("a//", ""), ("a/b", "b"), ("a//b", "b"), ("/", ""), ("a/..", "..")],
)
def test_base_name(s: str, want: str) -> None:
    assert base_name(s) == want


def test_dir_of_and_base_name_of() -> None:
    assert ev_str(
        '[ (dirOf "") (dirOf "a///b") (dirOf "/") (dirOf "///") (dirOf /a/b) (dirOf /.) ]'
    ) == ('[ "." "a//" "/" "//" /a / ]')
    assert ev_str('[ (baseNameOf /a/foo) (baseNameOf "a/b/") ]') == '[ "foo" "b" ]'
    err = ev_err("builtins.baseNameOf [ ]")
    assert err.msg == "cannot coerce a list to a string: [ ]"
    assert "while evaluating the first argument passed to builtins.baseNameOf" in trace_of(err)


def test_files(tmp_path: object) -> None:
    d = str(tmp_path)
    os.mkdir(os.path.join(d, "sub"))
    with open(os.path.join(d, "f"), "wb") as f:
        f.write(b"hi\xff\n")
    with open(os.path.join(d, "nul"), "wb") as f:
        f.write(b"a\0b")
    os.symlink("sub", os.path.join(d, "ldir"))
    os.symlink("f", os.path.join(d, "lf"))
    assert ev_val(f"builtins.readFile {d}/f") == "hi\udcff\n"
    assert ev_str(f"builtins.stringLength (builtins.readFile {d}/f)") == "4"
    assert ev_err(f"builtins.readFile {d}/nul").msg == (
        f"the contents of the file '{d}/nul' cannot be represented as a Nix string"
    )
    assert ev_str(f"builtins.readDir {d}") == (
        '{ f = "regular"; ldir = "symlink"; lf = "symlink"; nul = "regular"; sub = "directory"; }'
    )
    assert ev_str(f"builtins.readDir {d}/ldir") == "{ }"
    assert ev_err(f"builtins.readDir {d}/lf").msg == f"'{d}/f' is not a directory"
    assert ev_err(f"builtins.readDir {d}/nope").msg == f"path '{d}/nope' does not exist"
    assert ev_str(f"map builtins.readFileType [ {d}/f {d}/sub {d}/lf ]") == (
        '[ "regular" "directory" "symlink" ]'
    )
    exists = (
        f'map builtins.pathExists [ {d}/f "{d}/f/" "{d}/f/." "{d}/sub/" "{d}/ldir/" '
        f'"{d}/sub/../f" {d}/nope "{d}/lf" ]'
    )
    assert ev_str(exists) == "[ true false false true true true false true ]"


def test_store_directory_always_exists() -> None:
    # Nix has its store open while it evaluates; nixlens stands the store
    # directory in whether or not this machine has one.
    probe = (
        'map builtins.pathExists [ "${builtins.storeDir}" "${builtins.storeDir}/" '
        '"${builtins.storeDir}/foo" "${builtins.storeDir}/foo/bar" ]'
    )
    assert ev_str(probe) == "[ true true false false ]"


def test_path_argument_errors() -> None:
    err = ev_err('builtins.pathExists "zorglub"')
    assert err.msg == "string 'zorglub' doesn't represent an absolute path"
    assert trace_of(err)[0] == "while realising the context of a path"
    err = ev_err('builtins.readFileType { outPath = "rel"; }')
    assert trace_of(err)[:2] == [
        "while realising the context of a path",
        "while using the `outPath` attribute",
    ]
    err = ev_err('builtins.readFileType { __toString = "not a function"; }')
    assert err.msg.startswith("attempt to call something which is not a function but a string")
    assert trace_of(err)[0] == "while calling the `__toString` attribute"
    assert ev_err('builtins.toPath "foo/bar"').msg == (
        "string 'foo/bar' doesn't represent an absolute path"
    )
    assert ev_val('builtins.toPath "/a/./b/../c"') == "/a/c"


def test_get_env() -> None:
    assert ev_val('builtins.getEnv "X" + builtins.getEnv "NOPE"', env={"X": "foo"}) == "foo"
    err = ev_err("builtins.getEnv [ ]")
    assert err.msg == "expected a string but found a list: [ ]"


# ---------------------------------------------------------------- fetchers
@pytest.mark.parametrize(
    ("src", "msg"),
    [
        (
            'builtins.fetchurl "https://example.com/~wiggle~"',
            "invalid store path name when fetching URL 'https://example.com/~wiggle~': name "
            "'~wiggle~' contains illegal character '~'. Please pass an attribute set with 'url' "
            "and 'name' attributes to 'fetchurl',  so that it can create a valid store path.",
        ),
        (
            'builtins.fetchurl { url = "https://e.com/x"; name = "~w~"; }',
            "invalid store path name when fetching URL 'https://e.com/x': name '~w~' contains "
            "illegal character '~'. Please change the value for the 'name' attribute passed to "
            "'fetchurl', so that it can create a valid store path.",
        ),
        (
            'builtins.fetchTree { type = "file"; url = "file:///x"; owner = -1; }',
            "negative value given for 'fetchTree' argument 'owner': -1",
        ),
        (
            'builtins.fetchTree "file:./relative-path.tar.gz"',
            "tarball 'file:./relative-path.tar.gz' must use an absolute path. "
            "The 'file' scheme does not support relative paths.",
        ),
        ("builtins.fetchTree { url = 1; }", "argument 'type' is missing in call to 'fetchTree'"),
        ("builtins.fetchurl { }", "'url' argument required"),
        (
            'builtins.fetchTarball { url = "x"; foo = 1; }',
            "unsupported argument 'foo' to 'fetchTarball'",
        ),
    ],
)
def test_fetcher_argument_errors(src: str, msg: str) -> None:
    assert ev_err(src).msg == msg


@pytest.mark.parametrize(
    "src",
    [
        'builtins.fetchurl "https://example.com/a.tar.gz"',
        'builtins.fetchTarball { url = "https://example.com/a.tar.gz"; sha256 = ""; }',
        'builtins.fetchGit "https://example.com/repo.git"',
        'builtins.fetchTree { type = "github"; owner = "o"; repo = "r"; }',
        'builtins.fetchMercurial "https://example.com/hg"',
    ],
)
def test_fetchers_are_offline(src: str) -> None:
    assert "nixlens evaluates offline" in ev_err(src).msg


def test_gated_fetchers() -> None:
    assert ev_err('builtins.getFlake "nixpkgs"').msg.startswith(
        "experimental Nix feature 'flakes' is disabled"
    )
    assert ev_err("builtins.fetchClosure { }").msg.startswith(
        "experimental Nix feature 'fetch-closure' is disabled"
    )
