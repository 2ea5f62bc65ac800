"""What keeps an evaluation's memory small gives the same answers as before:
hashes without OpenSSL for small inputs (``evaluator.hashing``), attribute
positions of ``//`` kept as layers (``runtime.UpdatePositions``), ``match``
on the standard ``re``."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from evaluator import hashing, store
from evaluator.eval import Evaluator
from evaluator.printer import show_value
from evaluator.runtime import UpdatePositions


def ev_str(src: str) -> str:
    ev = Evaluator()
    v = ev.eval_text(src)
    ev.deep_force(v)
    return show_value(v)


@pytest.mark.parametrize("algo", ["md5", "sha1", "sha256", "sha512"])
@pytest.mark.parametrize("size", [0, 1, 1000, hashing.LARGE + 7])
def test_hashes_match_hashlib(algo: str, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    assert hashing.new(algo, data).hexdigest() == hashlib.new(algo, data).hexdigest()
    inc = hashing.Incremental(algo)
    for i in range(0, len(data), 4096):
        inc.update(data[i : i + 4096])
    assert inc.digest() == hashlib.new(algo, data).digest()


def test_store_paths_need_no_openssl() -> None:
    # A derivation's paths, hashString and the code cache's keys: all in
    # the interpreter's own hashes (OpenSSL costs 4 MB a process).
    code = (
        "import sys\n"
        "from evaluator.cli import main\n"
        "main(['--strict', '-E', 'let d = derivation { name = \"x\"; system = \"s\"; "
        'builder = "b"; }; in [ d.drvPath (builtins.hashString "sha512" "a") ]\'])\n'
        "assert '_hashlib' not in sys.modules, 'OpenSSL loaded'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "-x.drv" in proc.stdout


def test_large_hash_inputs_use_openssl_and_agree() -> None:
    data = b"y" * (hashing.LARGE + 1)
    assert store.hash_bytes("sha256", data).digest == hashlib.sha256(data).digest()


def test_update_positions_layer_and_flatten() -> None:
    a = {"x": 1, "y": 2}
    b = {"y": 3, "z": 4}
    p = UpdatePositions(a, b)
    assert dict(p) == {"x": 1, "y": 3, "z": 4} and len(p) == 3
    assert p["y"] == 3 and p.get("x") == 1 and p.get("w") is None and "w" not in p
    assert p and not UpdatePositions({}, {})
    deep: object = a
    for i in range(3 * UpdatePositions.MAX_DEPTH):
        deep = UpdatePositions(deep, {f"k{i}": i})  # type: ignore[arg-type]
        assert deep.depth <= UpdatePositions.MAX_DEPTH  # type: ignore[attr-defined]
    assert deep["k0"] == 0 and deep["x"] == 1 and len(deep) == 2 + 3 * UpdatePositions.MAX_DEPTH  # type: ignore[index,arg-type]


def test_positions_through_update_chains(tmp_path: Path) -> None:
    # Each attribute keeps the position of the set it came from, through
    # chains longer than a layer's depth and builtins in between.
    src = """let
  a = { x = 1; y = 2; };
  b = { y = 3; };
  chain = builtins.foldl' (acc: i: acc // { "k${toString i}" = i; }) (a // b) (builtins.genList (i: i) 20);
  pos = n: s: let p = builtins.unsafeGetAttrPos n s; in if p == null then null else [ p.line p.column ];
in [ (pos "x" chain) (pos "y" chain) (pos "k0" chain) (pos "k19" chain)
     (pos "y" (chain // builtins.mapAttrs (n: v: v) { q = 1; }))
     (pos "q" (chain // builtins.mapAttrs (n: v: v) { q = 1; })) ]"""
    path = tmp_path / "pos.nix"
    path.write_text(src)
    ev = Evaluator()
    v = ev.eval_file(str(path))
    ev.deep_force(v)
    # Nix 2.26 prints the same.
    assert show_value(v) == "[ [ 2 9 ] [ 3 9 ] [ 4 45 ] [ 4 45 ] [ 3 9 ] null ]"


@pytest.mark.parametrize(
    ("src", "want"),
    [
        ('builtins.match "p[0-9]+" "p12"', "[ ]"),
        ('builtins.match "(a|ab)(c|bcd)(d*)" "abcd"', '[ "a" "bcd" "" ]'),
        ('builtins.match "a$" "a\\n"', "null"),
        ('builtins.match "[[:alpha:]]+([0-9]*)" "abc12"', '[ "12" ]'),
        ('builtins.match "(.*)" "a\\nb"', '[ "a\\nb" ]'),
        ('builtins.replaceStrings [ "a" "ab" "." ] [ "1" "2" "3" ] "ab.ab"', '"1b31b"'),
    ],
)
def test_match_on_re_agrees_with_nix(src: str, want: str) -> None:
    assert ev_str(src) == want
