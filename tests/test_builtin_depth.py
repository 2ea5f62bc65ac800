"""Builtins that run the Nix functions they call themselves (``vm.call_in``):
the host stack stays bounded however deep Nix recursion goes through them,
and errors carry the same trace as when every call goes through the driver
(``max-call-depth`` set)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from typing import Any

import pytest

from evaluator.errors import NixError
from evaluator.eval import Evaluator
from evaluator.printer import show_value
from evaluator.vm import Budget

DEEP = 30_000
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def ev_str(src: str, **kw: Any) -> str:
    ev = Evaluator(**kw)
    v = ev.eval_text(src)
    ev.deep_force(v)
    return show_value(v)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("builtins.foldl' (a: b: a + b) 1 [ (f (n - 1)) 0 ]", str(DEEP)),
        ("builtins.length (builtins.filter (x: x == 2 || f (n - 1) == 0) [ 1 2 ])", "1"),
        ("builtins.length (builtins.concatMap (x: [ (f (n - 1)) ]) [ n ])", "1"),
        ("if builtins.all (x: x == 1 || f (n - 1) == 0) [ 2 1 ] then 0 else 1", "0"),
        ("1 + builtins.head (builtins.map (x: f x) [ (n - 1) ])", str(DEEP)),
        ("1 + builtins.elemAt (builtins.genList (i: f (n - 1)) 1) 0", str(DEEP)),
        ("builtins.seq n (1 + f (n - 1))", str(DEEP)),
        ("(builtins.mapAttrs (k: v: 1 + f (n - 1)) { a = 1; }).a", str(DEEP)),
        ('1 + builtins.getAttr "a" { a = f (n - 1); }', str(DEEP)),
        ("1 + builtins.add 0 (f (n - 1))", str(DEEP)),
        ("1 + builtins.sub (f (n - 1)) 0", str(DEEP)),
        ("builtins.head (builtins.sort (a: b: a < b) [ (f (n - 1)) ])", "0"),
        ("builtins.length (builtins.attrValues (if f (n - 1) >= 0 then { a = 1; } else { }))", "1"),
        ("builtins.length (builtins.attrNames (if f (n - 1) >= 0 then { a = 1; } else { }))", "1"),
        ('if builtins.hasAttr "a" (if f (n - 1) >= 0 then { a = 1; } else { }) then 0 else 1', "0"),
        (
            "builtins.length (builtins.attrNames (builtins.removeAttrs (if f (n - 1) >= 0 then "
            '{ a = 1; } else { }) [ "b" ]))',
            "1",
        ),
        (
            "builtins.length (builtins.attrNames (builtins.intersectAttrs { a = 1; } "
            "(if f (n - 1) >= 0 then { a = 1; } else { })))",
            "1",
        ),
        (
            "builtins.length (builtins.attrNames (builtins.listToAttrs "
            '[ { name = if f (n - 1) >= 0 then "a" else "b"; value = 1; } ]))',
            "1",
        ),
        (
            "builtins.length (builtins.attrNames (builtins.zipAttrsWith (k: v: v) "
            "[ (if f (n - 1) >= 0 then { a = 1; } else { }) ]))",
            "1",
        ),
        (
            'builtins.length (builtins.catAttrs "a" [ (if f (n - 1) >= 0 then { a = 1; } else { }) ])',
            "1",
        ),
        (
            "builtins.length (builtins.genericClosure { startSet = [ { key = f (n - 1); } ]; "
            "operator = x: [ ]; })",
            "1",
        ),
        (
            "builtins.length (builtins.genericClosure { startSet = [ { key = 0; } ]; "
            "operator = x: if f (n - 1) >= 0 then [ ] else [ ]; })",
            "1",
        ),
        ("if builtins.elem 1 [ (f (n - 1)) ] then 0 else 0", "0"),
        ("builtins.stringLength (builtins.toString (f (n - 1)))", "1"),
        (
            'builtins.stringLength (builtins.concatStringsSep "" [ (builtins.toString (f (n - 1))) ])',
            "1",
        ),
        ("builtins.stringLength (builtins.toJSON [ (f (n - 1)) ])", "3"),
        (
            "builtins.stringLength (builtins.toJSON { a.__toString = s: builtins.toString (f (n - 1)); })",
            "9",
        ),
        ("builtins.deepSeq [ (f (n - 1)) ] 0", "0"),
        ('if builtins.typeOf (f (n - 1)) == "int" then 0 else 1', "0"),
        (
            "builtins.length (builtins.attrNames (builtins.functionArgs "
            "(if f (n - 1) >= 0 then ({ a }: a) else (x: x))))",
            "1",
        ),
    ],
)
def test_deep_recursion_through_builtins(body: str, expected: str) -> None:
    src = f"let f = n: if n == 0 then 0 else {body}; in f {DEEP}"
    assert ev_str(src) == expected


def _trace(src: str, budget: Budget | None) -> tuple[str, list[tuple[str, Any]]]:
    ev = Evaluator(budget=budget) if budget is not None else Evaluator()
    with pytest.raises(NixError) as info:
        ev.deep_force(ev.eval_text(src))
    err = info.value
    return str(err), [(msg, None if span is None else span.start) for msg, span in err.trace]


@pytest.mark.parametrize(
    "src",
    [
        'builtins.foldl\' (a: b: builtins.throw "boom") 0 [ 1 ]',
        "builtins.filter (x: x.y) [ 1 ]",
        "builtins.concatMap (x: x) [ 1 ]",
        "builtins.sort (a: b: a.x < b) [ 1 2 ]",
        'builtins.any (x: builtins.throw "no") [ 1 2 ]',
        "(builtins.mapAttrs (k: v: v.x) { a = 1; }).a",
        'let f = n: builtins.foldl\' (a: b: if b == 0 then throw "end" else f b) 0 [ (n - 1) ]; in f 20',
        'builtins.addErrorContext "ctx" (builtins.head (builtins.map (x: x.y) [ 1 ]))',
        # Builtins called by generated code (``vm.prim_now``): partial
        # applications, errors of complete calls, calls left to the driver.
        'let add = builtins.add 1; in add "x"',
        "let at = builtins.elemAt [ 1 ]; in at 5",
        "let f = builtins.map (x: x.y); in f [ 1 ]",
        'builtins.unsafeGetAttrPos "a" (throw "pos")',
        # A function with formals forcing its argument itself.
        'let f = { a }: a; in f (throw "arg")',
        "let f = { a }: a; g = x: f x.y; in g { y = 1; }",
        "let x = { a = x.a; }; f = { a }: a; in f x",
        "let f = { a, ... }: a.c; s = { a = { b = 1; }; }; in f s",
        # ``x.a.b or d`` forcing on the way.
        'let s = { a = { b = throw "q"; }; }; in s.a.b or 1',
        "let s = { a = s.a; }; in s.a.b or 1",
        # Sets called (``__functor``), run like Nix functions' calls.
        "let s = { __functor = self: x: x.y; }; in s 1",
        'let s = { __functor = self: x: throw "f"; }; g = n: if n == 0 then s 1 else g (n - 1); in g 7',
        'let s = { __functor = throw "which"; }; in s 1',
        "let s = { __functor = self: self.z; }; in s 1",
        'let s = { __functor = self: builtins.add "x"; }; in s 1',
        'let s = { __functor = builtins.getAttr "a"; a = x: x.y; }; in s 1',
        "let s = { __functor = { __functor = self: self2: x: x.y; }; }; in s 1",
        "builtins.map { __functor = self: x: x.y; } [ 1 ]",
        'builtins.foldl\' { __functor = self: a: b: throw "fo"; } 0 [ 1 ]',
    ],
)
def test_traces_as_through_the_driver(src: str) -> None:
    inline = _trace(src, None)
    driven = _trace(src, Budget(max_call_depth=10_000_000))
    assert inline == driven
    assert inline[1]  # the error was traced at all


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("s (n - 1)", str(DEEP // 2)),
        ("builtins.foldl' (a: b: b) 0 [ (s (n - 1)) ]", str(DEEP // 2)),
        ("(builtins.head (builtins.map s [ (n - 1) ]))", str(DEEP // 2)),
    ],
)
def test_deep_recursion_through_functors(body: str, expected: str) -> None:
    # Each call of ``s`` is a set's call (``__functor``) deep in Nix
    # recursion: the host stack stays bounded, with or without the driver.
    src = (
        "let s = { __functor = self: n: if n == 0 then 0 else (if n - n / 2 * 2 == 0 "
        f"then 1 else 0) + {body}; }}; in s {DEEP}"
    )
    assert ev_str(src) == expected
    assert ev_str(src, budget=Budget(max_call_depth=10_000_000)) == expected


@pytest.mark.parametrize(
    "src",
    ["let s = { __functor = 1; }; in s 1", "let s = { a = 1; }; in [ (s 1) ]"],
)
def test_set_call_errors_as_through_the_driver(src: str) -> None:
    # Errors of calling a set that is no function: Nix traces no call.
    inline = _error(src, None)
    assert inline == _error(src, Budget(max_call_depth=10_000_000))
    assert "attempt to call something which is not a function" in inline[0]
    assert inline[1] is not None  # at the call


def test_memoised_errors_through_inline_forces() -> None:
    # A thunk whose error left through generated code (a function with
    # formals forcing it) raises the same error again when forced later.
    src = (
        'let t = throw "once"; f = { a }: a; '
        "r1 = builtins.tryEval (f { a = t; }); r2 = builtins.tryEval t; "
        "in [ r1.success r2.success ]"
    )
    assert ev_str(src) == "[ false false ]"
    assert ev_str(src, budget=Budget(max_call_depth=10_000_000)) == "[ false false ]"


# Errors inside the builtins that force their arguments with their depth
# (``vm.force_at``): each as written and called 7 calls deep (where the
# builtin's own forces reach ``INLINE_DEPTH``), memoised errors included.
FORCING_ERRORS = [
    'let t = { a = [ 1 (builtins.throw "boom") ]; }; in builtins.toJSON { x = t; }',
    'builtins.toJSON { a = { __toString = self: throw "ts"; }; }',
    'builtins.toJSON { a = { outPath = throw "op"; }; }',
    "builtins.toJSON [ (x: x) ]",
    'builtins.attrValues (throw "av")',
    'builtins.getAttr "a" { a = throw "ga"; }',
    'builtins.listToAttrs [ { name = throw "n"; value = 1; } ]',
    "builtins.listToAttrs [ 1 ]",
    'builtins.zipAttrsWith (n: v: v) [ { a = 1; } (throw "z") ]',
    'builtins.catAttrs "a" [ 1 ]',
    'builtins.genericClosure { startSet = [ { key = 1; } ]; operator = x: throw "op"; }',
    'builtins.genericClosure { startSet = [ { key = throw "k"; } ]; operator = x: [ ]; }',
    'builtins.elem 1 [ (throw "e") ]',
    'builtins.toString (throw "ts")',
    "builtins.toString { }",
    'builtins.concatStringsSep "," [ "a" (throw "c") ]',
    'builtins.concatStringsSep "," [ 1 ]',
    'builtins.deepSeq { a = [ (throw "d") ]; } 1',
    '(derivation { name = "x"; system = "s"; builder = throw "b"; }).drvPath',
    '(derivation { name = "x"; system = "s"; builder = "/b"; args = [ "a" (throw "g") ]; }).drvPath',
    "builtins.removeAttrs { } [ 1 ]",
    'builtins.add 1 (throw "a")',
    'builtins.substring 0 1 (throw "s")',
    "builtins.intersectAttrs 1 { }",
    'builtins.hasAttr "a" (throw "h")',
    "builtins.attrNames 1",
    'builtins.sort (a: b: a < b) [ 1 (throw "so") ]',
    'let t = { a = throw "m"; }; in '
    "builtins.seq (builtins.tryEval (builtins.toJSON t)) (builtins.toJSON t)",
    'builtins.typeOf (throw "t")',
    'builtins.functionArgs (throw "fa")',
    'builtins.stringLength (throw "sl")',
    'builtins.bitAnd 1 (throw "ba")',
    'builtins.floor (throw "fl")',
    'builtins.tail (throw "tl")',
    'builtins.throw (throw "inner")',
    'builtins.lessThan 1 (throw "lt")',
]


def _error(src: str, budget: Budget | None) -> tuple[str, Any, list[tuple[str, Any]]]:
    ev = Evaluator(budget=budget) if budget is not None else Evaluator()
    with pytest.raises(NixError) as info:
        ev.deep_force(ev.eval_text(src))
    err = info.value
    span = None if err.span is None else (err.span.start, err.span.end)
    return str(err), span, [(m, None if sp is None else sp.start) for m, sp in err.trace]


@pytest.mark.parametrize("deep", [0, 7])
@pytest.mark.parametrize("src", FORCING_ERRORS)
def test_forcing_builtins_trace_as_through_the_driver(src: str, deep: int) -> None:
    if deep:
        src = f"let f = n: if n == 0 then ({src}) else f (n - 1); in f {deep}"
    inline = _error(src, None)
    driven = _error(src, Budget(max_call_depth=10_000_000))
    assert inline == driven
    assert inline[2]  # the error was traced at all


# Errors while ``==`` and ``!=`` force the elements and attributes they
# compare (``runtime.op_eq`` with generated code's depth): the same trace as
# when each force goes through the driver.
EQ_ERRORS = [
    '[ 1 (throw "e") ] == [ 1 2 ]',
    '{ a = 1; b = throw "b"; } == { a = 1; b = 2; }',
    '[ (throw "ne") ] != [ 1 ]',
    "let f = x: x.y; in [ (f 1) ] == [ 1 ]",
    'let f = n: if n == 0 then throw "bottom" else f (n - 1); in [ (f 20) ] == [ 0 ]',
    "builtins.map (x: x.y) [ 1 ] == [ 1 ]",
    "builtins.mapAttrs (k: v: v.y) { a = 1; } == { a = 1; }",
    '{ type = throw "t"; } == { type = 1; }',
    '{ type = "derivation"; outPath = throw "o"; } == { type = "derivation"; outPath = "x"; }',
    "let x = { a = x.a; }; in x == { a = 1; }",
    'let l = [ [ { a = [ (throw "deep") ]; } ] ]; in l == [ [ { a = [ 1 ]; } ] ]',
    'assert [ (throw "as") ] == [ 1 ]; 1',
    'let t = [ (throw "m") ]; in builtins.seq (builtins.tryEval (t == [ 1 ])) (t == [ 1 ])',
]


@pytest.mark.parametrize("deep", [0, 3, 7])
@pytest.mark.parametrize("src", EQ_ERRORS)
def test_equality_traces_as_through_the_driver(src: str, deep: int) -> None:
    if deep:
        src = f"let f = n: if n == 0 then ({src}) else f (n - 1); in f {deep}"
    inline = _error(src, None)
    driven = _error(src, Budget(max_call_depth=10_000_000))
    assert inline == driven
    assert inline[2]  # the error was traced at all


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("let f = x: x; in [ f ] == [ f ]", "true"),
        ("let f = x: x; in { a = f; } == { a = f; }", "true"),
        ("let f = x: x; in f == f", "false"),
        ("let f = x: x; in [ f ] != [ f ]", "false"),
        ("[ (x: x) ] == [ (x: x) ]", "false"),
        ("[ 1 (1 + 1) 3.0 ] == [ 1.0 2 3 ]", "true"),
        ('[ 1 (throw "not forced") ] == [ 2 3 ]', "false"),
        ('{ a = 1; b = throw "not forced"; } == { a = 2; b = 3; }', "false"),
        ('{ a = 1; } == { a = 1; b = throw "not forced"; }', "false"),
        (
            'let d = o: { type = "derivation"; outPath = o; x = throw "not forced"; }; '
            'in d "/p" == d "/p"',
            "true",
        ),
        (
            '{ type = "derivation"; outPath = "/p"; } == { type = "derivation"; outPath = "/q"; }',
            "false",
        ),
        ('[ "a" ] == [ "a${""}" ]', "true"),
    ],
)
@pytest.mark.parametrize("deep", [0, 7])
def test_equality_values_at_depth(src: str, expected: str, deep: int) -> None:
    src = f"let f = n: if n == 0 then ({src}) else f (n - 1); in f {deep}"
    assert ev_str(src) == expected
    assert ev_str(src, budget=Budget(max_call_depth=10_000_000)) == expected


NIX_226 = shutil.which("nix-instantiate-2.26")
# Those of FORCING_ERRORS whose whole trace (``--show-trace``) nixlens prints
# as Nix 2.26 does (the others differ by what changed after 2.26, before as
# after these builtins took their depth).
SAME_AS_NIX_226 = [
    FORCING_ERRORS[i] for i in (0, 4, 9, 13, 14, 15, 21, 22, 23, 24, 26, 28, 29, 30, 33, 34, 35)
]


@pytest.mark.skipif(NIX_226 is None, reason="nix-instantiate-2.26 is not installed")
@pytest.mark.parametrize("src", SAME_AS_NIX_226)
def test_forcing_builtins_errors_as_nix_prints_them(src: str, tmp_path: Any) -> None:
    assert NIX_226 is not None
    path = tmp_path / "e.nix"
    path.write_text(src + "\n")
    common = ["--eval", "--strict", "--show-trace", str(path)]
    nix = subprocess.run(
        [NIX_226, "--option", "build-users-group", "", "--store", "dummy://", *common],
        capture_output=True,
        text=True,
        timeout=60,
    )
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    ours = subprocess.run(
        [sys.executable, "-m", "server.cli", "eval", *common],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        cwd=str(tmp_path),
    )
    assert nix.returncode == 1 and ours.returncode == 1
    assert ours.stderr == nix.stderr


# Data as deep as the constant host stack must allow, through builtins that
# force along it with their depth: from inline calls (7 deep), and with every
# call through the driver (``max-call-depth`` set).
DATA_DEEP = 1_000_000


@pytest.mark.parametrize(("deep", "budget"), [(7, None), (7, Budget(max_call_depth=10_000_000))])
@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # A set nested a million deep: {"a":{"a":…{}…}}.  (From the top:
        # test_builtins_serial_paths, test_vm.)
        (
            "let mk = n: if n == 0 then { } else { a = mk (n - 1); }; "
            "in builtins.stringLength (builtins.toJSON (mk D))",
            str(6 * DATA_DEEP + 2),
        ),
        # Lists and sets nested a million deep compared with a copy.
        (
            "let mk = n: if n == 0 then [ ] else [ (mk (n - 1)) ]; "
            "in if mk D == mk D then 1 else 0",
            "1",
        ),
        (
            "let mk = n: if n == 0 then { } else { a = mk (n - 1); b = n; }; "
            "in if mk D != mk D then 0 else 1",
            "1",
        ),
        # A linked list a million long, each link and value a thunk.
        (
            "let mk = n: if n == 0 then null else { v = n * 2; next = mk (n - 1); }; "
            "in builtins.deepSeq (mk D) 1",
            "1",
        ),
    ],
)
def test_deep_data_through_forcing_builtins(
    expr: str, expected: str, deep: int, budget: Budget | None
) -> None:
    limit = sys.getrecursionlimit()
    expr = expr.replace("D", str(DATA_DEEP))
    src = f"let f = n: if n == 0 then ({expr}) else f (n - 1); in f {deep}"
    kw: dict[str, Any] = {} if budget is None else {"budget": budget}
    assert ev_str(src, **kw) == expected
    assert sys.getrecursionlimit() == limit


def test_derivations_deep_through_derivation_strict() -> None:
    """Each derivation's builder is the previous one's path: Nix recursion
    through derivationStrict's forces, deeper than the host stack allows."""
    src = (
        'let d = n: derivation { name = "d"; system = "s"; '
        'builder = if n == 0 then "/b" else "${d (n - 1)}/b"; }; '
        "in builtins.stringLength (d 3000).drvPath"
    )
    assert ev_str(src) == str(len("/nix/store/") + 32 + len("-d.drv"))


@pytest.mark.parametrize(
    "src",
    [
        # 2,000 thunks compared, each an element or attribute value.
        "let l = n: builtins.genList (i: i * n) 1000; in l 2 == l 2",
        "let s = n: builtins.listToAttrs (builtins.genList (i: "
        '{ name = "a${toString i}"; value = i * n; }) 1000); in s 2 == s 2',
        # 1,000 calls of a set (``__functor``).
        "let s = { __functor = self: x: x + 1; }; in builtins.foldl' (a: b: s a) 0 "
        "(builtins.genList (i: i) 1000)",
    ],
)
def test_equality_and_set_calls_stay_off_the_driver(src: str) -> None:
    # Counts, not times: the driver loop's iterations (``Machine.steps``)
    # when ``==`` forces and sets are called inline, against every force
    # and call through the driver.
    inline = Evaluator()
    inline.deep_force(inline.eval_text(src))
    driven = Evaluator(budget=Budget(max_call_depth=10_000_000))
    driven.deep_force(driven.eval_text(src))
    assert inline.machine.steps < 100
    assert driven.machine.steps > 1000
