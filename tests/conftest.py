"""Shared pytest setup: make tests/ importable (conformance runner); a
session directory for the code cache."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def projects(tmp_path):  # type: ignore[no-untyped-def]
    """A ``tests.projects.ProjectFactory`` in a temporary directory (flakes and their store)."""
    from projects import ProjectFactory

    return ProjectFactory(str(tmp_path))


@pytest.fixture(autouse=True, scope="session")
def _code_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Commands run by tests (``nixlens eval``) keep their code cache
    (``evaluator.codecache``) in a directory of the test session, not the
    user's ``~/.cache``."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        yield
