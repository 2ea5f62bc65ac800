"""Project context benchmark (issue 11): the demo flake's "context ready" time over LSP.

Makes the demo flake of ``tests/projects.py`` (its ``nixpkgs`` input locked
to nixpkgs' lib, placed in a temporary ``NIX_STORE_DIR``), starts the real
server (``python -m server.lsp``) with a client that supports
``window/workDoneProgress``, opens ``services.nix`` and measures the time from
``didOpen`` to the end of the ``$/progress`` of the project load (the context
is ready: inputs read, entries discovered and each evaluated once), and to
the first evaluated diagnostics of the file.  Each sample is a fresh server;
the first with an empty disk cache, the others reusing it.

Side by side in the same run, the reference: Nix 2.26 evaluating the same
configuration (``configurations.demo.config.services``, strictly) of the same flake
with its input locked as a ``path:`` (Nix copies the flake and the input
into a scratch store first; the copy is warm after the first run, whose
time is not counted).

    python bench/bench_project.py [--samples 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))
sys.path.insert(0, ROOT)

from lsp_client import LspClient  # noqa: E402
from projects import ProjectFactory, write_lock  # noqa: E402

READY_TARGET_S = 3.0
CAPABILITIES = {
    "general": {"positionEncodings": ["utf-16"]},
    "window": {"workDoneProgress": True},
    "textDocument": {
        "hover": {"contentFormat": ["markdown", "plaintext"]},
        "publishDiagnostics": {"versionSupport": True},
    },
}


def uri(path: str) -> str:
    return "file://" + path


def one_sample(root: str, store_dir: str, cache_dir: str, timeout: float) -> dict[str, float]:
    """Seconds from didOpen to the end of the project's progress, and to the evaluated diagnostics."""
    env = {
        **os.environ,
        "PYTHONPATH": ROOT,
        "NIX_STORE_DIR": store_dir,
        "XDG_CACHE_HOME": cache_dir,
    }
    with LspClient(env=env) as client:
        client.initialize(capabilities=CAPABILITIES, root=uri(root))
        path = os.path.join(root, "services.nix")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        t0 = time.perf_counter()
        client.open(uri(path), text)

        def progress_ended() -> bool:
            return any(
                n["method"] == "$/progress" and n["params"]["value"].get("kind") == "end"
                for n in client.notifications
            )

        if not client.wait_until(progress_ended, timeout):
            raise RuntimeError("the project's $/progress never ended")
        ready = time.perf_counter() - t0
        # The evaluated layer: the second publish of version 1 (static first).
        _diags, arrived = client.wait_diagnostics(uri(path), 1, timeout, after=1)
        diagnosed = arrived - t0
        client.shutdown_and_exit()
    return {"ready_s": ready, "diagnostics_s": diagnosed}


def reference(factory: ProjectFactory, tmp: str) -> float | None:
    """Nix 2.26's time for ``configurations.demo.config.services`` (strict), warm store; None without it."""
    nix = shutil.which("nix-instantiate-2.26")
    if nix is None:
        return None
    src = os.path.join(tmp, "libsrc")
    shutil.copytree(
        os.path.join(os.path.dirname(ROOT), "shared", "nixpkgs-lib"),
        src,
        ignore=shutil.ignore_patterns("tests"),
    )
    stored = factory.add_to_store(src)
    root = factory.copy_fixture("demo", os.path.join(tmp, "ws-nix"))
    with open(os.path.join(root, "flake.nix"), encoding="utf-8") as f:
        text = f.read().replace("github:nix-community/nixpkgs.lib", "path:" + src)
    with open(os.path.join(root, "flake.nix"), "w", encoding="utf-8") as f:
        f.write(text)
    node = {
        "locked": {"type": "path", "path": src, "narHash": stored.nar_hash},
        "original": {"type": "path", "path": src},
    }
    write_lock(root, {"nixpkgs": node})
    expr = f'(builtins.getFlake "path:{root}").configurations.demo.config.services'
    cmd = [
        nix,
        "--store",
        f"local?root={os.path.join(tmp, 'nix')}",
        "--extra-experimental-features",
        "flakes nix-command",
        "--option",
        "substituters",
        "",
        "--eval",
        "--strict",
        "-E",
        expr,
    ]
    subprocess.run(cmd, capture_output=True, check=True, timeout=300)  # warm the copies
    t0 = time.perf_counter()
    subprocess.run(cmd, capture_output=True, check=True, timeout=300)
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=5)
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--json", action="store_true")
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="nixlens-bench-project-") as tmp:
        factory = ProjectFactory(tmp)
        project = factory.demo()
        cache = os.path.join(tmp, "cache")
        samples = [
            one_sample(project.root, project.store_dir, cache, ns.timeout)
            for _ in range(ns.samples)
        ]
        ref = reference(factory, tmp)
    ready = [s["ready_s"] for s in samples]
    diag = [s["diagnostics_s"] for s in samples]
    result: dict[str, Any] = {
        "samples": samples,
        "ready_first_s": ready[0],
        "ready_median_s": statistics.median(ready),
        "ready_max_s": max(ready),
        "diagnostics_median_s": statistics.median(diag),
        "nix_reference_s": ref,
    }
    if ns.json:
        print(json.dumps(result, indent=1))
        return 0
    print("demo flake (nixpkgs lib input in a temporary store), context ready after didOpen")
    print(f"{'measure':40} {'seconds':>8} {'target':>7} {'ratio':>6}")
    for label, value in [
        ("ready, first (empty disk cache)", ready[0]),
        (f"ready, median of {len(ready)}", statistics.median(ready)),
        ("ready, max", max(ready)),
    ]:
        print(f"{label:40} {value:8.2f} {READY_TARGET_S:7.1f} {value / READY_TARGET_S:6.2f}")
    print(f"{'evaluated diagnostics, median':40} {statistics.median(diag):8.2f}")
    if ref is not None:
        med = statistics.median(ready)
        print(f"{'Nix 2.26 evaluating the configuration':40} {ref:8.2f}")
        print(f"ratio nixlens ready (median) / Nix 2.26: {med / ref:.2f}")
    else:
        print("Nix 2.26 not installed: no reference figure")
    return 0


if __name__ == "__main__":
    sys.exit(main())
