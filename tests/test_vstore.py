"""The evaluation's virtual store (``evaluator.vstore``): store paths made in an
evaluation read back in it, through the same sandbox, and nothing is written."""

from __future__ import annotations

import os

import pytest

from evaluator.errors import NixError
from evaluator.eval import Evaluator
from evaluator.io import RealIO
from evaluator.printer import show_value


def _eval(ev: Evaluator, text: str, base: str) -> str:
    v = ev.eval_text(text, os.path.join(base, "t.nix"))
    ev.deep_force(v)
    return show_value(v)


def test_reads_back_what_the_evaluation_made(tmp_path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "keep.nix").write_text("{ k = 1; }")
    (tmp_path / "src" / "drop.txt").write_text("x")
    ev = Evaluator(io=RealIO([str(tmp_path)]))
    text = """let
      fs = builtins.filterSource (p: t: baseNameOf p != "drop.txt") ./src;
      f = builtins.toFile "f.txt" "hi";
    in [ (import "${fs}/keep.nix").k (builtins.attrNames (builtins.readDir fs))
         (builtins.pathExists "${fs}/drop.txt") (builtins.readFile f)
         (builtins.pathExists "${f}/child") ]"""
    assert _eval(ev, text, str(tmp_path)) == '[ 1 [ "keep.nix" ] false "hi" false ]'
    # Nothing was created in a store on disk.
    for path in ev.io.objects:
        assert not os.path.exists(path)


def test_unknown_store_paths_go_to_the_real_io(tmp_path) -> None:  # type: ignore[no-untyped-def]
    ev = Evaluator(io=RealIO([str(tmp_path)]))
    missing = "/nix/store/00000000000000000000000000000000-x"
    with pytest.raises(NixError, match="forbidden|does not exist"):
        _eval(ev, f'builtins.readFile "{missing}"', str(tmp_path))


def test_a_derivation_output_is_not_readable(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # Only a build makes an output; nixlens never builds.
    ev = Evaluator(io=RealIO([str(tmp_path)]))
    text = """let d = derivation { name = "d"; system = "x"; builder = "/b"; };
      in builtins.readFile d"""
    with pytest.raises(NixError, match=r"-d' (does not exist|is forbidden)"):
        _eval(ev, text, str(tmp_path))
