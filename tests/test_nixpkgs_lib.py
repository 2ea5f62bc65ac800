"""nixpkgs lib's own tests, run against nixlens.

``lib/tests/misc.nix`` must evaluate to ``[ ]`` (its failing cases are listed
otherwise), and ``lib/tests/modules.sh`` must pass every check with
``tests/tools/nix-instantiate`` (nixlens standing in for Nix) first on PATH.
modules.sh runs hundreds of evaluations (minutes): it is marked ``libtests``,
which the default run leaves out and ``.ci/run`` runs on its own.  In CI
(``CI=true``) a missing nixpkgs lib fails instead of skipping.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator.cli import build_parser, evaluate_cli

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOLS = os.path.join(REPO, "tests", "tools")


def _lib_dir() -> str:
    d = os.environ.get("NIXLENS_NIXPKGS_LIB") or os.path.join(REPO, "..", "shared", "nixpkgs-lib")
    d = os.path.abspath(d)
    if not os.path.isdir(os.path.join(d, "lib", "tests")):
        msg = f"nixpkgs lib not found at {d} (set NIXLENS_NIXPKGS_LIB)"
        if os.environ.get("CI", "").strip().lower() in ("true", "1", "yes"):
            pytest.fail(msg + "; CI must run lib's tests")
        pytest.skip(msg)
    return d


def test_misc_nix_is_empty_list() -> None:
    lib = _lib_dir()
    ns = build_parser().parse_args(["--strict", os.path.join(lib, "lib", "tests", "misc.nix")])
    out, err = io.StringIO(), io.StringIO()
    status = evaluate_cli(ns, out, err)
    assert status == 0, err.getvalue()[-3000:]
    assert out.getvalue() == "[ ]\n", out.getvalue()[:3000]


@pytest.mark.libtests
def test_modules_sh_passes(tmp_path: Path) -> None:
    lib = _lib_dir()
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash not found")
    env = dict(os.environ)
    env["PATH"] = TOOLS + os.pathsep + env.get("PATH", "")
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env["NIXLENS_PYTHON"] = sys.executable
    # Hundreds of processes: Python's bytecode cached as in an installation
    # (an environment turning it off has each one compile the evaluator).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(tmp_path / "pycache")
    proc = subprocess.run(
        [bash, os.path.join(lib, "lib", "tests", "modules.sh")],
        env=env,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=3600,
    )
    counts = re.search(r"(\d+) Pass\n(\d+) Fail", proc.stdout)
    assert counts is not None, (proc.stdout + proc.stderr)[-5000:]
    passed, failed = int(counts.group(1)), int(counts.group(2))
    assert failed == 0 and proc.returncode == 0, (
        f"{passed} passed, {failed} failed:\n{proc.stdout[-8000:]}"
    )
    assert passed > 0
