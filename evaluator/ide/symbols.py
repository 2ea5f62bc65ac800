"""Document and workspace symbols, selection ranges and document links.

``document_symbols`` must stay fast on files of tens of thousands of lines,
so it does not lower or evaluate anything: it runs one tree-sitter query (in
C) over the concrete syntax tree and nests the captures by their byte ranges
in a single pass.
"""

from __future__ import annotations

import os
import re
from typing import Any

from tree_sitter import Node, Query, QueryCursor

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


def document_symbols(text: str | bytes, path: str | None = None) -> list[Symbol]:
    """The outline: bindings (by attribute path), inherited names, formals and
    arguments, nested as in the source."""
    data = to_bytes(text)
    source = N.Source(data, path)
    tree = make_parser().parse(prepare_text(data))
    found = QueryCursor(_QUERY).captures(tree.root_node)
    kinds: dict[int, str] = {}
    for kind in ("variable", "object", "function"):  # later ones win
        for n in found.get(kind, ()):
            kinds[n.start_byte] = kind
    names = {n.start_byte: n.end_byte for n in found.get("name", ())}
    caps: list[tuple[int, int, str]] = []
    for cap in ("binding", "inherit", "formal", "arg"):
        caps.extend((n.start_byte, -n.end_byte, cap) for n in found.get(cap, ()))
    caps.sort()
    roots: list[Symbol] = []
    stack: list[tuple[int, Symbol]] = []  # (end byte, symbol) of open bindings
    for start, neg_end, cap in caps:
        end = -neg_end
        while stack and stack[-1][0] < end:
            stack.pop()
        if cap == "binding":
            name_end = names[start]
            sel = N.Span(source, start, name_end)
            name = data[start:name_end].decode("utf-8", "replace")
            if " " in name or "\n" in name or "\t" in name:
                name = re.sub(r"\s+", "", name)
            sym = Symbol(name, kinds.get(start, "field"), N.Span(source, start, end), sel)
            (stack[-1][1].children if stack else roots).append(sym)
            stack.append((end, sym))
        else:
            sp = N.Span(source, start, end)
            name = data[start:end].decode("utf-8", "replace")
            if cap == "inherit":
                sym = Symbol(name, "field", sp, sp, detail="inherit")
            else:
                sym = Symbol(name, "parameter", sp, sp)
            (stack[-1][1].children if stack else roots).append(sym)
    return roots


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
    "document_links",
    "document_symbols",
    "selection_ranges",
    "workspace_symbols",
]
