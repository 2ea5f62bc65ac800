"""The evaluator's own syntax tree: compact node classes carrying spans.

The parser (``evaluator.parse``) lowers a tree-sitter tree into these nodes.
Everything downstream (the compiler, static analysis, hover) works on them and
never on tree-sitter nodes.  Spans are byte offsets into a ``Source``.

Attribute sets and ``let`` are already *desugared* here: nested attribute
paths (``a.b.c = 1``) are merged into nested ``Attrs`` nodes exactly as Nix's
parser does, ``inherit`` becomes ``AttrDef`` entries, and duplicates have
been reported as parse errors.
"""

from __future__ import annotations

import bisect
import os
from dataclasses import dataclass, field
from typing import Any


class Source:
    """One parsed text: its path (None for ``-E``/stdin), bytes and line index."""

    __slots__ = ("path", "name", "text", "_lines")

    def __init__(self, text: bytes, path: str | None = None, name: str | None = None):
        self.path = path
        # ``name`` is what error messages show: the path, or «string», «stdin».
        self.name = name if name is not None else (path if path else "«string»")
        self.text = text
        self._lines: list[int] | None = None

    def replace_text(self, text: bytes) -> None:
        """Become the source of a new version of the same document (an
        incremental lowering keeps one ``Source`` for all of them)."""
        self.text = text
        self._lines = None

    @property
    def base_dir(self) -> str:
        """Directory relative paths in this source resolve against."""
        if self.path:
            return os.path.dirname(self.path)
        return os.getcwd()

    def line_starts(self) -> list[int]:
        if self._lines is None:
            starts = [0]
            text = self.text
            i = text.find(b"\n")
            while i >= 0:
                starts.append(i + 1)
                i = text.find(b"\n", i + 1)
            self._lines = starts
        return self._lines

    def line_col(self, offset: int) -> tuple[int, int]:
        """1-based line and column (column in characters, as Nix counts bytes+1)."""
        starts = self.line_starts()
        line = bisect.bisect_right(starts, offset) - 1
        return line + 1, offset - starts[line] + 1


@dataclass(slots=True, frozen=True)
class Span:
    """A byte range ``[start, end)`` in a source."""

    source: Source
    start: int
    end: int

    def line_col(self) -> tuple[int, int]:
        return self.source.line_col(self.start)

    def __reduce__(self) -> tuple[Any, tuple[Source, int, int]]:
        # Pickled by constructor (the code cache holds tens of thousands):
        # the dataclass default restores slots through a slow generic path.
        return (Span, (self.source, self.start, self.end))

    def __str__(self) -> str:
        line, col = self.line_col()
        return f"{self.source.name}:{line}:{col}"


# --------------------------------------------------------------------------
# Expressions.  Every node has ``span``; fields use plain Python containers.
# --------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class Node:
    span: Span


@dataclass(slots=True, eq=False)
class Int(Node):
    value: int


@dataclass(slots=True, eq=False)
class Float(Node):
    value: float


@dataclass(slots=True, eq=False)
class Str(Node):
    """A string, plain or indented, after escape processing and indentation
    stripping.  ``parts`` alternates freely between literal ``str`` pieces and
    interpolated expression nodes.  An empty list is the empty string."""

    parts: list[str | Node]
    # The spans of the ``${…}`` around each interpolated part, in order
    # (Nix reports a failed coercion there: "while evaluating a path segment").
    segments: list[Span] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Path(Node):
    """A path literal.  ``parts`` as for ``Str``; the first literal part is
    already absolute (relative paths resolved against the source directory,
    ``~`` expanded from HOME), as Nix does at parse time."""

    parts: list[str | Node]


@dataclass(slots=True, eq=False)
class SearchPath(Node):
    """``<name/sub>``: sugar for ``__findFile __nixPath "name/sub"``."""

    name: str


@dataclass(slots=True, eq=False)
class Uri(Node):
    """A URL literal such as ``http://example.org``; evaluates to a string."""

    value: str


@dataclass(slots=True, eq=False)
class Var(Node):
    name: str


@dataclass(slots=True, eq=False)
class CurPos(Node):
    """``__curPos``: the position of this expression as an attribute set."""


# An attribute name in a path: a static ``str`` or a dynamic expression
# (``${e}`` or a string with interpolation).
AttrName = str | Node


@dataclass(slots=True, eq=False)
class Select(Node):
    expr: Node
    path: list[AttrName]
    default: Node | None = None
    # Spans of each path element, parallel to ``path``.
    path_spans: list[Span] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class HasAttr(Node):
    expr: Node
    path: list[AttrName]
    path_spans: list[Span] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Apply(Node):
    fn: Node
    arg: Node


@dataclass(slots=True, eq=False)
class Formal:
    name: str
    default: Node | None
    span: Span


@dataclass(slots=True, eq=False)
class Lambda(Node):
    """``arg: body``, ``{ formals }: body`` or ``arg@{ formals }: body``."""

    arg: str | None
    formals: list[Formal] | None  # None for a plain ``x: body``
    ellipsis: bool
    body: Node
    arg_span: Span | None = None
    # Name given by the binding this lambda is the value of, for traces.
    name: str | None = None


@dataclass(slots=True, eq=False)
class AttrDef:
    """One attribute of an ``Attrs`` or binding of a ``Let``.

    kind:
      - ``"plain"``: ``name = value;`` (value evaluated in the set's scope:
        the recursive scope for ``rec``/``let``, the outer one otherwise)
      - ``"inherit"``: ``inherit name;`` (value is ``Var(name)`` looked up in
        the scope *outside* the set/let, even for ``rec`` and ``let``)
      - ``"inherit_from"``: ``inherit (e) name;`` (value is
        ``inherit_from[from_index].name``, with ``e`` evaluated once)
    """

    value: Node
    span: Span  # span of the attribute name
    kind: str = "plain"
    from_index: int = -1


@dataclass(slots=True, eq=False)
class DynAttr:
    """``${key} = value;`` with a key only known at run time."""

    key: Node
    value: Node
    span: Span


@dataclass(slots=True, eq=False)
class Attrs(Node):
    rec: bool
    attrs: dict[str, AttrDef]
    dynamic: list[DynAttr] = field(default_factory=list)
    inherit_from: list[Node] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Let(Node):
    attrs: dict[str, AttrDef]
    body: Node
    inherit_from: list[Node] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class LegacyLet(Node):
    """``let { a = 1; body = a; }``: ``(rec { ... }).body``; deprecated."""

    attrs: Attrs


@dataclass(slots=True, eq=False)
class With(Node):
    env: Node
    body: Node


@dataclass(slots=True, eq=False)
class If(Node):
    cond: Node
    then: Node
    else_: Node


@dataclass(slots=True, eq=False)
class Assert(Node):
    cond: Node
    body: Node


@dataclass(slots=True, eq=False)
class List(Node):
    items: list[Node]


@dataclass(slots=True, eq=False)
class BinOp(Node):
    """Binary operators: ``+ - * / ++ // == != < <= > >= && || ->``.

    ``op_span`` is the span of the operator token (used in error messages)."""

    op: str
    left: Node
    right: Node
    op_span: Span | None = None


@dataclass(slots=True, eq=False)
class Not(Node):
    expr: Node


@dataclass(slots=True, eq=False)
class Neg(Node):
    """Unary minus: ``-e`` is ``__sub 0 e`` in Nix."""

    expr: Node


@dataclass(slots=True)
class ParseError:
    """A syntax error: message and span.  Parsing collects all of them."""

    message: str
    span: Span
    # A stable diagnostic code (see evaluator.diagnostics.CODES).
    code: str = "syntax_error"

    def __str__(self) -> str:
        return f"{self.message} at {self.span}"


@dataclass(slots=True)
class ParseResult:
    source: Source
    root: Node | None  # None when there were errors
    errors: list[ParseError]
    # With errors: the tree lowered anyway, each unparsable part replaced by a
    # placeholder ``Var`` named "" (for static analysis of broken buffers only).
    partial: Node | None = None


def _moved(span: Span, delta: int) -> Span:
    return Span(span.source, span.start + delta, span.end + delta)


def shift_spans(root: Node, delta: int) -> None:
    """Move every span in ``root``'s subtree by ``delta`` bytes, in place (a
    subtree an incremental lowering reuses where the text before it changed
    length).  Covers every span a node holds, not only ``Node.span``; a node
    reached twice (an ``inherit (e)`` source) moves once."""
    seen: set[int] = set()
    stack: list[Node] = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        node.span = _moved(node.span, delta)
        cls = node.__class__
        if cls is Str or cls is Path:
            stack.extend(p for p in node.parts if not isinstance(p, str))  # type: ignore[attr-defined]
            if cls is Str:
                node.segments = [_moved(s, delta) for s in node.segments]  # type: ignore[attr-defined]
        elif cls is Select or cls is HasAttr:
            stack.append(node.expr)  # type: ignore[attr-defined]
            stack.extend(p for p in node.path if not isinstance(p, str))  # type: ignore[attr-defined]
            node.path_spans = [_moved(s, delta) for s in node.path_spans]  # type: ignore[attr-defined]
            if cls is Select and node.default is not None:  # type: ignore[attr-defined]
                stack.append(node.default)  # type: ignore[attr-defined]
        elif cls is Apply:
            stack.extend((node.fn, node.arg))  # type: ignore[attr-defined]
        elif cls is Lambda:
            lam: Lambda = node  # type: ignore[assignment]
            if lam.arg_span is not None:
                lam.arg_span = _moved(lam.arg_span, delta)
            for f in lam.formals or ():
                f.span = _moved(f.span, delta)
                if f.default is not None:
                    stack.append(f.default)
            stack.append(lam.body)
        elif cls is Attrs or cls is Let:
            binds: Attrs | Let = node  # type: ignore[assignment]
            for ad in binds.attrs.values():
                ad.span = _moved(ad.span, delta)
                stack.append(ad.value)
            stack.extend(binds.inherit_from)
            if cls is Attrs:
                for dyn in binds.dynamic:  # type: ignore[union-attr]
                    dyn.span = _moved(dyn.span, delta)
                    stack.extend((dyn.key, dyn.value))
            else:
                stack.append(binds.body)  # type: ignore[union-attr]
        elif cls is LegacyLet:
            stack.append(node.attrs)  # type: ignore[attr-defined]
        elif cls is With:
            stack.extend((node.env, node.body))  # type: ignore[attr-defined]
        elif cls is If:
            stack.extend((node.cond, node.then, node.else_))  # type: ignore[attr-defined]
        elif cls is Assert:
            stack.extend((node.cond, node.body))  # type: ignore[attr-defined]
        elif cls is List:
            stack.extend(node.items)  # type: ignore[attr-defined]
        elif cls is BinOp:
            b: BinOp = node  # type: ignore[assignment]
            if b.op_span is not None:
                b.op_span = _moved(b.op_span, delta)
            stack.extend((b.left, b.right))
        elif cls is Not or cls is Neg:
            stack.append(node.expr)  # type: ignore[attr-defined]
