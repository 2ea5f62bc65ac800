"""The wheel ships every package of the source tree: pyproject.toml lists
packages explicitly, and a package missing there works from a checkout (and
an editable install) but not from ``pip install .``."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_every_package_is_listed_in_pyproject() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(config["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("evaluator", "server")
        for init in (ROOT / top).rglob("__init__.py")
        if "__pycache__" not in init.parts
    }
    assert found, "no packages found"
    assert found <= listed, f"not shipped in the wheel: {sorted(found - listed)}"
