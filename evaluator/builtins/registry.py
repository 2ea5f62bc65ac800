"""The registry of builtins: each module of this package registers its
builtins here (``builtin``, ``constant``) when imported.

A builtin's arity and documentation come from ``table.BUILTINS`` (the one
table of builtin metadata); registering a name the table lacks fails.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..values import PrimOp
from .table import BUILTINS, UNPREFIXED

REGISTRY: dict[str, PrimOp] = {}
# Names visible without ``builtins.`` (besides every ``__name``).
GLOBAL_NAMES: frozenset[str] = UNPREFIXED
# Constants: name -> function(evaluator) -> value, computed per evaluator.
CONSTANTS: dict[str, Callable[[Any], Any]] = {}


def builtin(
    name: str, *, plain: bool = False, trace: bool = True
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register the primop ``name`` of the table (``plain``: an ordinary
    function that forces nothing; ``trace=False``: no "while calling" trace
    line, as Nix's addErrorContext)."""
    info = BUILTINS[name]
    if info.constant:
        raise ValueError(f"builtin {name!r} is a constant in the table")

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY[name] = PrimOp(name, info.arity, fn, info.doc, plain, trace)
        return fn

    return deco


def constant(name: str) -> Callable[[Callable[[Any], Any]], Callable[[Any], Any]]:
    """Register the builtin constant ``name`` of the table, computed from the
    evaluator."""
    if not BUILTINS[name].constant:
        raise ValueError(f"builtin {name!r} is a primop in the table")

    def deco(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
        CONSTANTS[name] = fn
        return fn

    return deco
