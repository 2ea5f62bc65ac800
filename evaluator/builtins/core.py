"""Core builtins the language itself needs: control, types, lists, sets,
arithmetic, strings basics, import and tracing."""

from __future__ import annotations

import math
import os
from typing import Any

from ..diagnostics import Diagnostic, Severity
from ..errors import AbortError, EvalLimit, NixError, ThrowError
from ..printer import show_value
from ..runtime import (
    MISSING,
    SIZE_CHECK_FROM,
    SIZE_LIMIT,
    _num_check,
    cat_strings,
    check_len,
    coerce_to_string,
    op_div,
    op_eq,
    op_lt,
    op_mul,
    op_sub,
    type_error,
)
from ..values import (
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
    type_name,
)
from ..vm import (
    CALL_SPAN,
    CONTEXT,
    INLINE_DEPTH,
    Emit,
    TryForce,
    call_in,
    force,
    force_at,
    force_in,
    own_frame,
)
from ..vm import apply2_code as _apply2_code
from ..vm import apply_code as _apply_code
from .registry import builtin, constant


def _typed_forcer(cls: type, what: str) -> Any:
    """A generator function forcing a value that must be of class ``cls``
    (``what`` names it in the type error), ``d`` calls deep as
    ``vm.force_at``.  Made per type rather than one shared generator taking
    the class: the forcing helpers are called on the hottest paths, and a
    shared one would be another generator frame per force."""

    def force(v: Any, d: int = INLINE_DEPTH) -> Any:
        if v.__class__ is Thunk:
            if v.c is None:
                v = v.v
            elif d < INLINE_DEPTH:
                v = yield from force_in(v, d, INLINE_DEPTH)
            else:
                v = yield v
        if v.__class__ is not cls:
            raise type_error(what, v)
        return v

    force.__doc__ = f"Generator: a value that must be {what} (forced ``d`` calls deep)."
    return force


force_list = _typed_forcer(list, "a list")
force_attrs = _typed_forcer(Attrs, "a set")
force_int = _typed_forcer(int, "an integer")
force_bool = _typed_forcer(bool, "a Boolean")


def force_fn(v: Any, d: int = INLINE_DEPTH) -> Any:
    """Generator: a value that must be a function (forced ``d`` calls deep,
    as ``vm.force_at``)."""
    if v.__class__ is Thunk:
        if v.c is None:
            v = v.v
        elif d < INLINE_DEPTH:
            v = yield from force_in(v, d, INLINE_DEPTH)
        else:
            v = yield v
    if not (
        v.__class__ in (Lambda, PrimOp, PrimOpApp) or (v.__class__ is Attrs and "__functor" in v)
    ):
        raise type_error("a function", v)
    return v


def force_string(v: Any, d: int = INLINE_DEPTH) -> Any:
    """Generator: a value that must be a string, no coercion (forced ``d``
    calls deep, as ``vm.force_at``)."""
    if v.__class__ is Thunk:
        if v.c is None:
            v = v.v
        elif d < INLINE_DEPTH:
            v = yield from force_in(v, d, INLINE_DEPTH)
        else:
            v = yield v
    if v.__class__ is not str and v.__class__ is not CtxStr:
        raise type_error("a string", v)
    return v


def forcing_frame(d: int, xs: list[Any]) -> bool:
    """Whether a builtin called ``d`` deep runs its loop forcing the elements
    of ``xs`` as a frame of its own (``vm.own_frame``): only when more than
    one of them is still to be forced (a loop over values costs no calls)."""
    if not 0 < d < INLINE_DEPTH:
        return False
    pending = 0
    for x in xs:
        if x.__class__ is Thunk and x.c is not None:
            pending += 1
            if pending > 1:
                return True
    return False


def check_size(n: int) -> None:
    """Refuse a value of ``n`` elements over the evaluation's budget
    (``eval.Evaluator.check_size``, whose limit ``Evaluator.run`` publishes
    in ``runtime.SIZE_LIMIT``: no ``CONTEXT`` round trip to the driver)."""
    limit = getattr(SIZE_LIMIT, "max_values", None)
    if limit is not None and n > limit:
        raise EvalLimit(
            f"evaluation limit: a value of {n} elements is larger than allowed ({limit})",
            "size",
        )


def null_bytes_error(s: str) -> NixError:
    """Nix's error for a decoded string holding a null byte."""
    shown = s.replace("\x00", "\u2400")
    return NixError(
        f"input string '{shown}' cannot be represented as Nix string because it contains null bytes"
    )


# ------------------------------------------------------------------ control


@builtin("throw")
def _throw(msg: Any, d: int, span: Any) -> Any:
    msg = yield from force_at(msg, d)
    s = yield from coerce_to_string(msg, coerce_more=True)
    raise ThrowError(str(s))


@builtin("abort")
def _abort(msg: Any, d: int, span: Any) -> Any:
    msg = yield from force_at(msg, d)
    s = yield from coerce_to_string(msg, coerce_more=True)
    raise AbortError(f"evaluation aborted with the following error message: '{s}'")


@builtin("seq")
def _seq(a: Any, b: Any, d: int, span: Any) -> Any:
    yield from force_at(a, d)
    return (yield from force_at(b, d))


def deep_force(v: Any, d: int = INLINE_DEPTH) -> Any:
    """Generator: force ``v`` completely, iteratively (any depth).  As Nix's
    ``forceValueDeep``, an error is traced "while evaluating the attribute
    'NAME'" for each attribute on the way down to it (at its position, if
    it has one); list elements add nothing.  Each thunk is forced ``d`` calls deep (as
    ``vm.force_at``)."""
    if v.__class__ is Thunk:
        v = (yield from force_at(v, d)) if v.c is not None else v.v
    seen: set[int] = set()
    # One entry per set or list being walked: its iterator, and for a set
    # the set and the name being walked (for the trace).
    walks: list[list[Any]] = []
    x = v
    while True:
        cls = x.__class__
        if (cls is Attrs or cls is list) and id(x) not in seen:
            seen.add(id(x))
            if cls is Attrs:
                walks.append([iter(sorted(x)), x, None])
            else:
                walks.append([iter(x), None, None])
        while walks:
            walk = walks[-1]
            item = next(walk[0], MISSING)
            if item is MISSING:
                walks.pop()
                continue
            owner = walk[1]
            if owner is None:
                x = item
            else:
                walk[2] = item
                x = owner[item]
            break
        else:
            return None
        if x.__class__ is Thunk:
            if x.c is None:
                x = x.v
            else:
                try:
                    x = (yield from force_in(x, d, INLINE_DEPTH)) if d < INLINE_DEPTH else (yield x)
                except NixError as err:
                    _deep_trace(err, walks)
                    raise


def _deep_trace(err: NixError, walks: list[list[Any]]) -> None:
    """Trace ``err`` through the attributes ``deep_force`` is in, innermost first."""
    for owner_walk in reversed(walks):
        owner, name = owner_walk[1], owner_walk[2]
        if owner is not None:
            pos = owner.pos.get(name) if owner.pos else None
            err.add_trace(f"while evaluating the attribute '{name}'", pos)


@builtin("deepSeq")
def _deep_seq(a: Any, b: Any, d: int, span: Any) -> Any:
    yield from deep_force(a, d)
    return (yield from force_at(b, d))


@builtin("tryEval")
def _try_eval(e: Any) -> Any:
    ok, r = yield TryForce(e)
    if ok:
        return Attrs({"success": True, "value": r})
    return Attrs({"success": False, "value": False})


@builtin("trace")
def _trace(msg: Any, v: Any) -> Any:
    m = yield from force(msg)
    if m.__class__ is str or m.__class__ is CtxStr:
        text = str(m)
    else:
        yield from deep_force(m)
        text = show_value(m)
    span = yield CALL_SPAN
    yield Emit(Diagnostic("trace", Severity.INFO, text, span))
    return (yield from force(v))


@builtin("warn")
def _warn(msg: Any, v: Any) -> Any:
    m = yield from force(msg)
    if m.__class__ is not str and m.__class__ is not CtxStr:
        raise type_error("a string", m)
    span = yield CALL_SPAN
    yield Emit(Diagnostic("warn", Severity.WARNING, str(m), span))
    ev = yield CONTEXT
    if ev.abort_on_warn:
        # Nix's setting: not catchable by tryEval, the trace shows the caller.
        raise NixError("aborting to reveal stack trace of warning, as abort-on-warn is set")
    return (yield from force(v))


# -------------------------------------------------------------------- types
def _pred(name: str, test: Any) -> None:
    def fn(v: Any, d: int, span: Any) -> Any:
        v = yield from force_at(v, d)
        return test(v)

    builtin(name)(fn)


_pred("isAttrs", lambda v: v.__class__ is Attrs)
_pred("isList", lambda v: v.__class__ is list)
_pred("isFunction", lambda v: v.__class__ in (Lambda, PrimOp, PrimOpApp))
_pred("isString", lambda v: v.__class__ is str or v.__class__ is CtxStr)
_pred("isInt", lambda v: v.__class__ is int)
_pred("isFloat", lambda v: v.__class__ is float)
_pred("isBool", lambda v: v.__class__ is bool)
_pred("isNull", lambda v: v is None)
_pred("isPath", lambda v: v.__class__ is NixPath)


@builtin("typeOf")
def _type_of(v: Any, d: int, span: Any) -> Any:
    v = yield from force_at(v, d)
    return type_name(v)


# --------------------------------------------------------------- arithmetic
def _num(v: Any) -> Any:
    if v.__class__ is Thunk:
        v = v.v if v.c is None else (yield v)
    if v.__class__ is not int and v.__class__ is not float:
        raise type_error("an integer", v)
    return v


@builtin("add")
def _add(a: Any, b: Any, d: int, span: Any) -> Any:
    a = yield from force_at(a, d)
    b = yield from force_at(b, d)
    if a.__class__ is int and b.__class__ is int:
        r = a + b
        if not INT_MIN <= r <= INT_MAX:
            raise NixError(f"integer overflow in adding {a} + {b}")
        return r
    _num_check(a, b, None)
    _num_check(b, a, None)
    return float(a) + float(b)


@builtin("sub")
def _sub(a: Any, b: Any, d: int, span: Any) -> Any:
    a = yield from force_at(a, d)
    b = yield from force_at(b, d)
    return op_sub(a, b, None)


@builtin("mul")
def _mul(a: Any, b: Any, d: int, span: Any) -> Any:
    a = yield from force_at(a, d)
    b = yield from force_at(b, d)
    return op_mul(a, b, None)


@builtin("div")
def _div(a: Any, b: Any, d: int, span: Any) -> Any:
    a = yield from force_at(a, d)
    b = yield from force_at(b, d)
    return op_div(a, b, None)


@builtin("lessThan")
def _less_than(a: Any, b: Any, d: int, span: Any) -> Any:
    a = yield from force_at(a, d)
    b = yield from force_at(b, d)
    return (yield from op_lt(a, b, None))


def _bitop(name: str, op: Any) -> None:
    def fn(a: Any, b: Any, d: int, span: Any) -> Any:
        a = yield from force_int(a, d)
        b = yield from force_int(b, d)
        return op(a, b)

    builtin(name)(fn)


_bitop("bitAnd", lambda a, b: a & b)
_bitop("bitOr", lambda a, b: a | b)
_bitop("bitXor", lambda a, b: a ^ b)


def _round(name: str, f: Any) -> None:
    def fn(v: Any, d: int, span: Any) -> Any:
        v = yield from force_at(v, d)
        if v.__class__ is int:
            return v
        if v.__class__ is not float:
            raise type_error("a float", v)
        if math.isnan(v) or math.isinf(v):
            raise NixError(f"cannot round {v} to an integer")
        r = f(v)
        if not INT_MIN <= r <= INT_MAX:
            raise NixError(f"float {v} does not fit into an integer")
        return r

    builtin(name)(fn)


_round("ceil", math.ceil)
_round("floor", math.floor)


# -------------------------------------------------------------------- lists
@builtin("length")
def _length(xs: Any, d: int, span: Any) -> Any:
    xs = yield from force_list(xs, d)
    return len(xs)


@builtin("head")
def _head(xs: Any, d: int, span: Any) -> Any:
    xs = yield from force_list(xs, d)
    if not xs:
        raise NixError("'builtins.head' called on an empty list")
    return (yield from force_at(xs[0], d))


@builtin("tail")
def _tail(xs: Any, d: int, span: Any) -> Any:
    xs = yield from force_list(xs, d)
    if not xs:
        raise NixError("'builtins.tail' called on an empty list")
    return xs[1:]


@builtin("elemAt")
def _elem_at(xs: Any, n: Any, d: int, span: Any) -> Any:
    xs = yield from force_list(xs, d)
    n = yield from force_int(n, d)
    if n < 0 or n >= len(xs):
        raise NixError(f"'builtins.elemAt' called with index {n} on a list of size {len(xs)}")
    return (yield from force_at(xs[n], d))


def apply_thunk(f: Any, x: Any, span: Any = None) -> Thunk:
    """A thunk for the lazy application ``f x``."""
    return Thunk(_apply_code, (f, x, span))


def apply2_thunk(f: Any, x: Any, y: Any) -> Thunk:
    """A thunk for the lazy application ``f x y``."""
    return Thunk(_apply2_code, (f, x, y))


@builtin("map")
def _map(f: Any, xs: Any, d: int, span: Any) -> Any:
    xs = yield from force_list(xs, d)
    if not xs:
        return xs
    f = yield from force_fn(f, d)
    return [Thunk(_apply_code, (f, x, span)) for x in xs]


@builtin("filter")
def _filter(f: Any, xs: Any, d: int, span: Any) -> Any:
    xs = yield from force_list(xs, d)
    f = yield from force_fn(f, d)
    if own_frame(d, len(xs)):
        return (yield _filter_loop(f, xs, 0))
    return (yield from _filter_loop(f, xs, d))


def _filter_loop(f: Any, xs: list[Any], d: int) -> Any:
    out = []
    for x in xs:
        r = yield from call_in(f, x, None, d)
        if r.__class__ is not bool:
            raise type_error("a Boolean", r)
        if r:
            out.append(x)
    return out if len(out) != len(xs) else xs


@builtin("foldl'")
def _foldl(op: Any, nul: Any, xs: Any, d: int, span: Any) -> Any:
    op = yield from force_fn(op, d)
    xs = yield from force_list(xs, d)
    if not xs:
        return (yield from force_at(nul, d))
    if own_frame(d, len(xs)):
        return (yield _foldl_loop(op, nul, xs, 0))
    return (yield from _foldl_loop(op, nul, xs, d))


def _foldl_loop(op: Any, acc: Any, xs: list[Any], d: int) -> Any:
    for x in xs:
        g = yield from call_in(op, acc, None, d)
        acc = yield from call_in(g, x, None, d)
    return acc


@builtin("genList")
def _gen_list(f: Any, n: Any, d: int, span: Any) -> Any:
    n = yield from force_int(n, d)
    if n < 0:
        raise NixError(f"cannot create list of size {n}")
    if n:
        f = yield from force_fn(f, d)
    check_size(n)
    return [Thunk(_apply_code, (f, i, None)) for i in range(n)]


@builtin("concatLists")
def _concat_lists(xss: Any, d: int, span: Any) -> Any:
    xss = yield from force_list(xss, d)
    out: list[Any] = []
    for xs in xss:
        xs = yield from force_list(xs, d)
        out.extend(xs)
    if len(out) > SIZE_CHECK_FROM:
        check_len(len(out), "list")
    return out


# ---------------------------------------------------------- attribute sets
@builtin("attrNames")
def _attr_names(s: Any, d: int, span: Any) -> Any:
    s = yield from force_attrs(s, d)
    return sorted(s)


@builtin("attrValues")
def _attr_values(s: Any, d: int, span: Any) -> Any:
    s = yield from force_attrs(s, d)
    return [s[k] for k in sorted(s)]


@builtin("getAttr")
def _get_attr(name: Any, s: Any, d: int, span: Any) -> Any:
    name = yield from force_string(name, d)
    s = yield from force_attrs(s, d)
    v = s.get(str(name), MISSING)
    if v is MISSING:
        raise NixError(f"attribute '{name}' missing")
    return (yield from force_at(v, d))


@builtin("hasAttr")
def _has_attr(name: Any, s: Any, d: int, span: Any) -> Any:
    name = yield from force_string(name, d)
    s = yield from force_attrs(s, d)
    return str(name) in s


@builtin("removeAttrs")
def _remove_attrs(s: Any, names: Any, d: int, span: Any) -> Any:
    s = yield from force_attrs(s, d)
    names = yield from force_list(names, d)
    drop = set()
    for n in names:
        n = yield from force_string(n, d)
        drop.add(str(n))
    if not drop & s.keys():
        return s
    r = Attrs({k: v for k, v in s.items() if k not in drop})
    r.pos = s.pos
    return r


@builtin("listToAttrs")
def _list_to_attrs(xs: Any, d: int, span: Any) -> Any:
    xs = yield from force_list(xs, d)
    if forcing_frame(d, xs):
        return (yield _list_to_attrs_loop(xs, 0))
    return (yield from _list_to_attrs_loop(xs, d))


def _list_to_attrs_loop(xs: list[Any], d: int) -> Any:
    r = Attrs()
    # Like Nix, an attribute's position is that of the element's ``value``.
    pos: dict[str, Any] = {}
    for x in xs:
        x = yield from force_attrs(x, d)
        if "name" not in x:
            raise NixError("attribute 'name' missing")
        name = yield from force_string(x["name"], d)
        name = str(name)
        if name in r:
            continue
        if "value" not in x:
            raise NixError("attribute 'value' missing")
        r[name] = x["value"]
        if x.pos and "value" in x.pos:
            pos[name] = x.pos["value"]
    if pos:
        r.pos = pos
    return r


@builtin("mapAttrs")
def _map_attrs(f: Any, s: Any, d: int, span: Any) -> Any:
    s = yield from force_attrs(s, d)
    # No positions: Nix's mapAttrs gives its attributes none (unsafeGetAttrPos
    # answers null, which the module system's declarationPositions rely on).
    return Attrs({k: apply2_thunk(f, k, v) for k, v in s.items()})


@builtin("functionArgs")
def _function_args(f: Any, d: int, span: Any) -> Any:
    f = yield from force_at(f, d)
    if f.__class__ is PrimOp or f.__class__ is PrimOpApp:
        return Attrs()
    if f.__class__ is not Lambda:
        raise NixError("'functionArgs' requires a function")
    if f.node.formals is None:
        return Attrs()
    r = Attrs({fm.name: fm.default is not None for fm in f.node.formals})
    r.pos = {fm.name: fm.span for fm in f.node.formals}
    return r


# ------------------------------------------------------------------ strings
@builtin("toString")
def _to_string(v: Any, d: int, span: Any) -> Any:
    # Forced first, as coerce_to_string would (outside the error context).
    v = yield from force_at(v, d)
    note = ("while evaluating the first argument passed to builtins.toString", None)
    return (yield from coerce_to_string(v, coerce_more=True, copy_to_store=False, ctx=note))


def utf8_len(s: str) -> int:
    """Length in bytes, as Nix counts."""
    if s.isascii():
        return len(s)
    return len(s.encode("utf-8", "surrogateescape"))


@builtin("stringLength")
def _string_length(s: Any, d: int, span: Any) -> Any:
    s = yield from force_at(s, d)
    s = yield from coerce_to_string(s)
    return utf8_len(s)


@builtin("substring")
def _substring(start: Any, length: Any, s: Any, d: int, span: Any) -> Any:
    start = yield from force_int(start, d)
    length = yield from force_int(length, d)
    s = yield from force_at(s, d)
    s = yield from coerce_to_string(s)
    if start < 0:
        raise NixError("negative start position in 'substring'")
    ctx = context_of(s)
    if s.isascii():
        r = s[start : start + length] if length >= 0 else s[start:]
    else:
        b = s.encode("utf-8", "surrogateescape")
        piece = b[start : start + length] if length >= 0 else b[start:]
        r = piece.decode("utf-8", "surrogateescape")
    return CtxStr(r, ctx) if ctx else r


@builtin("concatStringsSep")
def _concat_strings_sep(sep: Any, xs: Any, d: int, span: Any) -> Any:
    sep = yield from force_string(sep, d)
    xs = yield from force_list(xs, d)
    # No frame of its own (measured: its elements are mostly cheap, and the
    # round trip cost more than the calls it saved).
    parts: list[Any] = []
    for i, x in enumerate(xs):
        if i:
            parts.append(sep)
        if x.__class__ is Thunk and x.c is not None:
            # Forced first, as coerce_to_string would.
            yield from force_at(x, d)
        s = yield from coerce_to_string(x)
        parts.append(s)
    return cat_strings(tuple(parts))


# ------------------------------------------------------------------- import
@builtin("import")
def _import(p: Any) -> Any:
    ctx = yield CONTEXT
    path = yield from ctx.realise_path_arg(p)
    t = ctx.import_thunk(path)
    return (yield from force(t))


@builtin("scopedImport")
def _scoped_import(scope: Any, p: Any) -> Any:
    ctx = yield CONTEXT
    scope = yield from force_attrs(scope)
    path = yield from ctx.realise_path_arg(p)
    gen = ctx.scoped_import(path, scope)
    return (yield gen)


# ---------------------------------------------------------------- constants
@constant("true")
def _true(ev: Any) -> Any:
    return True


@constant("false")
def _false(ev: Any) -> Any:
    return False


@constant("null")
def _null(ev: Any) -> Any:
    return None


@constant("langVersion")
def _lang_version(ev: Any) -> Any:
    return 6


@constant("nixVersion")
def _nix_version(ev: Any) -> Any:
    return "2.36.0"


@constant("storeDir")
def _store_dir(ev: Any) -> Any:
    return ev.store_dir


@constant("currentSystem")
def _current_system(ev: Any) -> Any:
    return ev.system


@constant("currentTime")
def _current_time(ev: Any) -> Any:
    import time

    return int(time.time())


@constant("nixPath")
def _nix_path(ev: Any) -> Any:
    out = []
    for prefix, path in ev.search_path:
        out.append(Attrs({"path": path, "prefix": prefix}))
    return out


@builtin("findFile")
def _find_file(search: Any, name: Any) -> Any:
    search = yield from force_list(search)
    name = yield from force_string(name)
    name = str(name)
    ctx = yield CONTEXT
    for entry in search:
        entry = yield from force_attrs(entry)
        prefix = yield from force_string(entry.get("prefix", ""))
        if "path" not in entry:
            raise NixError("attribute 'path' missing")
        path = yield from coerce_to_string(entry["path"], copy_to_store=False)
        prefix = str(prefix)
        if prefix:
            if name == prefix:
                rest = ""
            elif name.startswith(prefix + "/"):
                rest = name[len(prefix) + 1 :]
            else:
                continue
        else:
            rest = name
        cand = os.path.join(str(path), rest) if rest else str(path)
        if ctx.io.exists(cand):
            from ..runtime import canon_path

            return NixPath(canon_path(cand))
    if name.startswith("nix/"):
        from ..corepkgs import INTERNAL_DIR, INTERNAL_FILES

        if name[4:] in INTERNAL_FILES:
            return NixPath(f"{INTERNAL_DIR}/{name[4:]}")
    raise ThrowError(
        f"file '{name}' was not found in the Nix search path (add it using $NIX_PATH or -I)"
    )


@builtin("placeholder")
def _placeholder(output: Any) -> Any:
    from ..store import hash_placeholder

    output = yield from force_string(output)
    return hash_placeholder(str(output))


__all__ = [
    "deep_force",
    "apply_thunk",
    "apply2_thunk",
    "force_string",
    "force_list",
    "force_attrs",
    "force_int",
    "force_bool",
    "force_fn",
    "utf8_len",
]
_ = op_eq
