"""Go to definition, find references and document highlights.

Definitions come from name resolution (``let``, ``rec``, formals, arguments,
``inherit``); what resolution cannot know is found by evaluating a small
piece of the program under a small budget and reading the positions the
evaluator records for attributes (``Attrs.pos``): the source of ``inherit
(e) x;``, the attribute sets of enclosing ``with``s, and ``a.b.c``
selections.  Path literals (and ``import ./x.nix``) go to the file, or to its
``default.nix`` for a directory.
"""

from __future__ import annotations

import os
from typing import Any

from .. import nodes as N
from ..errors import NixError
from ..io import RealIO
from ..scope import Definition, Ref, definition_at, reference_at
from ..values import Attrs, NixPath
from ._doc import (
    Doc,
    analyse,
    chain_to,
    contains,
    eval_chain,
    eval_node,
    make_evaluator,
    node_at,
    observed_args,
    tree_index,
)
from .types import Highlight, Location


def definition(
    text: str | bytes,
    path: str | None,
    offset: int,
    io: Any = None,
    observed: dict[tuple[str, int], list[Any]] | None = None,
    context: Any = None,
) -> list[Location]:
    """Where the name, attribute, option or path under ``offset`` is defined
    (``observed``, ``context``: as for ``completion``)."""
    doc = analyse(text, path)
    if doc.root is None:
        return []
    io = io or RealIO()
    if context is not None:
        from .option_features import option_declarations

        declared = option_declarations(context, doc.text, path, offset, observed or {}, io)
        if declared is not None:
            return declared
    res = doc.res
    found = reference_at(res, offset)
    if found is not None:
        var, ref = found
        if ref.definition is not None:
            return [_loc(ref.definition.span)]
        if ref.kind == "with":
            return _with_definition(doc, var, ref, io)
        if var.name == "import":
            target = _import_target(doc, var, io)
            return [target] if target else []
        return []
    inherited = _inherit_from_definition(doc, offset, io)
    if inherited is not None:
        return inherited
    d = definition_at(res, offset)
    if d is not None:
        return [_loc(d.span)]
    node = node_at(doc.root, offset)
    if isinstance(node, N.Path):
        target = _path_location(node, io)
        return [target] if target else []
    if isinstance(node, N.Select):
        return _select_definition(doc, node, offset, io, observed or {})
    return []


def _loc(span: N.Span) -> Location:
    return Location(span.source.path, span)


def _attr_location(value: Any, name: str) -> Location | None:
    """Where attribute ``name`` of an evaluated set was defined."""
    if isinstance(value, Attrs) and name in value and value.pos and name in value.pos:
        return _loc(value.pos[name])
    return None


def _with_definition(doc: Doc, var: N.Var, ref: Ref, io: Any) -> list[Location]:
    """The attribute of the innermost ``with`` set that has ``var.name``."""
    for w in ref.withs:
        value = eval_node(doc, w.env, io)
        if isinstance(value, Attrs) and var.name in value:
            loc = _attr_location(value, var.name)
            return [loc] if loc else [_loc(w.env.span)]
    return []


def _inherit_from_definition(doc: Doc, offset: int, io: Any) -> list[Location] | None:
    """``inherit (e) x;`` with the cursor on ``x``: ``x`` inside ``e``."""
    assert doc.root is not None
    for n in (doc.root, *_binding_sets(doc.root)):
        if not isinstance(n, (N.Attrs, N.Let)):
            continue
        for name, ad in n.attrs.items():
            if ad.kind == "inherit_from" and contains(ad.span, offset):
                src = n.inherit_from[ad.from_index]
                loc = _attr_location(eval_node(doc, src, io), name)
                return [loc] if loc else [_loc(src.span)]
    return None


def _binding_sets(root: N.Node) -> list[N.Node]:
    return tree_index(root).nodes((N.Attrs, N.Let))


def _select_definition(
    doc: Doc, sel: N.Select, offset: int, io: Any, observed: dict[tuple[str, int], list[Any]]
) -> list[Location]:
    """``a.b.c`` with the cursor on ``b``: evaluate ``a`` and read ``pos``
    (for a package, ``a.b`` and its ``meta.position``)."""
    assert doc.root is not None
    for i, sp in enumerate(sel.path_spans):
        name = sel.path[i]
        if not contains(sp, offset) or not isinstance(name, str):
            continue
        chain = chain_to(doc.root, sel)
        args = observed_args(chain, observed)
        package = _package_location(doc, chain, sel, i, io, args)
        if package is not None:
            return [package]
        if i == 0:
            value = eval_chain(doc, [*chain, sel.expr], None, io, args)
        else:
            prefix = N.Select(
                N.Span(sel.span.source, sel.span.start, sel.path_spans[i - 1].end),
                sel.expr,
                sel.path[:i],
                None,
                sel.path_spans[:i],
            )
            value = eval_chain(doc, [*chain[:-1], prefix], None, io, args)
        loc = _attr_location(value, name)
        return [loc] if loc else []
    return []


def _package_location(
    doc: Doc, chain: list[N.Node], sel: N.Select, i: int, io: Any, args: dict[Any, Any]
) -> Location | None:
    """Where the package ``sel.path[: i + 1]`` is defined (``meta.position``)."""
    from .docs import is_derivation, package_info
    from .option_features import _location

    upto = N.Select(
        N.Span(sel.span.source, sel.span.start, sel.path_spans[i].end),
        sel.expr,
        sel.path[: i + 1],
        None,
        sel.path_spans[: i + 1],
    )
    ev = make_evaluator(io)
    value = eval_chain(doc, [*chain[:-1], upto], ev, io, args)
    try:
        if value is None or not is_derivation(ev, value):
            return None
        position = package_info(ev, value).position
    except NixError:
        return None
    return None if position is None else _location(position[0], position[1], 1, io)


def _static_path(node: N.Path) -> str | None:
    if all(isinstance(p, str) for p in node.parts):
        return "".join(p for p in node.parts if isinstance(p, str))
    return None


def _path_location(node: N.Path, io: Any) -> Location | None:
    """The file a path literal names (``default.nix`` for a directory)."""
    p = _static_path(node)
    if p is None:
        return None
    return file_location(p, io)


def file_location(p: str, io: Any) -> Location | None:
    """The start of file ``p`` (of ``p/default.nix`` for a directory)."""
    try:
        kind = io.file_type(p)
        if kind == "directory":
            p = os.path.join(p, "default.nix")
            kind = io.file_type(p)
    except Exception:  # noqa: BLE001 - access denied or unreadable: no target
        return None
    if kind is None:
        return None
    return Location(p, N.Span(N.Source(b"", p), 0, 0))


def _import_target(doc: Doc, var: N.Var, io: Any) -> Location | None:
    """``import e`` with the cursor on ``import``: the file ``e`` names."""
    assert doc.root is not None
    chain = chain_to(doc.root, var)
    app = chain[-2] if len(chain) >= 2 else None
    if not isinstance(app, N.Apply) or app.fn is not var:
        return None
    if isinstance(app.arg, N.Path):
        return _path_location(app.arg, io)
    value = eval_chain(doc, [*chain[:-1], app.arg], None, io)
    if isinstance(value, NixPath):
        return file_location(value.path, io)
    return None


# ------------------------------------------------------------- references
def _occurrences(doc: Doc, offset: int) -> tuple[Definition | None, list[N.Span]]:
    """The definition under ``offset`` and the spans of its uses; for a
    builtin or a name looked up through ``with``, every variable with the
    same name and the same resolution."""
    res = doc.res
    found = reference_at(res, offset)
    if found is not None and found[1].definition is None:
        var, ref = found
        same = [
            v.span
            for v, r in res.refs.items()
            if v.name == var.name and r.kind == ref.kind and r.withs[:1] == ref.withs[:1]
        ]
        return None, sorted(same, key=lambda s: s.start)
    d = definition_at(res, offset)
    if d is None:
        return None, []
    uses = [u.span for u in d.uses if isinstance(u, N.Var)]
    return d, sorted(uses, key=lambda s: s.start)


def references(
    text: str | bytes, path: str | None, offset: int, include_declaration: bool = True
) -> list[Location]:
    """Every use of the name under ``offset`` (and its definition if asked)."""
    doc = analyse(text, path)
    if doc.root is None:
        return []
    d, uses = _occurrences(doc, offset)
    spans = ([d.span] if d is not None and include_declaration else []) + uses
    return [_loc(s) for s in spans]


def document_highlight(text: str | bytes, path: str | None, offset: int) -> list[Highlight]:
    """The definition (``write``) and uses (``read``) of the name under ``offset``."""
    doc = analyse(text, path)
    if doc.root is None:
        return []
    d, uses = _occurrences(doc, offset)
    out = [Highlight(d.span, "write")] if d is not None else []
    out.extend(Highlight(s, "read") for s in uses if d is None or s != d.span)
    return out
