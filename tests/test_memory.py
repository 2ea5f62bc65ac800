"""What keeps the memory of a large file small (issue 4): compiled programs
kept compressed, evaluation results released, parses not kept twice, and
none of it changing what evaluation and hover answer."""

from __future__ import annotations

import gc
import types

from evaluator import api
from evaluator import nodes as N
from evaluator.compiler import _ColdStore, bare_lambda, compact
from evaluator.eval import Evaluator
from evaluator.ide import _doc
from evaluator.parse import make_parser, parse, prepare_text
from evaluator.printer import show_value
from evaluator.values import Thunk
from server.host import AnalysisHost, Request
from server.wire import Context

# A let large enough to be filled from a table (``bind_scope``), with
# functions, thunks, literals, names, ``inherit`` and ``inherit (e)``.
_BINDS = " ".join(f"b{i} = {i} + 1;" for i in range(40))
_BIG = (
    "let src = { p = 1; q = 2; }; outer = 7; in let "
    + _BINDS
    + ' inherit (src) p q; inherit outer; s = "v${toString b3}"; n = 5; v = b5;'
    + " f = { a, b ? 2 }: a + b; g = x: y: x * y; l = [ b1 b2 ];"
    + " in { r = f { a = p; } + g q b4 + v + n + outer; inherit s l; }"
)


def _eval(src: str) -> str:
    ev = Evaluator()
    v = ev.eval_text(src)
    ev.deep_force(v)
    return show_value(v)


def test_large_scopes_evaluate_as_small_ones() -> None:
    assert _eval(_BIG) == '{ l = [ 2 3 ]; r = 31; s = "v4"; }'
    small = _BIG.replace(_BINDS, "b1 = 2; b2 = 3; b3 = 4; b4 = 5; b5 = 6;")
    assert _eval(small) == _eval(_BIG)


def test_large_scope_errors_keep_their_trace() -> None:
    ev = Evaluator()
    src = f'let {_BINDS} bad = throw "boom"; x = bad + 1; in x'
    try:
        ev.eval_text(src)
    except Exception as err:  # noqa: BLE001
        # The bindings the error left (not traced, as in Nix; the language
        # server reads them) are known in a scope filled from a table too.
        notes = [msg for _i, msg, _span in getattr(err, "bindings", None) or []]
        assert "boom" in str(err)
        assert notes == [
            "while evaluating the attribute 'bad'",
            "while evaluating the attribute 'x'",
        ]
    else:  # pragma: no cover
        raise AssertionError("no error")


def test_bare_lambda_keeps_all_but_the_body() -> None:
    pr = parse(b"let f = { a, b ? 1 }@args: x: y: a; in f", None)
    assert pr.root is not None
    lam = pr.root.attrs["f"].value  # type: ignore[attr-defined]
    bare = bare_lambda(lam)
    assert bare.span is lam.span and bare.formals is lam.formals and bare.arg == "args"
    assert bare.ellipsis == lam.ellipsis and bare.name == lam.name
    # The chain of curried lambdas stays (signature help reads it); the
    # innermost body is a placeholder.
    assert isinstance(bare.body, N.Lambda) and isinstance(bare.body.body, N.Lambda)
    assert isinstance(bare.body.body.body, N.Var) and bare.body.body.body.name == ""


def test_cold_store_round_trips_sources() -> None:
    store = _ColdStore()
    sources = [f"def T{i}(e0):\n    return {'x' * (i % 700)!r}  # «é» \udcff" for i in range(400)]
    numbers = [store.add(s) for s in sources]
    assert len(store.chunks) > 1  # several chunks, the last one still open
    for i in (0, 1, 150, 399, 7, 398, 200):
        assert store.source(numbers[i]) == sources[i]


def test_compacted_program_runs_again() -> None:
    ev = Evaluator()
    v = ev.eval_text("let f = x: x * 2; xs = map f [ 1 2 3 ]; in { inherit f xs; }")
    ev.deep_force(v)
    (ns,) = ev.programs
    called = [
        f for f in ns.values() if isinstance(f, types.FunctionType) and f.__defaults__ is None
    ]
    assert called  # compiled on their first call
    for program in ev.programs:
        compact(program)
    stubs = [f for f in ns.values() if isinstance(f, types.FunctionType) and f.__globals__ is ns]
    assert all(f.__defaults__ is not None for f in stubs)  # all stubs again
    f = v["f"]
    fn = f.v if f.__class__ is Thunk else f
    assert ev.run(_apply(fn, 21)) == 42
    assert show_value(v) == "{ f = <LAMBDA>; xs = [ 2 4 6 ]; }"


def _apply(f: object, arg: object):  # type: ignore[no-untyped-def]
    return (yield (f, arg, None))


def test_evaluate_keeps_no_cycles_with_the_parse() -> None:
    # An evaluation stopped by its budget: its error's traceback would tie the
    # driver's frame and the evaluation (values, the parse) into a cycle.
    text = b"let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 1000000"
    gc.collect()
    gc.disable()
    try:
        result = api.evaluate(text, None, budget=api.Budget(timeout_s=0.3, max_steps=None))
        assert result.diagnostics and result.diagnostics[-1].code == "eval_limit"
        result.release()
        del result
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        frames = [o for o in gc.garbage if isinstance(o, types.FrameType)]
        assert not frames
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def test_release_empties_the_programs() -> None:
    result = api.evaluate(b"let f = x: x; in f { a = 1; }", None)
    assert result.observed and result.programs
    namespaces = list(result.programs)
    result.release()
    assert result.observed == {} and result.programs == []
    assert all(not ns for ns in namespaces)


def test_replaced_results_are_released_and_hovers_use_the_current_one() -> None:
    """A helper keeps one evaluation per document (its observed values serve
    hovers); a newer one releases the older at once (no hover can still be
    using it: a helper answers one request at a time)."""
    host = AnalysisHost()
    text = b"let f = x: x + 1; in f 2"
    host.open("file:///t.nix", None, 1, text, True)
    req = Request(host.view("file:///t.nix"), Context())
    host.run("evaluate", req, ())
    first = host.results["file:///t.nix"][1]
    assert first.observed
    info = host.run("hover", req, (11, 3, 2000))
    assert info is not None and "when called with" in info.markdown
    host.change("file:///t.nix", 2, [(len(text) - 1, len(text), b"3")])
    req = Request(host.view("file:///t.nix"), Context())
    host.run("evaluate", req, ())
    second = host.results["file:///t.nix"][1]
    assert second is not first and second.observed
    assert first.observed == {} and first.programs == []
    info = host.run("hover", req, (11, 3, 2000))
    assert info is not None and "`3`" in info.markdown
    host.close("file:///t.nix")
    assert second.observed == {} and not host.results and not host.hovers


def test_analysis_of_a_new_text_evicts_the_old_first() -> None:
    big = b"[ " + b"1 " * 600_000 + b"]"
    path = "/tmp/nixlens-memory-test.nix"
    cache = _doc.AnalysisCache()
    with _doc.using(cache):
        old = _doc.analyse(big, path)
        assert old.root is not None
        seen: list[int] = []
        changed = big.replace(b"[ 1", b"[ 2", 1)

        def make() -> _doc.Doc:
            seen.append(len(cache))
            pr = parse(changed, path)
            return _doc.Doc(pr.source, pr.root, pr.errors, path)

        new = _doc.shared_analysis(changed, path, make)
        assert seen == [0]  # the previous version was forgotten before parsing
        assert _doc.cached_parse(changed, path) is new
    assert _doc.DEFAULT_CACHE.cached(changed, path) is None  # the owner's cache, not the default


def test_lowering_keeps_no_tree_sitter_nodes() -> None:
    # The lowering walks with a cursor: no Python node objects of the whole
    # tree (``Node.children`` is cached on each node) stay alive meanwhile.
    text = (
        b"let "
        + b" ".join(b"a%d = [ %d { x = %d; } ];" % (i, i, i) for i in range(300))
        + b" in a1"
    )
    tree = make_parser().parse(prepare_text(text))
    from evaluator.parse import lower

    gc.collect()
    before = sum(1 for o in gc.get_objects() if type(o).__name__ == "Node")
    result = lower(tree, N.Source(text))
    assert result.root is not None and not result.errors
    gc.collect()
    after = sum(1 for o in gc.get_objects() if type(o).__name__ == "Node")
    assert after - before < 10
