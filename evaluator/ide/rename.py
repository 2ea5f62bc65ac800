"""Rename a variable: its definition and every use, checked for capture.

The edits are applied to a copy of the text, which is parsed and resolved
again; the rename is refused (with a message saying why) unless every
variable still refers to the same definition as before, the renamed uses to
the renamed definition.  So a new name that is captured by an inner binding,
or that would capture a use of an outer one, is refused.

``inherit`` is rewritten so that attribute names never change:

* a use ``inherit x;`` (in a set or let) of the renamed binding ``x`` becomes
  ``x = new;`` (the attribute keeps the name ``x``);
* renaming a binding introduced by ``inherit x;`` turns it into
  ``new = x;``, and one introduced by ``inherit (e) x;`` into ``new = e.x;``.

When the ``inherit`` lists other names too, the name is removed from it and
the new binding is added after it.  Renaming an attribute of a ``rec`` set or
a formal also renames that attribute or argument for the outside world.
"""

from __future__ import annotations

import re

from .. import nodes as N
from ..literals import KEYWORDS
from ..scope import Definition, Ref, definition_at, reference_at
from ._doc import Doc, analyse
from .types import Edit

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_'\-]*\Z")


def _target(doc: Doc, offset: int) -> Definition | str:
    """The definition to rename, or why there is none."""
    found = reference_at(doc.res, offset)
    if found is not None and found[1].definition is None:
        name, kind = found[0].name, found[1].kind
        if kind == "builtin":
            return f"'{name}' is a builtin and cannot be renamed"
        if kind == "with":
            return f"'{name}' comes from a `with`; rename the attribute where it is defined"
        return f"'{name}' is not defined"
    d = definition_at(doc.res, offset)
    if d is None:
        return "no variable to rename here"
    if any(isinstance(u, N.SearchPath) for u in d.uses):
        return f"'{d.name}' is used implicitly by `<…>` paths and cannot be renamed"
    return d


def prepare_rename(text: str | bytes, path: str | None, offset: int) -> N.Span | str:
    """The span of the name to rename at ``offset``, or why it cannot be renamed."""
    doc = analyse(text, path)
    if doc.root is None:
        return "cannot rename while the file has syntax errors"
    d = _target(doc, offset)
    if isinstance(d, str):
        return d
    found = reference_at(doc.res, offset)
    return found[0].span if found is not None else d.span


def rename(text: str | bytes, path: str | None, offset: int, new_name: str) -> list[Edit] | str:
    """Edits renaming the variable at ``offset`` to ``new_name``, or an error message."""
    doc = analyse(text, path)
    if doc.root is None:
        return "cannot rename while the file has syntax errors"
    if not _IDENT.match(new_name) or new_name in KEYWORDS or new_name == "or":
        return f"'{new_name}' is not a valid Nix identifier"
    d = _target(doc, offset)
    if isinstance(d, str):
        return d
    if new_name == d.name:
        return []
    edits = _edits(doc, d, new_name)
    problem = _check(doc, d, new_name, edits)
    return problem if problem is not None else edits


# ------------------------------------------------------------------ edits
def _inherit_sites(doc: Doc) -> dict[int, tuple[N.Attrs | N.Let, N.AttrDef]]:
    """Start of every ``inherit`` name -> its set or let and ``AttrDef``."""
    out: dict[int, tuple[N.Attrs | N.Let, N.AttrDef]] = {}
    for d in doc.res.definitions:  # let/rec inherits
        if d.via in ("inherit", "inherit_from") and isinstance(d.attr, N.AttrDef):
            assert isinstance(d.owner, (N.Attrs, N.Let))
            out[d.span.start] = (d.owner, d.attr)
    from ..walk import walk

    assert doc.root is not None
    for n in walk(doc.root):  # plain sets' inherits (not definitions)
        if isinstance(n, N.Attrs) and not n.rec:
            for ad in n.attrs.values():
                if ad.kind in ("inherit", "inherit_from"):
                    out[ad.span.start] = (n, ad)
    return out


def _rewrite_inherit(doc: Doc, owner: N.Attrs | N.Let, ad: N.AttrDef, binding: str) -> list[Edit]:
    """Take the name of ``ad`` out of its ``inherit`` and add ``binding``."""
    text, src = doc.text, doc.source
    lo = 0
    if ad.kind == "inherit_from":
        lo = owner.inherit_from[ad.from_index].span.start
    start = text.rfind(b"inherit", 0, lo or ad.span.start)
    semi = text.find(b";", ad.span.end)
    names_from = (
        text.find(b")", owner.inherit_from[ad.from_index].span.end) + 1 if lo else start + 7
    )
    names = re.findall(rb"[A-Za-z_][A-Za-z0-9_'\-]*|\"[^\"]*\"", text[names_from:semi])
    if len(names) <= 1:
        return [Edit(N.Span(src, start, semi + 1), binding)]
    cut = ad.span.start
    while cut > 0 and text[cut - 1] in b" \t\r\n":
        cut -= 1
    return [
        Edit(N.Span(src, cut, ad.span.end), ""),
        Edit(N.Span(src, semi + 1, semi + 1), " " + binding),
    ]


def _edits(doc: Doc, d: Definition, new: str) -> list[Edit]:
    text = doc.text
    sites = _inherit_sites(doc)
    edits: list[Edit] = []
    if d.via == "inherit" and isinstance(d.attr, N.AttrDef):
        edits += _rewrite_inherit(doc, *sites[d.span.start], f"{new} = {d.name};")
    elif d.via == "inherit_from" and isinstance(d.attr, N.AttrDef):
        owner = sites[d.span.start][0]
        e = owner.inherit_from[d.attr.from_index]
        etext = text[e.span.start : e.span.end].decode("utf-8", "surrogateescape")
        if not isinstance(e, (N.Var, N.Attrs, N.List, N.Str)):
            etext = f"({etext})"
        edits += _rewrite_inherit(doc, owner, d.attr, f"{new} = {etext}.{d.name};")
    else:
        edits.append(Edit(d.span, new))
    for u in d.uses:
        if u.span.start in sites and sites[u.span.start][1].value is u:
            owner, ad = sites[u.span.start]
            edits += _rewrite_inherit(doc, owner, ad, f"{d.name} = {new};")
        else:
            edits.append(Edit(u.span, new))
    edits.sort(key=lambda e: (e.span.start, e.span.end))
    return [e for i, e in enumerate(edits) if i == 0 or e != edits[i - 1]]


# ------------------------------------------------------------------ check
def apply_edits(text: bytes, edits: list[Edit]) -> bytes:
    """``text`` with ``edits`` (non-overlapping) applied."""
    out, pos = [], 0
    for e in sorted(edits, key=lambda e: (e.span.start, e.span.end)):
        out += [text[pos : e.span.start], e.new_text.encode()]
        pos = e.span.end
    out.append(text[pos:])
    return b"".join(out)


def _check(doc: Doc, d: Definition, new: str, edits: list[Edit]) -> str | None:
    """Why applying ``edits`` would change what some variable means (or None)."""
    new_text = apply_edits(doc.text, edits)
    trial = analyse(new_text, doc.path)
    if trial.root is None:
        return f"renaming to '{new}' is not possible: {trial.errors[0].message}"
    old_res, new_res = doc.res, trial.res
    ranges: list[tuple[int, int, int, int]] = []  # old start, old end, new start, new end
    delta = 0
    for e in edits:
        ns = e.span.start + delta
        ranges.append((e.span.start, e.span.end, ns, ns + len(e.new_text.encode())))
        delta += len(e.new_text.encode()) - (e.span.end - e.span.start)

    def moved(pos: int) -> int:
        return pos + sum(n1 - n0 - (o1 - o0) for o0, o1, n0, n1 in ranges if o1 <= pos)

    def in_edit(pos: int, new_side: bool) -> int | None:
        for i, (o0, o1, n0, n1) in enumerate(ranges):
            lo, hi = (n0, n1) if new_side else (o0, o1)
            if lo <= pos < hi or lo == pos == hi:
                return i
        return None

    def new_def_start(old: Definition) -> int | None:
        name = new if old is d else old.name
        i = in_edit(old.span.start, False)
        if i is None:
            return moved(old.span.start)
        for x in new_res.definitions:
            if x.name == name and ranges[i][2] <= x.span.start < ranges[i][3]:
                return x.span.start
        return None

    def key(ref: Ref, old_side: bool) -> tuple[object, ...]:
        if ref.definition is not None:
            start = new_def_start(ref.definition) if old_side else ref.definition.span.start
            return ("definition", start)
        if ref.kind == "with":
            w = ref.withs[0].span.start
            return ("with", moved(w) if old_side else w)
        return (ref.kind,)

    new_vars = {(v.span.start, v.name): r for v, r in new_res.refs.items()}
    renamed = {id(u) for u in d.uses}
    for v, r in old_res.refs.items():
        if id(v) in renamed:
            continue
        i = in_edit(v.span.start, False)
        if i is None:
            got = new_vars.get((moved(v.span.start), v.name))
        else:
            got = next(
                (
                    r2
                    for (s, name), r2 in new_vars.items()
                    if name == v.name and ranges[i][2] <= s < ranges[i][3]
                ),
                None,
            )
        if got is not None and key(got, False) != key(r, True):
            return _captured_message(doc, v.name, v.span, new, got, d)
    target = new_def_start(d)
    for (s, name), r2 in new_vars.items():
        if (
            name == new
            and in_edit(s, True) is not None
            and key(r2, False) != ("definition", target)
        ):
            line = trial.source.line_col(s)[0]
            return (
                f"renaming to '{new}' is not possible: the use on line {line} would "
                f"refer to another '{new}'"
            )
    return None


def _captured_message(doc: Doc, name: str, span: N.Span, new: str, got: Ref, d: Definition) -> str:
    line = span.line_col()[0]
    if name == new:
        return (
            f"renaming to '{new}' is not possible: the '{new}' on line {line} "
            f"would then refer to the renamed binding"
        )
    return f"renaming '{d.name}' to '{new}' would change what '{name}' on line {line} refers to"


__all__ = ["prepare_rename", "rename", "apply_edits"]
