"""The project's own evaluator regressions as data files (as tvix and Nix keep
theirs): ``tests/data/eval/eval-okay-NAME.nix`` with ``.exp`` (stdout of
``nixlens eval --strict``) and ``eval-fail-NAME.nix``; either may have
``.err.exp`` (the whole stderr) and ``.flags`` (more command-line flags).

Expected outputs come from the reference Nix 2.26
(``tests/tools/regen-eval-data.sh``); the data directory is written ``/pwd``.
"""

from __future__ import annotations

import io
import os
import shlex
import shutil

import pytest

from evaluator.cli import build_parser, evaluate_cli

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "eval")
# Cases run from a copy at this fixed path (as tests/tools/regen-eval-data.sh
# runs Nix): Nix expands a message's tabs counting the columns of the whole
# error text, the file's path included, so the output depends on its length.
RUN_DIR = "/tmp/nixlens-eval-data"
CASES = sorted(
    f[: -len(".nix")] for f in os.listdir(DATA) if f.startswith("eval-") and f.endswith(".nix")
)


def _read(name: str) -> str | None:
    path = os.path.join(DATA, name)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def test_cases_found() -> None:
    assert any(c.startswith("eval-okay-") for c in CASES)
    assert any(c.startswith("eval-fail-") for c in CASES)


@pytest.fixture(scope="module")
def run_dir() -> str:
    """A fresh copy of the data at ``RUN_DIR``."""
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    shutil.copytree(DATA, RUN_DIR, symlinks=True)
    return RUN_DIR


@pytest.mark.parametrize("case", CASES)
def test_eval_data(case: str, run_dir: str) -> None:
    flags = shlex.split(_read(case + ".flags") or "")
    ns = build_parser().parse_args(["--strict", *flags, os.path.join(run_dir, case + ".nix")])
    out, err = io.StringIO(), io.StringIO()
    status = evaluate_cli(ns, out, err)
    stdout = out.getvalue().replace(run_dir, "/pwd")
    stderr = err.getvalue().replace(run_dir, "/pwd")
    if case.startswith("eval-okay-"):
        assert status == 0, stderr
        assert stdout == _read(case + ".exp")
    else:
        assert status == 1, stdout
    want_err = _read(case + ".err.exp")
    if want_err is not None:
        assert stderr == want_err
