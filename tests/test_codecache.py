"""The persistent code cache of compiled files (``evaluator.codecache``):
hits give the same values, errors and positions as compiling afresh; an
edited, corrupt or unwritable cache is only ever a miss."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator.codecache import CodeCache
from evaluator.errors import NixError
from evaluator.eval import Evaluator
from evaluator.printer import show_value

LIB = """rec {
  double = x: x * 2;
  never = x: x + 1;
  pos = __curPos;
  set = { a = double 21; b = "b${toString (double 1)}"; };
  where = builtins.unsafeGetAttrPos "a" set;
  bad = y: builtins.throw "bad ${y}";
}
"""


def run(cache: CodeCache | None, path: Path, expr: str) -> str:
    ev = Evaluator(code_cache=cache)
    try:
        v = ev.eval_text(f"let m = import {path}; in {expr}", str(path.parent / "x.nix"))
        ev.deep_force(v)
    finally:
        ev.save_code_cache()
    return show_value(v)


@pytest.fixture
def lib(tmp_path: Path) -> Path:
    path = tmp_path / "lib.nix"
    path.write_text(LIB)
    return path


def test_second_evaluation_hits_and_agrees(tmp_path: Path, lib: Path) -> None:
    cache = CodeCache(str(tmp_path / "cache"))
    expr = "[ m.set m.pos m.where ]"
    fresh = run(None, lib, expr)
    assert run(cache, lib, expr) == fresh
    assert (cache.hits, cache.misses, cache.writes) == (0, 1, 1)
    assert run(cache, lib, expr) == fresh
    assert (cache.hits, cache.misses) == (1, 1)
    assert f'file = "{lib}"' in fresh and "line = 4" in fresh


def test_functions_not_run_before_still_run(tmp_path: Path, lib: Path) -> None:
    cache = CodeCache(str(tmp_path / "cache"))
    run(cache, lib, "m.double 1")
    # ``never`` was stored as source, not code: it compiles on its first call.
    assert run(cache, lib, "m.never 1") == "2"
    assert cache.hits == 1
    # ... and the entry is rewritten with its code.
    assert cache.writes == 2


def test_errors_from_cached_code_keep_their_trace(tmp_path: Path, lib: Path) -> None:
    cache = CodeCache(str(tmp_path / "cache"))
    messages = []
    for _ in range(2):
        with pytest.raises(NixError) as info:
            run(cache, lib, 'm.bad "x"')
        err = info.value
        messages.append((err.msg, str(err.span), [(m, str(s)) for m, s in err.trace]))
    assert cache.hits == 1
    assert messages[0] == messages[1]
    assert messages[0][0] == "bad x"
    assert any("while calling 'bad'" in m for m, _ in messages[0][2])


def test_edited_file_misses(tmp_path: Path, lib: Path) -> None:
    cache = CodeCache(str(tmp_path / "cache"))
    assert run(cache, lib, "m.set.a") == "42"
    lib.write_text(LIB.replace("x * 2", "x * 3"))
    assert run(cache, lib, "m.set.a") == "63"
    assert (cache.hits, cache.misses) == (0, 2)
    # One entry per file: the edit replaced it.
    entries = [f for _, _, fs in os.walk(cache.directory) for f in fs]
    assert len(entries) == 1 and entries[0].endswith(".nlc")


@pytest.mark.parametrize("damage", [b"", b"garbage", None])
def test_corrupt_entry_is_a_miss(tmp_path: Path, lib: Path, damage: bytes | None) -> None:
    cache = CodeCache(str(tmp_path / "cache"))
    run(cache, lib, "m.set.a")
    (entry,) = [Path(r) / f for r, _, fs in os.walk(cache.directory) for f in fs]
    data = entry.read_bytes()
    # Truncated in the middle of the pickle, or replaced.
    entry.write_bytes(data[: len(data) // 2] if damage is None else damage)
    assert run(cache, lib, "m.set.a") == "42"
    assert cache.hits == 0
    assert run(cache, lib, "m.set.a") == "42"
    assert cache.hits == 1


def test_unwritable_cache_is_no_cache(tmp_path: Path, lib: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    cache = CodeCache(str(blocker / "cache"))
    assert run(cache, lib, "m.set.b") == '"b2"'
    assert run(cache, lib, "m.set.b") == '"b2"'
    assert (cache.hits, cache.writes) == (0, 0)


def test_writes_leave_no_temporary_files(tmp_path: Path, lib: Path) -> None:
    cache = CodeCache(str(tmp_path / "cache"))
    for i in range(3):
        lib.write_text(LIB.replace("21", str(i)))
        run(cache, lib, "m.set.a")
    files = [f for _, _, fs in os.walk(cache.directory) for f in fs]
    assert len(files) == 1 and not any(f.endswith(".tmp") for f in files)


def test_key_covers_scoped_import_names(tmp_path: Path) -> None:
    path = tmp_path / "s.nix"
    path.write_text("x + 1")
    cache = CodeCache(str(tmp_path / "cache"))
    ev = Evaluator(code_cache=cache)
    v = ev.eval_text(f"builtins.scopedImport {{ x = 1; }} {path}")
    assert v == 2
    with pytest.raises(NixError, match="undefined variable 'x'"):
        Evaluator(code_cache=cache).eval_text(f"import {path}")


def test_command_line_uses_and_can_disable_the_cache(tmp_path: Path, lib: Path) -> None:
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "xdg"))
    env["PYTHONPATH"] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cmd = [sys.executable, "-m", "server.cli", "eval", "--strict", "-E", f"(import {lib}).set"]
    want = '{ a = 42; b = "b2"; }\n'
    off = subprocess.run(cmd, env={**env, "NIXLENS_CODE_CACHE": "0"}, capture_output=True)
    assert off.stdout.decode() == want
    assert not (tmp_path / "xdg").exists()
    for _ in range(2):
        on = subprocess.run(cmd, env=env, capture_output=True)
        assert on.stdout.decode() == want and on.returncode == 0
    assert list((tmp_path / "xdg" / "nixlens").rglob("*.nlc"))


def test_cached_program_compacted_then_run_again(tmp_path: Path, lib: Path) -> None:
    cache = CodeCache(str(tmp_path / "cache"))
    run(cache, lib, "m.double 2")
    ev = Evaluator(code_cache=cache)
    f = ev.eval_text(f"(import {lib}).double")
    assert ev.run(_call(f, 5)) == 10
    assert cache.hits == 1
    # Compiled functions become stubs again (the server keeps values alive
    # this way); a later call loads their code again.
    ev.compact_programs()
    assert ev.run(_call(f, 7)) == 14


def _call(f: object, x: object) -> object:
    return (yield (f, x, None))


def test_attribute_notes_of_cached_code_in_traces(tmp_path: Path) -> None:
    # The notes of a cached program's bindings are kept pickled until an
    # error reads them: the bindings an error leaves through a chain of
    # attributes (``NixError.bindings``), and its trace, are the same as fresh.
    path = tmp_path / "chain.nix"
    names = "abcdefghijk"
    binds = " ".join(f"{a} = {b} + 1;" for a, b in zip(names, names[1:], strict=False))
    path.write_text(f'rec {{ {binds} k = throw "boom"; }}\n')
    cache = CodeCache(str(tmp_path / "cache"))
    traces = []
    bindings = []
    for _ in range(2):
        with pytest.raises(NixError) as info:
            run(cache, path, "m.a")
        traces.append([(m, str(s)) for m, s in info.value.trace])
        bindings.append([(i, m, str(s)) for i, m, s in info.value.bindings or []])
    assert cache.hits == 1
    assert traces[0] == traces[1] and bindings[0] == bindings[1]
    assert [m for _, m, _ in bindings[0]] == [
        f"while evaluating the attribute '{n}'" for n in reversed(names)
    ]
    # As in Nix, a binding used by name is not in the trace; the select
    # ``m.a`` is, at the definition of ``a``.
    attrs = [(m, s) for m, s in traces[0] if m.startswith("while evaluating the attribute")]
    assert attrs == [("while evaluating the attribute 'a'", bindings[0][-1][2])]


def test_cached_code_has_one_line_per_function(tmp_path: Path, lib: Path) -> None:
    # Generated code's Python positions mean nothing to a user: code kept in
    # the cache has every instruction on its function's first line.
    cache = CodeCache(str(tmp_path / "cache"))
    run(cache, lib, "m.double 2")
    ev = Evaluator(code_cache=cache)
    f = ev.eval_text(f"(import {lib}).double")
    assert ev.run(_call(f, 5)) == 10
    assert cache.hits == 1
    code = f.code.__code__  # type: ignore[attr-defined]
    assert {line for _start, _end, line in code.co_lines()} == {code.co_firstlineno}


def test_one_line_locations_keep_python_tracebacks_readable() -> None:
    import traceback

    from evaluator.compiler import flat_lines

    def broken(x: object) -> object:
        y = [x]
        return y[2]

    broken.__code__ = flat_lines(broken.__code__)
    with pytest.raises(IndexError) as info:
        broken(1)
    text = "".join(traceback.format_exception(info.value))
    assert f"line {broken.__code__.co_firstlineno}, in broken" in text
