"""Fuzzing the parser, static analysis and evaluator with hypothesis.

Properties: no uncaught exception anywhere (only ``NixError`` may come out
of evaluation), every evaluation stops within its budget, and results are
deterministic.  The default run is short; ``pytest -m slow`` runs long.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from evaluator.api import Budget, evaluate, hover
from evaluator.errors import NixError
from evaluator.eval import Evaluator
from evaluator.lint import lint
from evaluator.parse import parse
from evaluator.printer import show_value
from evaluator.vm import Budget as VMBudget

CORPUS = os.environ.get("NIXLENS_LANG_TESTS") or os.path.join(
    os.path.dirname(__file__), "..", "..", "shared", "nix-lang-tests"
)


def _seed_files() -> list[bytes]:
    out = []
    if os.path.isdir(CORPUS):
        for name in sorted(os.listdir(CORPUS))[:400]:
            if name.endswith(".nix"):
                with open(os.path.join(CORPUS, name), "rb") as f:
                    out.append(f.read())
    out.append(b"let a = { b.c = [ 1 2 ]; }; f = { x, y ? 2 }: x + y; in f { x = a.b.c; }")
    return out


SEEDS = _seed_files()
FRAGMENTS = [
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b";",
    b"=",
    b"let",
    b"in",
    b"rec",
    b"with",
    b"inherit",
    b"${",
    b"''",
    b'"',
    b".",
    b"?",
    b"or",
    b":",
    b"@",
    b"...",
    b"\n",
    b"\r",
    b"\x00",
    b"\xff",
    "é".encode(),
    "😀".encode(),
    b"/",
    b"./a",
    b"<p>",
    b"#",
    b"/*",
]


@st.composite
def edited_source(draw: st.DrawFn) -> bytes:
    text = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 6))):
        pos = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "delete", "replace"]))
        frag = draw(st.sampled_from(FRAGMENTS))
        if kind == "insert":
            text[pos:pos] = frag
        elif kind == "delete":
            end = min(len(text), pos + draw(st.integers(1, 20)))
            del text[pos:end]
        else:
            end = min(len(text), pos + len(frag))
            text[pos:end] = frag
    return bytes(text)


def _analyse(src: bytes) -> None:
    res = parse(src)
    if res.root is not None:
        lint(res.root, res.source)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=400))
def test_parse_random_bytes(src: bytes) -> None:
    _analyse(src)


@settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
@given(edited_source())
def test_parse_and_lint_edited_files(src: bytes) -> None:
    _analyse(src)


def _eval(src: bytes) -> str:
    ev = Evaluator(budget=_budget())
    try:
        v = ev.eval_text(src)
        ev.deep_force(v)
        return "ok: " + show_value(v)
    except NixError as e:
        return "error: " + e.msg


def _budget() -> VMBudget:
    b = VMBudget(max_steps=200_000, timeout_s=5.0)
    b.start()
    return b


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(edited_source())
def test_evaluate_edited_files_only_nix_errors_and_deterministic(src: bytes) -> None:
    first = _eval(src)
    assert _eval(src) == first


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(edited_source(), st.integers(0, 2000))
def test_api_never_raises(src: bytes, offset: int) -> None:
    budget = Budget(max_steps=100_000, timeout_s=2.0)
    evaluate(src, None, budget=budget)
    hover(src, None, min(offset, len(src)), budget=budget)


@pytest.mark.slow
@settings(max_examples=3000, deadline=None, suppress_health_check=list(HealthCheck))
@given(edited_source())
def test_long_fuzz(src: bytes) -> None:
    _analyse(src)
    first = _eval(src)
    assert _eval(src) == first
