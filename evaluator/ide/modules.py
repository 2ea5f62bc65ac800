"""Where a module file defines options: its definitions and their option paths.

A module (NixOS, home-manager, ``lib.evalModules``) is a function or a set;
its definitions are under ``config`` when the set has ``config`` or
``options`` (a "full" module), else every attribute but the structural ones
(``imports``, ``_file``, ...) is a definition.  Definitions nest through sets
(``services.web = { port = 1; }``), ``mkIf``/``mkMerge``/``mkDefault``/...
bodies, ``let``/``with``/``assert`` bodies and both branches of ``if``.

The parser merges ``a.b.c = v;`` into nested synthetic sets whose spans are
those of the first occurrence, so the spans of each key component are read
back from the text of the key itself (``_key_components``).  Everything here
is static (no evaluation): it works on a repaired parse of a broken buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

from .. import nodes as N
from ._doc import HOLE, Doc, analyse_repaired, ident_after, ident_before

# Attributes of a module that are not definitions (``lib/modules.nix``).
_STRUCTURAL = frozenset(
    {"imports", "_file", "key", "disabledModules", "meta", "freeformType", "_class"}
)
# Property functions whose last argument holds definitions: name -> how many
# arguments come before it.
_WRAPPERS = {
    "mkIf": 1,
    "mkDefault": 0,
    "mkForce": 0,
    "mkOverride": 1,
    "mkOptionDefault": 0,
    "mkVMOverride": 0,
    "mkImageMediaOverride": 0,
    "mkBefore": 0,
    "mkAfter": 0,
    "mkOrder": 1,
    "mkFixStrictness": 0,
}


@dataclass(slots=True, frozen=True)
class Definition:
    """One binding that defines option path ``path``: ``name`` is the span of
    its last key component, ``value`` its value's span."""

    path: tuple[str, ...]
    name: N.Span
    value: N.Span


@dataclass(slots=True, frozen=True)
class DefinitionSet:
    """A set literal whose bindings define options under ``path``."""

    path: tuple[str, ...]
    span: N.Span


@dataclass(slots=True)
class ModuleShape:
    """The definitions of one module file (empty when it is not a module),
    and the keys under its ``options`` (declarations and the sets holding them)."""

    definitions: list[Definition]
    sets: list[DefinitionSet]
    declarations: list[Definition]


def module_shape(doc: Doc) -> ModuleShape:
    """The definitions and definition sets of ``doc`` (parsed without errors;
    computed once per text)."""
    shape: ModuleShape | None = doc.memo.get("module_shape")
    if shape is None:
        shape = doc.memo["module_shape"] = _shape(doc)
    return shape


def _shape(doc: Doc) -> ModuleShape:
    shape = ModuleShape([], [], [])
    if doc.root is None:
        return shape
    body = _unwrap_body(doc.root)
    if isinstance(body, N.Lambda):  # { config, ... }: { ... }
        body = _unwrap_body(body.body)
    if not isinstance(body, N.Attrs):
        return shape
    text = doc.text
    if "config" in body.attrs or "options" in body.attrs:
        ad = body.attrs.get("config")
        if ad is not None and ad.kind == "plain":
            _walk_value(ad.value, (), text, shape)
        ad = body.attrs.get("options")
        if ad is not None and ad.kind == "plain":
            _walk_declarations(ad.value, shape)
    else:
        shape.sets.append(DefinitionSet((), body.span))
        for name, ad in body.attrs.items():
            if name not in _STRUCTURAL:
                _binding(name, ad, (), text, shape)
    return shape


def _unwrap_body(node: N.Node) -> N.Node:
    while isinstance(node, (N.Let, N.With, N.Assert)):
        node = node.body
    return node


def _callee_name(fn: N.Node) -> str | None:
    if isinstance(fn, N.Var):
        return fn.name
    if isinstance(fn, N.Select) and fn.path and isinstance(fn.path[-1], str):
        return fn.path[-1]
    return None


def _walk_value(node: N.Node, prefix: tuple[str, ...], text: bytes, shape: ModuleShape) -> None:
    """Definitions inside the value ``node`` of option path ``prefix``."""
    stack = [(node, prefix)]
    while stack:
        n, p = stack.pop()
        if isinstance(n, (N.Let, N.With, N.Assert)):
            stack.append((n.body, p))
        elif isinstance(n, N.If):
            stack.extend([(n.then, p), (n.else_, p)])
        elif isinstance(n, N.Apply):
            args = []
            fn: N.Node = n
            while isinstance(fn, N.Apply):
                args.append(fn.arg)
                fn = fn.fn
            args.reverse()
            name = _callee_name(fn)
            if name == "mkMerge" and len(args) == 1 and isinstance(args[0], N.List):
                stack.extend((item, p) for item in args[0].items)
            elif name in _WRAPPERS and len(args) == _WRAPPERS[name] + 1:
                stack.append((args[-1], p))
        elif isinstance(n, N.Attrs):
            if not _synthetic(n, text):
                shape.sets.append(DefinitionSet(p, n.span))
            for name, ad in n.attrs.items():
                _binding(name, ad, p, text, shape)


def _walk_declarations(node: N.Node, shape: ModuleShape) -> None:
    """The keys of the sets under ``options`` (an ``mkOption`` call is a leaf)."""
    stack: list[tuple[N.Node, tuple[str, ...]]] = [(node, ())]
    while stack:
        n, p = stack.pop()
        if isinstance(n, (N.Let, N.With)):
            stack.append((n.body, p))
        elif isinstance(n, N.Attrs):
            for name, ad in n.attrs.items():
                path = (*p, name)
                shape.declarations.append(Definition(path, ad.span, ad.value.span))
                if ad.kind == "plain":
                    stack.append((ad.value, path))


def _synthetic(n: N.Attrs, text: bytes) -> bool:
    """Whether ``n`` is a set the parser made for ``a.b = v;`` (no braces)."""
    head = text[n.span.start : n.span.start + 3]
    return not (head.startswith(b"{") or head == b"rec")


def _binding(
    name: str, ad: N.AttrDef, prefix: tuple[str, ...], text: bytes, shape: ModuleShape
) -> None:
    path = (*prefix, name)
    shape.definitions.append(Definition(path, ad.span, ad.value.span))
    if ad.kind == "plain":
        _walk_value(ad.value, path, text, shape)


# ------------------------------------------------------------ at an offset


@dataclass(slots=True, frozen=True)
class OptionAt:
    """The option path under the cursor: ``path`` up to and including the
    component under it, whose span is ``span``."""

    path: tuple[str, ...]
    span: N.Span


def _key_components(text: bytes, key: N.Span) -> list[tuple[int, int]]:
    """The byte ranges of the components of a key (``AttrDef.span`` covers
    the attribute path from its first component to this binding's name)."""
    out = []
    i, end = key.start, key.end
    while i < end:
        while i < end and text[i] in b" \t\r\n.":
            i += 1
        if i >= end:
            break
        j = i
        if text[i] == 0x22:  # a quoted component: up to the closing quote
            j = i + 1
            while j < end and text[j] != 0x22:
                j += 2 if text[j] == 0x5C else 1
            j = min(j + 1, end)
        else:
            while j < end and text[j] not in b" \t\r\n.":
                j += 1
        out.append((i, j))
        i = j
    return out or [(key.start, key.end)]


def option_at(doc: Doc, offset: int, declarations: bool = False) -> OptionAt | None:
    """The option path of the definition key under ``offset`` (any
    component); with ``declarations``, of the keys under ``options`` too."""
    shape = module_shape(doc)
    text = doc.text
    best: OptionAt | None = None
    keys = shape.definitions + shape.declarations if declarations else shape.definitions
    for d in keys:
        comps = _key_components(text, d.name)
        if not comps[0][0] <= offset <= comps[-1][1]:
            continue
        if len(comps) > len(d.path):  # ``config.a.b = …``: ``config`` is no option
            comps = comps[len(comps) - len(d.path) :]
        k = len(comps)
        for i, (s, e) in enumerate(comps):
            if s <= offset <= e:
                path = d.path[: len(d.path) - (k - 1 - i)]
                if best is None or len(path) > len(best.path):
                    best = OptionAt(path, N.Span(d.name.source, s, e))
    return best


def completion_context(
    text: bytes, path: str | None, offset: int
) -> tuple[tuple[str, ...], N.Span] | None:
    """Where option names may be typed at ``offset``: the option path whose
    children are wanted and the span the completed name replaces; None when
    the cursor is not on a definition key of a module.  Works on broken
    text (``services.web.`` alone on a line): the repaired parse of
    ``_doc.analyse_repaired`` puts a placeholder name at the cursor."""
    # ``a.\n  b = 1;`` is valid Nix (``a.b``): a line ending with the dot
    # being typed is read as unfinished, not joined with the next line.
    start = ident_before(text, offset)
    end_of_line = text.find(b"\n", offset)
    rest = text[ident_after(text, offset) : end_of_line if end_of_line >= 0 else len(text)]
    typing = start > 0 and text[start - 1] == 0x2E and not rest.strip()
    doc, inserted = analyse_repaired(text, path, offset, force=typing)
    if doc.root is None:
        return None
    found = option_at(doc, offset)
    if found is not None:
        end = found.span.end - inserted if inserted else found.span.end
        if found.span.start <= offset <= found.span.end:
            span = N.Span(N.Source(text, path), found.span.start, max(end, offset))
            return found.path[:-1], span
    if inserted:
        return None
    # Between the bindings of a definition set: its children.
    shape = module_shape(doc)
    inner: DefinitionSet | None = None
    for s in shape.sets:
        if s.span.start < offset < s.span.end and (
            inner is None or s.span.end - s.span.start < inner.span.end - inner.span.start
        ):
            inner = s
    if inner is None:
        return None
    if any(d.value.start <= offset <= d.value.end for d in shape.definitions if _inside(d, inner)):
        return None
    return inner.path, N.Span(N.Source(text, path), offset, offset)


def _inside(d: Definition, s: DefinitionSet) -> bool:
    return s.span.start <= d.name.start and d.value.end <= s.span.end


def definitions_of(doc: Doc, option: tuple[str, ...]) -> list[Definition]:
    """The definitions of ``option`` in ``doc`` (else those of its longest
    defined prefix, e.g. ``services.web = { … }`` for ``services.web.port``)."""
    shape = module_shape(doc)
    for n in range(len(option), 0, -1):
        found = [d for d in shape.definitions if d.path == option[:n] and HOLE not in d.path]
        if found:
            return found
    return []


def config_path(doc: Doc, sel: N.Node) -> tuple[str, ...] | None:
    """The option path ``sel`` reads when its base is the module's ``config``
    argument, directly or through ``let`` bindings (``cfg.port`` with
    ``cfg = config.services.web``): ``("services", "web", "port")``."""
    if doc.root is None:
        return None
    module = _unwrap_body(doc.root)
    path: list[str] = []
    node: N.Node = sel
    refs = doc.res.refs
    for _ in range(32):  # bindings that alias each other in a cycle end here
        if isinstance(node, N.Select):
            if node.default is not None or not all(isinstance(p, str) for p in node.path):
                return None
            path[:0] = [p for p in node.path if isinstance(p, str)]
            node = node.expr
        elif isinstance(node, N.Var):
            ref = refs.get(node)
            d = ref.definition if ref is not None else None
            if d is None:
                return None
            if d.kind == "formal" and d.name == "config" and d.owner is module:
                return tuple(path)
            if d.kind != "let" or d.via != "plain" or d.value is None:
                return None
            node = d.value
        else:
            return None
    return None
