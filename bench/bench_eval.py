"""Evaluator benchmark: nixlens vs the reference nix-instantiate, side by side.

Runs each CPU-bound program with both evaluators in the same run (best of
N wall-clock times, process start-up included for both) and prints the
ratio nixlens / Nix per program and as a geometric mean.

    python bench/bench_eval.py [--repeat 3] [--only NAME]
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time

PROGRAMS: dict[str, str] = {
    "fib27": "let fib = n: if n < 2 then n else fib (n - 1) + fib (n - 2); in fib 27",
    "foldl100k": "builtins.foldl' (a: b: a + b) 0 (builtins.genList (x: x * 2) 100000)",
    "attrs-build-merge": (
        'let mk = p: builtins.listToAttrs (builtins.genList (i: { name = "${p}${toString i}"; '
        'value = i; }) 20000); a = mk "a"; b = mk "b"; m = a // b // { extra = 1; }; '
        "in builtins.length (builtins.attrNames m) + m.a19999 + m.b5"
    ),
    "string-concat": (
        'let go = n: s: if n == 0 then s else go (n - 1) (s + "x"); '
        'in builtins.stringLength (go 20000 "")'
    ),
    "sort10k": (
        "let xs = builtins.genList (i: (i * 7919) - (i / 13) * 10007) 10000; "
        "in builtins.head (builtins.sort builtins.lessThan xs)"
    ),
    "deep-recursion-50k": "let f = n: if n == 0 then 0 else 1 + f (n - 1); in f 50000",
    # Builtin-heavy programs (issue 3).
    "split-replace": (
        'let s = builtins.concatStringsSep "," (builtins.genList toString 50000); '
        'in builtins.length (builtins.split "," (builtins.replaceStrings ["1"] ["one"] s))'
    ),
    "json-roundtrip-1MB": (
        'let d = builtins.genList (i: { id = i; name = "item${toString i}"; tags = [ "a" "b" ]; }) 20000; '
        "j = builtins.toJSON d; in builtins.length (builtins.fromJSON j) + builtins.stringLength j"
    ),
    "sort100k": (
        "let xs = builtins.genList (i: (i * 7919) - (i / 13) * 10007) 100000; "
        "in builtins.head (builtins.sort builtins.lessThan xs)"
    ),
    "genericClosure10k": (
        "builtins.length (builtins.genericClosure { startSet = [ { key = 0; } ]; "
        "operator = x: if x.key < 10000 then [ { key = x.key + 1; } ] else [ ]; })"
    ),
    "derivation-1000-attrs": (
        '(derivation ({ name = "big"; system = "x86_64-linux"; builder = "/bin/sh"; } // '
        'builtins.listToAttrs (builtins.genList (i: { name = "a${toString i}"; value = toString i; }) 1000))).drvPath'
    ),
}


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, str, int]:
    t = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    return time.perf_counter() - t, p.stdout.strip() or p.stderr.strip()[-200:], p.returncode


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", action="append", default=[])
    ns = ap.parse_args()
    nix = shutil.which("nix-instantiate")
    if nix is None:
        print("nix-instantiate not found (apt-get install -y nix-bin); cannot compare")
        return 1
    env = dict(os.environ)
    tmp = tempfile.mkdtemp(prefix="nixlens-bench-")
    env.setdefault("HOME", tmp)
    ratios = []
    print(f"{'program':24} {'nixlens s':>10} {'nix s':>8} {'ratio':>7}  result")
    for name, src in PROGRAMS.items():
        if ns.only and not any(o in name for o in ns.only):
            continue
        ours_cmd = [sys.executable, "-m", "server.cli", "eval", "--strict", "-E", src]
        nix_cmd = [
            nix,
            "--eval",
            "--strict",
            "--option",
            "build-users-group",
            "",
            "--store",
            "dummy://",
            "-E",
            src,
        ]
        best_ours = best_nix = math.inf
        out_ours = out_nix = ""
        rc_ours = rc_nix = 0
        for _ in range(ns.repeat):
            t, out_ours, rc_ours = run(ours_cmd, env)
            best_ours = min(best_ours, t)
            t, out_nix, rc_nix = run(nix_cmd, env)
            best_nix = min(best_nix, t)
        same = (
            "same"
            if out_ours == out_nix
            else f"DIFFERENT: ours={out_ours[:60]!r} nix={out_nix[:60]!r}"
        )
        if rc_ours != 0 or rc_nix != 0:
            same = f"rc ours={rc_ours} nix={rc_nix}: {out_ours[:80]!r} / {out_nix[:80]!r}"
            print(f"{name:24} {best_ours:10.3f} {best_nix:8.3f} {'-':>7}  {same}")
            continue
        ratio = best_ours / best_nix
        ratios.append(ratio)
        print(f"{name:24} {best_ours:10.3f} {best_nix:8.3f} {ratio:7.2f}  {same}")
    if ratios:
        gm = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"geometric mean ratio (nixlens / nix) over {len(ratios)} programs: {gm:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
