"""The table of builtin metadata (``evaluator.builtins.table``) against what
is generated from it and what uses it: the registry, the global scope of an
evaluator and of scope analysis, signature help, the highlight query and
the VS Code grammar, and (when installed) Nix 2.26 itself."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from evaluator import scope
from evaluator.builtins import CONSTANTS, REGISTRY, _load, make_globals, registry
from evaluator.builtins.table import (
    BUILTINS,
    GRAMMAR,
    HIGHLIGHTS,
    UNPREFIXED,
    with_block,
    with_patterns,
)
from evaluator.eval import Evaluator
from evaluator.ide.signature import signature_help

REPO = Path(__file__).resolve().parent.parent
NIX = shutil.which("nix-instantiate-2.26")


@pytest.fixture(scope="module", autouse=True)
def _registered() -> None:
    _load()


def test_every_primop_is_registered_with_the_tables_arity_and_doc() -> None:
    primops = {n for n, i in BUILTINS.items() if not i.constant}
    assert primops == set(REGISTRY)
    for name, prim in REGISTRY.items():
        info = BUILTINS[name]
        assert prim.arity == len(info.params) > 0, name
        assert prim.doc == info.doc and info.doc, name


def test_every_constant_is_registered() -> None:
    constants = {n for n, i in BUILTINS.items() if i.constant}
    # ``builtins`` is the set itself, made by ``make_globals``.
    assert constants == set(CONSTANTS) | {"builtins"}
    assert all(not BUILTINS[n].params for n in constants)


def test_registering_outside_the_table_fails() -> None:
    with pytest.raises(KeyError):
        registry.builtin("noSuchBuiltin")
    with pytest.raises(ValueError, match="constant"):
        registry.builtin("nixVersion")
    with pytest.raises(ValueError, match="primop"):
        registry.constant("map")


def test_global_scope_follows_the_table() -> None:
    g = make_globals(Evaluator())
    bare = {n for n in g if not n.startswith("__")}
    assert bare == set(UNPREFIXED)
    assert scope.GLOBAL_NAMES <= set(g)
    assert scope.GLOBAL_NAMES == UNPREFIXED | {
        "__" + n for n, i in BUILTINS.items() if not i.unprefixed
    }
    assert set(g["builtins"]) == set(BUILTINS)


@pytest.mark.parametrize("name", sorted(n for n, i in BUILTINS.items() if not i.constant))
def test_signature_help_shows_the_tables_parameters(name: str) -> None:
    params = list(BUILTINS[name].params)
    forms = [f"builtins.{name}", f"__{name}" if not BUILTINS[name].unprefixed else name]
    for form in forms:
        text = f"{form} "
        sig = signature_help(text, None, len(text))
        assert sig is not None, form
        assert sig.label == " ".join([f"builtins.{name}", *params])
        assert sig.parameters == params and sig.active_parameter == 0
        assert sig.documentation == BUILTINS[name].doc


def test_signature_help_moves_to_the_next_parameter() -> None:
    text = "builtins.foldl' (a: b: a) 0 "
    sig = signature_help(text, None, len(text))
    assert sig is not None and sig.parameters == ["op", "nul", "list"]
    assert sig.active_parameter == 2


def test_highlight_query_is_generated_from_the_table() -> None:
    text = (REPO / HIGHLIGHTS).read_text(encoding="utf-8")
    assert with_block(text) == text, "run: python -m evaluator.builtins.table --write"
    for name in UNPREFIXED - {"import", "builtins", "true", "false", "null"}:
        assert f'"{name}"' in text


def test_vscode_grammar_is_generated_from_the_table() -> None:
    text = (REPO / GRAMMAR).read_text(encoding="utf-8")
    assert with_patterns(text) == text, "run: python -m evaluator.builtins.table --write"
    assert "|removeAttrs|" in text


def test_a_stale_query_is_detected() -> None:
    text = (REPO / HIGHLIGHTS).read_text(encoding="utf-8")
    stale = text.replace('"removeAttrs" ', "", 1)
    assert stale != text and with_block(stale) == text


@pytest.mark.skipif(NIX is None, reason="nix-instantiate-2.26 not installed")
def test_the_table_names_nix_2_26s_builtins() -> None:
    assert NIX is not None
    out = subprocess.run(
        [NIX, "--extra-experimental-features", "flakes fetch-closure", "--eval", "--strict"]
        + ["-E", "builtins.attrNames builtins"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    names = {w.strip('"') for w in out.strip().strip("[]").split()}
    assert names == set(BUILTINS)
    # Which are visible without the prefix: one evaluation of every bare
    # name (an undefined variable fails the whole expression).
    bare = set()
    for name in sorted(BUILTINS):
        proc = subprocess.run(
            [NIX, "--extra-experimental-features", "flakes fetch-closure", "--parse", "-E", name],
            capture_output=True,
            text=True,
        )
        if proc.returncode == 0:
            bare.add(name)
    assert bare == set(UNPREFIXED)
