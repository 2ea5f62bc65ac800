"""The generator-driven VM: laziness, errors, budgets, and depth that never
touches the host stack."""

from __future__ import annotations

import sys
import threading

import pytest

from evaluator.errors import (
    AbortError,
    Cancelled,
    EvalLimit,
    InfiniteRecursion,
    NixError,
    StackOverflow,
    ThrowError,
)
from evaluator.eval import Evaluator
from evaluator.printer import show_value
from evaluator.vm import Budget


def ev_str(src: str, **kw: object) -> str:
    ev = Evaluator(**kw)  # type: ignore[arg-type]
    v = ev.eval_text(src)
    ev.deep_force(v)
    return show_value(v)


@pytest.mark.parametrize(
    ("src", "want"),
    [
        ("1 + 2", "3"),
        ("let x = 1 + 2; in x", "3"),
        ("let f = x: y: x * y; in f 6 7", "42"),
        ('"a${"b"}c"', '"abc"'),
        ("rec { a = 1; b = a + 1; }.b", "2"),
        ("let a = { b.c = 1; b.d = 2; }; in a.b", "{ c = 1; d = 2; }"),
        ("with { x = 1; }; x", "1"),
        ("let x = 2; in with { x = 1; }; x", "2"),
        ("({ a, b ? a + 1 }: b) { a = 1; }", "2"),
        ("(args@{ a, ... }: args.z) { a = 1; z = 3; }", "3"),
        ("{ a = 1; } // { b = 2; }", "{ a = 1; b = 2; }"),
        ("[ 1 ] ++ [ 2 ]", "[ 1 2 ]"),
        ("{ a.b = 1; } ? a.b", "true"),
        ("{ a = 1; }.b or 5", "5"),
        ('if 1 < 2 then "y" else "n"', '"y"'),
        ("[ 1 2 ] < [ 1 3 ]", "true"),
        ("1.5 + 1", "2.5"),
        ("7 / 2", "3"),
        ("-7 / 2", "-3"),
        ("let s = { __functor = self: x: x + 1; }; in s 1", "2"),
        ('builtins.tryEval (throw "x")', "{ success = false; value = false; }"),
        ("let x = { inherit (y) a; }; y = { a = 5; }; in x.a", "5"),
        ('[ (1 == 1.0) ("a" == "a") ([1] == [1]) ({a=1;} == {a=1;}) ]', "[ true true true true ]"),
        ("let f = x: x; in f == f", "false"),
        ("true -> false", "false"),
        ("!true || true && false", "false"),
    ],
)
def test_language(src: str, want: str) -> None:
    assert ev_str(src) == want


def test_laziness() -> None:
    assert ev_str('let x = throw "no"; in 1') == "1"
    assert ev_str('builtins.length [ (throw "a") (abort "b") ]') == "2"
    assert ev_str('{ a = throw "x"; }.b or 2') == "2"


def test_thunks_are_memoised() -> None:
    ev = Evaluator()
    v = ev.eval_text('let x = builtins.trace "once" 1; in x + x')
    assert v == 2
    assert [w.message for w in ev.warnings] == ["once"]


def test_error_kinds() -> None:
    with pytest.raises(ThrowError):
        ev_str('throw "boom"')
    with pytest.raises(AbortError):
        ev_str('abort "boom"')
    with pytest.raises(InfiniteRecursion):
        ev_str("let x = x + 1; in x")
    # tryEval does not catch fatal errors.
    with pytest.raises(AbortError):
        ev_str('builtins.tryEval (abort "x")')
    with pytest.raises(NixError, match="integer overflow in adding"):
        ev_str("9223372036854775807 + 1")
    with pytest.raises(NixError, match="expected a set but found an integer: 1"):
        ev_str("(1).a")
    with pytest.raises(NixError, match="attribute 'b' missing"):
        ev_str("{ a = 1; }.b")
    with pytest.raises(NixError, match="undefined variable 'nope'"):
        ev_str("nope")


def test_error_span_and_trace() -> None:
    ev = Evaluator()
    with pytest.raises(ThrowError) as info:
        ev.eval_text('let f = x: throw "bad ${x}"; in f "y"')
    err = info.value
    assert err.msg == "bad y"
    assert err.span is not None
    assert any("while calling 'f'" in m for m, _ in err.trace)


def _assert_host_stack_untouched() -> None:
    assert sys.getrecursionlimit() <= 1000 * 10


DEEP = 1_000_000


def test_deep_recursion_one_million() -> None:
    limit = sys.getrecursionlimit()
    src = f"let f = n: if n == 0 then 0 else 1 + f (n - 1); in f {DEEP}"
    assert ev_str(src) == str(DEEP)
    assert sys.getrecursionlimit() == limit


def test_deep_data_deepseq_and_equality() -> None:
    limit = sys.getrecursionlimit()
    src = (
        f"let mk = n: if n == 0 then [] else [ (mk (n - 1)) ]; "
        f"mks = n: if n == 0 then {{}} else {{ a = mks (n - 1); }}; "
        f"l = mk {DEEP}; s = mks {DEEP}; "
        f"in builtins.deepSeq l (builtins.deepSeq s [ (l == mk {DEEP}) (s == mks {DEEP}) ])"
    )
    assert ev_str(src) == "[ true true ]"
    assert sys.getrecursionlimit() == limit


def test_max_call_depth() -> None:
    with pytest.raises(StackOverflow, match="stack overflow; max-call-depth exceeded"):
        ev_str("let f = x: f x + 1; in f 1", budget=Budget(max_call_depth=100))


def test_step_budget() -> None:
    with pytest.raises(EvalLimit) as info:
        ev_str("let f = n: f (n + 1); in f 0", budget=Budget(max_steps=100_000))
    assert info.value.kind in ("steps", "depth")


def test_deadline() -> None:
    b = Budget(timeout_s=0.2)
    b.start()
    with pytest.raises(EvalLimit) as info:
        ev_str("let f = n: if n < 0 then 0 else f (n + 1); in f 0", budget=b)
    assert info.value.kind in ("deadline", "depth")


def test_cancellation() -> None:
    flag = threading.Event()
    flag.set()
    with pytest.raises(Cancelled):
        ev_str("let f = n: if n < 0 then 0 else f (n + 1); in f 0", budget=Budget(cancel=flag))


# ------------------------------------------------------------- value sizes
@pytest.mark.parametrize(
    ("src", "what"),
    [
        ("builtins.length (builtins.genList (x: x) 1000000000)", "value of 1000000000 elements"),
        # Doubling loops: each step doubles a string or a list.
        ('let f = s: n: if n == 0 then s else f (s + s) (n - 1); in f "x" 64', "string of"),
        ('let f = s: n: if n == 0 then s else f "${s}${s}" (n - 1); in f "x" 64', "string of"),
        (
            'let f = s: n: if n == 0 then s else f (builtins.replaceStrings ["x"] ["xx"] s) (n - 1);'
            ' in f "x" 64',
            "string of",
        ),
        (
            'let f = s: n: if n == 0 then s else f (builtins.concatStringsSep "" [s s]) (n - 1);'
            ' in f "x" 64',
            "string of",
        ),
        ("let f = s: n: if n == 0 then s else f (s ++ s) (n - 1); in f [1] 64", "list of"),
        (
            "let f = s: n: if n == 0 then s else f (builtins.concatLists [s s]) (n - 1); in f [1] 64",
            "list of",
        ),
        (
            "let f = s: n: if n == 0 then s else f (builtins.concatMap (x: [x x]) s) (n - 1);"
            " in f [1] 64",
            "list of",
        ),
    ],
)
def test_value_size_budget(src: str, what: str) -> None:
    """Geometric growth ends with a clear evaluation-limit error, quickly."""
    with pytest.raises(EvalLimit) as info:
        ev_str(src, max_values=1_000_000)
    assert info.value.kind == "size"
    assert what in info.value.msg
    assert "larger than allowed (1000000)" in info.value.msg


def test_value_size_budget_allows_values_under_it() -> None:
    src = (
        'builtins.stringLength (let f = s: n: if n == 0 then s else f (s + s) (n - 1); in f "x" 19)'
    )
    assert ev_str(src, max_values=1_000_000) == str(2**19)
    assert ev_str("builtins.length (builtins.genList (x: x) 1000000)", max_values=1_000_000) == (
        "1000000"
    )


def test_value_size_budget_is_per_evaluator() -> None:
    small = Evaluator(max_values=100_000)
    big = Evaluator(max_values=10_000_000)
    src = (
        'builtins.stringLength (let f = s: n: if n == 0 then s else f (s + s) (n - 1); in f "x" 18)'
    )
    with pytest.raises(EvalLimit):
        small.deep_force(small.eval_text(src))
    v = big.eval_text(src)
    big.deep_force(v)
    assert show_value(v) == str(2**18)


def test_repeated_trace_frames_are_elided_as_nix_does() -> None:
    from evaluator.report import format_error

    ev = Evaluator()
    with pytest.raises(ThrowError) as info:
        ev.deep_force(
            ev.eval_text('let f = n: if n == 0 then throw "deep" else f (n - 1); in f 50')
        )
    text = format_error(info.value)
    assert text.count("while calling 'f'") == 1
    assert "(99 duplicate frames omitted)" in text
    assert text.rstrip().endswith("error: deep")
