"""Generic traversal of the AST: children of a node, and the chain of nodes
that contain a byte offset (iterative, so any nesting depth is fine)."""

from __future__ import annotations

from collections.abc import Iterator

from . import nodes as N


def children(node: N.Node) -> list[N.Node]:
    """The direct sub-expressions of ``node`` in source order."""
    cls = node.__class__
    out: list[N.Node] = []
    if cls in (N.Str, N.Path):
        out = [p for p in node.parts if not isinstance(p, str)]  # type: ignore[attr-defined]
    elif cls is N.Select:
        out = [node.expr] + [k for k in node.path if not isinstance(k, str)]  # type: ignore[attr-defined]
        if node.default is not None:  # type: ignore[attr-defined]
            out.append(node.default)  # type: ignore[attr-defined]
    elif cls is N.HasAttr:
        out = [node.expr] + [k for k in node.path if not isinstance(k, str)]  # type: ignore[attr-defined]
    elif cls is N.Apply:
        out = [node.fn, node.arg]  # type: ignore[attr-defined]
    elif cls is N.Lambda:
        if node.formals:  # type: ignore[attr-defined]
            out = [f.default for f in node.formals if f.default is not None]  # type: ignore[attr-defined]
        out.append(node.body)  # type: ignore[attr-defined]
    elif cls is N.Attrs or cls is N.Let:
        out = list(node.inherit_from)  # type: ignore[attr-defined]
        for d in node.attrs.values():  # type: ignore[attr-defined]
            if d.kind == "plain":
                out.append(d.value)
        if cls is N.Attrs:
            for dyn in node.dynamic:  # type: ignore[attr-defined]
                out.extend((dyn.key, dyn.value))
        else:
            out.append(node.body)  # type: ignore[attr-defined]
    elif cls is N.LegacyLet:
        out = [node.attrs]  # type: ignore[attr-defined]
    elif cls is N.With:
        out = [node.env, node.body]  # type: ignore[attr-defined]
    elif cls is N.If:
        out = [node.cond, node.then, node.else_]  # type: ignore[attr-defined]
    elif cls is N.Assert:
        out = [node.cond, node.body]  # type: ignore[attr-defined]
    elif cls is N.List:
        out = list(node.items)  # type: ignore[attr-defined]
    elif cls is N.BinOp:
        out = [node.left, node.right]  # type: ignore[attr-defined]
    elif cls is N.Not or cls is N.Neg:
        out = [node.expr]  # type: ignore[attr-defined]
    return out


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
