"""The builtins: a registry filled by the modules of this package, each
builtin's name, parameters and documentation taken from ``table``.

Each builtin is a generator function taking its arguments unforced and
returning a forced value; it forces with ``x = yield from force(x)`` and calls
Nix functions with ``r = yield (f, arg, span)`` (see ``evaluator.vm``), so it
never recurses on the host stack.  ``plain=True`` marks a builtin that is an
ordinary function (it must not force anything).
"""

from __future__ import annotations

import threading
from typing import Any

from ..values import Attrs
from .registry import CONSTANTS, GLOBAL_NAMES, REGISTRY, builtin, constant

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
        for mod in ("core", *MODULES):
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


__all__ = ["CONSTANTS", "GLOBAL_NAMES", "REGISTRY", "builtin", "constant", "make_globals"]
