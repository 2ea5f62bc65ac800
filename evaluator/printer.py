"""Print values as Nix does: ``nix-instantiate --eval`` output and the short
forms used inside error messages and hovers.

Printing never forces anything (callers deep-force first when they want
``--strict`` output) and never recurses on the host stack: a work list of
pending text and values is processed iteratively, so a million-deep list
prints without trouble.
"""

from __future__ import annotations

import math
import re
from typing import Any

from .literals import show_string
from .values import Attrs, CtxStr, Lambda, NixPath, PrimOp, PrimOpApp, Thunk

_IDENT = re.compile(r"[a-zA-Z_][a-zA-Z0-9_'-]*\Z")
_KEYWORDS = frozenset(["if", "then", "else", "assert", "with", "let", "in", "rec", "inherit"])


def format_float_g(f: float) -> str:
    """Floats in output: C++ ``ostream << double`` (like ``%g``)."""
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if math.isnan(f):
        return "nan" if math.copysign(1.0, f) > 0 else "-nan"
    return f"{f:g}"


def escape_string(s: str) -> str:
    """A Nix string literal for ``s`` (``literals.show_string``)."""
    return show_string(s)


def attr_name_repr(name: str) -> str:
    if _IDENT.match(name) and name not in _KEYWORDS:
        return name
    return escape_string(name)


class PrintOptions:
    """Limits for printing; ``None`` means unlimited."""

    __slots__ = ("max_depth", "max_attrs", "max_items", "max_string", "errors", "show_repeated")

    def __init__(
        self,
        max_depth: int | None = None,
        max_attrs: int | None = None,
        max_items: int | None = None,
        max_string: int | None = None,
        errors: bool = False,
        show_repeated: bool = True,
    ) -> None:
        self.max_depth = max_depth
        self.max_attrs = max_attrs
        self.max_items = max_items
        self.max_string = max_string
        self.errors = errors  # error style: «lambda @ pos», «derivation …»
        self.show_repeated = show_repeated


OUTPUT = PrintOptions()
ERROR = PrintOptions(max_depth=10, max_attrs=10, max_items=10, max_string=1024, errors=True)


def _is_derivation(v: Attrs) -> bool:
    t = v.get("type")
    if t.__class__ is Thunk:
        t = t.v if t.c is None else None
    return t == "derivation"


class _Close:
    """Work-list item: closing text, counted after its children."""

    __slots__ = ("text", "obj")

    def __init__(self, text: str, obj: Any = None) -> None:
        self.text = text
        self.obj = obj


def print_value(v: Any, opts: PrintOptions = OUTPUT) -> str:
    """Render ``v`` without forcing it."""
    out: list[str] = []
    seen: set[int] = set()
    counts = {"attrs": 0, "items": 0}
    # Work items: ("v", value, depth) or ("t", text) or _Close
    work: list[Any] = [("v", v, 0)]
    while work:
        item = work.pop()
        if item.__class__ is str:
            out.append(item)
            continue
        if item.__class__ is _Close:
            out.append(item.text)
            if item.obj == "attr":
                counts["attrs"] += 1
            elif item.obj == "item":
                counts["items"] += 1
            continue
        _, x, depth = item
        if x.__class__ is Thunk:
            if x.c is None:
                x = x.v
            else:
                out.append("«thunk»")
                continue
        cls = x.__class__
        if cls is int:
            out.append(str(x))
        elif cls is bool:
            out.append("true" if x else "false")
        elif x is None:
            out.append("null")
        elif cls is float:
            out.append(format_float_g(x))
        elif cls is str or cls is CtxStr:
            s = str(x)
            if opts.max_string is not None and len(s) > opts.max_string:
                out.append(
                    escape_string(s[: opts.max_string])
                    + f"«{len(s) - opts.max_string} bytes elided»"
                )
            else:
                out.append(escape_string(s))
        elif cls is NixPath:
            out.append(x.path)
        elif cls is list:
            if not x:
                out.append("[ ]")
                continue
            if opts.show_repeated and id(x) in seen:
                out.append("«repeated»")
                continue
            seen.add(id(x))
            if opts.max_depth is not None and depth >= opts.max_depth:
                out.append("[ … ]")
                continue
            out.append("[ ")
            pending: list[Any] = []
            for i, el in enumerate(x):
                if opts.max_items is not None and counts["items"] + i >= opts.max_items:
                    # Elision is decided when we get there (counts change).
                    pending.append(_ListElide(x, i))
                    break
                pending.append(("v", el, depth + 1))
                pending.append(_Close(" ", "item"))
            pending.append("]")
            work.extend(reversed(pending))
        elif cls is Attrs:
            if not x:
                out.append("{ }")
                continue
            if opts.errors and _is_derivation(x):
                dp = x.get("drvPath")
                if dp.__class__ is Thunk:
                    dp = dp.v if dp.c is None else None
                out.append(f"«derivation {dp}»" if isinstance(dp, str) else "«derivation»")
                continue
            if opts.show_repeated and id(x) in seen:
                out.append("«repeated»")
                continue
            seen.add(id(x))
            if opts.max_depth is not None and depth >= opts.max_depth:
                out.append("{ … }")
                continue
            out.append("{ ")
            pending = []
            keys = sorted(x)
            for i, k in enumerate(keys):
                pending.append(_AttrElide(keys, i) if opts.max_attrs is not None else None)
                pending.append(attr_name_repr(k) + " = ")
                pending.append(("v", x[k], depth + 1))
                pending.append(_Close("; ", "attr"))
            pending = [p for p in pending if p is not None]
            pending.append("}")
            work.extend(reversed(pending))
        elif cls is Lambda:
            if opts.errors:
                out.append(
                    f"«lambda @ {x.node.span}»"
                    if x.node.name is None
                    else f"«lambda {x.node.name} @ {x.node.span}»"
                )
            else:
                out.append("<LAMBDA>")
        elif cls is PrimOp:
            out.append(f"«primop {x.name}»" if opts.errors else "<PRIMOP>")
        elif cls is PrimOpApp:
            out.append(
                f"«partially applied primop {x.prim.name}»" if opts.errors else "<PRIMOP-APP>"
            )
        else:
            out.append(f"«{cls.__name__}»")
        # Elision markers are resolved lazily, see below.
        if work and work[-1].__class__ in (_ListElide, _AttrElide):
            pass
    return "".join(out)


class _ListElide:
    __slots__ = ("lst", "i")

    def __init__(self, lst: list[Any], i: int) -> None:
        self.lst = lst
        self.i = i


class _AttrElide:
    __slots__ = ("keys", "i")

    def __init__(self, keys: list[str], i: int) -> None:
        self.keys = keys
        self.i = i


def _print_with_elision(v: Any, opts: PrintOptions) -> str:
    """``print_value`` with Nix's global attr/item budgets (error style)."""
    out: list[str] = []
    seen: set[int] = set()
    attrs_done = 0
    items_done = 0
    work: list[Any] = [("v", v, 0)]
    while work:
        item = work.pop()
        ic = item.__class__
        if ic is str:
            out.append(item)
            continue
        if ic is _Close:
            out.append(item.text)
            if item.obj == "attr":
                attrs_done += 1
            elif item.obj == "item":
                items_done += 1
            continue
        if ic is _AttrElide:
            if opts.max_attrs is not None and attrs_done >= opts.max_attrs:
                # Skip the rest of this set's attributes.
                rest = len(item.keys) - item.i
                # Drop queued work for the remaining attributes.
                dropped = 0
                while dropped < rest:
                    w = work.pop()
                    if w.__class__ is _Close and w.obj == "attr":
                        dropped += 1
                word = "attribute" if rest == 1 else "attributes"
                out.append(f"«{rest} {word} elided» ")
            continue
        if ic is _ListElide:
            if opts.max_items is not None and items_done >= opts.max_items:
                rest = len(item.lst) - item.i
                dropped = 0
                while dropped < rest:
                    w = work.pop()
                    if w.__class__ is _Close and w.obj == "item":
                        dropped += 1
                word = "item" if rest == 1 else "items"
                out.append(f"«{rest} {word} elided» ")
            continue
        _, x, depth = item
        if x.__class__ is Thunk:
            if x.c is None:
                x = x.v
            else:
                out.append("«thunk»")
                continue
        cls = x.__class__
        if cls is list and x:
            if opts.show_repeated and id(x) in seen:
                out.append("«repeated»")
                continue
            seen.add(id(x))
            if opts.max_depth is not None and depth >= opts.max_depth:
                out.append("[ … ]")
                continue
            out.append("[ ")
            pending: list[Any] = []
            for i, el in enumerate(x):
                pending.append(_ListElide(x, i))
                pending.append(("v", el, depth + 1))
                pending.append(_Close(" ", "item"))
            pending.append("]")
            work.extend(reversed(pending))
            continue
        if cls is Attrs and x and not (opts.errors and _is_derivation(x)):
            if opts.show_repeated and id(x) in seen:
                out.append("«repeated»")
                continue
            seen.add(id(x))
            if opts.max_depth is not None and depth >= opts.max_depth:
                out.append("{ … }")
                continue
            out.append("{ ")
            pending = []
            keys = sorted(x)
            for i, k in enumerate(keys):
                pending.append(_AttrElide(keys, i))
                pending.append(attr_name_repr(k) + " = ")
                pending.append(("v", x[k], depth + 1))
                pending.append(_Close("; ", "attr"))
            pending.append("}")
            work.extend(reversed(pending))
            continue
        out.append(print_value(x, opts))
    return "".join(out)


def show_value_for_error(v: Any) -> str:
    """A value as shown inside an error message (limited, not forced)."""
    return _print_with_elision(v, ERROR)


def show_value(v: Any, opts: PrintOptions = OUTPUT) -> str:
    """A value as ``nix-instantiate --eval`` prints it (limits if given)."""
    if opts.max_attrs is None and opts.max_items is None:
        return _print_with_elision(v, opts)
    return _print_with_elision(v, opts)
