"""Evaluator benchmark: nixlens vs Nix 2.26's nix-instantiate, side by side.

Runs each program with both evaluators in the same run, alternating (best
of N wall-clock times, process start-up included for both; also the best
CPU time, user + system, less disturbed by other load on the machine; peak
resident memory of each process from ``wait4``), and prints per program the
time and memory ratios nixlens / Nix, then their geometric means separately
for the real-code programs (``bench/realcode.py``: nixpkgs lib's tests, a
module system, its option list, a package set) and the small CPU programs.
nixlens's code cache starts empty: the first run ("cold") compiles every
file, the others find them compiled, as a user's later runs do.

    python bench/bench_eval.py [--repeat 3] [--only NAME] [--nix PATH]
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from realcode import REAL_PROGRAMS  # noqa: E402

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


def run(cmd: list[str], env: dict[str, str], cwd: str) -> tuple[float, float, int, str, int]:
    """Wall-clock and CPU seconds, peak resident memory (KiB), output, exit status."""
    t = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(
            cmd, stdout=out, stderr=err, env=env, cwd=cwd, preexec_fn=_unlimited_stack
        )
        _pid, status, usage = os.wait4(p.pid, 0)
        elapsed = time.perf_counter() - t
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode("utf-8", "replace").strip()
        stderr = err.read().decode("utf-8", "replace").strip()
    # ru_maxrss is in KiB on Linux.
    cpu = usage.ru_utime + usage.ru_stime
    return elapsed, cpu, usage.ru_maxrss, stdout or stderr[-200:], p.returncode


def _unlimited_stack() -> None:
    # Nix 2.26 detects C stack overflow at the default 8 MB: the deep
    # recursions of the CPU programs need more (as ``ulimit -s unlimited``).
    resource.setrlimit(resource.RLIMIT_STACK, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))


def geomean(xs: list[float]) -> float:
    """The geometric mean of positive numbers."""
    return math.exp(sum(math.log(x) for x in xs) / len(xs))


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", action="append", default=[])
    ap.add_argument("--nix", default=None, help="reference nix-instantiate (default: 2.26)")
    ns = ap.parse_args()
    nix = ns.nix or shutil.which("nix-instantiate-2.26")
    if nix is None:
        print("nix-instantiate-2.26 not found (bash ../shared/tools/modern-nix.sh); cannot compare")
        return 1
    env = dict(os.environ)
    tmp = tempfile.mkdtemp(prefix="nixlens-bench-")
    env.setdefault("HOME", tmp)
    # nixlens's code cache starts empty: the first run of each program is
    # cold (printed), the best of the runs warm, as a user's second run.
    env["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
    # Python's bytecode cached as in an installation (an environment that
    # turns it off would have every run compile the evaluator's own
    # modules): in the run's directory, not the source tree.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    env["PYTHONPATH"] = repo + os.pathsep + env.get("PYTHONPATH", "")
    ours_base = [sys.executable, "-m", "server.cli", "eval", "--strict"]
    nix_base = [
        nix,
        "--eval",
        "--strict",
        "--option",
        "build-users-group",
        "",
        "--store",
        "dummy://",
    ]
    jobs: list[tuple[str, str, list[str]]] = []
    for name, build in REAL_PROGRAMS.items():
        if ns.only and not any(o in name for o in ns.only):
            continue
        prog = build(tmp)
        args = (["--json"] if prog.json else []) + [prog.file]
        jobs.append(("real", name, args))
    for name, src in PROGRAMS.items():
        if ns.only and not any(o in name for o in ns.only):
            continue
        # Nix 2.26 stops at a call depth of 10,000 by default (Nix 2.8 and
        # nixlens have no limit): lifted for both.
        jobs.append(("cpu", name, ["--option", "max-call-depth", "1000000", "-E", src]))
    ratios: dict[str, list[float]] = {"real": [], "cpu": []}
    cpu_ratios: dict[str, list[float]] = {"real": [], "cpu": []}
    mem_ratios: dict[str, list[float]] = {"real": [], "cpu": []}
    print(
        f"{'program':24} {'cold s':>7} {'nixlens s':>10} {'nix s':>8} {'ratio':>7} "
        f"{'CPU ratio':>9} {'nixlens MB':>10} {'nix MB':>8} {'mem':>6}  result"
    )
    for kind, name, args in jobs:
        best_ours = best_nix = cpu_ours = cpu_nix = math.inf
        mem_ours = mem_nix = 0
        out_ours = out_nix = ""
        rc_ours = rc_nix = 0
        cold = math.inf
        for i in range(ns.repeat):
            t, c, m, out_ours, rc_ours = run(ours_base + args, env, tmp)
            best_ours, cpu_ours = min(best_ours, t), min(cpu_ours, c)
            if i == 0:
                cold = t
            if i > 0 or ns.repeat == 1:
                # Memory of the runs with the code cache filled (the cold
                # run also holds its compiler's work).
                mem_ours = max(mem_ours, m)
            t, c, m, out_nix, rc_nix = run(nix_base + args, env, tmp)
            best_nix, cpu_nix = min(best_nix, t), min(cpu_nix, c)
            mem_nix = max(mem_nix, m)
        same = (
            "same"
            if out_ours == out_nix
            else f"DIFFERENT: ours={out_ours[:60]!r} nix={out_nix[:60]!r}"
        )
        if rc_ours != 0 or rc_nix != 0:
            same = f"rc ours={rc_ours} nix={rc_nix}: {out_ours[:80]!r} / {out_nix[:80]!r}"
            print(f"{name:24} {cold:7.2f} {best_ours:10.3f} {best_nix:8.3f} {'-':>7}  {same}")
            continue
        ratio = best_ours / best_nix
        cpu_ratio = cpu_ours / max(cpu_nix, 0.001)
        mem_ratio = mem_ours / mem_nix
        ratios[kind].append(ratio)
        cpu_ratios[kind].append(cpu_ratio)
        mem_ratios[kind].append(mem_ratio)
        print(
            f"{name:24} {cold:7.2f} {best_ours:10.3f} {best_nix:8.3f} {ratio:7.2f} "
            f"{cpu_ratio:9.2f} {mem_ours / 1024:10.1f} {mem_nix / 1024:8.1f} {mem_ratio:6.2f}  {same}"
        )
    for kind, label in (("real", "real-code"), ("cpu", "CPU")):
        if ratios[kind]:
            print(
                f"{label} programs ({len(ratios[kind])}): geometric mean time ratio "
                f"{geomean(ratios[kind]):.2f} (CPU time {geomean(cpu_ratios[kind]):.2f}), "
                f"memory ratio {geomean(mem_ratios[kind]):.2f} (worst {max(mem_ratios[kind]):.2f})"
            )
    shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
