"""Generic traversal of the AST: children of a node, and the chain of nodes
that contain a byte offset (iterative, so any nesting depth is fine)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from . import nodes as N


def _parts(node: N.Str | N.Path) -> list[N.Node]:
    return [p for p in node.parts if not isinstance(p, str)]


def _select(node: N.Select) -> list[N.Node]:
    out = [node.expr]
    for k in node.path:
        if not isinstance(k, str):
            out.append(k)
    if node.default is not None:
        out.append(node.default)
    return out


def _has_attr(node: N.HasAttr) -> list[N.Node]:
    return [node.expr] + [k for k in node.path if not isinstance(k, str)]


def _lambda(node: N.Lambda) -> list[N.Node]:
    out: list[N.Node] = []
    if node.formals:
        out = [f.default for f in node.formals if f.default is not None]
    out.append(node.body)
    return out


def _binds(node: N.Attrs | N.Let) -> list[N.Node]:
    out = list(node.inherit_from)
    for d in node.attrs.values():
        if d.kind == "plain":
            out.append(d.value)
    if node.__class__ is N.Attrs:
        for dyn in node.dynamic:  # type: ignore[union-attr]
            out.append(dyn.key)
            out.append(dyn.value)
    else:
        out.append(node.body)  # type: ignore[union-attr]
    return out


# Children of each node class, in source order (one lookup, not a chain of
# class tests: static analyses call this for every node of large files).
_CHILDREN: dict[type, Callable[[Any], list[N.Node]]] = {
    N.Str: _parts,
    N.Path: _parts,
    N.Select: _select,
    N.HasAttr: _has_attr,
    N.Apply: lambda n: [n.fn, n.arg],
    N.Lambda: _lambda,
    N.Attrs: _binds,
    N.Let: _binds,
    N.LegacyLet: lambda n: [n.attrs],
    N.With: lambda n: [n.env, n.body],
    N.If: lambda n: [n.cond, n.then, n.else_],
    N.Assert: lambda n: [n.cond, n.body],
    N.List: lambda n: list(n.items),
    N.BinOp: lambda n: [n.left, n.right],
    N.Not: lambda n: [n.expr],
    N.Neg: lambda n: [n.expr],
}


def children(node: N.Node) -> list[N.Node]:
    """The direct sub-expressions of ``node`` in source order."""
    f = _CHILDREN.get(node.__class__)
    return f(node) if f is not None else []


def path_to(root: N.Node, offset: int) -> list[N.Node]:
    """Nodes from ``root`` down to the smallest one containing ``offset``."""
    path = [root]
    node = root
    while True:
        best = None
        kids = children(node)
        for c in kids:
            sp = c.span
            if sp.start <= offset < sp.end or (sp.start == offset == sp.end):
                if best is None or (sp.end - sp.start) < (best.span.end - best.span.start):
                    best = c
        if best is None:
            # The set the parser made for ``a.b = v;`` has the span of ``a``:
            # the offset may be in ``v`` all the same.
            best = next((c for c in kids if c.__class__ is N.Attrs and _reaches(c, offset)), None)
        if best is None:
            return path
        path.append(best)
        node = best


def _reaches(node: N.Node, offset: int) -> bool:
    """Whether ``offset`` is in ``node`` or, for a set, in one of its values."""
    sp = node.span
    if sp.start <= offset < sp.end or (sp.start == offset == sp.end):
        return True
    if node.__class__ is N.Attrs:
        attrs: N.Attrs = node  # type: ignore[assignment]
        return any(_reaches(ad.value, offset) for ad in attrs.attrs.values())
    return False


def walk(root: N.Node) -> Iterator[N.Node]:
    """Every node below ``root`` (pre-order, iterative)."""
    stack = [root]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(children(n)))
