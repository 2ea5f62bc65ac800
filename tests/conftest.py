"""Shared pytest setup: make tests/ importable (conformance runner)."""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


import pytest  # noqa: E402


@pytest.fixture
def projects(tmp_path):  # type: ignore[no-untyped-def]
    """A ``tests.projects.ProjectFactory`` in a temporary directory (flakes and their store)."""
    from projects import ProjectFactory

    return ProjectFactory(str(tmp_path))
