"""Inlay hints: the value of ``let`` bindings that are cheap and short.

Each binding is evaluated in its lexical scope under a small per-hint step
budget; bindings that fail, depend on a function argument, are functions,
are plain literals (the hint would repeat them) or print longer than
``MAX_LABEL`` characters get no hint.
"""

from __future__ import annotations

import time
from typing import Any

from .. import nodes as N
from ..printer import PrintOptions, show_value
from ..values import Lambda, PrimOp, PrimOpApp
from ..walk import walk
from ._doc import analyse, chain_to, eval_chain, make_evaluator, observed_args

MAX_LABEL = 30
_LITERALS = (N.Int, N.Float, N.Str, N.Path, N.Uri, N.Lambda)


def inlay_hints(
    text: str | bytes,
    path: str | None,
    start: int = 0,
    end: int | None = None,
    io: Any = None,
    budget_s: float = 0.3,
    steps_per_hint: int = 20_000,
    observed: dict[tuple[str, int], list[Any]] | None = None,
    context: Any = None,
) -> list[Any]:
    """Hints ``= value`` after the values of let bindings in ``[start, end]``
    (inside functions an evaluation called, with the arguments it observed)."""
    from .types import InlayHint

    doc = analyse(text, path)
    if doc.root is None:
        return []
    end = len(doc.text) if end is None else end
    deadline = time.monotonic() + budget_s
    out: list[InlayHint] = []
    for node in walk(doc.root):
        if not isinstance(node, N.Let) or node.span.end < start or node.span.start > end:
            continue
        for ad in node.attrs.values():
            if time.monotonic() > deadline:
                return out
            value = ad.value
            if ad.kind != "plain" or isinstance(value, _LITERALS) or isinstance(value, N.Var):
                continue
            if not start <= value.span.end <= end:
                continue
            if isinstance(value, N.Str) and all(isinstance(p, str) for p in value.parts):
                continue
            ev = make_evaluator(io, steps_per_hint, max(0.0, deadline - time.monotonic()))
            chain = chain_to(doc.root, value)
            v = eval_chain(doc, chain, ev, io, observed_args(chain, observed or {}))
            if v is None or isinstance(v, (Lambda, PrimOp, PrimOpApp)):
                continue
            label = show_value(
                v, PrintOptions(max_depth=1, max_attrs=4, max_items=4, max_string=25)
            )
            if len(label) > MAX_LABEL or "«" in label:
                continue
            out.append(InlayHint(value.span.end, f"= {label}"))
    out.sort(key=lambda h: h.offset)
    return out
