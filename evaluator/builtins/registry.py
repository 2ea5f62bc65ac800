"""The registry of builtins: each module of this package registers its
builtins here (``builtin``, ``constant``) when imported."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..values import PrimOp

REGISTRY: dict[str, PrimOp] = {}
# Names visible without ``builtins.`` (besides every ``__name``).
GLOBAL_NAMES: set[str] = {
    "abort",
    "baseNameOf",
    "break",
    "derivation",
    "derivationStrict",
    "dirOf",
    "fetchGit",
    "fetchMercurial",
    "fetchTarball",
    "fetchTree",
    "fromTOML",
    "import",
    "isNull",
    "map",
    "placeholder",
    "removeAttrs",
    "scopedImport",
    "throw",
    "toString",
}
# Constants: name -> function(evaluator) -> value, computed per evaluator.
CONSTANTS: dict[str, Callable[[Any], Any]] = {}


def builtin(
    name: str, arity: int, *, plain: bool = False, doc: str = "", trace: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a builtin called ``name`` taking ``arity`` arguments
    (``trace=False``: no "while calling" trace line, as Nix's addErrorContext)."""

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        doc_text = doc or (fn.__doc__ or "").strip()
        REGISTRY[name] = PrimOp(name, arity, fn, doc_text, plain, trace)
        return fn

    return deco


def constant(name: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register a builtin constant computed from the evaluator."""

    def deco(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        CONSTANTS[name] = fn
        return fn

    return deco
