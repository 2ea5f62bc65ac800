"""Differential testing against the reference ``nix-instantiate``.

Hypothesis generates closed Nix programs (arithmetic, strings, lists, sets,
let/rec/with, lambdas with formals, builtins); each is evaluated strictly by
nixlens and by Nix.  Both must succeed with the same output, or both fail.
Nix 2.8 is older than the 2.36 semantics nixlens implements: error *texts*
differ between versions, so failures are compared by status only, and the
generated programs avoid the places where 2.36 is lazier than 2.8 (for
example ``replaceStrings`` forcing only the replacements it uses).

Skips when ``nix-instantiate`` is not installed.  The short run is part of
the default suite; ``pytest -m slow`` runs a long one.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator.errors import NixError
from evaluator.eval import Evaluator
from evaluator.printer import show_value

NIX = shutil.which("nix-instantiate")
pytestmark = pytest.mark.skipif(NIX is None, reason="nix-instantiate (nix-bin) not installed")

NAMES = ["a", "b", "c", "x", "y"]


def ints(names: list[str] = NAMES) -> st.SearchStrategy[str]:
    leaf = st.one_of(
        st.integers(min_value=-50, max_value=50).map(lambda i: f"({i})"),
        st.sampled_from(names),
    )

    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*"]), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(inner, inner).map(lambda t: f"(if {t[0]} < {t[1]} then {t[0]} else {t[1]})"),
            st.tuples(inner, inner).map(
                lambda t: f"(builtins.div {t[0]} (if {t[1]} == 0 then 1 else {t[1]}))"
            ),
            st.tuples(lists(inner)).map(lambda t: f"(builtins.length {t[0]})"),
            st.tuples(inner, inner).map(lambda t: f"(let v = {t[0]}; in v + {t[1]})"),
            st.tuples(inner, inner).map(lambda t: f"((x: x * 2 + {t[1]}) {t[0]})"),
            st.tuples(inner, inner).map(lambda t: f"(({{ x, y ? 3 }}: x - y) {{ x = {t[0]}; }})"),
            st.tuples(inner, inner).map(lambda t: f"(rec {{ p = {t[0]}; q = p + {t[1]}; }}).q"),
            st.tuples(inner).map(lambda t: f"(with {{ w = {t[0]}; }}; w)"),
            st.tuples(inner, inner).map(
                lambda t: f"(builtins.foldl' (s: v: s + v) {t[0]} [ {t[1]} 1 2 ])"
            ),
            st.tuples(inner).map(lambda t: f"({{ z = {t[0]}; }}.z or 0)"),
            st.tuples(inner).map(lambda t: f"(builtins.stringLength (toString {t[0]}))"),
        )

    return st.recursive(leaf, extend, max_leaves=12)


def lists(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.lists(inner, max_size=4).map(lambda xs: "[ " + " ".join(xs) + " ]")


def strs() -> st.SearchStrategy[str]:
    chars = st.sampled_from(list("abc12.-_ xyé"))
    return st.lists(chars, max_size=8).map(lambda cs: '"' + "".join(cs) + '"')


def programs() -> st.SearchStrategy[str]:
    i = ints()
    body = st.one_of(
        i,
        lists(i),
        st.tuples(i, i).map(lambda t: f'{{ r = {t[0]}; s = "v${{toString {t[1]}}}"; }}'),
        st.tuples(i).map(lambda t: f"builtins.map (v: v + 1) [ {t[0]} 2 ]"),
        st.tuples(i, i).map(lambda t: f"builtins.filter (v: v > 0) [ {t[0]} {t[1]} (-1) ]"),
        st.tuples(i, i).map(lambda t: f"builtins.sort builtins.lessThan [ {t[0]} {t[1]} 0 ]"),
        st.tuples(i, i).map(
            lambda t: f"[ ({t[0]} == {t[1]}) ({t[0]} != {t[1]}) ({t[0]} <= {t[1]}) ]"
        ),
        st.tuples(i).map(lambda t: f'builtins.concatStringsSep "," (map toString [ {t[0]} 1 ])'),
        st.tuples(i).map(lambda t: f"builtins.attrNames {{ b = {t[0]}; a = 1; }} // {{ }}"),
        st.tuples(i).map(lambda t: f"builtins.toJSON {{ k = [ {t[0]} true null 1.5 ]; }}"),
        st.tuples(i, i).map(
            lambda t: f"[ ({t[0]} / 3.0) ({t[1]} * 1.5) (toString ({t[0]} * 0.1)) ]"
        ),
        st.tuples(i, strs()).map(
            lambda t: f'builtins.replaceStrings [ "a" "b" ] [ "${{toString {t[0]}}}" "" ] {t[1]}'
        ),
        st.tuples(i, strs()).map(
            lambda t: f"builtins.substring (if {t[0]} < 0 then 0 else {t[0]}) 3 {t[1]}"
        ),
        st.tuples(strs()).map(lambda t: f'builtins.split "(a|b)+" {t[0]}'),
        st.tuples(strs()).map(lambda t: f'builtins.match "([a-c]*)(.*)" {t[0]}'),
        st.tuples(strs(), strs()).map(lambda t: f"[ ({t[0]} < {t[1]}) ({t[0]} + {t[1]}) ]"),
        st.tuples(i).map(
            lambda t: (
                f"builtins.mapAttrs (n: v: v + {t[0]}) (builtins.listToAttrs "
                f'[ {{ name = "x"; value = 1; }} {{ name = "y"; value = {t[0]}; }} ])'
            )
        ),
        st.tuples(i).map(
            lambda t: f"builtins.sort (p: q: p > q) (builtins.genList (k: k * {t[0]}) 5)"
        ),
        st.tuples(i).map(lambda t: f'(builtins.tryEval (if {t[0]} > 0 then throw "no" else 1))'),
        st.tuples(i).map(lambda t: f"builtins.concatMap (k: [ k k ]) [ {t[0]} 2 ]"),
        st.tuples(strs()).map(lambda t: f"builtins.splitVersion {t[0]}"),
        st.tuples(strs(), strs()).map(lambda t: f"builtins.compareVersions {t[0]} {t[1]}"),
    )
    # Bindings refer only to x and y, so no binding depends on itself.
    b = ints(["x", "y"])
    return st.tuples(b, b, b, body).map(
        lambda t: f"let a = {t[0]}; b = {t[1]}; c = {t[2]}; x = 7; y = -3; in {t[3]}"
    )


def nix_eval(src: str) -> tuple[bool, str]:
    assert NIX is not None
    p = subprocess.run(
        [
            NIX,
            "--eval",
            "--strict",
            "--option",
            "build-users-group",
            "",
            "--store",
            "dummy://",
            "-E",
            src,
        ],
        capture_output=True,
        # Nix prints a string's bytes as they are, which need not be UTF-8
        # (e.g. a substring that splits a character); nixlens shows such
        # bytes as surrogate escapes.
        encoding="utf-8",
        errors="surrogateescape",
        timeout=60,
    )
    return p.returncode == 0, p.stdout.strip()


def ours(src: str) -> tuple[bool, str]:
    ev = Evaluator()
    try:
        v = ev.eval_text(src)
        ev.deep_force(v)
        return True, show_value(v)
    except NixError as e:
        return False, e.msg


def check(src: str) -> None:
    ok_n, out_n = nix_eval(src)
    ok_o, out_o = ours(src)
    assert ok_o == ok_n, f"{src}\nnix: {ok_n} {out_n}\nnixlens: {ok_o} {out_o}"
    if ok_n:
        assert out_o == out_n, f"{src}\nnix:     {out_n}\nnixlens: {out_o}"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_differential_short(src: str) -> None:
    check(src)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(programs())
def test_differential_long(src: str) -> None:
    check(src)


@pytest.mark.parametrize(
    "src",
    [
        # Regression cases kept from differential runs.
        "let a = 1; in rec { b = a; c = b + 1; }",
        '"${toString 1.5}" + toString [ 1 [ 2 ] null true false ]',
        "builtins.toJSON [ 1.5 0.1 1e20 ]",
        "[ (1.0 / 3) 1e6 1e-5 123456789.0 ]",
        "builtins.div (-7) 2",
        '{ "a b" = 1; "if" = 2; or = 3; }',
    ],
)
def test_differential_regressions(src: str) -> None:
    check(src)
