"""Where the driver loop's iterations come from, on the real-code programs.

``PYTHONPATH=$PWD python bench/driver_census.py [program ...]`` evaluates
each program of ``realcode.REAL_PROGRAMS`` (all by default) in this process
and prints the driver loop's iterations (``Machine.steps`` counts the same),
the requests yielded to it, and those requests by origin: the innermost
builtin (or ``gen``: generated code, ``-``: neither) between the frame the
driver runs and the generator that yielded, and the yielding helper.  A
builtin's own forces and calls show under its name; ``gen`` is mostly
generated code reaching ``INLINE_DEPTH``.

It measures a copy of ``Machine._run`` with a counting line added after the
line that resumes a frame, so the evaluator itself carries no counter.
"""

from __future__ import annotations

import collections
import contextlib
import inspect
import io
import re
import sys
import tempfile
import textwrap
from typing import Any

from bench.realcode import REAL_PROGRAMS
from evaluator import vm
from evaluator.builtins.registry import REGISTRY
from evaluator.cli import main


class Census:
    """Counts of driver iterations and of requests by origin."""

    def __init__(self) -> None:
        self.iterations = [0]
        self.requests: collections.Counter[tuple[str, str, str]] = collections.Counter()
        self.prims: dict[Any, str] = {}

    def count(self, cur: Any, req: Any) -> None:
        """Record the request ``req`` that the frame ``cur`` yielded."""
        if not self.prims:  # builtins register when first used
            for name, prim in REGISTRY.items():
                code = getattr(prim.fn, "__code__", None)
                if code is not None:
                    self.prims[code] = name
        chain = []
        g = cur
        while g is not None and hasattr(g, "gi_code"):
            chain.append(g.gi_code)
            g = g.gi_yieldfrom
        origin = "-"
        for code in chain:
            if code in self.prims:
                origin = self.prims[code]
            elif "/evaluator/" not in code.co_filename:
                origin = "gen"
        self.requests[(origin, chain[-1].co_name, type(req).__name__)] += 1


def instrument(census: Census) -> None:
    """Replace ``Machine._run`` with a copy that counts into ``census``."""
    src = textwrap.dedent(inspect.getsource(vm.Machine._run))
    resume = re.search(r"\n( *)req = cur\.send\(send\)\n", src)
    step = re.search(r"\n( *)steps \+= 1\n", src)
    if resume is None or step is None:
        raise SystemExit("Machine._run changed: update bench/driver_census.py")
    src = src.replace(resume[0], resume[0] + resume[1] + "_census.count(cur, req)\n", 1)
    src = src.replace(step[0], step[0] + step[1] + "_census.iterations[0] += 1\n", 1)
    ns = dict(vm.__dict__, _census=census)
    exec(compile(src, vm.__file__, "exec"), ns)
    vm.Machine._run = ns["_run"]  # type: ignore[method-assign]


def run(names: list[str]) -> None:
    """Evaluate each named program and print its census."""
    census = Census()
    instrument(census)
    tmp = tempfile.mkdtemp(prefix="nixlens-census-")
    for name in names:
        prog = REAL_PROGRAMS[name](tmp)
        census.iterations[0] = 0
        census.requests.clear()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            rc = main(["--strict", *(["--json"] if prog.json else []), prog.file])
        total = sum(census.requests.values())
        print(f"{name}: rc {rc}, {census.iterations[0]} iterations, {total} requests")
        by_origin: collections.Counter[str] = collections.Counter()
        for (origin, _, _), n in census.requests.items():
            by_origin[origin] += n
        for origin, n in by_origin.most_common(15):
            print(f"  {n:9d}  {origin}")
        for (origin, inner, kind), n in census.requests.most_common(12):
            print(f"  {n:9d}  {origin} <- {inner} ({kind})")


if __name__ == "__main__":
    run(sys.argv[1:] or list(REAL_PROGRAMS))
