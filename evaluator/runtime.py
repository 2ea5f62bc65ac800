"""Run-time helpers the generated code calls: operators, coercions, errors.

Helpers that may force values are generators used with ``yield from`` (their
host nesting is bounded: deep structures are walked with explicit stacks).
``NAMESPACE`` holds the helpers generated code calls (``base_namespace``).
"""

from __future__ import annotations

import builtins
import math
import sys
import threading
import types
from collections.abc import Iterator, Mapping
from typing import Any

from .errors import AssertionFailed, EvalLimit, NixError
from .values import (
    INT_MAX,
    INT_MIN,
    Attrs,
    CtxStr,
    Lambda,
    NixPath,
    PrimOp,
    PrimOpApp,
    Thunk,
    context_of,
    show_type,
)
from .vm import CONTEXT, INLINE_DEPTH, call_error, force_in, prim_now  # noqa: F401 - for generated code (NAMESPACE)

# What generated code calls itself (``compiler.Compiler.c_Apply``): Nix
# functions, builtins and sets (``__functor``, ``vm.prim_now``).
CALLABLE_TYPES = (Lambda, PrimOp, PrimOpApp, Attrs)

GeneratorType = types.GeneratorType


class _Missing:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _show(v: Any) -> str:
    from .printer import show_value_for_error

    return show_value_for_error(v)


# ------------------------------------------------------------------ errors
def type_error(expected: str, v: Any, span: Any = None) -> NixError:
    """``expected a set but found an integer: 1``."""
    return NixError(f"expected {expected} but found {show_type(v)}: {_show(v)}", span)


def raise_expected(expected: str, v: Any, span: Any = None) -> None:
    raise type_error(expected, v, span)


def raise_select_type(v: Any, span: Any) -> None:
    raise type_error("a set", v, span)


def raise_missing_attr(key: str, attrs: Attrs, span: Any) -> None:
    msg = f"attribute '{key}' missing"
    hint = _did_you_mean(key, list(attrs))
    raise NixError(msg + (f"\n{hint}" if hint else ""), span)


def _did_you_mean(key: str, names: list[str]) -> str:
    import difflib

    close = sorted(difflib.get_close_matches(key, names, n=3, cutoff=0.6))
    if not close:
        return ""
    if len(close) == 1:
        return f"Did you mean {close[0]}?"
    return f"Did you mean one of {', '.join(close[:-1])} or {close[-1]}?"


def lambda_name(node: Any) -> str:
    return node.name if node.name else "anonymous lambda"


def raise_formals_type(a: Any, node: Any) -> None:
    err = type_error("a set", a)
    err.in_arg_binding = True
    raise err


def raise_unexpected_arg(a: Attrs, allowed: frozenset[str], node: Any) -> None:
    for k in sorted(a):
        if k not in allowed:
            names = sorted(allowed)
            hint = ""
            if names:
                close = sorted(names)
                hint = (
                    f"\nDid you mean one of {', '.join(close[:-1])} or {close[-1]}?"
                    if len(close) > 1
                    else f"\nDid you mean {close[0]}?"
                )
            err = NixError(
                f"function '{lambda_name(node)}' called with unexpected argument '{k}'{hint}",
                node.span,
            )
            err.in_arg_binding = True
            raise err


def missing_arg(name: str, node: Any) -> Any:
    err = NixError(
        f"function '{lambda_name(node)}' called without required argument '{name}'", node.span
    )
    err.in_arg_binding = True
    raise err


def overflow(what: str, a: int, op: str, b: int, span: Any) -> None:
    raise NixError(f"integer overflow in {what} {a} {op} {b}", span)


def assert_failed(c: Any, node: Any) -> None:
    from .astdump import dump

    if c is not False:
        raise type_error("a Boolean", c, node.cond.span)
    raise AssertionFailed(f"assertion '{dump(node.cond)}' failed", node.span)


def assert_eq_failed(a: Any, b: Any, node: Any) -> Any:
    """An ``assert a == b`` failed: explain the first difference, like Nix.

    The error has no position of its own (Nix prints none); its trace says
    which attributes and list elements led to the difference, under
    "while evaluating the condition of the assertion"."""
    from .astdump import dump

    cond = node.cond
    msg, path = yield from explain_difference(a, b, cond.op_span or cond.span)
    err = AssertionFailed(msg or "assertion failed", node.span)
    err.span_inferred = True
    for note in reversed(path):
        err.add_trace(*note)
    err.add_trace(f"while evaluating the condition of the assertion '{dump(cond)}'", node.span)
    raise err


def _article_kind(v: Any) -> str:
    cls = v.__class__
    if cls is int:
        return "an integer"
    if cls is float:
        return "a float"
    if cls is bool:
        return "a Boolean"
    if v is None:
        return "null"
    if cls is str or cls is CtxStr:
        return "a string"
    if cls is NixPath:
        return "a path"
    if cls is list:
        return "a list"
    if cls is Attrs:
        return "a set"
    return show_type(v)


def explain_difference(a: Any, b: Any, eq_span: Any = None) -> Any:
    """Generator: Nix 2.36's message for why ``a == b`` is false, and the path
    to the difference as trace notes ``(message, span)``, outermost first."""
    from .printer import show_value_for_error as sv

    stack: list[tuple[Any, Any, tuple[tuple[str, Any], ...]]] = [(a, b, ())]
    while stack:
        x, y, path = stack.pop()
        if x.__class__ is Thunk:
            x = x.v if x.c is None else (yield x)
        if y.__class__ is Thunk:
            y = yield y
        eq = yield from op_eq(x, y)
        if eq:
            continue
        xc, yc = x.__class__, y.__class__
        num = (int, float)
        if xc is bool and yc is bool:
            return f"boolean '{sv(x)}' is not equal to boolean '{sv(y)}'", path
        if xc in num and yc in num:
            return (
                f"{_article_kind(x)} with value '{sv(x)}' is not equal to "
                f"{_article_kind(y)} with value '{sv(y)}'"
            ), path
        if xc is not yc and not (_is_str(x) and _is_str(y)):
            return (
                f"{_article_kind(x)} of value '{sv(x)}' is not equal to "
                f"{_article_kind(y)} of value '{sv(y)}'"
            ), path
        if _is_str(x) and _is_str(y):
            return f"string '{sv(x)}' is not equal to string '{sv(y)}'", path
        if xc is NixPath:
            return f"path '{x.path}' is not equal to path '{y.path}'", path
        if xc is list:
            if len(x) != len(y):
                return (
                    f"list of size '{len(x)}' is not equal to list of size '{len(y)}', "
                    f"left hand side is '{sv(x)}', right hand side is '{sv(y)}'"
                ), path
            for i in range(len(x) - 1, -1, -1):
                stack.append((x[i], y[i], (*path, (f"while comparing list element {i}", eq_span))))
            continue
        if xc is Attrs:
            # Derivations compare by their output paths (as op_eq does).
            if "type" in x and "type" in y and "outPath" in x and "outPath" in y:
                tx, ty = x["type"], y["type"]
                if tx.__class__ is Thunk:
                    tx = tx.v if tx.c is None else (yield tx)
                if ty.__class__ is Thunk:
                    ty = yield ty
                if tx == "derivation" and ty == "derivation":
                    note = ("while comparing a derivation by its 'outPath' attribute", eq_span)
                    stack.append((x["outPath"], y["outPath"], (*path, note)))
                    continue
            if sorted(x) != sorted(y):
                return (
                    f"attribute names of attribute set '{sv(x)}' differs from "
                    f"attribute set '{sv(y)}'"
                ), path
            for k in sorted(x, reverse=True):
                notes = (
                    (f"while comparing attribute '{k}'", eq_span),
                    ("where left hand side is", x.pos.get(k) if x.pos else None),
                    ("where right hand side is", y.pos.get(k) if y.pos else None),
                )
                stack.append((x[k], y[k], (*path, *notes)))
            continue
        if xc in (Lambda, PrimOp, PrimOpApp):
            return (
                "distinct functions and immediate comparisons of identical functions compare as unequal",
                path,
            )
        return (
            f"{_article_kind(x)} of value '{sv(x)}' is not equal to {_article_kind(y)} of value '{sv(y)}'",
            path,
        )
    return None, ()


def _is_str(v: Any) -> bool:
    return v.__class__ is str or v.__class__ is CtxStr


# ------------------------------------------------------------- arithmetic
def _num_check(v: Any, other: Any, span: Any) -> None:
    """Nix's arithmetic primops force floats if either side is a float."""
    c = v.__class__
    if c is not int and c is not float:
        want = "a float" if other.__class__ is float else "an integer"
        raise type_error(want, v, span)


def op_sub(a: Any, b: Any, span: Any) -> Any:
    ac, bc = a.__class__, b.__class__
    if ac is int and bc is int:
        r = a - b
        if not INT_MIN <= r <= INT_MAX:
            overflow("subtracting", a, "-", b, span)
        return r
    _num_check(a, b, span)
    _num_check(b, a, span)
    return float(a) - float(b)


def op_mul(a: Any, b: Any, span: Any) -> Any:
    ac, bc = a.__class__, b.__class__
    if ac is int and bc is int:
        r = a * b
        if not INT_MIN <= r <= INT_MAX:
            overflow("multiplying", a, "*", b, span)
        return r
    _num_check(a, b, span)
    _num_check(b, a, span)
    return float(a) * float(b)


def op_div(a: Any, b: Any, span: Any) -> Any:
    # Nix checks the divisor first, as a float, then the dividend.
    if b.__class__ is not int and b.__class__ is not float:
        raise type_error("a float", b, span)
    if b == 0:
        raise NixError("division by zero", span)
    if a.__class__ is not int and a.__class__ is not float:
        raise type_error("a float" if b.__class__ is float else "an integer", a, span)
    if a.__class__ is int and b.__class__ is int:
        if a == INT_MIN and b == -1:
            overflow("dividing", a, "/", b, span)
        q = abs(a) // abs(b)
        return q if (a >= 0) == (b >= 0) else -q
    return float(a) / float(b)


# ------------------------------------------------------------- value sizes
# The value-size budget of the evaluation running on this thread (set by
# ``Evaluator.run``).  Operations that can grow a value geometrically (string
# ``+`` and interpolation, ``++``, ``concatLists``, ``concatMap``,
# ``replaceStrings``, ``concatStringsSep``) call ``check_len`` only once the
# result passes ``SIZE_CHECK_FROM``, so small values pay one comparison.
SIZE_LIMIT = threading.local()
SIZE_CHECK_FROM = 1 << 16


def check_len(n: int, what: str) -> None:
    """Refuse a string of ``n`` bytes / a list of ``n`` elements over the budget."""
    limit = getattr(SIZE_LIMIT, "max_values", None)
    if limit is not None and n > limit:
        raise EvalLimit(
            f"evaluation limit: a {what} of {n} {'characters' if what == 'string' else 'elements'}"
            f" is larger than allowed ({limit})",
            "size",
        )


def op_add(a: Any, b: Any, span: Any) -> Any:
    """Generator: ``a + b`` for everything but int + int."""
    ac, bc = a.__class__, b.__class__
    if (ac is int or ac is float) and (bc is int or bc is float):
        return float(a) + float(b)
    if ac is int or ac is float:
        raise NixError(f"cannot add {show_type(b)} to {show_type(a)}", span)
    if ac is NixPath:
        if bc is NixPath:
            s = b.path
        else:
            s = yield from coerce_to_string(b, span, copy_to_store=False)
            if context_of(s):
                raise NixError(
                    "a string that refers to a store path cannot be appended to a path", span
                )
        return NixPath(canon_path(a.path + s))
    sa = yield from coerce_to_string(a, span)
    sb = yield from coerce_to_string(b, span)
    return cat_strings((sa, sb))


def op_concat(a: Any, b: Any, span: Any) -> list[Any]:
    if a.__class__ is not list:
        raise type_error("a list", a, span)
    if b.__class__ is not list:
        raise type_error("a list", b, span)
    if not a:
        return b
    if not b:
        return a
    r = a + b
    if len(r) > SIZE_CHECK_FROM:
        check_len(len(r), "list")
    return r


def op_update(a: Any, b: Any, span: Any) -> Attrs:
    if a.__class__ is not Attrs:
        raise type_error("a set", a, span)
    if b.__class__ is not Attrs:
        raise type_error("a set", b, span)
    if not b:
        return a
    if not a:
        return b
    r = Attrs(a)
    r.update(b)
    if a.pos is None or b.pos is None:
        r.pos = b.pos if a.pos is None else a.pos
    else:
        r.pos = UpdatePositions(a.pos, b.pos)
    return r


class UpdatePositions(Mapping[str, Any]):
    """The attribute positions of ``a // b``, ``b``'s over ``a``'s, without
    copying either: every update of a package set or a derivation copied
    its positions (a dict each, 6 MB of a 3,000-package set).  Chains deeper
    than ``MAX_DEPTH`` are flattened, so a lookup stays cheap."""

    __slots__ = ("under", "over", "depth")
    MAX_DEPTH = 8

    def __init__(self, under: Mapping[str, Any], over: Mapping[str, Any]) -> None:
        depth = max(getattr(under, "depth", 0), getattr(over, "depth", 0)) + 1
        if depth > self.MAX_DEPTH:
            under, over, depth = {**under, **over}, {}, 1
        self.under = under
        self.over = over
        self.depth = depth

    def __getitem__(self, key: str) -> Any:
        if key in self.over:
            return self.over[key]
        return self.under[key]

    def __contains__(self, key: object) -> bool:
        return key in self.over or key in self.under

    def __iter__(self) -> Iterator[str]:
        yield from self.over
        for key in self.under:
            if key not in self.over:
                yield key

    def __len__(self) -> int:
        return len(self.over) + sum(1 for key in self.under if key not in self.over)

    def __bool__(self) -> bool:
        # Not ``__len__``'s count: ``if s.pos and name in s.pos`` is common.
        return bool(self.over) or bool(self.under)


# ------------------------------------------------------------- comparison
# Types whose values generated code compares with Python's ``==`` when both
# sides are of one of them (``compiler.Compiler.c_BinOp``).  Not ``CtxStr``:
# a context string compared with a plain one goes through ``op_eq``.
SIMPLE_EQ = frozenset((int, str, bool, type(None)))


def op_eq(a: Any, b: Any, top: bool = True, d: int = INLINE_DEPTH, calls: int = 0) -> Any:
    """Generator: Nix equality (deep, forcing as needed, iterative).

    Like Nix, two references to one value are equal (even functions), except
    at the top of ``==`` (``top``), whose operands are always fresh values.
    Generated code (``compiler.Compiler.c_BinOp``) passes its depth ``d``
    and ``INLINE_CALLS`` (``calls``): the thunks compared are then forced
    here as generated code forces them (``vm.force_in``); other callers
    leave each force to the driver (``d = INLINE_DEPTH``).  The work list
    keeps the host stack bounded however deep the values nest.
    """
    stack: list[tuple[Any, Any, bool]] = [(a, b, top)]
    inline = d < INLINE_DEPTH
    while stack:
        x, y, top = stack.pop()
        if not top and x is y:
            continue
        if x.__class__ is Thunk:
            if x.c is None:
                x = x.v
            elif inline:
                x = yield from force_in(x, d, calls)
            else:
                x = yield x
        if y.__class__ is Thunk:
            if y.c is None:
                y = y.v
            elif inline:
                y = yield from force_in(y, d, calls)
            else:
                y = yield y
        xc, yc = x.__class__, y.__class__
        if xc is int or xc is float:
            if (yc is int or yc is float) and x == y:
                continue
            return False
        if xc is str or xc is CtxStr:
            if (yc is str or yc is CtxStr) and str.__eq__(x, y):
                continue
            return False
        if xc is bool or x is None:
            if x is y:
                continue
            return False
        if xc is NixPath:
            if yc is NixPath and x.path == y.path:
                continue
            return False
        if xc is list:
            if yc is not list or len(x) != len(y):
                return False
            for i in range(len(x) - 1, -1, -1):
                stack.append((x[i], y[i], False))
            continue
        if xc is Attrs:
            if yc is not Attrs:
                return False
            if x is y:
                continue
            # Derivations compare by their output path only.
            if "type" in x and "type" in y:
                tx = x["type"]
                if tx.__class__ is Thunk:
                    if tx.c is None:
                        tx = tx.v
                    elif inline:
                        tx = yield from force_in(tx, d, calls)
                    else:
                        tx = yield tx
                ty = y["type"]
                if ty.__class__ is Thunk:
                    if ty.c is None:
                        ty = ty.v
                    elif inline:
                        ty = yield from force_in(ty, d, calls)
                    else:
                        ty = yield ty
                if tx == "derivation" and ty == "derivation" and "outPath" in x and "outPath" in y:
                    stack.append((x["outPath"], y["outPath"], False))
                    continue
            if len(x) != len(y):
                return False
            keys = sorted(x)
            for k in keys:
                if k not in y:
                    return False
            for k in reversed(keys):
                stack.append((x[k], y[k], False))
            continue
        return False
    return True


def op_lt(a: Any, b: Any, span: Any) -> Any:
    """Generator: ``a < b`` (numbers, strings, paths, lists)."""
    ac, bc = a.__class__, b.__class__
    if (ac is int or ac is float) and (bc is int or bc is float):
        return a < b
    if (ac is str or ac is CtxStr) and (bc is str or bc is CtxStr):
        return str.__lt__(a, b)
    if ac is NixPath and bc is NixPath:
        return a.path < b.path
    if ac is list and bc is list:
        i = 0
        while True:
            if i == len(a):
                return i != len(b)
            if i == len(b):
                return False
            x = a[i]
            y = b[i]
            if x.__class__ is Thunk:
                x = x.v if x.c is None else (yield x)
            if y.__class__ is Thunk:
                y = yield y
            same = yield from op_eq(x, y)
            if not same:
                return (yield from op_lt(x, y, span))
            i += 1
    if ac is bc or ({ac, bc} <= {str, CtxStr}):
        raise NixError(
            f"cannot compare {show_type(a)} with {show_type(b)}; values of that type are "
            f"incomparable (values are {_show(a)} and {_show(b)})",
            span,
        )
    raise NixError(
        f"cannot compare {show_type(a)} with {show_type(b)}; values are {_show(a)} and {_show(b)}",
        span,
    )


# ------------------------------------------------------------ attributes
def has_attr_path(v: Any, keys: tuple[str, ...]) -> Any:
    """Generator: ``v ? a.b.c`` (the value of the last name is not forced)."""
    last = len(keys) - 1
    for i, k in enumerate(keys):
        if v.__class__ is not Attrs:
            return False
        if k not in v:
            return False
        if i == last:
            break
        v = v[k]
        if v.__class__ is Thunk:
            v = v.v if v.c is None else (yield v)
    return True


def select_or(v: Any, keys: tuple[str, ...], d: int = INLINE_DEPTH, calls: int = 0) -> Any:
    """Generator: ``v.a.b`` or MISSING when any step fails (for ``or``), for
    generated code running ``d`` calls deep (``force_in``)."""
    for k in keys:
        if v.__class__ is not Attrs:
            return MISSING
        v = v.get(k, MISSING)
        if v is MISSING:
            return MISSING
        if v.__class__ is Thunk:
            if v.c is None:
                v = v.v
            elif d < INLINE_DEPTH:
                v = yield from force_in(v, d, calls)
            else:
                v = yield v
    return v


def attr_name(v: Any, span: Any) -> Any:
    """Generator: a dynamic attribute name used in a selection (or ``?``)."""
    if v.__class__ is str or v.__class__ is CtxStr:
        return str(v)
    err = type_error("a string", v, span)
    err.add_trace("while evaluating an attribute name", span)
    raise err
    yield  # pragma: no cover


def dyn_attr_name(v: Any, span: Any) -> Any:
    """Generator: a dynamic attribute name in a set literal (null skips it)."""
    if v is None:
        return None
    if v.__class__ is str or v.__class__ is CtxStr:
        return str(v)
    raise type_error("a string", v, span)
    yield  # pragma: no cover


def add_dynamic(attrs: Attrs, key: str, value: Any, span: Any) -> None:
    if key in attrs:
        where = ""
        if attrs.pos and key in attrs.pos:
            where = f" at {attrs.pos[key]}"
        raise NixError(f"dynamic attribute '{key}' already defined{where}", span)
    attrs[key] = value
    if attrs.pos is None:
        attrs.pos = {}
    else:
        attrs.pos = dict(attrs.pos)
    attrs.pos[key] = span


def inherit_from(env: tuple[Any, str, Any]) -> Any:
    """Thunk code for ``inherit (src) name``."""
    src, name, span = env
    if src.__class__ is Thunk:
        src = src.v if src.c is None else (yield src)
    if src.__class__ is not Attrs:
        raise type_error("a set", src, span)
    v = src.get(name, MISSING)
    if v is MISSING:
        raise_missing_attr(name, src, span)
    if v.__class__ is Thunk and v.c is not None:
        try:
            v = yield v
        except NixError:  # ``inherit (src) name`` is Nix's select ``src.name``
            select_trace(src, (name,))
            raise
    elif v.__class__ is Thunk:
        v = v.v
    return v


# The source of ``derivation`` (``builtins.derivations``): Nix does not
# trace selects made there.
DERIVATION_SOURCE_NAME = "«nix-internal»/derivation-internal.nix"


def select_trace(
    v: Any, keys: tuple[Any, ...], shows: tuple[str | None, ...] | None = None
) -> None:
    """Trace the error being handled leaving the select ``v.k1.k2…`` (``v``
    forced) as Nix's ``ExprSelect::eval`` does: "while evaluating the
    attribute 'k1.k2'" (the path as written) at the definition of the last
    attribute found on the way, if it has a position (not one in
    derivation-internal.nix).  Generated code calls it from an ``except``
    around finding the attributes, forcing them and any ``or`` default.

    ``keys`` are the names, a dynamic one None when not computed; ``shows``
    (dynamic names only) what stands in for such a name, ``"${expr}"``."""
    err = sys.exception()
    pos = None
    for k in keys:
        if v.__class__ is Thunk:
            if v.c is not None:  # not forced, or failed: the search ends here
                break
            v = v.v
        if k is None or v.__class__ is not Attrs:
            break
        x = v.get(k, MISSING)
        if x is MISSING:
            break
        pos = v.pos.get(k) if v.pos else None
        v = x
    if pos is None or not isinstance(err, NixError):
        return
    if pos.source.name == DERIVATION_SOURCE_NAME:
        return
    if shows is None:
        path = ".".join(keys)
    else:
        path = ".".join(str(k if k is not None else s) for k, s in zip(keys, shows, strict=True))
    err.add_trace(f"while evaluating the attribute '{path}'", pos)


# Values whose identity equality can observe (``select_now``).
_FRESH = (Lambda, PrimOp, PrimOpApp, float)


def select_now(v: Any, keys: tuple[str, ...], code: Any, env: Any) -> Any:
    """The lazy value of ``v.k1.k2…`` (no default): the attribute itself when
    finding it takes no evaluation (``v`` and every set on the way already
    forced, every name present), else a thunk of ``code`` that selects it.
    Saves a thunk, and a frame of the driver to force it, for the many
    arguments such as ``lib.types.str`` whose set is already a value."""
    for k in keys:
        if v.__class__ is Thunk:
            if v.c is not None:
                return Thunk(code, env)
            v = v.v
        if v.__class__ is not Attrs:
            return Thunk(code, env)
        v = v.get(k, MISSING)
        if v is MISSING:
            return Thunk(code, env)
    # Nix makes a new value for a select: a list or set holding it is equal
    # to another only by comparing values, and functions (and NaN) are never
    # equal as values, so ``[ s.f ] == [ s.f ]`` is false.  An attribute not
    # forced yet may turn out to be a function: select it in a thunk of its own.
    if v.__class__ is Thunk:
        if v.c is not None:
            return Thunk(code, env)
        v = v.v
    if v.__class__ in _FRESH:
        return Thunk.done(v)
    return v


def _known(v: Any) -> Any:
    # The value of ``v`` if it needs no evaluation, else MISSING.
    if v.__class__ is Thunk:
        return v.v if v.c is None else MISSING
    return v


def add_now(a: Any, b: Any, code: Any, env: Any) -> Any:
    """The lazy value of ``a + b``: the sum when both are known integers (in
    range) or plain strings, else a thunk of ``code`` computing it.  An
    argument such as ``n - 1`` or ``s + "x"`` then needs no thunk."""
    a = _known(a)
    b = _known(b)
    ca = a.__class__
    if ca is b.__class__:
        if ca is int:
            r = a + b
            if INT_MIN <= r <= INT_MAX:
                return r
        elif ca is str and len(a) + len(b) <= SIZE_CHECK_FROM:
            # Small only: a large string is built when needed (and checked
            # against the size budget by ``op_add``).
            return a + b
    return Thunk(code, env)


def sub_now(a: Any, b: Any, code: Any, env: Any) -> Any:
    """``add_now`` for ``a - b`` (integers)."""
    a = _known(a)
    b = _known(b)
    if a.__class__ is int and b.__class__ is int:
        r = a - b
        if INT_MIN <= r <= INT_MAX:
            return r
    return Thunk(code, env)


def inherit_now(src: Any, name: str, span: Any) -> Any:
    """The lazy value of ``inherit (src) name``: the attribute itself when
    ``src`` is a set already forced that has it, else a thunk selecting it."""
    s = src.v if src.__class__ is Thunk and src.c is None else src
    if s.__class__ is Attrs:
        v = s.get(name, MISSING)
        if v is not MISSING:
            return v
    return Thunk(inherit_from, (src, name, span))


def apply_overrides(attrs: Attrs, env: list[Any], slot_of: dict[str, int]) -> Any:
    """Generator: apply a rec set's legacy ``__overrides`` attribute."""
    ov = attrs["__overrides"]
    if ov.__class__ is Thunk:
        ov = ov.v if ov.c is None else (yield ov)
    if ov.__class__ is not Attrs:
        raise type_error("a set", ov)
    for k, v in ov.items():
        attrs[k] = v
        slot = slot_of.get(k)
        if slot is not None:
            env[slot] = v


def with_lookup(name: str, envs: tuple[Any, ...], fallback: Any, span: Any) -> Any:
    """Generator: look ``name`` up in the ``with`` scopes, innermost first."""
    for e in envs:
        if e.__class__ is Thunk:
            e = e.v if e.c is None else (yield e)
        if e.__class__ is not Attrs:
            raise type_error("a set", e, span)
        v = e.get(name, MISSING)
        if v is not MISSING:
            if v.__class__ is Thunk:
                v = v.v if v.c is None else (yield v)
            return v
    if fallback is not MISSING:
        return fallback
    raise NixError(f"undefined variable '{name}'", span)


# --------------------------------------------------------------- strings
def cat_strings(parts: tuple[Any, ...]) -> Any:
    """Concatenate coerced strings, merging their contexts."""
    ctx: frozenset[str] | None = None
    for p in parts:
        if p.__class__ is CtxStr:
            ctx = p.ctx if ctx is None else ctx | p.ctx
    s = "".join(parts)
    if len(s) > SIZE_CHECK_FROM:
        check_len(len(s), "string")
    if ctx:
        return CtxStr(s, ctx)
    return s


def coerce_interp(v: Any, where: tuple[Any, Any]) -> Any:
    """Generator: coerce an interpolated value to a string; ``where`` is the
    (value's span, ``${…}``'s span)."""
    span, segment = where
    return (yield from coerce_to_string(v, span, ctx=("while evaluating a path segment", segment)))


def format_float(f: float) -> str:
    """``toString`` of a float: C's ``%f``."""
    if math.isinf(f):
        return "inf" if f > 0 else "-inf"
    if math.isnan(f):
        return "nan" if math.copysign(1, f) > 0 else "-nan"
    return f"{f:f}"


def coerce_to_string(
    v: Any,
    span: Any = None,
    *,
    coerce_more: bool = False,
    copy_to_store: bool = True,
    what: str = "",
    ctx: tuple[str, Any] | None = None,
) -> Any:
    """Generator: Nix's ``coerceToString``; iterative over nested lists.

    ``ctx`` is Nix's error context: ``(message, span)`` added to the trace
    of an error the coercion raises (not of one raised forcing ``v``), which
    then has no position of its own in Nix's output."""
    if v.__class__ is Thunk:
        v = v.v if v.c is None else (yield v)
    cls = v.__class__
    if cls is str or cls is CtxStr:
        return v
    if ctx is None:
        return (yield from _coerce(v, span, coerce_more, copy_to_store))
    try:
        return (yield from _coerce(v, span, coerce_more, copy_to_store))
    except NixError as err:
        trace = err.trace
        if not trace and err.msg.startswith("cannot coerce"):
            err.span_inferred = True
        if trace and trace[-1][0] == _TO_STRING_NOTE:
            # Nix traces the failed coercion of ``__toString``'s result
            # inside this context, not around it.
            trace.insert(len(trace) - 1, ctx)
        else:
            err.add_trace(*ctx)
        raise


_TO_STRING_NOTE = "while using the result of the `__toString` attribute"


def _coerce(v: Any, span: Any, coerce_more: bool, copy_to_store: bool) -> Any:
    cls = v.__class__
    if cls is NixPath:
        if copy_to_store:
            ctx = yield CONTEXT
            return ctx.copy_path_to_store(v.path, span)
        return v.path
    if cls is Attrs:
        if "__toString" in v:
            fn = v["__toString"]
            if fn.__class__ is Thunk:
                fn = fn.v if fn.c is None else (yield fn)
            r = yield (fn, v, span)
            if r.__class__ is not str and r.__class__ is not CtxStr:
                note = (_TO_STRING_NOTE, v.pos.get("__toString") if v.pos else None)
                return (
                    yield from coerce_to_string(
                        r, span, coerce_more=coerce_more, copy_to_store=copy_to_store, ctx=note
                    )
                )
            return r
        if "outPath" in v:
            return (
                yield from coerce_to_string(
                    v["outPath"], span, coerce_more=coerce_more, copy_to_store=copy_to_store
                )
            )
    if coerce_more:
        if cls is int:
            return str(v)
        if cls is float:
            return format_float(v)
        if v is True:
            return "1"
        if v is False or v is None:
            return ""
        if cls is list:
            out: list[Any] = []
            for i, item in enumerate(v):
                s = yield from coerce_to_string(
                    item, span, coerce_more=True, copy_to_store=copy_to_store
                )
                if i > 0:
                    # Nix separates elements with a space, except after an
                    # empty nested list.
                    prev = v[i - 1]
                    if prev.__class__ is Thunk:
                        prev = prev.v
                    if not (prev.__class__ is list and not prev):
                        out.append(" ")
                out.append(s)
            return cat_strings(tuple(out))
    raise NixError(f"cannot coerce {show_type(v)} to a string: {_show(v)}", span)


# ----------------------------------------------------------------- paths
def canon_path(p: str) -> str:
    """Nix's ``canonPath``: absolute, no ``.``/``..``/``//``, no trailing /."""
    parts: list[str] = []
    for seg in p.split("/"):
        if seg == "" or seg == ".":
            continue
        if seg == "..":
            if parts:
                parts.pop()
            continue
        parts.append(seg)
    return "/" + "/".join(parts)


def coerce_path_part(v: Any, span: Any) -> Any:
    """Generator: an interpolated piece of a path literal."""
    if v.__class__ is NixPath:
        return v.path
    s = yield from coerce_to_string(v, span, copy_to_store=False)
    return s


def make_path(parts: tuple[str, ...], span: Any) -> NixPath:
    s = "".join(parts)
    if context_of(s) if isinstance(s, CtxStr) else False:
        pass
    if not s.startswith("/"):
        raise NixError(f"string '{s}' doesn't represent an absolute path", span)
    return NixPath(canon_path(s))


# ------------------------------------------------------------------ hover
class DependsOnArgument(NixError):
    """Hover: the value needs an argument no evaluation has supplied."""

    code = "depends_on_argument"

    def __init__(self, name: str) -> None:
        super().__init__(f"depends on the function argument '{name}'")
        self.name = name


def _unknown_code(env: Any) -> Any:
    raise DependsOnArgument(env)
    yield  # pragma: no cover


def unknown_arg(name: str) -> Thunk:
    """A thunk standing for an argument whose value is not known."""
    return Thunk(_unknown_code, name)


def arg_or(observed: Any, name: str | None, default: Any) -> Any:
    """An observed argument value (``name`` None: the whole argument)."""
    if observed is None:
        return default
    if observed.__class__ is Thunk and observed.c is None:
        observed = observed.v
    if name is None:
        return observed
    if observed.__class__ is Attrs and name in observed:
        return observed[name]
    return default


# -------------------------------------------------------------- namespace
def global_ref(name: str) -> str:
    """The generated-code name of a global (builtin) value."""
    return "G_" + name


# The names generated code uses besides its own (``base_namespace``).
_GENERATED_CODE_USES = (
    "Thunk",
    "Attrs",
    "Lambda",
    "NixPath",
    "MISSING",
    "raise_expected",
    "raise_select_type",
    "raise_missing_attr",
    "raise_formals_type",
    "raise_unexpected_arg",
    "missing_arg",
    "overflow",
    "assert_failed",
    "assert_eq_failed",
    "op_add",
    "op_sub",
    "op_mul",
    "op_div",
    "op_concat",
    "op_update",
    "op_eq",
    "op_lt",
    "has_attr_path",
    "select_or",
    "select_now",
    "add_now",
    "sub_now",
    "attr_name",
    "dyn_attr_name",
    "add_dynamic",
    "inherit_from",
    "inherit_now",
    "apply_overrides",
    "with_lookup",
    "cat_strings",
    "coerce_interp",
    "coerce_path_part",
    "make_path",
    "unknown_arg",
    "arg_or",
    "NixError",
    "GeneratorType",
    "call_error",
    "force_in",
    "prim_now",
    "CALLABLE_TYPES",
    "select_trace",
    "PrimOp",
    "PrimOpApp",
    "SIMPLE_EQ",
)
NAMESPACE: dict[str, Any] = {name: globals()[name] for name in _GENERATED_CODE_USES}
# Set per evaluation by ``eval.Evaluator.run`` (``vm.Machine.inline_calls``).
NAMESPACE["INLINE_CALLS"] = 0


def base_namespace(globals_: dict[str, Any]) -> dict[str, Any]:
    """The names every program of one evaluation shares: Python's builtins,
    ``NAMESPACE`` and the global Nix names (``global_ref``).  Installed as
    the ``__builtins__`` of each program's own namespace, which then holds
    only the program's functions and constants: one dictionary for all the
    files of an evaluation, not a copy of it each."""
    base: dict[str, Any] = dict(builtins.__dict__)
    base.update(NAMESPACE)
    for name, value in globals_.items():
        base[global_ref(name)] = value
    return base
