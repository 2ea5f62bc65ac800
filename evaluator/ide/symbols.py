"""Document and workspace symbols, selection ranges and document links.

``document_symbols`` must stay fast on files of tens of thousands of lines,
so it does not lower or evaluate anything: it runs one tree-sitter query (in
C) over the concrete syntax tree and nests the captures by their byte ranges
in a single pass.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from tree_sitter import Node, Query, QueryCursor, Tree

from .. import nodes as N
from ..parse import LANGUAGE, make_parser, prepare_text
from ..walk import walk
from ._doc import analyse, to_bytes
from .navigation import file_location
from .types import DocumentLink, Location, SelectionRange, Symbol, WorkspaceSymbol

_QUERY = Query(
    LANGUAGE,
    """
(binding attrpath: (attrpath) @name) @binding
(binding expression: (function_expression)) @function
(binding expression: [(attrset_expression) (rec_attrset_expression)]) @object
(let_expression (binding_set (binding) @variable))
(inherited_attrs attr: (_) @inherit)
(formal name: (identifier) @formal)
(function_expression universal: (identifier) @arg)
""",
)

#: Syntax nodes of at most this many bytes are outlined as one piece (by the
#: query, in C) and the result is reused, keyed by the node's text, by later
#: versions of the document; larger nodes are walked in Python.
CHUNK_BYTES = 2048

# An outline entry relative to the start of its chunk:
# (name, kind, start, end, name start, name end, detail, children).
Rel = tuple[str, str, int, int, int, int, "str | None", tuple["Rel", ...]]


@dataclass(frozen=True, slots=True)
class OutlineChunk:
    """The symbols inside one small syntax node (offsets relative to ``start``);
    ``key`` identifies its text, so equal keys mean equal symbols."""

    start: int
    key: tuple[str, bool, bytes]
    symbols: tuple[Rel, ...]
    #: tree-sitter's (row, byte column) of ``start``
    point: tuple[int, int]


@dataclass(frozen=True, slots=True)
class OutlineSymbol:
    """A symbol of a large node, with absolute offsets, and its contents."""

    name: str
    kind: str
    start: int
    end: int
    sel_start: int
    sel_end: int
    detail: str | None
    children: list[OutlineSymbol | OutlineChunk]


OutlineItem = OutlineSymbol | OutlineChunk


def outline(
    data: bytes,
    tree: Tree,
    cache: dict[tuple[str, bool, bytes], tuple[Rel, ...]] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> list[OutlineItem]:
    """The document outline of ``tree`` (the parse of ``data``), in pieces.

    ``cache`` maps the chunks of an earlier version of the document to their
    symbols; it is replaced in place by the chunks of this one, so an edit
    costs the query of the chunks it touched plus a walk over the large
    nodes.  Iterative: the host stack does not grow with the nesting."""
    old = cache if cache is not None else {}
    new: dict[tuple[str, bool, bytes], tuple[Rel, ...]] = {}
    roots: list[OutlineItem] = []
    # (node, list to append its items to, whether it is a parameter's name)
    stack: list[tuple[Node, list[OutlineItem], bool]] = [(tree.root_node, roots, False)]
    while stack:
        node, out, param = stack.pop()
        start, end = node.start_byte, node.end_byte
        if param:
            name = data[start:end].decode("utf-8", "replace")
            out.append(OutlineSymbol(name, "parameter", start, end, start, end, None, []))
            continue
        if end - start <= chunk_bytes or node.child_count == 0:
            in_let = _in_let(node)
            key = (node.type, in_let, data[start:end])
            syms = new.get(key)
            if syms is None:
                syms = old.get(key)
                if syms is None:
                    syms = _chunk_symbols(node, data, in_let)
                if not node.has_error:
                    new[key] = syms
            if syms:
                out.append(OutlineChunk(start, key, syms, node.start_point))
            continue
        inner = out
        t = node.type
        names: Node | None = None  # the child naming a parameter
        if t == "binding":
            path = node.child_by_field_name("attrpath")
            expr = node.child_by_field_name("expression")
            if path is not None:
                name = _attr_name(data, path.start_byte, path.end_byte)
                kind = _binding_kind(expr.type if expr is not None else "", _in_let(node))
                sym = OutlineSymbol(
                    name, kind, start, end, path.start_byte, path.end_byte, None, []
                )
                out.append(sym)
                inner = sym.children
        elif t == "inherited_attrs":
            for ident in node.children_by_field_name("attr"):
                a, b = ident.start_byte, ident.end_byte
                name = data[a:b].decode("utf-8", "replace")
                out.append(OutlineSymbol(name, "field", a, b, a, b, "inherit", []))
            continue
        elif t == "formal":
            names = node.child_by_field_name("name")
        elif t == "function_expression":
            names = node.child_by_field_name("universal")
        if names is not None and names.type != "identifier":
            names = None
        # Children in source order: pushed last first.
        stack.extend(
            (child, inner, names is not None and child == names)
            for child in reversed(node.children)
        )
    if cache is not None:
        cache.clear()
        cache.update(new)
    return roots


def _in_let(node: Node) -> bool:
    """Whether ``node`` is a binding of a ``let``, or the bindings of one."""
    t = node.type
    if t == "binding_set":
        parent = node.parent
        return parent is not None and parent.type == "let_expression"
    if t != "binding":
        return False
    parent = node.parent
    return parent is not None and parent.type == "binding_set" and _in_let(parent)


def _binding_kind(expr_type: str, in_let: bool) -> str:
    if expr_type == "function_expression":
        return "function"
    if expr_type in ("attrset_expression", "rec_attrset_expression"):
        return "object"
    return "variable" if in_let else "field"


def _attr_name(data: bytes, start: int, end: int) -> str:
    name = data[start:end].decode("utf-8", "replace")
    if " " in name or "\n" in name or "\t" in name:
        name = re.sub(r"\s+", "", name)
    return name


def _chunk_symbols(node: Node, data: bytes, in_let: bool) -> tuple[Rel, ...]:
    """The symbols inside ``node``, nested by byte range, relative to its start."""
    base = node.start_byte
    found = QueryCursor(_QUERY).captures(node)
    if not found:
        return ()
    kinds: dict[int, str] = {}
    for kind in ("variable", "object", "function"):  # later ones win
        for n in found.get(kind, ()):
            kinds[n.start_byte] = kind
    if in_let:  # its let is outside the chunk
        if node.type == "binding":
            kinds.setdefault(base, "variable")
        else:
            for child in node.named_children:
                if child.type == "binding":
                    kinds.setdefault(child.start_byte, "variable")
    names = {n.start_byte: n.end_byte for n in found.get("name", ())}
    caps: list[tuple[int, int, str]] = []
    for cap in ("binding", "inherit", "formal", "arg"):
        caps.extend((n.start_byte, -n.end_byte, cap) for n in found.get(cap, ()))
    caps.sort()
    # Built as lists, frozen into tuples at the end.
    roots: list[list] = []
    stack: list[tuple[int, list]] = []  # (end byte, entry) of open bindings
    for start, neg_end, cap in caps:
        end = -neg_end
        while stack and stack[-1][0] < end:
            stack.pop()
        if cap == "binding":
            name_end = names[start]
            entry = [
                _attr_name(data, start, name_end),
                kinds.get(start, "field"),
                start - base,
                end - base,
                start - base,
                name_end - base,
                None,
                [],
            ]
            (stack[-1][1][7] if stack else roots).append(entry)
            stack.append((end, entry))
        else:
            name = data[start:end].decode("utf-8", "replace")
            kind, detail = ("field", "inherit") if cap == "inherit" else ("parameter", None)
            a, b = start - base, end - base
            (stack[-1][1][7] if stack else roots).append([name, kind, a, b, a, b, detail, []])
    return tuple(_freeze(e) for e in roots)


def _freeze(entry: list) -> Rel:
    # Iterative post-order: nesting follows the source.
    out: dict[int, Rel] = {}
    stack: list[tuple[list, bool]] = [(entry, False)]
    while stack:
        e, done = stack.pop()
        if done:
            kids = tuple(out.pop(id(c)) for c in e[7])
            out[id(e)] = (e[0], e[1], e[2], e[3], e[4], e[5], e[6], kids)
        else:
            stack.append((e, True))
            stack.extend((c, False) for c in e[7])
    return out[id(entry)]


def document_symbols(
    text: str | bytes,
    path: str | None = None,
    tree: Tree | None = None,
    *,
    chunk_bytes: int = CHUNK_BYTES,
) -> list[Symbol]:
    """The outline: bindings (by attribute path), inherited names, formals and
    arguments, nested as in the source (``tree``: the parse of ``text`` when
    the caller has one)."""
    data = to_bytes(text)
    source = N.Source(data, path)
    if tree is None:
        tree = make_parser().parse(prepare_text(data))
    roots: list[Symbol] = []
    stack: list[tuple[OutlineItem, list[Symbol]]] = [
        (item, roots) for item in reversed(outline(data, tree, None, chunk_bytes))
    ]
    while stack:
        item, out = stack.pop()
        if isinstance(item, OutlineChunk):
            base = item.start
            rels = [(r, out) for r in reversed(item.symbols)]
            while rels:
                r, into = rels.pop()
                a, b, c, d = base + r[2], base + r[3], base + r[4], base + r[5]
                sym = _symbol(source, r[0], r[1], a, b, c, d, r[6])
                into.append(sym)
                rels.extend((k, sym.children) for k in reversed(r[7]))
            continue
        sym = _symbol(
            source,
            item.name,
            item.kind,
            item.start,
            item.end,
            item.sel_start,
            item.sel_end,
            item.detail,
        )
        out.append(sym)
        stack.extend((c, sym.children) for c in reversed(item.children))
    return roots


def _symbol(
    source: N.Source, name: str, kind: str, a: int, b: int, c: int, d: int, detail: str | None
) -> Symbol:
    return Symbol(name, kind, N.Span(source, a, b), N.Span(source, c, d), detail=detail)


def workspace_symbols(files: dict[str, str | bytes], query: str) -> list[WorkspaceSymbol]:
    """Symbols of ``files`` whose name contains ``query`` (case-insensitive,
    as a subsequence), with their container's name; at most 500."""
    q = query.lower()
    out: list[WorkspaceSymbol] = []
    for path, text in files.items():
        stack: list[tuple[Symbol, str | None]] = [(s, None) for s in document_symbols(text, path)]
        while stack and len(out) < 500:
            sym, container = stack.pop()
            if _subsequence(q, sym.name.lower()):
                out.append(
                    WorkspaceSymbol(sym.name, sym.kind, Location(path, sym.selection), container)
                )
            stack.extend((c, sym.name) for c in sym.children)
    return out


def _subsequence(q: str, s: str) -> bool:
    it = iter(s)
    return all(c in it for c in q)


def selection_ranges(text: str | bytes, offsets: list[int]) -> list[SelectionRange]:
    """For each offset, the chain of enclosing syntax nodes, innermost first
    (from the concrete tree, so punctuation-level structure is included)."""
    data = to_bytes(text)
    source = N.Source(data)
    tree = make_parser().parse(prepare_text(data))
    out: list[SelectionRange] = []
    for off in offsets:
        node: Node | None = tree.root_node.descendant_for_byte_range(off, off)
        spans: list[tuple[int, int]] = []
        while node is not None:
            sp = (node.start_byte, node.end_byte)
            if not spans or spans[-1] != sp:
                spans.append(sp)
            node = node.parent
        result: SelectionRange | None = None
        for a, b in reversed(spans):
            result = SelectionRange(N.Span(source, a, b), result)
        out.append(result or SelectionRange(N.Span(source, off, off)))
    return out


_URL_IN_STRING = re.compile(rb"https?://[^\s\"'${}<>\\]+")


def document_links(text: str | bytes, path: str | None, io: Any = None) -> list[DocumentLink]:
    """Path literals whose target exists (directories to ``default.nix``) and
    URLs (URL literals and ``http(s)://`` inside strings)."""
    from ..io import RealIO

    io = io or RealIO()
    doc = analyse(text, path)
    out: list[DocumentLink] = []
    if doc.root is not None:
        for n in walk(doc.root):
            if isinstance(n, N.Path) and all(isinstance(p, str) for p in n.parts):
                loc = file_location("".join(p for p in n.parts if isinstance(p, str)), io)
                if loc is not None and loc.path is not None:
                    out.append(DocumentLink(n.span, os.path.abspath(loc.path)))
            elif isinstance(n, N.Uri):
                out.append(DocumentLink(n.span, n.value))
            elif isinstance(n, N.Str):
                raw = doc.text[n.span.start : n.span.end]
                for m in _URL_IN_STRING.finditer(raw):
                    url = m.group().rstrip(b".,;)").decode("utf-8", "replace")
                    a = n.span.start + m.start()
                    out.append(DocumentLink(N.Span(doc.source, a, a + len(url.encode())), url))
    out.sort(key=lambda link: link.span.start)
    return out


__all__ = [
    "CHUNK_BYTES",
    "OutlineChunk",
    "OutlineItem",
    "OutlineSymbol",
    "document_links",
    "document_symbols",
    "outline",
    "selection_ranges",
    "workspace_symbols",
]
