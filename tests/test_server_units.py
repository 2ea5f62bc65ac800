"""server.settings, server.convert and server.evaluation without a client."""

from __future__ import annotations

import asyncio
import time

from lsprotocol import types

from evaluator.diagnostics import Diagnostic, Note, Severity, Tag
from evaluator.nodes import Source, Span
from server import convert
from server.evaluation import Evaluations, Job
from server.positions import UTF16, LineIndex
from server.settings import DiagnosticsSettings, Settings, load


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


async def test_evaluation_result_and_cache() -> None:
    evals = Evaluations()
    job = Job(uri="file:///t.nix", version=1, path=None, data=b"1 + 2")
    result = await evals.evaluate(job)
    assert result is not None and result.value_text == "3"
    assert await evals.evaluate(job) is result  # same version: cached
    evals.shutdown()


async def test_new_evaluation_cancels_the_one_in_flight() -> None:
    evals = Evaluations()
    slow = Job(
        uri="file:///t.nix",
        version=1,
        path=None,
        data=b"let f = n: if n == 0 then 0 else f (n - 1); in f 100000000",
        budget_ms=60_000,
        max_steps=None,
    )
    started = time.monotonic()
    first = asyncio.ensure_future(evals.evaluate(slow))
    await asyncio.sleep(0.2)
    fast = Job(uri="file:///t.nix", version=2, path=None, data=b"42")
    second = await evals.evaluate(fast)
    assert second is not None and second.value_text == "42"
    assert await first is None  # superseded, never reported
    assert time.monotonic() - started < 30
    evals.shutdown()
