"""The builtins: a registry filled by the modules of this package.

Each builtin is a generator function taking its arguments unforced and
returning a forced value; it forces with ``x = yield from force(x)`` and calls
Nix functions with ``r = yield (f, arg, span)`` (see ``evaluator.vm``), so it
never recurses on the host stack.  ``plain=True`` marks a builtin that is an
ordinary function (it must not force anything).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from ..values import Attrs, PrimOp

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


_LOADED = False


MODULES = ("lists", "strings", "serial", "paths", "derivations", "context", "misc", "flakes")


_LOAD_LOCK = threading.Lock()


def _load() -> None:
    # Importing the modules registers their builtins.  Two threads making
    # their first evaluators at once (an evaluation and a hover) must not see
    # a half-filled registry: the flag is set only when all are imported.
    import importlib

    global _LOADED
    with _LOAD_LOCK:
        if _LOADED:
            return
        from . import core  # noqa: F401

        for mod in MODULES:
            importlib.import_module(f"{__name__}.{mod}")
        _LOADED = True


def make_globals(ev: Any) -> dict[str, Any]:
    """The global scope of one evaluator: ``builtins`` and its aliases."""
    # Not "if not REGISTRY": importing one module directly fills it partly.
    if not _LOADED:
        _load()
    b = Attrs()
    for name, prim in REGISTRY.items():
        b[name] = prim
    for name, fn in CONSTANTS.items():
        b[name] = fn(ev)
    b["builtins"] = b
    b["true"], b["false"], b["null"] = True, False, None
    g: dict[str, Any] = {"true": True, "false": False, "null": None, "builtins": b}
    for name, v in b.items():
        g["__" + name] = v
        if name in GLOBAL_NAMES:
            g[name] = v
    for name in (
        "currentSystem",
        "currentTime",
        "nixPath",
        "storeDir",
        "nixVersion",
        "langVersion",
    ):
        if name in b:
            g["__" + name] = b[name]
    return g
