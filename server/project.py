"""Features that read the values of a document's last evaluation (issue 11).

Completion, go to definition and inlay hints inside a function that the
evaluation called (a module called by the module system, a package called by
``callPackage``) evaluate with the arguments it was called with
(``EvalResult.observed``), and in a module file of a configuration the entry
produced, option paths complete and jump to their declarations
(``EvalResult.context``).  Each call borrows the result, so that it is not
released while a worker thread reads its values.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from .lsp import NixLensServer
    from .navigation import Snapshot

T = TypeVar("T")


async def run_with_values(ls: NixLensServer, snap: Snapshot, fn: Callable[..., T], *args: Any) -> T:
    """``fn(*args, observed=…, context=…)`` in a worker thread, with the
    values of the last evaluation of ``snap``'s document (only those it has:
    none before the first evaluation)."""
    result = ls.evaluations.borrow(snap.doc.uri)
    observed = result.observed if result is not None else None
    context = result.context if result is not None else None
    extra: dict[str, Any] = {}
    if observed:
        extra["observed"] = observed
    if context is not None:
        extra["context"] = context
    try:
        return await asyncio.to_thread(lambda: fn(*args, **extra))
    finally:
        if result is not None:
            ls.evaluations.give_back(result)
