"""Completion answers, shared by ``completion`` and ``option_features``
(which ``completion`` calls: kept here, the two import no cycle)."""

from __future__ import annotations

from ..literals import KEYWORDS
from .types import CompletionItem

#: At most this many items are returned (locals come first).
LIMIT = 200


class Completions(list[CompletionItem]):
    """Completion items; ``incomplete`` when more would match than were
    looked at (the client should ask again as the user types)."""

    def __init__(self, items: list[CompletionItem], incomplete: bool = False) -> None:
        super().__init__(items)
        self.incomplete = incomplete or len(items) >= LIMIT


def plain_ident(name: str) -> bool:
    """Whether ``name`` can be written unquoted as an attribute name."""
    return (
        bool(name)
        and (name[0].isalpha() or name[0] == "_")
        and all(c.isalnum() or c in "_'-" for c in name)
        and name not in KEYWORDS
    )
