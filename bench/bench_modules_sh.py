"""nixpkgs lib's ``lib/tests/modules.sh``: nixlens vs Nix 2.26, side by side.

modules.sh runs about 400 separate ``nix-instantiate --eval`` processes over
small module sets (``lib/modules.nix`` and its tests' modules), so it
measures what every command-line evaluation pays besides evaluating:
process start-up, loading the evaluator, loading lib.  The script runs
unchanged, once with Nix 2.26 first on PATH as ``nix-instantiate`` (a
temporary directory of one symlink) and once with nixlens's stand-in
``tests/tools/nix-instantiate``, alternating when repeated; printed per run:
wall-clock seconds, CPU seconds of all child processes (user + system, less
disturbed by other load), the checks passed, and the ratios nixlens / Nix.

nixlens runs as installed: Python's bytecode cached (in the run's directory;
an environment that turns it off would have every process compile the
evaluator's modules) and its code cache starting empty in each run (the
first evaluation compiles lib, the others find it compiled).

    python bench/bench_modules_sh.py [--repeat 1] [--lib ../shared/nixpkgs-lib]
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def run_modules_sh(script: str, env: dict[str, str]) -> tuple[float, float, int, int, str]:
    """Wall seconds, children's CPU seconds, checks passed and failed, output tail."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(
        ["bash", script], env=env, capture_output=True, text=True, errors="replace"
    )
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    m = re.search(r"(\d+) Pass\n(\d+) Fail", proc.stdout)
    passed, failed = (int(m.group(1)), int(m.group(2))) if m else (0, -1)
    return wall, cpu, passed, failed, (proc.stdout + proc.stderr)[-400:]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=1, help="runs of each (alternating)")
    ap.add_argument("--lib", default=os.path.join(REPO, "..", "shared", "nixpkgs-lib"))
    ap.add_argument("--nix", default=None, help="reference nix-instantiate (default: 2.26)")
    ns = ap.parse_args()
    nix = ns.nix or shutil.which("nix-instantiate-2.26")
    if nix is None:
        print("nix-instantiate-2.26 not found (bash ../shared/tools/modern-nix.sh); cannot compare")
        return 1
    script = os.path.join(os.path.abspath(ns.lib), "lib", "tests", "modules.sh")
    if not os.path.isfile(script):
        print(f"{script} not found (--lib)")
        return 1
    tmp = tempfile.mkdtemp(prefix="nixlens-bench-modules-")
    try:
        nix_bin = os.path.join(tmp, "nix-bin")
        os.mkdir(nix_bin)
        os.symlink(nix, os.path.join(nix_bin, "nix-instantiate"))
        base = dict(os.environ)
        nix_env = dict(base, PATH=nix_bin + os.pathsep + base.get("PATH", ""))
        ours_env = dict(base)
        ours_env["PATH"] = os.path.join(REPO, "tests", "tools") + os.pathsep + base.get("PATH", "")
        ours_env["PYTHONPATH"] = REPO + os.pathsep + base.get("PYTHONPATH", "")
        ours_env["NIXLENS_PYTHON"] = sys.executable
        ours_env.pop("PYTHONDONTWRITEBYTECODE", None)
        ours_env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        load = os.getloadavg()
        print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        print(f"{'run':12} {'wall s':>8} {'CPU s':>8} {'pass':>5} {'fail':>5}")
        results: dict[str, list[tuple[float, float]]] = {"nix": [], "nixlens": []}
        for i in range(ns.repeat):
            ours_env["XDG_CACHE_HOME"] = os.path.join(tmp, f"cache{i}")
            for name, env in (("nix", nix_env), ("nixlens", ours_env)):
                wall, cpu, passed, failed, tail = run_modules_sh(script, env)
                print(f"{name:12} {wall:8.2f} {cpu:8.2f} {passed:5} {failed:5}")
                if failed != 0:
                    print(tail)
                results[name].append((wall, cpu))
        best = {k: (min(w for w, _ in v), min(c for _, c in v)) for k, v in results.items()}
        print(
            f"ratio nixlens / Nix 2.26: wall {best['nixlens'][0] / best['nix'][0]:.2f}, "
            f"CPU {best['nixlens'][1] / best['nix'][1]:.2f} (best of {ns.repeat})"
        )
        load = os.getloadavg()
        print(f"load average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
