"""Navigation and editing features (issue 6): thin handlers over evaluator.ide."""

from __future__ import annotations

from typing import Any


def register(server: Any) -> None:
    """Register the navigation handlers on ``server``."""
