"""Evaluation diagnostics that mean what Nix means (``evaluator.explore``).

Only what Nix forces (the value to weak head normal form, or what the entry
forces) fails with an error; what exploration finds beyond that is a hint
(deliberate ``throw``/``abort``), a warning (a real bug, with the attribute
path) or information (a missing file), and what it prints is dropped.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from evaluator import api
from evaluator.diagnostics import Diagnostic, Severity
from evaluator.explore import Limits, format_path
from evaluator.io import OverlayIO

LIB = os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "nixpkgs-lib", "lib")
)
LIB_FILES = sorted(glob.glob(os.path.join(LIB, "*.nix")))
NIX_226 = shutil.which("nix-instantiate-2.26")
# Generous: the whole of lib/default.nix is explored (about 1.5 s here).
BIG = api.Budget(timeout_s=120, max_steps=None)


def evaluate(text: str, path: str | None = None, **kw: object) -> api.EvalResult:
    return api.evaluate(text, path, **kw)  # type: ignore[arg-type]


def at(diags: list[Diagnostic], severity: Severity) -> list[Diagnostic]:
    return [d for d in diags if d.severity == severity]


def text_of(d: Diagnostic) -> bytes:
    assert d.span is not None
    return d.span.source.text[d.span.start : d.span.end]


def problems(result: api.EvalResult) -> list[str]:
    """Errors and warnings, as text (for assertion messages)."""
    return [str(d) for d in result.diagnostics if d.severity <= Severity.WARNING]


# ------------------------------------------------------------- nixpkgs' lib


def test_all_lib_files_are_found() -> None:
    assert len(LIB_FILES) == 31, LIB_FILES


@pytest.mark.parametrize("path", LIB_FILES, ids=os.path.basename)
def test_nixpkgs_lib_file_has_no_evaluation_error_or_warning(path: str) -> None:
    with open(path, "rb") as f:
        result = api.evaluate(f.read(), path, budget=BIG)
    assert problems(result) == []
    if result.exploration is not None:  # a set: explored whole within the limits
        assert result.exploration.stopped is None


@pytest.mark.skipif(NIX_226 is None, reason="nix-instantiate-2.26 is not installed")
@pytest.mark.parametrize("path", LIB_FILES, ids=os.path.basename)
def test_nix_evaluates_the_lib_file_without_error(path: str) -> None:
    """The reference: Nix 2.26 evaluates each file to weak head normal form
    without an error or a warning."""
    assert NIX_226 is not None
    cmd = [NIX_226, "--eval", "--option", "build-users-group", "", "--store", "dummy://", path]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""


def test_lib_default_reports_what_this_checkout_lacks_as_information() -> None:
    """``lib.maintainers`` imports a file the nixpkgs.lib checkout does not
    have: using it would fail, which is worth knowing but no warning; the
    file sets and deprecated functions lib exports say nothing."""
    path = os.path.join(LIB, "default.nix")
    with open(path, "rb") as f:
        result = api.evaluate(f.read(), path, budget=BIG)
    info = at(result.diagnostics, Severity.INFO)
    assert sorted(d.message.split("`")[1] for d in info) == ["maintainers", "teams"]
    assert all("does not exist" in d.message for d in info)
    assert not any(d.code in ("warn", "trace", "throw") for d in result.diagnostics)
    assert result.exploration is not None and result.exploration.visited > 5000


# ------------------------------------------------------- aliases-style sets


def test_aliases_set_is_a_hint_at_the_attribute() -> None:
    text = '{\n  foo = throw "foo has been removed, use bar";\n  bar = 1;\n}\n'
    [d] = evaluate(text).diagnostics
    assert d.code == "throws_when_used" and d.severity == Severity.HINT
    assert d.message == "throws when used: foo has been removed, use bar"
    assert text_of(d) == b"foo"


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ('{ foo = if true then throw "gone" else 1; }', b"foo"),
        ('{ foo = x: x; bar = if false then 1 else abort "no"; }', b"bar"),
        ('{ a.b.c = throw "gone"; a.b.d = 1; }', b"a.b.c"),
        ('{ foo = let msg = "gone"; in throw msg; }', b"foo"),
        ('{ foo = with { m = "gone"; }; throw m; }', b"foo"),
        ('{ foo = builtins.warn "foo is deprecated" (throw "gone"); }', b"foo"),
        ('let old = throw "gone"; in { foo = old; }', b"old"),
        ('let s = { foo = throw "gone"; }; in { inherit (s) foo; }', b"foo"),
        ('{ xs = [ 1 (throw "gone") ]; }', b'throw "gone"'),
    ],
)
def test_deliberate_throws_are_hints(text: str, name: bytes) -> None:
    diags = evaluate(text).diagnostics
    assert [d.code for d in diags] == ["throws_when_used"], diags
    assert diags[0].severity == Severity.HINT
    assert text_of(diags[0]) == name


def test_nixpkgs_aliases_shape_is_all_hints() -> None:
    """pkgs/top-level/aliases.nix: every alias goes through functions of the
    file before its ``throw`` is reached."""
    text = """
      let
        super = { bar = 1; };
        removeRecurseForDerivations = alias:
          if alias.recurseForDerivations or false
          then builtins.removeAttrs alias [ "recurseForDerivations" ]
          else alias;
        checkInPkgs = n: alias:
          if builtins.hasAttr n super then throw "Alias ${n} is still in all-packages.nix" else alias;
        mapAliases = aliases:
          builtins.mapAttrs (n: alias: removeRecurseForDerivations (checkInPkgs n alias)) aliases;
      in
      mapAliases {
        foo = throw "'foo' has been removed"; # Added 2024-01-01
        baz = super.bar; # Added 2024-01-02
        qux = if true then throw "'qux' was renamed to 'bar'" else super.bar;
      }
    """
    diags = evaluate(text).diagnostics
    assert {d.severity for d in diags} == {Severity.HINT}
    assert sorted(text_of(d) for d in diags) == [b"foo", b"qux"]


def test_a_throw_in_an_imported_file_is_not_a_hint_here(tmp_path: Path) -> None:
    (tmp_path / "lib.nix").write_text('{ removed = throw "gone"; kept = 1; }')
    main = tmp_path / "main.nix"
    result = evaluate("import ./lib.nix", str(main))
    assert result.diagnostics == []


def test_a_throw_reached_through_a_function_is_a_warning() -> None:
    """``lib.throwIfNot`` and the like check their arguments, as ``assert``
    does: a failure is a bug in the call."""
    text = (
        "let throwIfNot = cond: msg: if cond then x: x else throw msg;\n"
        'in { port = throwIfNot false "port must be positive" (-1); }'
    )
    [d] = evaluate(text).diagnostics
    assert d.code == "throw" and d.severity == Severity.WARNING
    assert d.message == (
        "while evaluating attribute `port` (not forced by Nix): port must be positive"
    )


# ---------------------------------------------------- real bugs stay visible


def test_type_error_inside_an_attribute_is_a_warning_where_it_is() -> None:
    [d] = evaluate('{ size = 1 + "2"; }').diagnostics
    assert d.code == "eval_error" and d.severity == Severity.WARNING
    assert text_of(d) == b"+"
    assert d.message == (
        "while evaluating attribute `size` (not forced by Nix): cannot add a string to an integer"
    )
    assert any("attribute 'size'" in n.message for n in d.notes)  # the trace


def test_failed_assert_inside_an_attribute_is_a_warning_where_it_is() -> None:
    [d] = evaluate("{ a.b = assert 1 == 2; 3; }").diagnostics
    assert d.code == "assertion_failed" and d.severity == Severity.WARNING
    assert text_of(d) == b"assert 1 == 2; 3"
    assert d.message.startswith("while evaluating attribute `a.b` (not forced by Nix): ")


def test_undefined_attribute_inside_an_attribute_is_a_warning_where_it_is() -> None:
    [d] = evaluate("{ cfg = { port = 80; }; p = { port = 80; }.prot; }").diagnostics
    assert d.code == "eval_error" and d.severity == Severity.WARNING
    assert text_of(d) == b"prot"
    assert d.message.startswith(
        "while evaluating attribute `p` (not forced by Nix): attribute 'prot' missing"
    )


def test_every_bug_is_found_not_only_the_first() -> None:
    text = '{ a = 1 + "x"; b = { c = [ 1 (2 + "y") ]; }; d = { }.e; f = 1; }'
    warnings = at(evaluate(text).diagnostics, Severity.WARNING)
    paths = [d.message.split("`")[1] for d in warnings]
    assert sorted(paths) == ["a", "b.c[1]", "d"]
    assert "list element `b.c[1]`" in next(d.message for d in warnings if "[1]" in d.message)


def test_infinite_recursion_inside_an_attribute_is_a_warning() -> None:
    [d] = evaluate("rec { a = b; b = a; c = 1; }").diagnostics
    assert d.code == "infinite_recursion" and d.severity == Severity.WARNING


def test_path_formatting() -> None:
    assert format_path(("a", "b.c", 3, "d")) == 'a."b.c"[3].d'
    assert format_path(("in", "x-y")) == '"in".x-y'


# ----------------------------------------------- what Nix forces is an error


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("{ a = 1; }.b", "eval_error"),
        ('let x = throw "boom"; in { a = x; }.a', "throw"),
        ("assert 1 == 2; { }", "assertion_failed"),
        ('1 + "2"', "eval_error"),
    ],
)
def test_failure_of_the_value_itself_is_an_error(text: str, code: str) -> None:
    [d] = evaluate(text).diagnostics
    assert d.code == code and d.severity == Severity.ERROR


def test_output_of_what_nix_evaluates_is_shown_and_of_exploration_dropped() -> None:
    text = 'builtins.trace "shown" { a = builtins.trace "hidden" 1; b = builtins.warn "old" 2; }'
    result = evaluate(text)
    assert [(d.code, d.message) for d in result.diagnostics] == [("trace", "shown")]
    assert result.value_text == "{ a = 1; b = 2; }"  # explored all the same


def test_a_function_is_neither_called_nor_explored() -> None:
    result = evaluate('{ pkgs }: { a = 1 + "x"; }')
    assert result.diagnostics == [] and result.exploration is None


def test_entry_forces_what_it_forces(tmp_path: Path) -> None:
    (tmp_path / "x.nix").write_text(
        '{\n  a = { b = 1 + "x"; c = throw "gone"; };\n  d = 1 + "y";\n}\n'
    )
    doc = str(tmp_path / "x.nix")
    text = (tmp_path / "x.nix").read_text()
    result = evaluate(text, doc, entry="(import ./x.nix).a")
    got = sorted((d.severity.name, d.code, text_of(d)) for d in result.diagnostics)
    # ``d`` is not part of what the entry uses: not explored.
    assert got == [("HINT", "throws_when_used", b"c"), ("WARNING", "eval_error", b"+")]
    assert "`b`" in at(result.diagnostics, Severity.WARNING)[0].message
    [err] = evaluate(text, doc, entry="(import ./x.nix).a.b").diagnostics
    assert err.severity == Severity.ERROR and text_of(err) == b"+"


# --------------------------------------------- environment, budget, limits


def test_a_missing_file_is_information(tmp_path: Path) -> None:
    main = tmp_path / "configuration.nix"
    text = "{ hardware = import ./hardware-configuration.nix; x = 1; }"
    [d] = evaluate(text, str(main)).diagnostics
    assert d.severity == Severity.INFO and "does not exist" in d.message
    assert d.message.startswith("while evaluating attribute `hardware` (not forced by Nix): ")


def test_what_nix_would_do_but_nixlens_refuses_is_not_reported(tmp_path: Path) -> None:
    main = tmp_path / "main.nix"
    text = (
        '{ src = builtins.fetchTarball "https://example.com/x.tar.gz";'
        " host = builtins.readFile /etc/hostname; }"
    )
    io = OverlayIO({}, [str(tmp_path)])
    result = api.evaluate(text, str(main), io=io)
    assert result.diagnostics == []
    # Forced by Nix, the same refusal is an error (as before).
    [d] = api.evaluate("builtins.readFile /etc/hostname", str(main), io=io).diagnostics
    assert d.severity == Severity.ERROR


def test_a_budget_stop_during_exploration_is_silent() -> None:
    text = "{ a = let loop = n: loop (n + 1); in loop 0; b = 1; }"
    result = evaluate(text, budget=api.Budget(timeout_s=0.3, max_steps=None))
    assert result.diagnostics == []
    assert result.exploration is not None and result.exploration.stopped == "deadline"


def test_a_step_budget_stops_exploration_too() -> None:
    text = "{ a = builtins.foldl' builtins.add 0 (builtins.genList (x: x) 100000); b = 1; }"
    result = evaluate(text, budget=api.Budget(timeout_s=None, max_steps=20_000))
    assert result.diagnostics == []
    assert result.exploration is not None and result.exploration.stopped == "steps"


def test_a_value_too_large_skips_only_that_attribute() -> None:
    text = '{ a = builtins.genList (x: x) 1000000000; b = 1 + "x"; }'
    result = evaluate(text)
    assert [(d.severity, d.code) for d in result.diagnostics] == [(Severity.WARNING, "eval_error")]
    assert result.exploration is not None and result.exploration.skipped == 1


def test_a_nixpkgs_sized_set_is_not_forced_whole() -> None:
    text = """
      let big = builtins.listToAttrs (builtins.genList
        (i: { name = "p${toString i}"; value = { v = i; }; }) 100000);
      in { inherit big; }
    """
    result = evaluate(text, budget=api.Budget(timeout_s=30, max_steps=None))
    assert result.diagnostics == []
    e = result.exploration
    assert e is not None and e.stopped is None
    limits = Limits()
    # ``big`` itself, then at most ``max_breadth`` of its attributes (not
    # written in the document), and one attribute of each.
    assert e.visited == 1 + 2 * limits.max_breadth
    assert e.skipped == 100000 - limits.max_breadth


def test_the_documents_own_attributes_are_all_explored() -> None:
    names = [f"a{i}" for i in range(Limits().max_breadth + 100)]
    text = "{ " + " ".join(f'{n} = throw "gone {n}";' for n in names) + " }"
    result = evaluate(text, budget=BIG)
    assert len(result.diagnostics) == len(names)
    assert {d.code for d in result.diagnostics} == {"throws_when_used"}


def test_depth_is_limited() -> None:
    text = "let f = n: if n == 0 then { } else { x = f (n - 1); }; in f 100"
    result = evaluate(text)
    e = result.exploration
    assert e is not None and e.visited == Limits().max_depth and e.skipped == 1
    small = evaluate(text, explore_limits=Limits(max_depth=3)).exploration
    assert small is not None and small.visited == 3


def test_cycles_are_explored_once() -> None:
    result = evaluate("let s = { self = s; n = 1; }; in s")
    assert result.exploration is not None and result.exploration.visited == 2


# ------------------------------------------------- hover's observed values


def test_observed_arguments_are_captured_past_a_failure() -> None:
    """The old deep forcing stopped at the first failure; exploration goes
    on, so hover sees the arguments of calls in later attributes too."""
    text = 'let f = x: x + 1; in { a = 1 + "x"; b = f 2; c = f 3; }'
    result = evaluate(text)
    [seen] = [v for (_name, start), v in result.observed.items() if start == text.index("x: x")]
    assert sorted(seen) == [2, 3]
