"""Builtins for debugging and introspection: attribute positions, error
context, ``break`` and ``traceVerbose``."""

from __future__ import annotations

from typing import Any

from ..errors import NixError
from ..runtime import coerce_to_string
from ..values import Attrs
from ..vm import force, force_at
from .core import force_attrs
from .lists import force_string_no_ctx, traced
from .registry import builtin


def position_attrs(span: Any) -> Any:
    """Nix's ``mkPos``: ``{ file; line; column; }`` for a span in a file, else null."""
    if span is None:
        return None
    path = getattr(span.source, "path", None)
    if not path:
        return None
    line, col = span.line_col()
    return Attrs({"file": path, "line": line, "column": col})


@builtin("unsafeGetAttrPos")
def _unsafe_get_attr_pos(name: Any, s: Any) -> Any:
    name = yield from traced(
        force_string_no_ctx(name),
        "while evaluating the first argument passed to builtins.unsafeGetAttrPos",
    )
    s = yield from traced(
        force_attrs(s), "while evaluating the second argument passed to builtins.unsafeGetAttrPos"
    )
    name = str(name)
    if name not in s or not s.pos:
        return None
    return position_attrs(s.pos.get(name))


@builtin("addErrorContext", trace=False)
def _add_error_context(msg: Any, v: Any, d: int, span: Any) -> Any:
    try:
        return (yield from force_at(v, d))
    except NixError as err:
        text = yield from traced(
            coerce_to_string(msg, copy_to_store=False),
            "while evaluating the error message passed to builtins.addErrorContext",
        )
        err.add_trace(str(text), None)
        raise


@builtin("break")
def _break(v: Any) -> Any:
    return (yield from force(v))


@builtin("traceVerbose")
def _trace_verbose(msg: Any, v: Any) -> Any:
    return (yield from force(v))
