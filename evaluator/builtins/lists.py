"""List and attribute-set builtins beyond the core: sorting, closures,
grouping, zipping and the predicates over lists.

Every loop here drives Nix calls through the VM (``yield (f, x, span)``), so
the host stack never grows with list length or comparator depth.  Argument
errors carry the same trace lines as Nix ("while evaluating the second
argument passed to builtins.sort").
"""

from __future__ import annotations

from typing import Any

from ..errors import NixError
from ..printer import show_value_for_error
from ..runtime import SIZE_CHECK_FROM, check_len, op_eq, op_lt, type_error
from ..values import Attrs, CtxStr, Lambda, NixPath, PrimOp, Thunk, context_of
from ..vm import INLINE_DEPTH, call_in, force_at, own_frame
from .core import (
    apply2_thunk,
    force_attrs,
    force_fn,
    force_list,
    force_string,
    forcing_frame,
)
from .registry import REGISTRY, builtin


# ----------------------------------------------------------------- helpers
def traced(gen: Any, msg: str) -> Any:
    """Generator: run ``gen``; an error escaping it gets ``msg`` in its trace."""
    try:
        return (yield from gen)
    except NixError as e:
        e.add_trace(msg, None)
        raise


def no_context_error(s: Any) -> NixError:
    """Nix's error for a string with context where none is allowed."""
    first = sorted(context_of(s))[0]
    return NixError(f"the string '{s}' is not allowed to refer to a store path (such as '{first}')")


def force_string_no_ctx(v: Any, d: int = INLINE_DEPTH) -> Any:
    """Generator: a string argument that must carry no context (plain
    ``str``), forced ``d`` calls deep (as ``vm.force_at``)."""
    s = yield from force_string(v, d)
    if s.__class__ is CtxStr:
        raise no_context_error(s)
    return s


def _arg(n: int, name: str) -> str:
    which = ("first", "second", "third")[n]
    return f"while evaluating the {which} argument passed to builtins.{name}"


def _is_less_than(f: Any) -> bool:
    return f.__class__ is PrimOp and f is REGISTRY.get("lessThan")


# -------------------------------------------------------------------- sort
@builtin("sort")
def _sort(cmp: Any, xs: Any, d: int, span: Any) -> Any:
    xs = yield from traced(force_list(xs, d), _arg(1, "sort"))
    if not xs:
        return xs
    cmp = yield from traced(force_fn(cmp, d), _arg(0, "sort"))
    items = []
    for x in xs:
        x = yield from force_at(x, d)
        items.append(x)
    if _is_less_than(cmp):
        fast = _sort_plain(items)
        if fast is not None:
            return fast
        return (yield from _merge_sort(items, _less_than_builtin, None, d))
    if own_frame(d, len(items)):
        return (yield _merge_sort(items, _call_comparator, cmp, 0))
    return (yield from _merge_sort(items, _call_comparator, cmp, d))


def _sort_plain(items: list[Any]) -> list[Any] | None:
    """``sort lessThan`` of only numbers or only strings, with Python's sort."""
    first = items[0].__class__
    if first is int or first is float:
        for x in items:
            c = x.__class__
            if c is not int and c is not float:
                return None
        return sorted(items)
    if first is str or first is CtxStr:
        for x in items:
            c = x.__class__
            if c is not str and c is not CtxStr:
                return None
        return sorted(items)
    if first is NixPath:
        for x in items:
            if x.__class__ is not NixPath:
                return None
        return sorted(items, key=lambda p: p.path)
    return None


def _less_than_builtin(_f: Any, a: Any, b: Any, _d: int) -> Any:
    try:
        return (yield from op_lt(a, b, None))
    except NixError as e:
        e.add_trace("while evaluating the ordering function passed to builtins.sort", None)
        raise


def _call_comparator(f: Any, a: Any, b: Any, d: int) -> Any:
    g = yield from call_in(f, a, None, d)
    r = yield from call_in(g, b, None, d)
    if r.__class__ is not bool:
        err = type_error("a Boolean", r)
        err.add_trace(
            "while evaluating the return value of the sorting function passed to builtins.sort",
            None,
        )
        raise err
    return r


def _merge_sort(items: list[Any], less: Any, f: Any, d: int) -> Any:
    """Generator: a stable natural merge sort calling ``less(f, a, b, d)``
    (``d``: the depth of the calls, as ``vm.call_in``)."""
    n = len(items)
    # Split into non-descending runs (sorted input costs n - 1 comparisons).
    runs: list[list[Any]] = []
    i = 0
    while i < n:
        j = i + 1
        while j < n:
            lt = yield from less(f, items[j], items[j - 1], d)
            if lt:
                break
            j += 1
        runs.append(items[i:j])
        i = j
    while len(runs) > 1:
        merged: list[list[Any]] = []
        for k in range(0, len(runs) - 1, 2):
            left, right = runs[k], runs[k + 1]
            out: list[Any] = []
            a = b = 0
            la, lb = len(left), len(right)
            while a < la and b < lb:
                lt = yield from less(f, right[b], left[a], d)
                if lt:
                    out.append(right[b])
                    b += 1
                else:
                    out.append(left[a])
                    a += 1
            if a < la:
                out.extend(left[a:])
            if b < lb:
                out.extend(right[b:])
            merged.append(out)
        if len(runs) % 2:
            merged.append(runs[-1])
        runs = merged
    return runs[0]


# ---------------------------------------------------------- genericClosure
class _KeySet:
    """The keys seen by genericClosure, compared the way Nix compares them.

    Strings, paths and integers use hashing (as Nix does); anything else, or
    ints mixed with floats, falls back to a list kept sorted by ``<``, whose
    equivalence is "neither is less than the other".
    """

    def __init__(self) -> None:
        self.mode: str | None = None
        self.hashed: dict[Any, Any] = {}
        self.keys: list[Any] = []  # fallback: sorted keys
        self.elems: list[Any] = []  # fallback: the element of each key
        self.first: tuple[Any, Any] | None = None

    def insert(self, key: Any, elem: Any) -> Any:
        """Generator: True when ``key`` is new (then it is recorded)."""
        kc = key.__class__
        if self.mode is None:
            self.first = (key, elem)
            if kc is str or kc is CtxStr:
                self.mode = "str"
            elif kc is NixPath:
                self.mode = "path"
            elif kc is int:
                self.mode = "int"
            else:
                self.mode = "fallback"
        mode = self.mode
        if mode == "str":
            if kc is str or kc is CtxStr:
                return self._add_hashed(str(key), elem)
            yield from self._compare_error(key, elem)
        elif mode == "path":
            if kc is NixPath:
                return self._add_hashed(key.path, elem)
            yield from self._compare_error(key, elem)
        elif mode == "int":
            if kc is int:
                return self._add_hashed(key, elem)
            if kc is not float:
                yield from self._compare_error(key, elem)
            # A float among int keys: move to the ordered fallback.
            self.mode = "fallback"
            pairs = sorted(self.hashed.items())
            self.keys = [k for k, _ in pairs]
            self.elems = [e for _, e in pairs]
            self.hashed = {}
        return (yield from self._insert_ordered(key, elem))

    def _add_hashed(self, k: Any, elem: Any) -> bool:
        if k in self.hashed:
            return False
        self.hashed[k] = elem
        return True

    def _compare_error(self, key: Any, elem: Any) -> Any:
        assert self.first is not None
        other_key, other_elem = self.first
        try:
            yield from op_lt(key, other_key, None)
        except NixError as e:
            _add_compare_traces(e, elem, other_elem)
            raise
        raise NixError("internal error: genericClosure keys compared")  # pragma: no cover

    def _insert_ordered(self, key: Any, elem: Any) -> Any:
        keys = self.keys
        try:
            lo, hi = 0, len(keys)
            while lo < hi:
                mid = (lo + hi) // 2
                lt = yield from op_lt(key, keys[mid], None)
                if lt:
                    hi = mid
                else:
                    lo = mid + 1
            if lo > 0:
                lt = yield from op_lt(keys[lo - 1], key, None)
                if not lt:
                    return False
        except NixError as e:
            other = None
            for k, el in zip(keys, self.elems, strict=True):
                try:
                    yield from op_lt(key, k, None)
                except NixError:
                    other = el
                    break
            if other is not None:
                _add_compare_traces(e, elem, other)
            else:
                e.add_trace(f"while checking key of element {show_value_for_error(elem)}", None)
            raise
        keys.insert(lo, key)
        self.elems.insert(lo, elem)
        return True


def _add_compare_traces(e: NixError, elem: Any, other: Any) -> None:
    e.add_trace(f"with element {show_value_for_error(other)}", None)
    e.add_trace(f"while comparing element {show_value_for_error(elem)}", None)


@builtin("genericClosure")
def _generic_closure(args: Any, d: int, span: Any) -> Any:
    args = yield from traced(force_attrs(args, d), _arg(0, "genericClosure"))
    where = "in the attrset passed as argument to builtins.genericClosure"
    if "startSet" not in args:
        err = NixError("attribute 'startSet' missing")
        err.add_trace(where, None)
        raise err
    start = yield from traced(
        force_list(args["startSet"], d),
        "while evaluating the 'startSet' attribute passed as argument to builtins.genericClosure",
    )
    if not start:
        return start
    if "operator" not in args:
        err = NixError("attribute 'operator' missing")
        err.add_trace(where, None)
        raise err
    op = yield from traced(
        force_fn(args["operator"], d),
        "while evaluating the 'operator' attribute passed as argument to builtins.genericClosure",
    )
    if own_frame(d, len(start)):
        return (yield _closure_loop(op, start, 0))
    return (yield from _closure_loop(op, start, d))


def _closure_loop(op: Any, start: list[Any], d: int) -> Any:
    """Generator: genericClosure's work list from ``start`` (calls ``d`` deep)."""
    queue: list[Any] = list(start)
    res: list[Any] = []
    keys = _KeySet()
    head = 0
    while head < len(queue):
        e = queue[head]
        queue[head] = None  # let finished elements be collected
        head += 1
        try:
            e = yield from force_at(e, d)
            if e.__class__ is not Attrs:
                raise type_error("a set", e)
            if "key" not in e:
                raise NixError("attribute 'key' missing")
        except NixError as err:
            err.add_trace(f"in genericClosure element {show_value_for_error(e)}", None)
            raise
        key = yield from force_at(e["key"], d)
        new = yield from keys.insert(key, e)
        if not new:
            continue
        res.append(e)
        try:
            out = yield from call_in(op, e, None, d)
            if out.__class__ is not list:
                bad = type_error("a list", out)
                bad.add_trace(
                    "while evaluating the return value of the `operator` passed to "
                    "builtins.genericClosure",
                    None,
                )
                raise bad
            for x in out:
                x = yield from force_at(x, d)
                queue.append(x)
        except NixError as err:
            err.add_trace(
                f"while calling operator on genericClosure element {show_value_for_error(e)}",
                None,
            )
            raise
    return res


# -------------------------------------------------------------- attr sets
@builtin("catAttrs")
def _cat_attrs(name: Any, xs: Any, d: int, span: Any) -> Any:
    name = yield from traced(force_string_no_ctx(name, d), _arg(0, "catAttrs"))
    xs = yield from traced(force_list(xs, d), _arg(1, "catAttrs"))
    name = str(name)
    out = []
    for x in xs:
        x = yield from traced(
            force_attrs(x, d),
            "while evaluating an element in the list passed as second argument to "
            "builtins.catAttrs",
        )
        if name in x:
            out.append(x[name])
    return out


@builtin("intersectAttrs")
def _intersect_attrs(e1: Any, e2: Any, d: int, span: Any) -> Any:
    e1 = yield from traced(force_attrs(e1, d), _arg(0, "intersectAttrs"))
    e2 = yield from traced(force_attrs(e2, d), _arg(1, "intersectAttrs"))
    if len(e1) < len(e2):
        names = [k for k in e1 if k in e2]
    else:
        names = [k for k in e2 if k in e1]
    r = Attrs({k: e2[k] for k in names})
    if e2.pos is not None:
        r.pos = {k: e2.pos[k] for k in names if k in e2.pos}
    return r


@builtin("zipAttrsWith")
def _zip_attrs_with(f: Any, xs: Any, d: int, span: Any) -> Any:
    f = yield from traced(force_fn(f, d), _arg(0, "zipAttrsWith"))
    xs = yield from traced(force_list(xs, d), _arg(1, "zipAttrsWith"))
    if forcing_frame(d, xs):
        seen = yield _zip_attrs_loop(xs, 0)
    else:
        seen = yield from _zip_attrs_loop(xs, d)
    return Attrs({k: apply2_thunk(f, k, seen[k]) for k in sorted(seen)})


def _zip_attrs_loop(xs: list[Any], d: int) -> Any:
    """Generator: each name of the sets in ``xs`` with its values, in order."""
    seen: dict[str, list[Any]] = {}
    for x in xs:
        x = yield from traced(
            force_attrs(x, d),
            "while evaluating a value of the list passed as second argument to "
            "builtins.zipAttrsWith",
        )
        for k, v in x.items():
            vals = seen.get(k)
            if vals is None:
                seen[k] = [v]
            else:
                vals.append(v)
    return seen


@builtin("groupBy")
def _group_by(f: Any, xs: Any, d: int, span: Any) -> Any:
    f = yield from traced(force_fn(f, d), _arg(0, "groupBy"))
    xs = yield from traced(force_list(xs, d), _arg(1, "groupBy"))
    groups: dict[str, list[Any]] = {}
    for x in xs:
        r = yield from call_in(f, x, None, d)
        name = yield from traced(
            force_string_no_ctx(r),
            "while evaluating the return value of the grouping function passed to builtins.groupBy",
        )
        name = str(name)
        g = groups.get(name)
        if g is None:
            groups[name] = [x]
        else:
            g.append(x)
    return Attrs({k: groups[k] for k in sorted(groups)})


# ------------------------------------------------------------------ lists
@builtin("partition")
def _partition(f: Any, xs: Any, d: int, span: Any) -> Any:
    f = yield from traced(force_fn(f, d), _arg(0, "partition"))
    xs = yield from traced(force_list(xs, d), _arg(1, "partition"))
    right: list[Any] = []
    wrong: list[Any] = []
    for x in xs:
        x = yield from force_at(x, d)
        r = yield from call_in(f, x, None, d)
        if r.__class__ is not bool:
            err = type_error("a Boolean", r)
            err.add_trace(
                "while evaluating the return value of the partition function passed to "
                "builtins.partition",
                None,
            )
            raise err
        (right if r else wrong).append(x)
    return Attrs({"right": right, "wrong": wrong})


@builtin("concatMap")
def _concat_map(f: Any, xs: Any, d: int, span: Any) -> Any:
    f = yield from traced(force_fn(f, d), _arg(0, "concatMap"))
    xs = yield from traced(force_list(xs, d), _arg(1, "concatMap"))
    if own_frame(d, len(xs)):
        return (yield _concat_map_loop(f, xs, 0, span))
    return (yield from _concat_map_loop(f, xs, d, span))


def _concat_map_loop(f: Any, xs: list[Any], d: int, span: Any) -> Any:
    out: list[Any] = []
    for x in xs:
        r = yield from call_in(f, x, None, d)
        if r.__class__ is not list:
            err = type_error("a list", r)
            if f.__class__ is Lambda:
                span = f.node.span
            err.add_trace(
                "while evaluating the return value of the function passed to builtins.concatMap",
                span,
            )
            raise err
        out.extend(r)
    if len(out) > SIZE_CHECK_FROM:
        check_len(len(out), "list")
    return out


def _any_or_all(is_any: bool, f: Any, xs: Any, d: int) -> Any:
    name = "any" if is_any else "all"
    f = yield from traced(force_fn(f, d), _arg(0, name))
    xs = yield from traced(force_list(xs, d), _arg(1, name))
    if own_frame(d, len(xs)):
        return (yield _any_or_all_loop(is_any, f, xs, 0))
    return (yield from _any_or_all_loop(is_any, f, xs, d))


def _any_or_all_loop(is_any: bool, f: Any, xs: list[Any], d: int) -> Any:
    name = "any" if is_any else "all"
    for x in xs:
        r = yield from call_in(f, x, None, d)
        if r.__class__ is not bool:
            err = type_error("a Boolean", r)
            err.add_trace(
                f"while evaluating the return value of the function passed to builtins.{name}",
                None,
            )
            raise err
        if r is is_any:
            return is_any
    return not is_any


@builtin("any")
def _any(f: Any, xs: Any, d: int, span: Any) -> Any:
    return (yield from _any_or_all(True, f, xs, d))


@builtin("all")
def _all(f: Any, xs: Any, d: int, span: Any) -> Any:
    return (yield from _any_or_all(False, f, xs, d))


@builtin("elem")
def _elem(x: Any, xs: Any, d: int, span: Any) -> Any:
    xs = yield from traced(force_list(xs, d), _arg(1, "elem"))
    for y in xs:
        try:
            if x is not y:
                # Forced here first, in op_eq's order (which then finds
                # them forced): their thunks still compare as references.
                if x.__class__ is Thunk and x.c is not None:
                    yield from force_at(x, d)
                if y.__class__ is Thunk and y.c is not None:
                    yield from force_at(y, d)
            # The element is compared as a reference (``elem f [ f ]`` is true).
            same = yield from op_eq(x, y, False)
        except NixError as e:
            e.add_trace("while searching for the presence of the given element in the list", None)
            raise
        if same:
            return True
    return False


__all__ = ["traced", "force_string_no_ctx", "no_context_error"]
