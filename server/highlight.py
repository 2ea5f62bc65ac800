"""Semantic tokens and folding ranges from the project's tree-sitter queries."""

from __future__ import annotations

from typing import Any


def register(server: Any) -> None:
    """Register the highlighting handlers on ``server``."""
