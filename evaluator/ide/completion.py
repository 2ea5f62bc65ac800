"""Completion: names in scope, attributes after ``e.``, formals of the called
function inside ``f { … }``, names inside ``inherit (e) …``, keywords and
file-system paths.

Incomplete text: typing ``lib.`` makes the file unparsable, so the analysis
runs on a repaired copy (``_doc.analyse_repaired``: a placeholder identifier
inserted at the cursor, followed by the first of a few closing suffixes that
makes the text parse, or the text cut at the cursor).  Attribute names come
from evaluating the expression before the dot in its lexical scope under a
small budget; anything that fails or depends on an argument offers nothing.
"""

from __future__ import annotations

import bisect
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .. import nodes as N
from ..builtins import REGISTRY, _load
from ..io import RealIO
from ..literals import KEYWORDS
from ..scope import enclosing_withs, visible_names
from ..values import Attrs, Lambda, PrimOp, PrimOpApp, Thunk
from ._doc import (
    HOLE,
    Doc,
    analyse_repaired,
    chain_to,
    ident_after,
    ident_before,
    memo_eval,
    node_at,
    observed_args,
)
from .items import LIMIT, Completions, plain_ident
from .types import CompletionItem

_RANK = {"local": "0", "with": "1", "builtin": "2", "keyword": "3"}


def completion(
    text: str | bytes,
    path: str | None,
    offset: int,
    io: Any = None,
    observed: dict[tuple[str, int], list[Any]] | None = None,
    context: Any = None,
) -> list[CompletionItem]:
    """Completions at ``offset`` (byte offset), best first, at most ``LIMIT``.

    ``observed``: argument values an evaluation called this file's functions
    with (``api.EvalResult.observed``), so that ``pkgs.`` inside a package
    or module completes; ``context``: its configurations
    (``options.ModuleContext``), for option paths in module files."""
    io = io or RealIO()
    if not REGISTRY:
        _load()
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    start = ident_before(data, offset)
    end = ident_after(data, offset)
    source = N.Source(data, path)
    edit = N.Span(source, start, end)
    prefix = data[start:offset].decode("utf-8", "replace")
    paths = _path_items(data, path, offset, edit, io)
    if paths is not None:
        return paths[:LIMIT]
    if context is not None:
        from .option_features import option_items

        found = option_items(context, data, path, offset, observed or {}, io)
        if found is not None:
            return Completions(_filter(found, prefix)[:LIMIT], found.incomplete)
    doc, _inserted = analyse_repaired(data, path, offset)
    if doc.root is None:
        return _filter(_keywords(edit), prefix)
    req = _Request(io, observed or {}, prefix, context)
    items = _contextual(doc, offset, edit, req, _matcher(prefix))
    return Completions(_filter(items, prefix)[:LIMIT], req.incomplete)


@dataclass(slots=True)
class _Request:
    """What one completion request evaluates with: file access, the
    observed argument values and the identifier typed so far; whether the
    answer was cut."""

    io: Any
    observed: dict[tuple[str, int], list[Any]]
    prefix: str
    context: Any = None
    incomplete: bool = False


def resolve_completion(item: CompletionItem) -> CompletionItem:
    """Fill in ``documentation`` (builtins' docs and doc comments are looked up only here)."""
    if item.data and item.data.startswith(("doc:", "pos:")) and item.documentation is None:
        item.documentation = _doc_at(item.data[len("doc:") :], item.data.startswith("doc:"))
        return item
    if item.data and item.data.startswith("builtin:") and item.documentation is None:
        if not REGISTRY:
            _load()
        prim = REGISTRY.get(item.data[len("builtin:") :])
        if prim is not None:
            item.documentation = prim.doc
            item.detail = item.detail or f"builtin, {prim.arity} argument(s)"
    return item


def _matcher(prefix: str) -> Callable[[str], bool]:
    """Whether a label contains ``prefix`` as a subsequence (ignoring case)."""
    p = prefix.lower()
    if not p:
        return lambda label: True

    def matches(label: str) -> bool:
        low = label.lower()
        if p[0] not in low:
            return False
        it = iter(low)
        return all(c in it for c in p)

    return matches


def _filter(items: list[CompletionItem], prefix: str) -> list[CompletionItem]:
    """Items whose label contains ``prefix`` as a subsequence, sorted."""
    p = prefix.lower()
    matches = _matcher(prefix)
    out = [it for it in items if matches(it.label)]
    # Within a rank, labels starting with the prefix before other matches.
    out.sort(key=lambda it: (it.sort_text[:1], not it.label.lower().startswith(p), it.label))
    return out


def _contextual(
    doc: Doc, offset: int, edit: N.Span, io: _Request, matches: Callable[[str], bool]
) -> list[CompletionItem]:
    assert doc.root is not None
    # e.`cursor`: the attributes of e.
    sel = node_at(doc.root, offset, lambda n: isinstance(n, (N.Select, N.HasAttr)))
    if sel is not None:
        assert isinstance(sel, (N.Select, N.HasAttr))
        for i, sp in enumerate(sel.path_spans):
            if sp.start <= offset <= sp.end:
                return _attr_items(doc, sel, i, edit, io)
    # Inside a binding name of a set: formals of the called function, or
    # the attributes of an ``inherit (e)`` source.
    owner = node_at(doc.root, offset, lambda n: isinstance(n, (N.Attrs, N.Let)))
    if owner is not None:
        assert isinstance(owner, (N.Attrs, N.Let))
        for ad in owner.attrs.values():
            if ad.span.start <= offset <= ad.span.end and not _in_value(ad, offset):
                if ad.kind == "inherit_from":
                    src = owner.inherit_from[ad.from_index]
                    names = _attr_names(doc, chain_to(doc.root, src), io)
                    return _name_items(names, edit, "field", req=io)
                if ad.kind == "plain" and isinstance(owner, N.Attrs):
                    return _formal_items(doc, owner, edit, io.io)
        if isinstance(owner, N.Attrs) and not _in_any_value(owner, offset):
            formals = _formal_items(doc, owner, edit, io.io)
            if formals:
                return formals
    return _scope_items(doc, offset, edit, io, matches)


def _in_any_value(owner: N.Attrs, offset: int) -> bool:
    """Whether ``offset`` is inside a value (or key) of ``owner``, not between bindings."""
    spans = [ad.value.span for ad in owner.attrs.values() if ad.kind == "plain"]
    spans += [d.value.span for d in owner.dynamic] + [d.key.span for d in owner.dynamic]
    spans += [e.span for e in owner.inherit_from]
    return any(sp.start <= offset <= sp.end for sp in spans)


def _in_value(ad: N.AttrDef, offset: int) -> bool:
    return ad.kind == "plain" and ad.value.span.start <= offset <= ad.value.span.end


def _scope_items(
    doc: Doc, offset: int, edit: N.Span, io: _Request, matches: Callable[[str], bool]
) -> list[CompletionItem]:
    """Lexical names, then attributes of enclosing ``with``s, builtins, keywords
    (only those ``matches`` accepts: a large file has tens of thousands of
    names in scope)."""
    out: list[CompletionItem] = []
    seen: set[str] = {HOLE}
    visible = visible_names(doc.res, offset)
    for name, d in visible.items():
        if d is None or name in seen or not matches(name):
            continue
        seen.add(name)
        kind = "function" if isinstance(d.value, N.Lambda) else "variable"
        detail = {"arg": "argument", "formal": "formal argument"}.get(d.kind, f"{d.kind} binding")
        out.append(CompletionItem(name, kind, edit, _RANK["local"] + name, detail))
    assert doc.root is not None
    for w in enclosing_withs(doc.res, offset)[:3]:
        names = _attr_names(doc, chain_to(doc.root, w.env), io)
        for it in _name_items(names, edit, "field", rank=_RANK["with"], req=io):
            if it.label not in seen:
                seen.add(it.label)
                it.detail = "from `with`"
                out.append(it)
    for name in sorted(n for n, d in visible.items() if d is None):
        if name in seen or name.startswith("__") or not matches(name):
            continue
        seen.add(name)
        out.append(
            CompletionItem(
                name,
                "function" if name in REGISTRY else "constant",
                edit,
                _RANK["builtin"] + name,
                "builtin",
                data=f"builtin:{name}",
            )
        )
    out.extend(_keywords(edit))
    return out


def _keywords(edit: N.Span) -> list[CompletionItem]:
    return [CompletionItem(k, "keyword", edit, _RANK["keyword"] + k) for k in sorted(KEYWORDS)]


class _Names:
    """The attribute names of an evaluated set, sorted; for a small set also
    whether each is a function, a builtin, or a lambda with a position (for
    ``resolve_completion``): reading the values of 100,000 attributes would
    take longer than a completion may."""

    __slots__ = ("names", "info", "_blob")

    def __init__(self, names: list[str], info: dict[str, tuple[bool, str | None]]) -> None:
        self.names = names
        self.info = info
        self._blob: str | None = None

    def matching(self, prefix: str, limit: int) -> list[str]:
        """At most ``limit`` names containing ``prefix`` as a subsequence
        (ignoring case), those starting with it first, each group sorted.
        In a large set, only names containing ``prefix`` whole, case
        sensitively: a subsequence
        search over 100,000 names takes longer than a completion may (the
        answer is marked incomplete, so the editor asks again as one types)."""
        if not prefix:
            return self.names[:limit]
        if len(self.names) > _SMALL_SET:
            return self._containing(prefix, limit)
        if self._blob is None:
            self._blob = "\n".join(self.names)
        gap = "[^\n]*?"
        rx = re.compile("^[^\n]*?" + gap.join(map(re.escape, prefix)) + "[^\n]*$", re.M | re.I)
        found = rx.findall(self._blob)
        low = prefix.lower()
        first = [n for n in found if n.lower().startswith(low)]
        if len(first) < limit:
            first += [n for n in found if not n.lower().startswith(low)][: limit - len(first)]
        return first[:limit]

    def _containing(self, prefix: str, limit: int) -> list[str]:
        """Names starting with ``prefix`` (bisection), then names containing
        it (``str.find`` over all names joined); case matters here, where
        folding 100,000 names would cost more than the rest."""
        names = self.names
        out: list[str] = []
        i = bisect.bisect_left(names, prefix)
        while i < len(names) and names[i].startswith(prefix) and len(out) < limit:
            out.append(names[i])
            i += 1
        if self._blob is None:
            self._blob = "\n".join(names)
        blob = self._blob
        seen = set(out)
        pos = blob.find(prefix)
        while pos >= 0 and len(out) < limit:
            start = blob.rfind("\n", 0, pos) + 1
            end = blob.find("\n", pos)
            end = len(blob) if end < 0 else end
            name = blob[start:end]
            if name not in seen:
                seen.add(name)
                out.append(name)
            pos = blob.find(prefix, end)
        return out


_NO_NAMES = _Names([], {})

#: Up to this many attributes, completion reads each value (function or not).
_SMALL_SET = 5000


def _attr_names(doc: Doc, chain: list[N.Node], io: _Request) -> _Names:
    """The attributes of ``chain[-1]`` evaluated in its scope, with the
    observed arguments of its enclosing functions (none when it is no set,
    fails or depends on an argument nothing observed); kept per document
    text, node and observed values when the evaluation depended on them alone."""
    args = observed_args(chain, io.observed)
    key = ("attrs", id(chain[-1]), id(io.observed) if args else None)
    return memo_eval(doc, key, chain, io.io, _set_names, args)


def _set_names(value: Any) -> _Names:
    """The attributes of an evaluated set (values are not forced)."""
    if not isinstance(value, Attrs):
        return _NO_NAMES
    names = sorted(value)
    info: dict[str, tuple[bool, str | None]] = {}
    if len(names) <= _SMALL_SET:
        for name in names:
            v = value[name]
            if isinstance(v, Thunk) and v.c is None:
                v = v.v
            data = None
            if isinstance(v, PrimOp) and v.name == name:
                data = f"builtin:{name}"
            elif isinstance(v, Lambda) and v.node.span.source.path:
                sp = v.node.span
                data = f"doc:{sp.source.path}:{sp.start}"
            elif value.pos and name in value.pos and value.pos[name].source.path:
                sp = value.pos[name]  # where the attribute is defined (nothing forced)
                data = f"pos:{sp.source.path}:{sp.start}"
            info[name] = (isinstance(v, (Lambda, PrimOp, PrimOpApp)), data)
    return _Names(names, info)


def _name_items(
    names: _Names, edit: N.Span, kind: str, rank: str = "0", req: _Request | None = None
) -> list[CompletionItem]:
    """One item per attribute of ``_attr_names`` that matches the prefix
    typed (at most ``LIMIT``); a large set's answer is marked incomplete
    (``_Names.matching`` does not match subsequences there)."""
    prefix = req.prefix if req is not None else ""
    if req is not None and len(names.names) > _SMALL_SET:
        req.incomplete = True
    out = []
    for name in names.matching(prefix, LIMIT):
        is_fn, data = names.info.get(name, (False, None))
        label = name if plain_ident(name) else '"' + name.replace('"', '\\"') + '"'
        out.append(
            CompletionItem(label, "function" if is_fn else kind, edit, rank + name, data=data)
        )
    return out


def _doc_at(where: str, hashes: bool) -> str | None:
    """The doc comment before byte offset ``file:offset`` (``_set_names``'s
    data: a lambda's position, where ``#`` comments count too, or an
    attribute's, where only an RFC 145 comment does)."""
    from .docs import doc_comment_before, hash_comment_before

    file, _, offset = where.rpartition(":")
    if not offset.isdigit():
        return None
    try:
        with open(file, "rb") as f:
            text = f.read()
    except OSError:
        return None
    at = int(offset)
    return doc_comment_before(text, at) or (hash_comment_before(text, at) if hashes else None)


def _attr_items(
    doc: Doc, sel: N.Select | N.HasAttr, i: int, edit: N.Span, io: _Request
) -> list[CompletionItem]:
    """Attributes of ``sel.expr.path[:i]`` (evaluated in the select's scope)."""
    assert doc.root is not None
    chain = chain_to(doc.root, sel)
    base: N.Node = sel.expr
    if i == 0:
        names = _attr_names(doc, [*chain, sel.expr], io)
    else:
        base = N.Select(
            N.Span(sel.span.source, sel.span.start, sel.path_spans[i - 1].end),
            sel.expr,
            sel.path[:i],
            None,
            sel.path_spans[:i],
        )
        args = observed_args(chain, io.observed)
        key = ("select", id(sel), i, id(io.observed) if args else None)
        names = memo_eval(doc, key, [*chain[:-1], base], io.io, _set_names, args)
    if io.context is not None and not names.names:
        # ``config.…`` with no value evaluated: the configuration's option names.
        from .option_features import config_children

        names = _Names(config_children(io.context, doc, base, io.observed, io.io), {})
    items = _name_items(names, edit, "field", req=io)
    if io.context is not None and items:
        from .option_features import describe_config_items

        describe_config_items(io.context, doc, base, items, io.observed, io.io)
    return items


def _formal_items(doc: Doc, arg: N.Attrs, edit: N.Span, io: Any) -> list[CompletionItem]:
    """In ``f { … }``: the formals of ``f`` not given yet."""
    assert doc.root is not None
    from .signature import function_of_call

    chain = chain_to(doc.root, arg)
    app = chain[-2] if len(chain) >= 2 else None
    if not isinstance(app, N.Apply) or app.arg is not arg:
        return []
    lam = function_of_call(doc, chain[:-1], io)
    if lam is None or lam.formals is None:
        return []
    given = set(arg.attrs) - {HOLE}
    out = []
    for f in lam.formals:
        if f.name in given:
            continue
        detail = "optional" if f.default is not None else "required"
        rank = "0" if f.default is None else "1"
        out.append(CompletionItem(f.name, "property", edit, rank + f.name, detail))
    return out


def _path_items(
    data: bytes, path: str | None, offset: int, edit: N.Span, io: Any
) -> list[CompletionItem] | None:
    """After ``./``, ``../`` or ``/`` in a path literal: the directory's entries."""
    i = offset
    while i > 0 and (chr(data[i - 1]).isalnum() or data[i - 1] in b"._-+/~"):
        i -= 1
    word = data[i:offset].decode("utf-8", "replace")
    if "/" not in word or not word.startswith(("./", "../", "/", "~/")):
        return None
    base = os.path.dirname(path) if path else os.getcwd()
    dirpart, _, partial = word.rpartition("/")
    if word.startswith("~/"):
        directory = os.path.expanduser("~/" + dirpart[2:])
    else:
        directory = os.path.normpath(os.path.join(base, dirpart or "/"))
    try:
        names = io.list_dir(directory)
    except Exception:  # noqa: BLE001 - unreadable or outside the allowed roots
        return []
    src = edit.source
    span = N.Span(src, offset - len(partial.encode()), ident_after(data, offset))
    out = []
    for name in names:
        if not name.startswith(partial) or (name.startswith(".") and not partial.startswith(".")):
            continue
        try:
            is_dir = io.file_type(os.path.join(directory, name)) == "directory"
        except Exception:  # noqa: BLE001
            continue
        kind = "folder" if is_dir else "file"
        out.append(CompletionItem(name, kind, span, ("0" if is_dir else "1") + name))
    return out
