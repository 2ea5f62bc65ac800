"""String context builtins: inspecting, adding and dropping the store paths
a string refers to.

Context elements use Nix's encoding (see ``evaluator.values.CtxStr``): a plain
store path (opaque), ``=<drv>`` (the derivation with all its outputs, deep)
and ``!<output>!<drv>`` (one output of a derivation).
"""

from __future__ import annotations

from typing import Any

from .. import store
from ..errors import NixError
from ..runtime import coerce_to_string
from ..values import Attrs, CtxStr, context_of
from ..vm import CONTEXT
from .core import force_attrs, force_bool, force_list, force_string
from .lists import force_string_no_ctx, traced
from .registry import builtin


def _arg(name: str) -> str:
    return f"while evaluating the argument passed to builtins.{name}"


def _with_ctx(s: Any, ctx: set[str] | frozenset[str]) -> Any:
    return CtxStr(str(s), frozenset(ctx)) if ctx else str(s)


def _sort_key(elem: str) -> tuple[int, str, str]:
    """Nix's order of context elements: opaque, then deep, then outputs."""
    if elem.startswith("="):
        return (1, elem[1:], "")
    if elem.startswith("!"):
        out, _, drv = elem[1:].partition("!")
        return (2, drv, out)
    return (0, elem, "")


@builtin("unsafeDiscardStringContext")
def _unsafe_discard_string_context(s: Any) -> Any:
    s = yield from traced(coerce_to_string(s), _arg("unsafeDiscardStringContext"))
    return str(s)


@builtin("hasContext")
def _has_context(s: Any) -> Any:
    s = yield from traced(force_string(s), _arg("hasContext"))
    return bool(context_of(s))


@builtin("unsafeDiscardOutputDependency")
def _unsafe_discard_output_dependency(s: Any) -> Any:
    s = yield from traced(coerce_to_string(s), _arg("unsafeDiscardOutputDependency"))
    ctx = {c[1:] if c.startswith("=") else c for c in context_of(s)}
    return _with_ctx(s, ctx)


@builtin("addDrvOutputDependencies")
def _add_drv_output_dependencies(s: Any) -> Any:
    s = yield from traced(coerce_to_string(s), _arg("addDrvOutputDependencies"))
    ctx = context_of(s)
    if len(ctx) != 1:
        raise NixError(f"context of string '{s}' must have exactly one element, but has {len(ctx)}")
    (c,) = ctx
    if c.startswith("!"):
        out = c[1:].partition("!")[0]
        raise NixError(
            "`addDrvOutputDependencies` can only act on derivations, not on a derivation "
            f"output such as '{out}'"
        )
    if not c.startswith("="):
        if not c.endswith(store.DRV_EXTENSION):
            raise NixError(f"path '{c}' is not a derivation")
        c = "=" + c
    return CtxStr(str(s), frozenset([c]))


@builtin("getContext")
def _get_context(s: Any) -> Any:
    s = yield from traced(force_string(s), _arg("getContext"))
    infos: dict[str, dict[str, Any]] = {}
    for c in sorted(context_of(s), key=_sort_key):
        if c.startswith("="):
            infos.setdefault(c[1:], {})["allOutputs"] = True
        elif c.startswith("!"):
            out, _, drv = c[1:].partition("!")
            infos.setdefault(drv, {}).setdefault("outputs", []).append(out)
        else:
            infos.setdefault(c, {})["path"] = True
    return Attrs({k: Attrs(v) for k, v in infos.items()})


@builtin("appendContext")
def _append_context(s: Any, ctx_attrs: Any) -> Any:
    s = yield from traced(
        force_string(s), "while evaluating the first argument passed to builtins.appendContext"
    )
    spec = yield from traced(
        force_attrs(ctx_attrs),
        "while evaluating the second argument passed to builtins.appendContext",
    )
    ev = yield CONTEXT
    ctx = set(context_of(s))
    for name in spec:
        pos = spec.pos.get(name) if spec.pos else None
        if not store.is_store_path(name, ev.store_dir):
            raise NixError(f"context key '{name}' is not a store path", pos)
        info = yield from traced(
            force_attrs(spec[name]), "while evaluating the value of a string context"
        )
        if "path" in info:
            if (
                yield from traced(
                    force_bool(info["path"]),
                    "while evaluating the `path` attribute of a string context",
                )
            ):
                ctx.add(name)
        if "allOutputs" in info:
            if (
                yield from traced(
                    force_bool(info["allOutputs"]),
                    "while evaluating the `allOutputs` attribute of a string context",
                )
            ):
                if not name.endswith(store.DRV_EXTENSION):
                    raise NixError(
                        f"tried to add all-outputs context of {name}, which is not a "
                        "derivation, to a string",
                        pos,
                    )
                ctx.add("=" + name)
        if "outputs" in info:
            outs = yield from traced(
                force_list(info["outputs"]),
                "while evaluating the `outputs` attribute of a string context",
            )
            if outs and not name.endswith(store.DRV_EXTENSION):
                raise NixError(
                    f"tried to add derivation output context of {name}, which is not a "
                    "derivation, to a string",
                    pos,
                )
            for o in outs:
                o = yield from traced(
                    force_string_no_ctx(o),
                    "while evaluating an output name within a string context",
                )
                ctx.add(f"!{o}!{name}")
    return _with_ctx(s, ctx)
