"""List, set and string builtins: Nix's results, laziness and error messages
(evaluator/builtins/lists.py and evaluator/builtins/strings.py)."""

from __future__ import annotations

import hashlib

import pytest

from evaluator.builtins.strings import compare_versions, translate_ere
from evaluator.errors import NixError
from evaluator.eval import Evaluator
from evaluator.printer import show_value


def ev_str(src: str) -> str:
    ev = Evaluator()
    v = ev.eval_text(src)
    ev.deep_force(v)
    return show_value(v)


def ev_err(src: str) -> NixError:
    ev = Evaluator()
    with pytest.raises(NixError) as info:
        ev.deep_force(ev.eval_text(src))
    return info.value


def trace_of(err: NixError) -> list[str]:
    return [msg for msg, _span in err.trace]


# ------------------------------------------------------------------- lists
@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("builtins.sort builtins.lessThan [ 483 249 526 147 42 77 ]", "[ 42 77 147 249 483 526 ]"),
        ("builtins.sort (x: y: y < x) [ 3 1 2 ]", "[ 3 2 1 ]"),
        ('builtins.sort builtins.lessThan [ "foo" "bar" "xyzzy" ]', '[ "bar" "foo" "xyzzy" ]'),
        ("builtins.sort builtins.lessThan [ 2 1.5 1 ]", "[ 1 1.5 2 ]"),
        (
            "builtins.sort builtins.lessThan [ [ 1 6 ] [ ] [ 1 ] [ 1 5 ] ]",
            "[ [ ] [ 1 ] [ 1 5 ] [ 1 6 ] ]",
        ),
        # Stable: equal keys keep their order.
        (
            "map (x: x.v) (builtins.sort (a: b: a.k < b.k) "
            "[ { k = 2; v = 1; } { k = 1; v = 2; } { k = 2; v = 3; } { k = 1; v = 4; } ])",
            "[ 2 4 1 3 ]",
        ),
        # The comparator is not even forced for an empty list.
        ('builtins.sort (throw "no") [ ]', "[ ]"),
        ('builtins.catAttrs "a" [ { a = 1; } { b = 0; } { a = 2; } ]', "[ 1 2 ]"),
        ('builtins.intersectAttrs { a = abort "l"; b = 1; } { a = 1; c = 2; }', "{ a = 1; }"),
        (
            "builtins.zipAttrsWith (n: v: { inherit n v; }) [ { a = 1; } { a = 2; b = 3; } ]",
            '{ a = { n = "a"; v = [ 1 2 ]; }; b = { n = "b"; v = [ 3 ]; }; }',
        ),
        (
            'builtins.groupBy (builtins.substring 0 1) [ "foo" "bar" "baz" ]',
            '{ b = [ "bar" "baz" ]; f = [ "foo" ]; }',
        ),
        (
            "builtins.partition (x: x > 10) [ 1 23 9 3 42 ]",
            "{ right = [ 23 42 ]; wrong = [ 1 9 3 ]; }",
        ),
        ("builtins.concatMap (x: [ x x ]) [ 1 2 ]", "[ 1 1 2 2 ]"),
        ("builtins.all (x: x > 0) [ 1 2 ]", "true"),
        ('builtins.all (x: x > 1) [ 1 (throw "lazy") ]', "false"),
        ('builtins.any (x: x > 1) [ 2 (throw "lazy") ]', "true"),
        ("builtins.any (x: x > 5) [ ]", "false"),
        ("builtins.elem 2 [ 1 2 3 ]", "true"),
        ("builtins.elem { a = [ 1 ]; } [ { a = [ 1 ]; } ]", "true"),
        ("builtins.elem 4 [ 1 2 3 ]", "false"),
        # Elements are lazy: zipAttrsWith's function is applied lazily.
        ("(builtins.zipAttrsWith (n: v: throw n) [ { a = 1; } ]) ? a", "true"),
    ],
)
def test_list_builtins(src: str, want: str) -> None:
    assert ev_str(src) == want


def test_generic_closure() -> None:
    src = """
      builtins.genericClosure {
        startSet = [ { key = 5; } ];
        operator = item: [{
          key = if (item.key / 2) * 2 == item.key then item.key / 2 else 3 * item.key + 1;
        }];
      }
    """
    assert ev_str(src) == (
        "[ { key = 5; } { key = 16; } { key = 8; } { key = 4; } { key = 2; } { key = 1; } ]"
    )


@pytest.mark.parametrize(
    ("src", "want"),
    [
        # Int and float keys compare as numbers.
        (
            "map (x: x.key) (builtins.genericClosure { startSet = [ { key = 1; } { key = 1.0; } { key = 2.5; } ]; operator = _: [ ]; })",
            "[ 1 2.5 ]",
        ),
        (
            'map (x: x.key) (builtins.genericClosure { startSet = [ { key = "a"; } { key = "a"; } ]; operator = _: [ ]; })',
            '[ "a" ]',
        ),
        (
            "map (x: x.key) (builtins.genericClosure { startSet = [ { key = [ 1 ]; } { key = [ 1 ]; } { key = [ ]; } ]; operator = _: [ ]; })",
            "[ [ 1 ] [ ] ]",
        ),
        ('builtins.genericClosure { startSet = [ ]; operator = throw "unused"; }', "[ ]"),
    ],
)
def test_generic_closure_keys(src: str, want: str) -> None:
    assert ev_str(src) == want


@pytest.mark.parametrize(
    ("src", "msg", "trace"),
    [
        (
            'builtins.sort 1 "foo"',
            'expected a list but found a string: "foo"',
            "while evaluating the second argument passed to builtins.sort",
        ),
        (
            'builtins.sort 1 [ "foo" ]',
            "expected a function but found an integer: 1",
            "while evaluating the first argument passed to builtins.sort",
        ),
        (
            'builtins.sort (_: _: 1) [ "a" "b" ]',
            "expected a Boolean but found an integer: 1",
            "while evaluating the return value of the sorting function passed to builtins.sort",
        ),
        (
            "builtins.sort builtins.lessThan [ { } { } ]",
            "cannot compare a set with a set; values of that type are incomparable (values are { } and { })",
            "while evaluating the ordering function passed to builtins.sort",
        ),
        (
            "builtins.genericClosure { operator = x: [ ]; }",
            "attribute 'startSet' missing",
            "in the attrset passed as argument to builtins.genericClosure",
        ),
        (
            "builtins.genericClosure { startSet = [ { key = 1; } ]; }",
            "attribute 'operator' missing",
            "in the attrset passed as argument to builtins.genericClosure",
        ),
        (
            "builtins.genericClosure { startSet = [ { nokey = 1; } ]; operator = x: [ ]; }",
            "attribute 'key' missing",
            "in genericClosure element { nokey = 1; }",
        ),
        (
            'builtins.genericClosure { startSet = [ { key = 1; } { key = "string"; } ]; operator = x: [ ]; }',
            'cannot compare a string with an integer; values are "string" and 1',
            'while comparing element { key = "string"; }',
        ),
        (
            'builtins.genericClosure { startSet = [ { key = 1; } ]; operator = x: "not a list"; }',
            'expected a list but found a string: "not a list"',
            "while calling operator on genericClosure element { key = 1; }",
        ),
        (
            "builtins.catAttrs [ ] { }",
            "expected a string but found a list: [ ]",
            "while evaluating the first argument passed to builtins.catAttrs",
        ),
        (
            'builtins.catAttrs "foo" [ 1 ]',
            "expected a set but found an integer: 1",
            "while evaluating an element in the list passed as second argument to builtins.catAttrs",
        ),
        (
            "builtins.intersectAttrs { } [ ]",
            "expected a set but found a list: [ ]",
            "while evaluating the second argument passed to builtins.intersectAttrs",
        ),
        (
            "builtins.zipAttrsWith (_: 1) [ 1 ]",
            "expected a set but found an integer: 1",
            "while evaluating a value of the list passed as second argument to builtins.zipAttrsWith",
        ),
        (
            'builtins.groupBy (x: x) [ "foo" 1 ]',
            "expected a string but found an integer: 1",
            "while evaluating the return value of the grouping function passed to builtins.groupBy",
        ),
        (
            'builtins.partition (_: 1) [ "foo" ]',
            "expected a Boolean but found an integer: 1",
            "while evaluating the return value of the partition function passed to builtins.partition",
        ),
        (
            'builtins.concatMap 1 "foo"',
            "expected a function but found an integer: 1",
            "while evaluating the first argument passed to builtins.concatMap",
        ),
        (
            'builtins.concatMap (x: 1) [ "foo" ]',
            "expected a list but found an integer: 1",
            "while evaluating the return value of the function passed to builtins.concatMap",
        ),
        (
            'builtins.all (_: 1) [ "foo" ]',
            "expected a Boolean but found an integer: 1",
            "while evaluating the return value of the function passed to builtins.all",
        ),
        (
            'builtins.any 1 "foo"',
            "expected a function but found an integer: 1",
            "while evaluating the first argument passed to builtins.any",
        ),
        (
            'builtins.elem 1 "foo"',
            'expected a list but found a string: "foo"',
            "while evaluating the second argument passed to builtins.elem",
        ),
    ],
)
def test_list_errors(src: str, msg: str, trace: str) -> None:
    err = ev_err(src)
    assert err.msg == msg
    assert trace in trace_of(err)


def test_sort_large() -> None:
    src = "builtins.sort builtins.lessThan (builtins.genList (i: (i * 7919) - (i / 3) * 23747) 100000)"
    ev = Evaluator()
    v = ev.eval_text(src)
    ev.deep_force(v)
    xs = [(i * 7919) - (i // 3) * 23747 for i in range(100000)]
    assert v == sorted(xs)


def test_sort_lambda_comparator_many() -> None:
    ev = Evaluator()
    v = ev.eval_text(
        "builtins.sort (a: b: a > b) (builtins.genList (i: (i * 37) - (i / 5) * 181) 5000)"
    )
    ev.deep_force(v)
    assert v == sorted(((i * 37) - (i // 5) * 181 for i in range(5000)), reverse=True)


def test_generic_closure_large() -> None:
    src = """
      builtins.length (builtins.genericClosure {
        startSet = [ { key = 0; } ];
        operator = x: if x.key >= 9999 then [ ] else [ { key = x.key + 1; } { key = x.key; } ];
      })
    """
    assert ev_str(src) == "10000"


# ----------------------------------------------------------------- strings
@pytest.mark.parametrize(
    ("src", "want"),
    [
        ('builtins.replaceStrings [ "o" ] [ "a" ] "foobar"', '"faabar"'),
        ('builtins.replaceStrings [ "oo" "a" ] [ "a" "oo" ] "foobar"', '"faboor"'),
        ('builtins.replaceStrings [ "oo" "oo" ] [ "u" "i" ] "foobar"', '"fubar"'),
        ('builtins.replaceStrings [ "" ] [ "X" ] "abc"', '"XaXbXcX"'),
        ('builtins.replaceStrings [ "" ] [ "X" ] ""', '"X"'),
        ('builtins.replaceStrings [ "a" "" ] [ "A" "-" ] "bab"', '"-bA-b-"'),
        ('builtins.replaceStrings [ "oo" "XX" ] [ "u" (throw "unreachable") ] "foobar"', '"fubar"'),
        ('builtins.replaceStrings [ ] [ ] "abc"', '"abc"'),
        ('builtins.match "(.*)\\\\.nix" "foobar.nix"', '[ "foobar" ]'),
        ('builtins.match "fo*" "foobar"', "null"),
        ('builtins.match "a(b)(c)" "abc"', '[ "b" "c" ]'),
        (
            'builtins.match "((.*)/)?([^/]*)\\\\.(nix|cc)" "foobar.cc"',
            '[ null null "foobar" "cc" ]',
        ),
        ('builtins.match "[[:space:]]+([[:upper:]]+)[[:space:]]+" "  FOO   "', '[ "FOO" ]'),
        ('builtins.match "[[:alnum:]+_?=-][[:alnum:]+._?=-]*" "glibc-2.40-66"', "[ ]"),
        ('builtins.match "a*?" "aa"', "[ ]"),
        ('builtins.match "[]a]+" "]a"', "[ ]"),
        ('builtins.match "[\\\\.]+" "\\\\."', "[ ]"),
        ('builtins.match "a.c" "a\\nc"', "[ ]"),
        ('builtins.match "ab$" "ab\\n"', "null"),
        ('builtins.split "(a)b" "abc"', '[ "" [ "a" ] "c" ]'),
        ('builtins.split "(a)|(c)" "abc"', '[ "" [ "a" null ] "b" [ null "c" ] "" ]'),
        ('builtins.split "fo+" "f"', '[ "f" ]'),
        ('builtins.split "(o+)" "oooofoooo"', '[ "" [ "oooo" ] "f" [ "oooo" ] "" ]'),
        ('builtins.split "a|ab" "xabx"', '[ "x" [ ] "x" ]'),
        ('builtins.split "b*" "abbc"', '[ "" [ ] "a" [ ] "" [ ] "c" [ ] "" ]'),
        ('builtins.splitVersion "1.2.3"', '[ "1" "2" "3" ]'),
        ('builtins.splitVersion "2.3pre1-x..y"', '[ "2" "3" "pre" "1" "x" "y" ]'),
        ('builtins.compareVersions "2.3pre1" "2.3"', "-1"),
        ('builtins.compareVersions "2.3.1" "2.3a"', "1"),
        ('builtins.compareVersions "1.0" "1.0"', "0"),
        ('builtins.parseDrvName "nix-0.12pre12876"', '{ name = "nix"; version = "0.12pre12876"; }'),
        (
            'builtins.parseDrvName "xf86-video-i810-1.7.4"',
            '{ name = "xf86-video-i810"; version = "1.7.4"; }',
        ),
        ('builtins.parseDrvName "hello"', '{ name = "hello"; version = ""; }'),
        ('builtins.hashString "md5" ""', '"d41d8cd98f00b204e9800998ecf8427e"'),
        ('builtins.hashString "sha1" "text 1"', '"cd54e8568c1b37cf1e5badb0779bcbf382212189"'),
        (
            'builtins.convertHash { hash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"; toHashFormat = "sri"; hashAlgo = "sha256"; }',
            '"sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="',
        ),
        (
            'builtins.convertHash { hash = "sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="; toHashFormat = "nix32"; }',
            '"0mdqa9w1p6cmli6976v4wi0sw9r4p5prkj7lzfd1877wk11c9c73"',
        ),
        (
            'builtins.convertHash { hash = "md5:3y8bwfr609h3lh9ch0izcqq7fl"; toHashFormat = "base16"; }',
            '"d41d8cd98f00b204e9800998ecf8427e"',
        ),
        (
            'builtins.convertHash { hash = "1B2M2Y8AsgTpgAmY7PhCfg=="; hashAlgo = "md5"; toHashFormat = "base64"; }',
            '"1B2M2Y8AsgTpgAmY7PhCfg=="',
        ),
    ],
)
def test_string_builtins(src: str, want: str) -> None:
    assert ev_str(src) == want


@pytest.mark.parametrize(
    ("src", "msg"),
    [
        ('builtins.match "(.*" ""', "invalid regular expression '(.*'"),
        ('builtins.split "f(o*o" "1foo2"', "invalid regular expression 'f(o*o'"),
        ('builtins.match "\\\\d" "d"', "invalid regular expression '\\d'"),
        ('builtins.match "a{,2}" "a"', "invalid regular expression 'a{,2}'"),
        ('builtins.match "(?:a)" "a"', "invalid regular expression '(?:a)'"),
        ('builtins.match "[[:foo:]]" "a"', "invalid regular expression '[[:foo:]]'"),
        ('builtins.match "[a-c-e]" "d"', "invalid regular expression '[a-c-e]'"),
        ('builtins.match "foo" { }', "expected a string but found a set: { }"),
        (
            "builtins.replaceStrings [ 0 ] [ ] { }",
            "'from' and 'to' arguments passed to builtins.replaceStrings have different lengths",
        ),
        (
            'builtins.replaceStrings [ "oo" ] [ true ] "foo"',
            "expected a string but found a Boolean: true",
        ),
        (
            'builtins.hashString "foo" "content"',
            "unknown hash algorithm 'foo', expect 'blake3', 'md5', 'sha1', 'sha256', or 'sha512'",
        ),
        (
            'builtins.convertHash { hash = "abc"; toHashFormat = "base16"; }',
            "hash 'abc' does not include a type, nor is the type otherwise known from context",
        ),
        (
            'builtins.convertHash { hash = "sha1:abc"; toHashFormat = "base16"; }',
            "hash 'abc' has wrong length for hash algorithm 'sha1'",
        ),
        (
            'builtins.convertHash { hash = "md5:d41d8cd98f00b204e9800998ecf8427e"; hashAlgo = "sha1"; toHashFormat = "base16"; }',
            "hash 'md5:d41d8cd98f00b204e9800998ecf8427e' should have type 'sha1'",
        ),
        (
            'builtins.convertHash { hash = "md5:z41d8cd98f00b204e9800998ecf8427e"; toHashFormat = "base16"; }',
            "invalid base16 hash 'z41d8cd98f00b204e9800998ecf8427e', length 0 != expected length 16",
        ),
        (
            'builtins.convertHash { hash = "md5:d41d8cd98f00b204e9800998ecf8427e"; toHashFormat = "hex"; }',
            "unknown hash format 'hex', expect 'base16', 'base32', 'base64', or 'sri'",
        ),
        ('builtins.convertHash { toHashFormat = "sri"; }', "attribute 'hash' missing"),
        ('builtins.compareVersions "abd" { }', "expected a string but found a set: { }"),
    ],
)
def test_string_errors(src: str, msg: str) -> None:
    assert ev_err(src).msg == msg


def test_replace_strings_context_and_laziness() -> None:
    # Only used replacements are forced; an unused failing one is fine.
    assert ev_str('builtins.replaceStrings [ "x" "b" ] [ (abort "no") "B" ] "abc"') == '"aBc"'


def test_convert_hash_base32_warns() -> None:
    ev = Evaluator()
    v = ev.eval_text(
        'builtins.convertHash { hash = "md5-1B2M2Y8AsgTpgAmY7PhCfg=="; toHashFormat = "base32"; }'
    )
    assert v == "3y8bwfr609h3lh9ch0izcqq7fl"
    assert any("deprecated alias" in w.message for w in ev.warnings)


def test_hash_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    f = tmp_path / "data"
    f.write_bytes(b"foo\n")
    ev = Evaluator()
    v = ev.eval_text(f'builtins.hashFile "sha256" "{f}"')
    assert v == hashlib.sha256(b"foo\n").hexdigest()
    err = ev_err(f'builtins.hashFile "sha256" "{tmp_path}/missing"')
    assert err.msg == f"path '{tmp_path}/missing' does not exist"


def test_translate_ere() -> None:
    assert translate_ere(b"a*?") == "(?:a*)?"
    assert translate_ere(b"x$") == "x\\Z"


@pytest.mark.parametrize(
    ("a", "b", "want"),
    [
        ("1.0", "2.3", -1),
        ("2.3", "2.3", 0),
        ("2.5", "2.3", 1),
        ("2.3.1", "2.3", 1),
        ("2.3pre3", "2.3pre12", -1),
        ("2.3a", "2.3c", -1),
        ("2.3pre1", "2.3q", -1),
        ("1.0", "1.0.0", -1),
    ],
)
def test_compare_versions(a: str, b: str, want: int) -> None:
    assert compare_versions(a, b) == want
    assert compare_versions(b, a) == -want
