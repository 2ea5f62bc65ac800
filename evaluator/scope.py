"""Name resolution: what every variable refers to, and which names are visible where.

This is the static layer that lint, go-to-definition, references, rename and
completion share.  It follows Nix's ``bindVars``:

* ``let`` and ``rec`` scopes are recursive; a plain attribute set's values,
  keys and ``inherit`` sources live in the enclosing scope.
* ``inherit x;`` looks ``x`` up *outside* the set or let (even ``rec``/``let``),
  while the source ``e`` of ``inherit (e) x;`` is evaluated inside the
  recursive scope of a ``rec`` set or ``let`` (``rec { inherit (a) b; a = …; }``
  works in Nix).
* A lambda's argument and formals share one scope; defaults see all of them.
* Lookup order is Nix's: the innermost lexical binding, then the global base
  environment (builtins such as ``map`` or ``true``), then the enclosing
  ``with`` expressions innermost-first.  So ``with { true = 2; }; true`` is the
  builtin ``true``.  A name found nowhere, with no ``with`` around it, is an
  undefined variable (Nix reports it before evaluating anything).
* ``<p>`` is sugar for ``__findFile __nixPath "p"``: it refers to whatever
  ``__findFile``/``__nixPath`` are lexically in scope (recorded in ``implicit``).

The walk uses an explicit work stack, so nesting depth never grows the Python
stack.  Maps are keyed on node objects (nodes hash by identity).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Final, cast

from . import nodes as N
from .builtins.table import global_names
from .nodes import Record, Span
from .walk import children as walk_children

#: Names of Nix's global base environment (what a bare variable can refer
#: to), from the table of builtins: the unprefixed ones and ``__name`` for
#: the others.
GLOBAL_NAMES: frozenset[str] = global_names()


class Definition(Record):
    """A name bound by a let, a ``rec`` set, a lambda argument or a formal.

    kind: ``"let"``, ``"rec"`` (also ``let { … }``), ``"arg"``, ``"formal"``.
    via: the ``AttrDef`` kind (``"plain"``, ``"inherit"``, ``"inherit_from"``)
    for let/rec bindings, ``None`` for arguments.
    """

    __slots__ = ("name", "kind", "span", "owner", "via", "attr", "uses")

    name: str
    kind: str
    span: Span
    owner: N.Node  # the Let, Attrs or Lambda that binds it
    via: str | None
    attr: N.AttrDef | N.Formal | None
    uses: list[N.Var | N.SearchPath]  # `<p>` uses __findFile

    def __init__(
        self,
        name: str,
        kind: str,
        span: Span,
        owner: N.Node,
        via: str | None = None,
        attr: N.AttrDef | N.Formal | None = None,
        uses: list[N.Var | N.SearchPath] | None = None,
    ) -> None:
        self.name = name
        self.kind = kind
        self.span = span
        self.owner = owner
        self.via = via
        self.attr = attr
        self.uses = [] if uses is None else uses

    @property
    def value(self) -> N.Node | None:
        """The bound expression (a formal's default), if any."""
        a = self.attr
        if isinstance(a, N.AttrDef):
            return a.value
        if isinstance(a, N.Formal):
            return a.default
        return None


class Ref(Record):
    """What one variable occurrence refers to: equal by value and hashable,
    so never changed once made (``Final``, checked by mypy).

    kind: ``"definition"``, ``"builtin"``, ``"with"`` (looked up at run time in
    ``withs``, innermost first) or ``"undefined"``.
    """

    __slots__ = ("kind", "definition", "withs")

    kind: Final[str]
    definition: Final[Definition | None]
    withs: Final[tuple[N.With, ...]]

    def __init__(
        self, kind: str, definition: Definition | None = None, withs: tuple[N.With, ...] = ()
    ) -> None:
        self.kind = kind
        self.definition = definition
        self.withs = withs

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Ref:
            return NotImplemented
        o: Ref = other  # type: ignore[assignment]
        return (self.kind, self.definition, self.withs) == (o.kind, o.definition, o.withs)

    def __hash__(self) -> int:
        return hash((self.kind, self.definition, self.withs))


class Scope(Record):
    """A region of source where some names are visible.

    kind: ``"let"``, ``"rec"``, ``"lambda"`` or ``"with"`` (``names`` empty,
    ``with_node`` set: its attributes are visible dynamically).
    """

    __slots__ = ("kind", "span", "owner", "names", "with_node")

    kind: str
    span: Span
    owner: N.Node
    names: dict[str, Definition]
    with_node: N.With | None

    def __init__(
        self,
        kind: str,
        span: Span,
        owner: N.Node,
        names: dict[str, Definition] | None = None,
        with_node: N.With | None = None,
    ) -> None:
        self.kind = kind
        self.span = span
        self.owner = owner
        self.names = {} if names is None else names
        self.with_node = with_node


class Resolution(Record):
    """Every variable's ``Ref``, every definition and scope of one tree."""

    __slots__ = ("refs", "implicit", "definitions", "scopes", "with_used", "by_binder")

    refs: dict[N.Var, Ref]
    # ``<p>`` -> [ref of __findFile, ref of __nixPath].
    implicit: dict[N.SearchPath, list[Ref]]
    definitions: list[Definition]
    scopes: list[Scope]
    # Every With node -> whether some variable was looked up through it.
    with_used: dict[N.With, bool]
    # Definitions by the AttrDef / Formal / Lambda that introduced them.
    by_binder: dict[object, Definition]

    def __init__(
        self,
        refs: dict[N.Var, Ref] | None = None,
        implicit: dict[N.SearchPath, list[Ref]] | None = None,
        definitions: list[Definition] | None = None,
        scopes: list[Scope] | None = None,
        with_used: dict[N.With, bool] | None = None,
        by_binder: dict[object, Definition] | None = None,
    ) -> None:
        self.refs = {} if refs is None else refs
        self.implicit = {} if implicit is None else implicit
        self.definitions = [] if definitions is None else definitions
        self.scopes = [] if scopes is None else scopes
        self.with_used = {} if with_used is None else with_used
        self.by_binder = {} if by_binder is None else by_binder


# Work-stack items: ("visit", Node) | ("enter"/"exit", Scope) | ("with+"/"with-", With)
_Stack = list[tuple[str, object]]


def resolve(
    root: N.Node,
    outer: dict[str, Definition] | None = None,
    outer_withs: Sequence[N.With] = (),
) -> Resolution:
    """Resolve every variable under ``root`` (iteratively, any depth).

    ``outer`` and ``outer_withs`` are names bound and ``with``s around
    ``root`` (a part of a larger tree resolved on its own, as incremental
    lints do); they are not among the result's definitions or scopes."""
    res = Resolution()
    # name -> definitions, innermost last
    bound: dict[str, list[Definition]] = {n: [d] for n, d in (outer or {}).items()}
    withs: list[N.With] = list(outer_withs)  # enclosing withs, outermost first
    stack: _Stack = [("visit", root)]
    # Refs are immutable: one per definition, per set of enclosing withs and
    # for builtins and undefined names (a large file has ~50,000 variables).
    builtin, undefined = Ref("builtin"), Ref("undefined")
    by_definition: dict[int, Ref] = {}
    with_ref: list[Ref | None] = [None]  # for the current ``withs``

    def lookup(name: str) -> Ref:
        defs = bound.get(name)
        if defs:
            d = defs[-1]
            ref = by_definition.get(id(d))
            if ref is None:
                ref = by_definition[id(d)] = Ref("definition", d)
            return ref
        if name in GLOBAL_NAMES:
            return builtin
        if withs:
            ref = with_ref[0]
            if ref is None:
                for w in withs:
                    res.with_used[w] = True
                ref = with_ref[0] = Ref("with", None, tuple(reversed(withs)))
            return ref
        return undefined

    def define(scope: Scope, d: Definition, binder: object) -> None:
        scope.names[d.name] = d
        res.definitions.append(d)
        res.by_binder[binder] = d

    while stack:
        action, obj = stack.pop()
        if action == "enter":
            for name, d in cast(Scope, obj).names.items():
                bound.setdefault(name, []).append(d)
        elif action == "exit":
            for name in cast(Scope, obj).names:
                lst = bound[name]
                lst.pop()
                if not lst:
                    del bound[name]
        elif action == "with+":
            withs.append(cast(N.With, obj))
            with_ref[0] = None
        elif action == "with-":
            withs.pop()
            with_ref[0] = None
        elif isinstance(obj, N.Var):
            ref = lookup(obj.name)
            res.refs[obj] = ref
            if ref.definition is not None:
                ref.definition.uses.append(obj)
        elif isinstance(obj, N.SearchPath):
            refs = [lookup("__findFile"), lookup("__nixPath")]
            res.implicit[obj] = refs
            for r in refs:
                if r.definition is not None:
                    r.definition.uses.append(obj)
        elif isinstance(obj, N.Lambda):
            scope = Scope("lambda", obj.span, obj)
            if obj.arg is not None:
                define(scope, Definition(obj.arg, "arg", obj.arg_span or obj.span, obj), obj)
            for f in obj.formals or ():
                define(scope, Definition(f.name, "formal", f.span, obj, attr=f), f)
            res.scopes.append(scope)
            stack.append(("exit", scope))
            stack.append(("visit", obj.body))
            for f in reversed(obj.formals or ()):
                if f.default is not None:
                    stack.append(("visit", f.default))
            stack.append(("enter", scope))
        elif isinstance(obj, N.Let):
            _visit_bindings(obj, "let", res, stack, define)
        elif isinstance(obj, N.Attrs) and obj.rec:
            _visit_bindings(obj, "rec", res, stack, define)
        elif isinstance(obj, N.With):
            res.with_used.setdefault(obj, False)
            res.scopes.append(Scope("with", obj.body.span, obj, with_node=obj))
            stack.append(("with-", obj))
            stack.append(("visit", obj.body))
            stack.append(("with+", obj))
            stack.append(("visit", obj.env))
        else:
            for c in reversed(children(cast(N.Node, obj))):
                stack.append(("visit", c))
    res.definitions.sort(key=lambda d: (d.span.start, d.span.end))
    return res


def _visit_bindings(
    node: N.Let | N.Attrs,
    kind: str,
    res: Resolution,
    stack: _Stack,
    define: Callable[[Scope, Definition, object], None],
) -> None:
    """Schedule a recursive binding set: inherit names outside, the rest inside."""
    scope = Scope(kind, node.span, node)
    for name, ad in node.attrs.items():
        define(scope, Definition(name, kind, ad.span, node, ad.kind, ad), ad)
    res.scopes.append(scope)
    stack.append(("exit", scope))
    inner: list[N.Node] = list(node.inherit_from)
    inherits: list[N.Node] = []
    for ad in node.attrs.values():
        if ad.kind == "plain":
            inner.append(ad.value)
        elif ad.kind == "inherit":
            inherits.append(ad.value)
    if isinstance(node, N.Attrs):
        for dyn in node.dynamic:
            inner.extend((dyn.key, dyn.value))
    else:
        inner.append(node.body)
    inner.sort(key=lambda n: n.span.start)
    for n in reversed(inner):
        stack.append(("visit", n))
    stack.append(("enter", scope))
    for n in reversed(inherits):
        stack.append(("visit", n))


def children(node: N.Node) -> list[N.Node]:
    """Direct sub-expressions, like ``walk.children`` but also the ``Var`` of
    each ``inherit x;`` (and each ``inherit (e)`` source once, never the
    synthetic ``Select`` wrapping it)."""
    if isinstance(node, (N.Attrs, N.Let)):
        out: list[N.Node] = list(node.inherit_from)
        for d in node.attrs.values():
            if d.kind != "inherit_from":
                out.append(d.value)
        if isinstance(node, N.Attrs):
            for dyn in node.dynamic:
                out.extend((dyn.key, dyn.value))
        else:
            out.append(node.body)
        out.sort(key=lambda n: n.span.start)
        return out
    return walk_children(node)


# --------------------------------------------------------------------------
# Queries for the editor features.
# --------------------------------------------------------------------------


def _contains(span: Span, offset: int) -> bool:
    return span.start <= offset <= span.end


def visible_names(res: Resolution, offset: int) -> dict[str, Definition | None]:
    """Names usable at ``offset``: lexical ones map to their definition,
    global builtins to None (attributes of enclosing ``with``s are dynamic:
    see ``enclosing_withs``)."""
    out: dict[str, Definition | None] = dict.fromkeys(GLOBAL_NAMES)
    containing = [s for s in res.scopes if s.kind != "with" and _contains(s.span, offset)]
    containing.sort(key=lambda s: s.span.end - s.span.start, reverse=True)
    for s in containing:  # outermost first, so inner ones override
        out.update(s.names)
    return out


def enclosing_withs(res: Resolution, offset: int) -> list[N.With]:
    """The ``with`` nodes whose body contains ``offset``, innermost first."""
    ws = [s for s in res.scopes if s.kind == "with" and _contains(s.span, offset)]
    ws.sort(key=lambda s: s.span.end - s.span.start)
    return [s.with_node for s in ws if s.with_node is not None]


def reference_at(res: Resolution, offset: int) -> tuple[N.Var, Ref] | None:
    """The variable occurrence under ``offset`` and what it refers to."""
    best: tuple[N.Var, Ref] | None = None
    for var, ref in res.refs.items():
        if _contains(var.span, offset) and (
            best is None or var.span.end - var.span.start < best[0].span.end - best[0].span.start
        ):
            best = (var, ref)
    return best


def definition_at(res: Resolution, offset: int) -> Definition | None:
    """The definition a variable at ``offset`` refers to, else the definition
    whose name is at ``offset`` (``inherit x;`` goes to the outer ``x``)."""
    found = reference_at(res, offset)
    if found is not None and found[1].definition is not None:
        return found[1].definition
    for d in res.definitions:
        if _contains(d.span, offset):
            return d
    return None
