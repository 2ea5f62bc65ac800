"""Builtins that run the Nix functions they call themselves (``vm.call_in``):
the host stack stays bounded however deep Nix recursion goes through them,
and errors carry the same trace as when every call goes through the driver
(``max-call-depth`` set)."""

from __future__ import annotations

from typing import Any

import pytest

from evaluator.errors import NixError
from evaluator.eval import Evaluator
from evaluator.printer import show_value
from evaluator.vm import Budget

DEEP = 30_000


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
    ],
)
def test_traces_as_through_the_driver(src: str) -> None:
    inline = _trace(src, None)
    driven = _trace(src, Budget(max_call_depth=10_000_000))
    assert inline == driven
    assert inline[1]  # the error was traced at all


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
