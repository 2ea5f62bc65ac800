"""Completion of option paths where a module file defines options.

``services.web.|`` (even alone on an unfinished line), inside
``config = { … }``, ``mkIf``/``mkMerge``/``mkDefault`` bodies and nested
sets: the names under that option path in the configurations that import
the file (``options.ModuleContext.for_file``), with each option's type as
detail and its description as documentation.
"""

from __future__ import annotations

from typing import Any

from ..errors import EvalLimit, NixError
from ._doc import make_evaluator
from .modules import completion_context
from .types import CompletionItem


def _label(name: str) -> str:
    from .completion import _plain_ident

    return name if _plain_ident(name) else '"' + name.replace('"', '\\"') + '"'


def option_items(
    context: Any,
    text: bytes,
    path: str | None,
    offset: int,
    observed: dict[tuple[str, int], list[Any]],
    io: Any,
    timeout_s: float = 1.0,
) -> list[CompletionItem] | None:
    """The option names to offer at ``offset``; None when the cursor is not
    where a module of a configuration of ``context`` defines options."""
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
    if not items and not confs:
        return None
    return list(items.values())
