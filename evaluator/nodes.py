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
from typing import Any, Final


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


class Span:
    """A byte range ``[start, end)`` in a source; equal by value and hashable
    (spans key dictionaries), so never changed once made (``Final``: mypy
    rejects an assignment; not checked at run time, where the code cache
    makes tens of thousands of spans per process)."""

    __slots__ = ("source", "start", "end")

    source: Final[Source]
    start: Final[int]
    end: Final[int]

    def __init__(self, source: Source, start: int, end: int) -> None:
        self.source = source
        self.start = start
        self.end = end

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Span:
            return NotImplemented
        o: Span = other  # type: ignore[assignment]
        return self.source is o.source and self.start == o.start and self.end == o.end

    def __hash__(self) -> int:
        return hash((id(self.source), self.start, self.end))

    def __repr__(self) -> str:
        return f"Span(source={self.source!r}, start={self.start!r}, end={self.end!r})"

    def line_col(self) -> tuple[int, int]:
        return self.source.line_col(self.start)

    def __reduce__(self) -> tuple[Any, tuple[Source, int, int]]:
        # Pickled by constructor (the code cache holds tens of thousands).
        return (Span, (self.source, self.start, self.end))

    def __str__(self) -> str:
        line, col = self.line_col()
        return f"{self.source.name}:{line}:{col}"


def fields(obj: Any) -> tuple[str, ...]:
    """The field names of a ``Record`` (a node, ``Formal``, ``AttrDef``,
    ``ParseError``, a diagnostic, a scope's records) in constructor order:
    the ``__slots__`` of its classes, base first."""
    names: list[str] = []
    for cls in reversed(type(obj).__mro__):
        names.extend(cls.__dict__.get("__slots__", ()))
    return tuple(names)


class Record:
    """Base of plain classes with ``__slots__`` and a hand-written
    ``__init__``, shown by their fields; equality is identity.  (Not
    ``dataclasses``: importing it and building the evaluator's ~40 classes
    with it was a fifth of a command-line evaluation's start-up.)"""

    __slots__ = ()

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)!r}" for name in fields(self))
        return f"{type(self).__name__}({inner})"


# --------------------------------------------------------------------------
# Expressions.  Every node has ``span``; fields use plain Python containers.
# --------------------------------------------------------------------------


class Node(Record):
    __slots__ = ("span",)

    span: Span

    def __init__(self, span: Span) -> None:
        self.span = span


class Int(Node):
    __slots__ = ("value",)

    value: int

    def __init__(self, span: Span, value: int) -> None:
        self.span = span
        self.value = value


class Float(Node):
    __slots__ = ("value",)

    value: float

    def __init__(self, span: Span, value: float) -> None:
        self.span = span
        self.value = value


class Str(Node):
    """A string, plain or indented, after escape processing and indentation
    stripping.  ``parts`` alternates freely between literal ``str`` pieces and
    interpolated expression nodes.  An empty list is the empty string."""

    __slots__ = ("parts", "segments")

    parts: list[str | Node]
    # The spans of the ``${…}`` around each interpolated part, in order
    # (Nix reports a failed coercion there: "while evaluating a path segment").
    segments: list[Span]

    def __init__(
        self, span: Span, parts: list[str | Node], segments: list[Span] | None = None
    ) -> None:
        self.span = span
        self.parts = parts
        self.segments = [] if segments is None else segments


class Path(Node):
    """A path literal.  ``parts`` as for ``Str``; the first literal part is
    already absolute (relative paths resolved against the source directory,
    ``~`` expanded from HOME), as Nix does at parse time."""

    __slots__ = ("parts",)

    parts: list[str | Node]

    def __init__(self, span: Span, parts: list[str | Node]) -> None:
        self.span = span
        self.parts = parts


class SearchPath(Node):
    """``<name/sub>``: sugar for ``__findFile __nixPath "name/sub"``."""

    __slots__ = ("name",)

    name: str

    def __init__(self, span: Span, name: str) -> None:
        self.span = span
        self.name = name


class Uri(Node):
    """A URL literal such as ``http://example.org``; evaluates to a string."""

    __slots__ = ("value",)

    value: str

    def __init__(self, span: Span, value: str) -> None:
        self.span = span
        self.value = value


class Var(Node):
    __slots__ = ("name",)

    name: str

    def __init__(self, span: Span, name: str) -> None:
        self.span = span
        self.name = name


class CurPos(Node):
    """``__curPos``: the position of this expression as an attribute set."""

    __slots__ = ()


# An attribute name in a path: a static ``str`` or a dynamic expression
# (``${e}`` or a string with interpolation).
AttrName = str | Node


class Select(Node):
    __slots__ = ("expr", "path", "default", "path_spans")

    expr: Node
    path: list[AttrName]
    default: Node | None
    # Spans of each path element, parallel to ``path``.
    path_spans: list[Span]

    def __init__(
        self,
        span: Span,
        expr: Node,
        path: list[AttrName],
        default: Node | None = None,
        path_spans: list[Span] | None = None,
    ) -> None:
        self.span = span
        self.expr = expr
        self.path = path
        self.default = default
        self.path_spans = [] if path_spans is None else path_spans


class HasAttr(Node):
    __slots__ = ("expr", "path", "path_spans")

    expr: Node
    path: list[AttrName]
    path_spans: list[Span]

    def __init__(
        self, span: Span, expr: Node, path: list[AttrName], path_spans: list[Span] | None = None
    ) -> None:
        self.span = span
        self.expr = expr
        self.path = path
        self.path_spans = [] if path_spans is None else path_spans


class Apply(Node):
    __slots__ = ("fn", "arg")

    fn: Node
    arg: Node

    def __init__(self, span: Span, fn: Node, arg: Node) -> None:
        self.span = span
        self.fn = fn
        self.arg = arg


class Formal(Record):
    __slots__ = ("name", "default", "span")

    name: str
    default: Node | None
    span: Span

    def __init__(self, name: str, default: Node | None, span: Span) -> None:
        self.name = name
        self.default = default
        self.span = span


class Lambda(Node):
    """``arg: body``, ``{ formals }: body`` or ``arg@{ formals }: body``."""

    __slots__ = ("arg", "formals", "ellipsis", "body", "arg_span", "name")

    arg: str | None
    formals: list[Formal] | None  # None for a plain ``x: body``
    ellipsis: bool
    body: Node
    arg_span: Span | None
    # Name given by the binding this lambda is the value of, for traces.
    name: str | None

    def __init__(
        self,
        span: Span,
        arg: str | None,
        formals: list[Formal] | None,
        ellipsis: bool,
        body: Node,
        arg_span: Span | None = None,
        name: str | None = None,
    ) -> None:
        self.span = span
        self.arg = arg
        self.formals = formals
        self.ellipsis = ellipsis
        self.body = body
        self.arg_span = arg_span
        self.name = name


class AttrDef(Record):
    """One attribute of an ``Attrs`` or binding of a ``Let``.

    kind:
      - ``"plain"``: ``name = value;`` (value evaluated in the set's scope:
        the recursive scope for ``rec``/``let``, the outer one otherwise)
      - ``"inherit"``: ``inherit name;`` (value is ``Var(name)`` looked up in
        the scope *outside* the set/let, even for ``rec`` and ``let``)
      - ``"inherit_from"``: ``inherit (e) name;`` (value is
        ``inherit_from[from_index].name``, with ``e`` evaluated once)
    """

    __slots__ = ("value", "span", "kind", "from_index")

    value: Node
    span: Span  # span of the attribute name
    kind: str
    from_index: int

    def __init__(self, value: Node, span: Span, kind: str = "plain", from_index: int = -1) -> None:
        self.value = value
        self.span = span
        self.kind = kind
        self.from_index = from_index


class DynAttr(Record):
    """``${key} = value;`` with a key only known at run time."""

    __slots__ = ("key", "value", "span")

    key: Node
    value: Node
    span: Span

    def __init__(self, key: Node, value: Node, span: Span) -> None:
        self.key = key
        self.value = value
        self.span = span


class Attrs(Node):
    __slots__ = ("rec", "attrs", "dynamic", "inherit_from")

    rec: bool
    attrs: dict[str, AttrDef]
    dynamic: list[DynAttr]
    inherit_from: list[Node]

    def __init__(
        self,
        span: Span,
        rec: bool,
        attrs: dict[str, AttrDef],
        dynamic: list[DynAttr] | None = None,
        inherit_from: list[Node] | None = None,
    ) -> None:
        self.span = span
        self.rec = rec
        self.attrs = attrs
        self.dynamic = [] if dynamic is None else dynamic
        self.inherit_from = [] if inherit_from is None else inherit_from


class Let(Node):
    __slots__ = ("attrs", "body", "inherit_from")

    attrs: dict[str, AttrDef]
    body: Node
    inherit_from: list[Node]

    def __init__(
        self,
        span: Span,
        attrs: dict[str, AttrDef],
        body: Node,
        inherit_from: list[Node] | None = None,
    ) -> None:
        self.span = span
        self.attrs = attrs
        self.body = body
        self.inherit_from = [] if inherit_from is None else inherit_from


class LegacyLet(Node):
    """``let { a = 1; body = a; }``: ``(rec { ... }).body``; deprecated."""

    __slots__ = ("attrs",)

    attrs: Attrs

    def __init__(self, span: Span, attrs: Attrs) -> None:
        self.span = span
        self.attrs = attrs


class With(Node):
    __slots__ = ("env", "body")

    env: Node
    body: Node

    def __init__(self, span: Span, env: Node, body: Node) -> None:
        self.span = span
        self.env = env
        self.body = body


class If(Node):
    __slots__ = ("cond", "then", "else_")

    cond: Node
    then: Node
    else_: Node

    def __init__(self, span: Span, cond: Node, then: Node, else_: Node) -> None:
        self.span = span
        self.cond = cond
        self.then = then
        self.else_ = else_


class Assert(Node):
    __slots__ = ("cond", "body")

    cond: Node
    body: Node

    def __init__(self, span: Span, cond: Node, body: Node) -> None:
        self.span = span
        self.cond = cond
        self.body = body


class List(Node):
    __slots__ = ("items",)

    items: list[Node]

    def __init__(self, span: Span, items: list[Node]) -> None:
        self.span = span
        self.items = items


class BinOp(Node):
    """Binary operators: ``+ - * / ++ // == != < <= > >= && || ->``.

    ``op_span`` is the span of the operator token (used in error messages)."""

    __slots__ = ("op", "left", "right", "op_span")

    op: str
    left: Node
    right: Node
    op_span: Span | None

    def __init__(
        self, span: Span, op: str, left: Node, right: Node, op_span: Span | None = None
    ) -> None:
        self.span = span
        self.op = op
        self.left = left
        self.right = right
        self.op_span = op_span


class Not(Node):
    __slots__ = ("expr",)

    expr: Node

    def __init__(self, span: Span, expr: Node) -> None:
        self.span = span
        self.expr = expr


class Neg(Node):
    """Unary minus: ``-e`` is ``__sub 0 e`` in Nix."""

    __slots__ = ("expr",)

    expr: Node

    def __init__(self, span: Span, expr: Node) -> None:
        self.span = span
        self.expr = expr


class ValueRecord(Record):
    """A ``Record`` equal to another of its class with equal fields (and so
    not hashable)."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, f) == getattr(other, f) for f in fields(self))


class ParseError(ValueRecord):
    """A syntax error: message and span.  Parsing collects all of them."""

    __slots__ = ("message", "span", "code")

    message: str
    span: Span
    # A stable diagnostic code (see evaluator.diagnostics.CODES).
    code: str

    def __init__(self, message: str, span: Span, code: str = "syntax_error") -> None:
        self.message = message
        self.span = span
        self.code = code

    def __str__(self) -> str:
        return f"{self.message} at {self.span}"


class ParseResult(ValueRecord):
    __slots__ = ("source", "root", "errors", "partial")

    source: Source
    root: Node | None  # None when there were errors
    errors: list[ParseError]
    # With errors: the tree lowered anyway, each unparsable part replaced by a
    # placeholder ``Var`` named "" (for static analysis of broken buffers only).
    partial: Node | None

    def __init__(
        self,
        source: Source,
        root: Node | None,
        errors: list[ParseError],
        partial: Node | None = None,
    ) -> None:
        self.source = source
        self.root = root
        self.errors = errors
        self.partial = partial


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
