"""Option paths where a module file defines options: completion and declarations.

``services.web.|`` (even alone on an unfinished line), inside
``config = { … }``, ``mkIf``/``mkMerge``/``mkDefault`` bodies and nested
sets: the names under that option path in the configurations that import
the file (``options.ModuleContext.for_file``), with each option's type as
detail and its description as documentation.  Go to definition on an option
path, or on ``config.a.b`` (``cfg.b`` with ``cfg = config.a``) where a module
reads one: the option's declarations (``declarationPositions``, else the
files of ``declarations``).
"""

from __future__ import annotations

from typing import Any

from .. import nodes as N
from ..errors import EvalLimit, NixError
from ._doc import analyse, make_evaluator, node_at
from .items import Completions, plain_ident
from .modules import completion_context, config_path, option_at
from .types import CompletionItem, Location


def _label(name: str) -> str:
    return name if plain_ident(name) else '"' + name.replace('"', '\\"') + '"'


def option_items(
    context: Any,
    text: bytes,
    path: str | None,
    offset: int,
    observed: dict[tuple[str, int], list[Any]],
    io: Any,
    timeout_s: float = 1.0,
) -> Completions | None:
    """The option names to offer at ``offset`` (incomplete when a budget
    cut their reading); None when the cursor is not where a module of a
    configuration of ``context`` defines options."""
    if path is None:
        return None
    found = completion_context(text, path, offset)
    if found is None:
        return None
    prefix, span = found
    ev = make_evaluator(io, steps=5_000_000, timeout_s=timeout_s)
    try:
        confs = context.for_file(ev, path, observed)
    except (NixError, EvalLimit):
        return None
    if not confs:
        return None
    items: dict[str, CompletionItem] = {}
    for conf in confs:
        try:
            children = conf.children(ev, prefix)
        except (NixError, EvalLimit):
            continue
        for child in children:
            if child.name in items:
                continue
            rank = "1" if child.name.startswith("_") else "0"
            if child.is_option:
                item = CompletionItem(
                    _label(child.name),
                    "property",
                    span,
                    rank + child.name,
                    child.type or "option",
                    child.description or None,
                )
            else:
                item = CompletionItem(
                    _label(child.name), "field", span, rank + child.name, "option set"
                )
            items[child.name] = item
    # Empty where no option is known (below an ``attrsOf`` option, where
    # names are free): names in scope would be no better there.
    cut = not all(conf.has_children(prefix) for conf in confs)
    return Completions(list(items.values()), incomplete=cut)


def option_declarations(
    context: Any,
    text: bytes,
    path: str | None,
    offset: int,
    observed: dict[tuple[str, int], list[Any]],
    io: Any,
    timeout_s: float = 1.0,
) -> list[Location] | None:
    """Where the option whose definition key is under ``offset`` is declared
    (None: the cursor is on no option path of a configuration of ``context``)."""
    if path is None:
        return None
    doc = analyse(text, path)
    if doc.root is None:
        return None
    found = option_at(doc, offset, declarations=True)
    option = found.path if found is not None else _read_at(doc, offset)
    if option is None:
        return None
    ev = make_evaluator(io, steps=5_000_000, timeout_s=timeout_s)
    out: list[Location] = []
    try:
        for conf in context.for_file(ev, path, observed):
            for decl in conf.declarations(ev, option):
                loc = _location(decl.file, decl.line, decl.column, io)
                if loc is not None and loc not in out:
                    out.append(loc)
    except (NixError, EvalLimit):
        return None
    return out or None


def _location(file: str, line: int, column: int, io: Any) -> Location | None:
    """``file`` at 1-based ``line``/``column`` (its start when unknown)."""
    try:
        data = io.read_bytes(file)
    except Exception:  # noqa: BLE001 - unreadable or outside the allowed roots
        return None
    source = N.Source(data, file)
    offset = 0
    if line > 0:
        starts = source.line_starts()
        if line - 1 < len(starts):
            offset = min(starts[line - 1] + max(column - 1, 0), len(data))
    return Location(file, N.Span(source, offset, offset))


def _read_at(doc: Any, offset: int) -> tuple[str, ...] | None:
    """The option read by ``config.a.b`` (or an alias of ``config``) up to
    the component under ``offset``."""
    assert doc.root is not None
    sel = node_at(doc.root, offset, lambda n: isinstance(n, N.Select))
    if not isinstance(sel, N.Select):
        return None
    for i, sp in enumerate(sel.path_spans):
        if sp.start <= offset <= sp.end:
            upto = N.Select(
                N.Span(sel.span.source, sel.span.start, sp.end),
                sel.expr,
                sel.path[: i + 1],
                None,
                sel.path_spans[: i + 1],
            )
            return config_path(doc, upto) or None
    return None


def config_children(
    context: Any, doc: Any, base: N.Node, observed: dict[tuple[str, int], list[Any]], io: Any
) -> list[str]:
    """The option names under ``base`` when it reads the module's ``config``
    (``config.services.``, ``cfg.`` with ``cfg = config.x``): for completion
    where no evaluation gave the value (the options came from a snapshot, or
    ``config`` fails)."""
    prefix = config_path(doc, base)
    if prefix is None or doc.path is None:
        return []
    ev = make_evaluator(io, steps=5_000_000, timeout_s=0.5)
    names: list[str] = []
    try:
        for conf in context.for_file(ev, doc.path, observed):
            for child in conf.children(ev, prefix):
                if child.name not in names:
                    names.append(child.name)
    except (NixError, EvalLimit):
        return names
    return sorted(names)


def describe_config_items(
    context: Any,
    doc: Any,
    base: N.Node,
    items: list[CompletionItem],
    observed: dict[tuple[str, int], list[Any]],
    io: Any,
) -> None:
    """Attribute completions of ``base`` when it reads the module's
    ``config`` (``config.services.``, ``cfg.`` with ``cfg = config.x``): each
    item gets its option's type and description."""
    prefix = config_path(doc, base)
    if prefix is None or doc.path is None:
        return
    ev = make_evaluator(io, steps=5_000_000, timeout_s=0.5)
    try:
        known: dict[str, Any] = {}
        for conf in context.for_file(ev, doc.path, observed):
            for child in conf.children(ev, prefix):
                known.setdefault(child.name, child)
    except (NixError, EvalLimit):
        return
    for item in items:
        child = known.get(item.sort_text[1:])
        if child is not None and child.is_option:
            item.kind = "property"
            item.detail = child.type or "option"
            item.documentation = child.description or None
        elif child is not None:
            item.detail = "option set"
