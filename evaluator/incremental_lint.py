"""Incremental lints: the lints of a tree whose subtrees an incremental
lowering (``evaluator.incremental``) reused, recomputed only where needed.

The tree is cut into *units*: the root, and below it every expression (not
a variable) of at least ``UNIT_BYTES`` bytes and at most half of the unit
around it (so a function, its body and the ``with`` in that are one unit,
not three).  A unit's *local part* is
what it holds outside its sub-units.  Each unit is analysed by the ordinary
``scope.resolve`` and ``lint`` code, run on a copy of its local part in which
each sub-unit is replaced by a *stand-in*: a list (with the sub-unit's span)
of one variable per name the sub-unit uses from outside, those it uses only
from unused let bindings inside a let binding of its own that nothing uses.
What the lints of the enclosing code see of a sub-unit is exactly that:

* which outside names it uses (unused arguments, formals, ``rec``), which of
  them from code its own unused bindings do not hide (unused let bindings),
  and whether a name is looked up through the ``with``s around it
  (``unused_with``) -- the stand-in's variables do all of that;
* its span (``empty_let``, ``empty_inherit``, ``unused_with`` measure the
  text between sub-expressions) -- the stand-in has it.

And the lints inside a unit depend on its surroundings only through what
each outside name it uses is there: a lexical binding, a builtin, a name
looked up in enclosing ``with``s, or undefined (its *signature*).  The unit
is analysed alone with those names bound around it (``resolve(outer=…,
outer_withs=…)``).

So after an edit only the units whose node is new (lowered again) or whose
signature changed are analysed again; a unit's findings are kept relative to
its start (reused subtrees move as a whole).  A run resolves new units
bottom-up without surroundings (for the names they use, which their parent's
stand-ins need), then lints them top-down, each in its signature (that
resolution re-signed: references to outside names turned into what the
signature says, ``_in_signature``).  The root is new after every edit: its
findings are the previous root's, moved, when the text of its local part,
its shape and its sub-units' outside names are as they were (an edit inside
one binding's value that uses the same names).

The result equals ``lint(root, source)`` (``tests/test_incremental.py``
checks that after random edits).  The resolution of the whole tree is not
made: editor features make it when they need it.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

from . import nodes as N
from .diagnostics import Diagnostic, Severity, Tag
from .lint import lint_resolved, sort_key, unused_let_bindings
from .scope import GLOBAL_NAMES, Definition, Ref, Resolution, resolve
from .walk import children as walk_children

#: Expressions at least this long (bytes) are units of their own.
UNIT_BYTES = 256
#: Signatures whose findings a unit keeps (a unit's surroundings rarely
#: alternate between more).
SIGNATURES_KEPT = 4

# Stand-ins' variables have spans in a source of their own, so that what is
# found about them (an undefined name) is told apart from findings in the text.
_STANDIN = N.Source(b"", None, "«stand-in»")
_NOWHERE = N.Span(_STANDIN, 0, 0)
# A name no Nix text can bind (stand-ins' let of names used only from
# unused bindings); starting with `_`, it is never reported unused itself.
_DEAD = "_ unused"
# The binder of outside names, and the ``with`` around a unit in ``with``s.
_OUTSIDE = N.Var(_NOWHERE, "")
_OUTER_WITH = N.With(_NOWHERE, _OUTSIDE, _OUTSIDE)

# A finding relative to its unit's start: code, severity, message, start,
# end (relative), tags.
_Finding = tuple[str, Severity, str, int, int, frozenset[Tag]]
# A unit's signature: the kind of each outside name it uses, in name order:
# "D" lexically bound, "B" builtin, "W" in enclosing withs, "U" undefined.
_Signature = tuple[str, ...]


@dataclass(slots=True)
class _Analysis:
    """A unit's findings in one signature, and its sub-units' signatures there."""

    anchor: int  # the unit's start when found
    findings: list[_Finding]
    sub_signatures: list[_Signature]


@dataclass(slots=True, eq=False)
class _Unit:
    """What is kept of one unit (by its node, which it holds)."""

    node: N.Node
    subunits: list[N.Node]
    outside: tuple[str, ...]  # names used from outside, sorted
    live: frozenset[str]  # those used other than from its unused bindings
    by_signature: dict[_Signature, _Analysis] = field(default_factory=dict)


class IncrementalLint:
    """The lints of one document's versions in order (see the module docstring)."""

    def __init__(self) -> None:
        self.units: dict[int, _Unit] = {}
        self.root: _RootRecord | None = None
        self.analysed = 0  # units analysed by the last run (for tests)

    def lint(self, root: N.Node, source: N.Source) -> list[Diagnostic]:
        """``lint(root, source)``, reusing the previous runs' unit analyses."""
        old, previous = self.units, self.root
        self.units, self.root = {}, None  # (on failure, the next run starts over)
        run = _Run(old, source, previous)
        run.summarise(root)
        out = run.collect(root)
        self.units, self.root = run.units, run.root
        self.analysed = run.analysed
        out.sort(key=sort_key)
        return out


class _Run:
    """One run: the units it reached (old ones kept, new ones made)."""

    def __init__(self, old: dict[int, _Unit], source: N.Source, previous: _RootRecord | None):
        self.old = old
        self.source = source
        self.previous = previous
        self.root: _RootRecord | None = None
        self.units: dict[int, _Unit] = {}
        # Local copies made by this run (new units), with their stand-ins.
        self.copies: dict[int, tuple[N.Node, list[tuple[N.Node, N.List]]]] = {}
        # Their resolution without surroundings and their unused let
        # bindings (which do not depend on the surroundings).
        self.resolved: dict[int, tuple[Resolution, list[Definition]]] = {}
        self.analysed = 0

    def unit(self, node: N.Node) -> _Unit | None:
        u = self.units.get(id(node))
        if u is None:
            u = self.old.get(id(node))
            if u is not None and u.node is not node:
                u = None
        return u

    # -------------------------------------------------------- bottom-up
    def summarise(self, root: N.Node) -> None:
        """Make the units below ``root`` (and it) that have none, children
        first, each analysed without surroundings."""
        stack: list[tuple[N.Node, bool]] = [(root, False)]
        while stack:
            node, ready = stack.pop()
            if not ready:
                if self.unit(node) is not None:
                    continue
                copy, standins = _local_copy(node)
                self.copies[id(node)] = (copy, standins)
                stack.append((node, True))
                stack.extend((sub, False) for sub, _ in standins)
                continue
            if self.units.get(id(node)) is not None:
                continue  # (a node reached twice)
            copy, standins = self.copies[id(node)]
            for sub, standin in standins:
                self._fill(standin, self.unit(sub))
            if node is root:
                # No parent needs the root's outside names (``_analyse_root``).
                self.units[id(node)] = _Unit(node, [sub for sub, _ in standins], (), frozenset())
                continue
            # Only what the parent's stand-in needs: the findings come in
            # ``collect``, in the unit's signature.
            res = resolve(copy)
            live: list[N.Node] = []
            unused = unused_let_bindings(copy, res, live)
            outside, live_names = _outside_names(res, live)
            self.units[id(node)] = _Unit(node, [sub for sub, _ in standins], outside, live_names)
            self.resolved[id(node)] = (res, unused)

    def _fill(self, standin: N.List, sub: _Unit | None) -> None:
        assert sub is not None
        if standin.items:
            return
        live: list[N.Node] = [N.Var(_NOWHERE, n) for n in sub.outside if n in sub.live]
        dead: list[N.Node] = [N.Var(_NOWHERE, n) for n in sub.outside if n not in sub.live]
        if dead:
            hidden = {_DEAD: N.AttrDef(N.List(_NOWHERE, dead), _NOWHERE)}
            live.append(N.Let(_NOWHERE, hidden, N.List(_NOWHERE, [])))
        standin.items = live

    def _analysis(
        self,
        node: N.Node,
        findings: list[Diagnostic],
        res: Resolution,
        standins: list[tuple[N.Node, N.List]],
    ) -> _Analysis:
        anchor = node.span.start
        kept: list[_Finding] = []
        for d in findings:
            sp = d.span
            if sp is None or sp.source is _STANDIN:
                continue
            kept.append((d.code, d.severity, d.message, sp.start - anchor, sp.end - anchor, d.tags))
        subs = []
        for sub, standin in standins:
            unit = self.unit(sub)
            assert unit is not None
            subs.append(_signature_in(res, standin, unit))
        return _Analysis(anchor, kept, subs)

    # --------------------------------------------------------- top-down
    def collect(self, root: N.Node) -> list[Diagnostic]:
        """The findings of every unit, each in its signature (units kept from
        earlier runs carried over; those not reached are dropped)."""
        out: list[Diagnostic] = []
        source = self.source
        root_unit = self.unit(root)
        assert root_unit is not None
        stack: list[tuple[N.Node, _Signature]] = [
            (root, tuple("B" if n in GLOBAL_NAMES else "U" for n in root_unit.outside))
        ]
        while stack:
            node, sig = stack.pop()
            unit = self.unit(node)
            assert unit is not None
            self.units[id(node)] = unit
            analysis = unit.by_signature.get(sig)
            if analysis is None:
                analysis = self._analyse_root(unit) if node is root else self._analyse_in(unit, sig)
                while len(unit.by_signature) >= SIGNATURES_KEPT:
                    del unit.by_signature[next(iter(unit.by_signature))]
                unit.by_signature[sig] = analysis
            at = node.span.start
            for code, severity, message, start, end, tags in analysis.findings:
                span = N.Span(source, at + start, at + end)
                out.append(Diagnostic(code, severity, message, span, tags=tags))
            stack.extend(zip(unit.subunits, analysis.sub_signatures, strict=True))
        return out

    def _analyse_root(self, unit: _Unit) -> _Analysis:
        """The root's analysis: the previous root's, moved, when the text of
        its local part, its shape and what its sub-units use from outside are
        all as they were (an edit inside one sub-unit that uses the same
        names); else made."""
        node = unit.node
        made = self.copies.pop(id(node), None)
        if made is None:
            made = _local_copy(node)
        copy, standins = made
        summaries: dict[int, tuple[tuple[str, ...], frozenset[str]]] = {}
        for sub, standin in standins:
            u = self.unit(sub)
            assert u is not None
            self._fill(standin, u)
            summaries[id(standin)] = (u.outside, u.live)
        text = self.source.text
        extents = sorted((sub.span.start, sub.span.end) for sub, _ in standins)
        start, end = node.span.start, node.span.end
        bounds = [start, *(x for e in extents for x in e), end]
        pieces = [text[bounds[k] : bounds[k + 1]] for k in range(0, len(bounds), 2)]
        shape = _shape(copy, summaries)
        prev = self.previous
        if prev is not None and prev.pieces == pieces and prev.shape == shape:
            at = node.span.start
            ends = [e for _, e in prev.extents]

            def moved(x: int) -> int:
                j = bisect.bisect_right(ends, x)
                delta = extents[j - 1][1] - ends[j - 1] if j else start - prev.start
                return x + delta - at

            findings = [
                (code, severity, message, moved(a), moved(b), tags)
                for code, severity, message, a, b, tags in prev.findings
            ]
            analysis = _Analysis(at, findings, prev.sub_signatures)
        else:
            analysis = self._analyse_in(unit, (), made)
        absolute = [
            (code, severity, message, a + analysis.anchor, b + analysis.anchor, tags)
            for code, severity, message, a, b, tags in analysis.findings
        ]
        self.root = _RootRecord(start, extents, pieces, shape, absolute, analysis.sub_signatures)
        return analysis

    def _analyse_in(
        self,
        unit: _Unit,
        sig: _Signature,
        made: tuple[N.Node, list[tuple[N.Node, N.List]]] | None = None,
    ) -> _Analysis:
        """Analyse ``unit`` with its outside names as ``sig`` says."""
        node = unit.node
        if made is None:
            made = self.copies.pop(id(node), None)  # (analysed once per run)
        if made is None:
            made = _local_copy(node)
        copy, standins = made
        for sub, standin in standins:
            self._fill(standin, self.unit(sub))
        resolved = self.resolved.pop(id(node), None)
        if resolved is not None:
            res = _in_signature(resolved[0], dict(zip(unit.outside, sig, strict=True)))
            findings = lint_resolved(copy, self.source, res, unused=resolved[1])
        else:
            outer = {
                n: Definition(n, "let", _NOWHERE, _OUTSIDE)
                for n, kind in zip(unit.outside, sig, strict=True)
                if kind == "D"
            }
            withs = (_OUTER_WITH,) if "W" in sig else ()
            res = resolve(copy, outer, withs)
            res.with_used.pop(_OUTER_WITH, None)
            findings = lint_resolved(copy, self.source, res)
        self.analysed += 1
        return self._analysis(node, findings, res, standins)


@dataclass(slots=True)
class _RootRecord:
    """What the previous run's root analysis depended on, and found."""

    start: int
    extents: list[tuple[int, int]]  # its sub-units' spans, in order
    pieces: list[bytes]  # the text between them (and the root's ends)
    shape: list[object]  # ``_shape`` of its local copy
    findings: list[_Finding]  # with absolute offsets
    sub_signatures: list[_Signature]


def _shape(
    copy: N.Node, standins: dict[int, tuple[tuple[str, ...], frozenset[str]]]
) -> list[object]:
    """The structure of a local copy, pre-order, without spans (what the
    sub-units use from outside in place of their stand-ins): with the same
    text around them, the same shape is the same tree."""
    out: list[object] = []
    stack = [copy]
    while stack:
        node = stack.pop()
        cls = node.__class__
        summary = standins.get(id(node))
        if summary is not None:
            out.append(summary)
            continue
        if cls is N.Attrs or cls is N.Let:
            binds: N.Attrs | N.Let = node  # type: ignore[assignment]
            keys = tuple((k, d.kind, d.from_index) for k, d in binds.attrs.items())
            extra = (binds.rec, len(binds.dynamic)) if isinstance(binds, N.Attrs) else ()
            out.append((cls, keys, len(binds.inherit_from), extra))
        elif cls is N.Var:
            out.append((cls, node.name))  # type: ignore[attr-defined]
        elif cls is N.Lambda:
            lam: N.Lambda = node  # type: ignore[assignment]
            formals = None
            if lam.formals is not None:
                formals = tuple((f.name, f.default is None) for f in lam.formals)
            out.append((cls, lam.arg, formals, lam.ellipsis))
        elif cls is N.Select or cls is N.HasAttr:
            path = tuple(k if isinstance(k, str) else None for k in node.path)  # type: ignore[attr-defined]
            out.append((cls, path, getattr(node, "default", None) is None))
        elif cls is N.Str or cls is N.Path:
            out.append((cls, tuple(p if isinstance(p, str) else None for p in node.parts)))  # type: ignore[attr-defined]
        elif cls is N.BinOp:
            out.append((cls, node.op))  # type: ignore[attr-defined]
        elif cls is N.List:
            out.append((cls, len(node.items)))  # type: ignore[attr-defined]
        elif cls is N.Int or cls is N.Float or cls is N.Uri:
            out.append((cls, node.value))  # type: ignore[attr-defined]
        elif cls is N.SearchPath:
            out.append((cls, node.name))  # type: ignore[attr-defined]
        else:
            out.append(cls)
        kids = walk_children(node)
        kids.reverse()
        stack.extend(kids)
    return out


def _outside_names(res: Resolution, live: list[N.Node]) -> tuple[tuple[str, ...], frozenset[str]]:
    """Names a unit analysed without surroundings uses from outside, and
    those among them its ``live`` variables use."""
    outside: set[str] = set()
    for var, ref in res.refs.items():
        if ref.kind != "definition":
            outside.add(var.name)
    for refs in res.implicit.values():
        for name, ref in zip(_IMPLICIT, refs, strict=True):
            if ref.kind != "definition":
                outside.add(name)
    live_names: set[str] = set()
    for node in live:
        if isinstance(node, N.Var):
            var_ref = res.refs.get(node)
            if var_ref is not None and var_ref.kind != "definition":
                live_names.add(node.name)
        elif isinstance(node, N.SearchPath):
            for name, ref in zip(_IMPLICIT, res.implicit[node], strict=True):
                if ref.kind != "definition":
                    live_names.add(name)
    return tuple(sorted(outside)), frozenset(live_names)


def _in_signature(res: Resolution, kinds: dict[str, str]) -> Resolution:
    """``res`` (of a unit resolved without surroundings) as ``resolve`` would
    have made it with its outside names as ``kinds`` says: references to
    them become references to a binding outside (``D``) or lookups in the
    ``with``s around (``W``); the ``with``s used follow."""
    if all(k in "BU" for k in kinds.values()):
        return res
    out = Resolution(
        dict(res.refs),
        dict(res.implicit),
        res.definitions,
        res.scopes,
        dict.fromkeys(res.with_used, False),
        res.by_binder,
    )
    outside: dict[str, Ref] = {}

    def patch(name: str, ref: Ref) -> Ref:
        if ref.kind == "definition" or ref.kind == "builtin":
            return ref
        kind = kinds[name]
        if kind == "D":
            new = outside.get(name)
            if new is None:
                d = Definition(name, "let", _NOWHERE, _OUTSIDE)
                new = outside[name] = Ref("definition", d)
            return new
        if kind == "W":
            return Ref("with", None, (*ref.withs, _OUTER_WITH))
        return ref

    refs = out.refs
    for var, ref in res.refs.items():
        if ref.kind != "definition":
            refs[var] = patch(var.name, ref)
    for sp, pair in res.implicit.items():
        out.implicit[sp] = [patch(n, r) for n, r in zip(_IMPLICIT, pair, strict=True)]
    used = out.with_used
    for ref in refs.values():
        if ref.kind == "with":
            for w in ref.withs:
                used[w] = True
    for pair in out.implicit.values():
        for ref in pair:
            if ref.kind == "with":
                for w in ref.withs:
                    used[w] = True
    used.pop(_OUTER_WITH, None)
    return out


# The names ``<p>`` looks up (``scope.Resolution.implicit``).
_IMPLICIT = ("__findFile", "__nixPath")

_KIND = {"definition": "D", "builtin": "B", "with": "W", "undefined": "U"}


def _signature_in(res: Resolution, standin: N.List, sub: _Unit) -> _Signature:
    """A sub-unit's signature: what its stand-in's variables resolved to."""
    kinds: dict[str, str] = {}
    for item in standin.items:
        vars_ = item.attrs[_DEAD].value.items if isinstance(item, N.Let) else [item]  # type: ignore[attr-defined]
        for var in vars_:
            assert isinstance(var, N.Var)
            kinds[var.name] = _KIND[res.refs[var].kind]
    return tuple(kinds[n] for n in sub.outside)


# ------------------------------------------------------------ local copies


def _local_copy(root: N.Node) -> tuple[N.Node, list[tuple[N.Node, N.List]]]:
    """A copy of ``root``'s local part, each sub-unit replaced by an (empty)
    stand-in; and the sub-units with their stand-ins, in source order.

    A sub-unit is an expression (not a variable) of at least ``UNIT_BYTES``
    bytes and at most half of ``root``'s: a chain of nested expressions of
    about the same size (a function, its body, the ``with`` in it, …) is
    one unit, not one per link."""
    standins: list[tuple[N.Node, N.List]] = []
    most = (root.span.end - root.span.start) // 2

    def sub(node: N.Node) -> N.Node:
        size = node.span.end - node.span.start
        if UNIT_BYTES <= size <= most and node.__class__ is not N.Var:
            standin = N.List(node.span, [])
            standins.append((node, standin))
            return standin
        return copy(node)

    def copy(node: N.Node) -> N.Node:
        cls = node.__class__
        if cls is N.Str:
            s: N.Str = node  # type: ignore[assignment]
            return N.Str(s.span, [p if isinstance(p, str) else sub(p) for p in s.parts], s.segments)
        if cls is N.Path:
            p_: N.Path = node  # type: ignore[assignment]
            return N.Path(p_.span, [p if isinstance(p, str) else sub(p) for p in p_.parts])
        if cls is N.Select:
            se: N.Select = node  # type: ignore[assignment]
            return N.Select(
                se.span,
                sub(se.expr),
                [k if isinstance(k, str) else sub(k) for k in se.path],
                None if se.default is None else sub(se.default),
                se.path_spans,
            )
        if cls is N.HasAttr:
            h: N.HasAttr = node  # type: ignore[assignment]
            path = [k if isinstance(k, str) else sub(k) for k in h.path]
            return N.HasAttr(h.span, sub(h.expr), path, h.path_spans)
        if cls is N.Apply:
            a: N.Apply = node  # type: ignore[assignment]
            return N.Apply(a.span, sub(a.fn), sub(a.arg))
        if cls is N.Lambda:
            lam: N.Lambda = node  # type: ignore[assignment]
            formals = None
            if lam.formals is not None:
                formals = [
                    N.Formal(f.name, None if f.default is None else sub(f.default), f.span)
                    for f in lam.formals
                ]
            return N.Lambda(
                lam.span, lam.arg, formals, lam.ellipsis, sub(lam.body), lam.arg_span, lam.name
            )
        if cls is N.Attrs or cls is N.Let:
            return _copy_binds(node, sub, copy)  # type: ignore[arg-type]
        if cls is N.LegacyLet:
            # Its set is never a unit: ``useless_rec`` skips it by identity.
            return N.LegacyLet(node.span, _copy_binds(node.attrs, sub, copy))  # type: ignore[attr-defined, arg-type]
        if cls is N.With:
            w: N.With = node  # type: ignore[assignment]
            return N.With(w.span, sub(w.env), sub(w.body))
        if cls is N.If:
            i: N.If = node  # type: ignore[assignment]
            return N.If(i.span, sub(i.cond), sub(i.then), sub(i.else_))
        if cls is N.Assert:
            asr: N.Assert = node  # type: ignore[assignment]
            return N.Assert(asr.span, sub(asr.cond), sub(asr.body))
        if cls is N.List:
            return N.List(node.span, [sub(x) for x in node.items])  # type: ignore[attr-defined]
        if cls is N.BinOp:
            b: N.BinOp = node  # type: ignore[assignment]
            return N.BinOp(b.span, b.op, sub(b.left), sub(b.right), b.op_span)
        if cls is N.Not:
            return N.Not(node.span, sub(node.expr))  # type: ignore[attr-defined]
        if cls is N.Neg:
            return N.Neg(node.span, sub(node.expr))  # type: ignore[attr-defined]
        return node  # a leaf: shared, not copied

    return copy(root), standins


def _copy_binds(node: N.Attrs | N.Let, sub: object, copy: object) -> N.Attrs | N.Let:
    """A copy of a set or let: plain values (and ``inherit (e)`` sources)
    through ``sub``; ``inherit x;`` variables and the selections of
    ``inherit (e) x;`` shared (never walked on their own)."""
    f = sub  # type: ignore[assignment]
    attrs: dict[str, N.AttrDef] = {}
    for name, ad in node.attrs.items():
        value = f(ad.value) if ad.kind == "plain" else ad.value  # type: ignore[operator]
        attrs[name] = N.AttrDef(value, ad.span, ad.kind, ad.from_index)
    inherit_from = [f(e) for e in node.inherit_from]  # type: ignore[operator]
    if isinstance(node, N.Attrs):
        dynamic = [N.DynAttr(f(d.key), f(d.value), d.span) for d in node.dynamic]  # type: ignore[operator]
        return N.Attrs(node.span, node.rec, attrs, dynamic, inherit_from)
    return N.Let(node.span, attrs, f(node.body), inherit_from)  # type: ignore[operator]
