"""Print an AST the way ``nix-instantiate --parse`` does (Nix 2.36 ``Expr::show``).

The output is fully parenthesised: applications are flattened into
``(f a b)``, the arithmetic and comparison operators appear desugared
(``(__sub a b)``, ``(__lessThan a b)``), bindings are sorted, and formals are
listed in lexicographic order.  Printing is iterative: each node expands into
a list of text pieces and child nodes, so any nesting depth is fine.

Known difference: Nix keeps the separate literal pieces of an indented string
that contains escapes (``''a''$b''`` shows as ``("a" + "$" + "b")``); the AST
merges adjacent literals, so this prints ``"a$b"``.
"""

from __future__ import annotations

from . import nodes as N
from .literals import show_identifier, show_string

_Piece = str | N.Node

_CALL_OPS = {"-": "__sub", "*": "__mul", "/": "__div", "<": "__lessThan"}


def dump(node: N.Node | None) -> str:
    """Nix's ``--parse`` rendering of ``node``."""
    if node is None:
        return ""
    out: list[str] = []
    stack: list[_Piece] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            out.append(item)
        else:
            stack.extend(reversed(_pieces(item)))
    return "".join(out)


def _path(path: list[N.AttrName]) -> list[_Piece]:
    out: list[_Piece] = []
    for i, p in enumerate(path):
        if i:
            out.append(".")
        if isinstance(p, str):
            out.append(show_identifier(p))
        else:
            out += ['"${', p, '}"']
    return out


def _concat(parts: list[_Piece]) -> list[_Piece]:
    out: list[_Piece] = ["("]
    for i, p in enumerate(parts):
        if i:
            out.append(" + ")
        out.append(p)
    out.append(")")
    return out


def _call(head: str | N.Node, args: list[_Piece]) -> list[_Piece]:
    out: list[_Piece] = ["(", head]
    for a in args:
        out += [" ", a]
    out.append(")")
    return out


def _call_head(node: N.Node) -> tuple[_Piece, list[_Piece]] | None:
    """Nodes that Nix builds as an ``ExprCall``: (function, arguments)."""
    if isinstance(node, N.Neg):
        return "__sub", ["0", node.expr]
    if isinstance(node, N.SearchPath):
        return "__findFile", ["__nixPath", show_string(node.name)]
    if isinstance(node, N.BinOp) and node.op in _CALL_OPS:
        return _CALL_OPS[node.op], [node.left, node.right]
    if isinstance(node, N.BinOp) and node.op == ">":
        return "__lessThan", [node.right, node.left]
    return None


def _bindings(attrs: dict[str, N.AttrDef], froms: list[N.Node]) -> list[_Piece]:
    names = sorted(attrs)
    out: list[_Piece] = []
    inherits = [k for k in names if attrs[k].kind == "inherit"]
    if inherits:
        out.append("inherit " + " ".join(show_identifier(k) for k in inherits) + "; ")
    by_from: dict[int, list[str]] = {}
    for k in names:
        if attrs[k].kind == "inherit_from":
            by_from.setdefault(attrs[k].from_index, []).append(k)
    for idx in sorted(by_from):
        out += [
            "inherit (",
            froms[idx],
            ") " + " ".join(show_identifier(k) for k in by_from[idx]) + "; ",
        ]
    for k in names:
        if attrs[k].kind == "plain":
            out += [show_identifier(k) + " = ", attrs[k].value, "; "]
    return out


def _pieces(node: N.Node) -> list[_Piece]:
    """One node as text pieces and child nodes, after Nix's ``show``."""
    cls = node.__class__
    if cls is N.Int:
        return [str(node.value)]  # type: ignore[attr-defined]
    if cls is N.Float:
        return [f"{node.value:g}"]  # type: ignore[attr-defined]
    if cls is N.Str:
        parts = node.parts  # type: ignore[attr-defined]
        if all(isinstance(p, str) for p in parts):
            return [show_string("".join(parts))]
        return _concat([show_string(p) if isinstance(p, str) else p for p in parts])
    if cls is N.Path:
        parts = node.parts  # type: ignore[attr-defined]
        if len(parts) == 1 and isinstance(parts[0], str):
            return [parts[0]]
        shown: list[_Piece] = []
        for i, p in enumerate(parts):
            shown.append((p if i == 0 else show_string(p)) if isinstance(p, str) else p)
        return _concat(shown)
    if cls is N.Uri:
        return [show_string(node.value)]  # type: ignore[attr-defined]
    if cls is N.Var:
        return [show_identifier(node.name)]  # type: ignore[attr-defined]
    if cls is N.CurPos:
        return ["__curPos"]
    if cls is N.Select:
        out: list[_Piece] = ["(", node.expr, ")."] + _path(node.path)  # type: ignore[attr-defined]
        if node.default is not None:  # type: ignore[attr-defined]
            out += [" or (", node.default, ")"]  # type: ignore[attr-defined]
        return out
    if cls is N.HasAttr:
        return ["((", node.expr, ") ? "] + _path(node.path) + [")"]  # type: ignore[attr-defined]
    if cls is N.Apply:
        args: list[_Piece] = []
        fn: N.Node = node
        while isinstance(fn, N.Apply):
            args.append(fn.arg)
            fn = fn.fn
        args.reverse()
        head = _call_head(fn)
        if head is not None:
            return _call(head[0], head[1] + args)
        return _call(fn, args)
    if cls is N.SearchPath or cls is N.Neg:
        head = _call_head(node)
        assert head is not None
        return _call(head[0], head[1])
    if cls is N.BinOp:
        op = node.op  # type: ignore[attr-defined]
        left, right = node.left, node.right  # type: ignore[attr-defined]
        if op == "+":
            return _concat([left, right])
        if op in _CALL_OPS or op == ">":
            head = _call_head(node)
            assert head is not None
            return _call(head[0], head[1])
        if op == "<=":
            return ["(! ", *_call("__lessThan", [right, left]), ")"]
        if op == ">=":
            return ["(! ", *_call("__lessThan", [left, right]), ")"]
        return ["(", left, f" {op} ", right, ")"]
    if cls is N.Not:
        return ["(! ", node.expr, ")"]  # type: ignore[attr-defined]
    if cls is N.List:
        out = ["[ "]
        for item in node.items:  # type: ignore[attr-defined]
            out += ["(", item, ") "]
        out.append("]")
        return out
    if cls is N.Lambda:
        return _lambda(node)  # type: ignore[arg-type]
    if cls is N.Attrs:
        out = ["rec { " if node.rec else "{ "]  # type: ignore[attr-defined]
        out += _bindings(node.attrs, node.inherit_from)  # type: ignore[attr-defined]
        for d in node.dynamic:  # type: ignore[attr-defined]
            out += ['"${', d.key, '}" = ', d.value, "; "]
        out.append("}")
        return out
    if cls is N.Let:
        out = ["(let ", *_bindings(node.attrs, node.inherit_from)]  # type: ignore[attr-defined]
        return out + ["in ", node.body, ")"]  # type: ignore[attr-defined]
    if cls is N.LegacyLet:
        return ["(", node.attrs, ").body"]  # type: ignore[attr-defined]
    if cls is N.With:
        return ["(with ", node.env, "; ", node.body, ")"]  # type: ignore[attr-defined]
    if cls is N.If:
        return ["(if ", node.cond, " then ", node.then, " else ", node.else_, ")"]  # type: ignore[attr-defined]
    if cls is N.Assert:
        return ["assert ", node.cond, "; ", node.body]  # type: ignore[attr-defined]
    return [f"<{cls.__name__}>"]


def _lambda(node: N.Lambda) -> list[_Piece]:
    out: list[_Piece] = ["("]
    if node.formals is not None:
        out.append("{ ")
        first = True
        for f in sorted(node.formals, key=lambda f: f.name):
            if not first:
                out.append(", ")
            first = False
            out.append(show_identifier(f.name))
            if f.default is not None:
                out += [" ? ", f.default]
        if node.ellipsis:
            out.append("..." if first else ", ...")
        out.append(" }")
        if node.arg is not None:
            out.append(" @ ")
    if node.arg is not None:
        out.append(show_identifier(node.arg))
    out += [": ", node.body, ")"]
    return out
