"""Start-up of one ``nixlens eval`` process vs Nix 2.26's ``nix-instantiate``.

Runs, alternating, ``python -c pass`` (the interpreter and its ``site``
alone), ``nixlens eval -E 1`` and ``nix-instantiate-2.26 --eval -E 1``,
then the same with one of nixpkgs lib's ``lib/tests/modules.sh``
evaluations (a small module set over ``lib/modules.nix``), and prints the
mean CPU time (user + system) and median wall-clock time of each, and the
CPU ratio nixlens / Nix.  nixlens runs as installed: bytecode cached and
its code cache warm (one unmeasured round first), each in a temporary
directory.

    python bench/bench_startup.py [--runs 40] [--lib ../shared/nixpkgs-lib]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
MODULE_EXPR = "(import ./default.nix { modules = [ ./shorthand-meta.nix ]; }).config.result"


def measure(cmd: list[str], env: dict[str, str], cwd: str | None) -> tuple[float, float]:
    """Wall and CPU seconds of one run of ``cmd`` (which must succeed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.decode(errors='replace')[-400:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=40, help="measured runs of each")
    ap.add_argument("--lib", default=os.path.join(REPO, "..", "shared", "nixpkgs-lib"))
    ns = ap.parse_args()
    nix = shutil.which("nix-instantiate-2.26")
    if nix is None:
        print("nix-instantiate-2.26 not found (bash ../shared/tools/modern-nix.sh); cannot compare")
        return 1
    modules = os.path.join(os.path.abspath(ns.lib), "lib", "tests", "modules")
    if not os.path.isdir(modules):
        print(f"{modules} not found (--lib)")
        return 1
    tmp = tempfile.mkdtemp(prefix="nixlens-bench-startup-")
    try:
        env = dict(os.environ)
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        env["PYTHONPYCACHEPREFIX"] = os.path.join(tmp, "pycache")
        env["XDG_CACHE_HOME"] = os.path.join(tmp, "cache")
        ours = [sys.executable, "-m", "server.cli", "eval"]
        cases = {
            "-E 1": {
                "python -c pass": ([sys.executable, "-c", "pass"], None),
                "nixlens": ([*ours, "-E", "1"], None),
                "Nix 2.26": ([nix, "--eval", "-E", "1"], None),
            },
            "a modules.sh evaluation": {
                "nixlens": ([*ours, "--json", "-E", MODULE_EXPR], modules),
                "Nix 2.26": ([nix, "--eval", "--json", "-E", MODULE_EXPR], modules),
            },
        }
        load = os.getloadavg()
        print(f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
        for title, runs in cases.items():
            times: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
            for i in range(ns.runs + 1):
                for name, (cmd, cwd) in runs.items():
                    result = measure(cmd, env, cwd)
                    if i:  # the first round fills the caches
                        times[name].append(result)
            print(f"\n{title} ({ns.runs} runs each, alternating)")
            nix_cpu = statistics.mean(c for _, c in times["Nix 2.26"])
            for name, got in times.items():
                cpu = statistics.mean(c for _, c in got)
                wall = statistics.median(w for w, _ in got)
                print(
                    f"  {name:16} CPU {cpu * 1000:7.1f} ms  wall {wall * 1000:7.1f} ms"
                    f"  CPU / Nix's {cpu / nix_cpu:5.2f}"
                )
        load = os.getloadavg()
        print(f"\nload average at end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
