"""Module-system and package-set benchmark (issue 11): the real server over stdio.

Five measurements, each printed with its target and the ratio figure / target:

* The fixture (``services.nix`` declaring ``services.web``, ``config.nix``
  defining it, ``nixlens.eval.entry`` running ``lib.evalModules`` with
  nixpkgs' lib from ``../shared/nixpkgs-lib``): option completion p95
  (target 100 ms) at several places (an unfinished ``services.web.`` line,
  ``services.``, inside ``mkIf … { }``, inside ``config = { }``), and option
  hover p95 (target 50 ms) on each component of a definition's path, each
  sample on a new document version (the server keeps hovers per version).
* A generated configuration of 5,000 options (50 modules of 100 options):
  options ready (entry evaluated and every option's path, type and
  description read: ``Configuration.walk``), in this process, first time
  (target 30 s); next to it the time ``nix-instantiate-2.26`` takes to
  evaluate the same 5,000 option types and descriptions, when installed.
* The same 5,000 options as a flake (``configurations.gen``, nixpkgs' lib
  locked in a temporary store), no settings: options ready (completion of
  all 100 names of ``gen.m0`` and hover on one answered) after opening
  ``m0.nix`` in a fresh server process, first with an empty disk cache
  (target 30 s), then in a second fresh server from the disk snapshot the
  first one wrote (target 1 s; helper start-up included).
* Hover and lints (change -> published) of a file outside that project, with
  the default ``nixlens.workers``: idle, then while the flake's context loads
  (in the project loader process).
* Completion after ``pkgs.`` inside a function the entry calls with a set of
  100,000 names (target 100 ms): nothing typed, and ``pkgs.pkg9999``.
* The option error round trip in the demo flake (``tests/projects.py``, its
  input in a temporary store; the server with default settings, no entry:
  the project is discovered): ``services.web.port = 9090`` in ``config.nix``
  becomes ``"x"`` (one small edit), the time from sending the edit until the
  ``option_type`` error is published ("shown", target 2 s); then the edit is
  undone, the time until a publication of that version no longer has it
  ("gone", target 2 s: what the editor shows) and until the evaluation of
  that version is published ("gone, evaluated").  Each sample is one edit
  and its fix, the server settled before each.

    python bench/bench_options.py [--samples 30] [--options 5000] [--names 100000]
        [--round-trips 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import projects  # noqa: E402
from lsp_client import LspClient  # noqa: E402

LIB = (ROOT.parent / "shared" / "nixpkgs-lib").resolve()

COMPLETION_TARGET_MS = 100.0
HOVER_TARGET_MS = 50.0
OPTIONS_READY_TARGET_S = 30.0
NAMES_TARGET_MS = 100.0
ROUND_TRIP_TARGET_S = 2.0

SERVICES = """\
{ config, lib, ... }:
let
  cfg = config.services.web;
in
{
  options.services.web = {
    enable = lib.mkEnableOption "web";
    port = lib.mkOption { type = lib.types.port; default = 80; description = "Port."; };
    url = lib.mkOption { type = lib.types.str; default = ""; description = "URL."; };
  };
  config = lib.mkIf cfg.enable { services.web.url = "http://localhost"; };
}
"""

CONFIG = """\
{ lib, ... }:
{
  services.web.enable = true;
  services.web.port = 9090;
  # edits land here
}
"""

# Completion places: (text, needle, offset of the cursor in the needle).
COMPLETIONS = [
    (CONFIG.replace("  # edits", "  services.web.\n  # edits"), "web.\n", 4),
    (CONFIG.replace("  # edits", "  services.\n  # edits"), "services.\n", 9),
    ("{ lib, ... }:\n{\n  services = lib.mkIf true { web.  };\n}\n", "web. ", 4),
    ("{ lib, ... }:\n{\n  config = { services.web = {  }; };\n}\n", "{  }", 2),
]
# Hover places in CONFIG: (needle, offset in it).
HOVERS = [("services.web.enable", 1), ("web.enable", 1), ("enable", 2), ("port", 1)]


def percentile(xs: list[float], q: float) -> float:
    s = sorted(xs)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def position(text: str, needle: str, delta: int) -> dict[str, int]:
    offset = text.index(needle) + delta
    line = text.count("\n", 0, offset)
    return {"line": line, "character": offset - (text.rfind("\n", 0, offset) + 1)}


def settle(client: LspClient, uri: str, timeout: float = 120) -> None:
    """Wait until the evaluation of the current version has been published."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        report = client.request("textDocument/diagnostic", {"textDocument": {"uri": uri}})
        if not str(report.get("resultId", "")).endswith("~evaluating"):
            return
        time.sleep(0.05)
    raise TimeoutError(f"{uri} never settled")


def start(workspace: Path, entry: str) -> LspClient:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    client = LspClient(env=env)
    settings = {
        "eval": {"entry": entry, "budgetMs": 60000},
        "hover": {"budgetMs": 5000},
        "diagnostics": {"debounceMs": 0},
        "sandbox": {"allowedPaths": [str(LIB)]},
    }
    caps = {
        "general": {"positionEncodings": ["utf-16"]},
        "textDocument": {
            "hover": {"contentFormat": ["markdown"]},
            "publishDiagnostics": {"versionSupport": True},
            "diagnostic": {"dynamicRegistration": False},
        },
    }
    client.initialize({"nixlens": settings}, capabilities=caps, root=workspace.as_uri())
    return client


def timed_request(client: LspClient, method: str, params: Any) -> tuple[Any, float]:
    t0 = time.perf_counter()
    result = client.request(method, params, timeout=60)
    return result, (time.perf_counter() - t0) * 1000


# --------------------------------------------------------------- the fixture


def bench_fixture(samples: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="nixlens-bench-options-"))
    try:
        (work / "services.nix").write_text(SERVICES)
        (work / "config.nix").write_text(CONFIG)
        entry = (
            f"(import {LIB}/lib).evalModules {{ modules = "
            f"[ {work}/services.nix {work}/config.nix ]; }}"
        )
        client = start(work, entry)
        uri = (work / "config.nix").as_uri()
        try:
            t0 = time.perf_counter()
            client.open(uri, CONFIG)
            settle(client, uri)
            ready_ms = (time.perf_counter() - t0) * 1000
            version = 1
            completion: list[float] = []
            for i in range(samples):
                text, needle, delta = COMPLETIONS[i % len(COMPLETIONS)]
                version += 1
                client.change(uri, version, [{"text": text}])
                params = {"textDocument": {"uri": uri}, "position": position(text, needle, delta)}
                found, ms = timed_request(client, "textDocument/completion", params)
                labels = {it["label"] for it in (found or {}).get("items", [])}
                if not labels & {"web", "port", "enable"}:
                    raise AssertionError(f"no option completion at {needle!r}: {sorted(labels)}")
                completion.append(ms)
            hover: list[float] = []
            for i in range(samples):
                version += 1
                text = CONFIG.replace("edits land here", f"edits land here {i}")
                client.change(uri, version, [{"text": text}])
                settle(client, uri)
                needle, delta = HOVERS[i % len(HOVERS)]
                params = {"textDocument": {"uri": uri}, "position": position(text, needle, delta)}
                found, ms = timed_request(client, "textDocument/hover", params)
                if "option" not in json.dumps(found):
                    raise AssertionError(f"no option hover at {needle!r}: {found}")
                hover.append(ms)
        finally:
            client.shutdown_and_exit()
            client.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "context_ready_ms": ready_ms,
        "completion_p50_ms": percentile(completion, 0.5),
        "completion_p95_ms": percentile(completion, 0.95),
        "hover_p50_ms": percentile(hover, 0.5),
        "hover_p95_ms": percentile(hover, 0.95),
    }


# ------------------------------------------------ 5,000 generated options


def generate_modules(work: Path, options: int, per_module: int = 100) -> list[Path]:
    return [work / n for n in projects.generate_modules(str(work), options, per_module)]


def bench_options_ready(options: int) -> dict[str, Any]:
    from evaluator.ide._doc import make_evaluator
    from evaluator.ide.options import Configuration, find_configurations

    work = Path(tempfile.mkdtemp(prefix="nixlens-bench-gen-"))
    try:
        files = generate_modules(work, options)
        modules = " ".join(str(f) for f in files)
        entry = f"(import {LIB}/lib).evalModules {{ modules = [ {modules} ]; }}"
        t0 = time.perf_counter()
        ev = make_evaluator(None, steps=500_000_000, timeout_s=600)
        value = ev.eval_text(entry, str(work / "entry.nix"))
        confs = find_configurations(ev, value)
        conf = Configuration(confs[0][1])
        found = list(conf.walk(ev))
        ready_s = time.perf_counter() - t0
        if len(found) < options:
            raise AssertionError(f"{len(found)} options found, {options} expected")
        reference_s = None
        nix = shutil.which("nix-instantiate-2.26")
        if nix:
            expr = (
                f"let c = {entry}; o = c.options.gen; in builtins.length (builtins.concatLists "
                "(map (m: map (n: builtins.seq o.${m}.${n}.type.description "
                "o.${m}.${n}.description) (builtins.attrNames o.${m})) (builtins.attrNames o)))"
            )
            t1 = time.perf_counter()
            proc = subprocess.run(
                [
                    nix,
                    "--eval",
                    "--option",
                    "build-users-group",
                    "",
                    "--store",
                    "dummy://",
                    "-E",
                    expr,
                ],
                capture_output=True,
                text=True,
                timeout=600,
            )
            if proc.returncode == 0:
                reference_s = time.perf_counter() - t1
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {"options": len(found), "options_ready_s": ready_s, "nix_2_26_s": reference_s}


# ------------------------------------ 5,000 options of a flake: disk cache


def generated_flake(tmp: Path, options: int) -> tuple[Path, dict[str, str]]:
    """The flake of ``projects.ProjectFactory.generated`` (``options`` options
    in ``configurations.gen``) and the environment a server needs for it."""
    factory = projects.ProjectFactory(str(tmp))
    project = factory.generated(options)
    env = {"NIX_STORE_DIR": factory.store_dir, "XDG_CACHE_HOME": str(tmp / "cache")}
    return Path(project.root), env


def start_project(workspace: Path, env: dict[str, str], workers: int = 0) -> LspClient:
    """The real server on a project workspace (no entry: the project is found)."""
    client = LspClient(env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    caps = {
        "general": {"positionEncodings": ["utf-16"]},
        "window": {"workDoneProgress": True},
        "textDocument": {
            "hover": {"contentFormat": ["markdown"]},
            "publishDiagnostics": {"versionSupport": True},
        },
    }
    settings: dict[str, Any] = {"diagnostics": {"debounceMs": 0}}
    if workers:
        settings["workers"] = workers
    client.initialize({"nixlens": settings}, capabilities=caps, root=workspace.as_uri())
    return client


def options_ready_in_server(root: Path, env: dict[str, str], timeout: float) -> dict[str, Any]:
    """Seconds from opening ``m0.nix`` in a fresh server to option completion
    (all 100 options of ``gen.m0``) and option hover answering; whether the
    hover came from the disk cache."""
    path = root / "m0.nix"
    text = path.read_text()
    uri = path.as_uri()
    where = position(text, "config.gen.m0.o0", len("config.gen.m0."))
    on_option = position(text, "config.gen.m0.o0", len("config.gen.m0.o"))
    client = start_project(root, env)
    try:
        t0 = time.perf_counter()
        client.open(uri, text)
        deadline = t0 + timeout
        completed = hovered = None
        hover_text = ""
        while time.perf_counter() < deadline and (completed is None or hovered is None):
            if completed is None:
                found = client.request(
                    "textDocument/completion",
                    {"textDocument": {"uri": uri}, "position": where},
                    timeout=timeout,
                )
                labels = {it["label"] for it in (found or {}).get("items", [])}
                if {f"o{i}" for i in range(100)} <= labels:
                    completed = time.perf_counter() - t0
            if hovered is None:
                got = client.request(
                    "textDocument/hover",
                    {"textDocument": {"uri": uri}, "position": on_option},
                    timeout=timeout,
                )
                hover_text = json.dumps(got)
                if "Option 0 of module 0." in hover_text:
                    hovered = time.perf_counter() - t0
            time.sleep(0.01)
        if completed is None or hovered is None:
            raise AssertionError(f"options never ready: {hover_text}")
    finally:
        client.shutdown_and_exit()
        client.close()
    return {
        "completion_s": completed,
        "hover_s": hovered,
        "ready_s": max(completed, hovered),
        "from_cache": "from the disk cache" in hover_text,
    }


def bench_options_cache(options: int) -> dict[str, Any]:
    """The generated flake opened in a fresh server twice: the first time
    (empty disk cache) and the second (from the snapshot the first wrote)."""
    tmp = Path(tempfile.mkdtemp(prefix="nixlens-bench-cache-"))
    try:
        root, env = generated_flake(tmp, options)
        first = options_ready_in_server(root, env, 300)
        second = options_ready_in_server(root, env, 300)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"first": first, "cached": second}


# ---------------------------------- another file while a context loads


OTHER = """\
let
  unused = 1;
  double = x: x * 2;
  values = map double [ 1 2 3 ];
in
{ inherit values; total = builtins.foldl' (a: b: a + b) 0 values; }
"""


def lint_and_hover(client: LspClient, uri: str, version: int) -> tuple[float, float]:
    """Milliseconds of one hover on ``other.nix`` and of one change until its
    lints are published (new text each time)."""
    text = OTHER.replace("unused = 1;", f"unused = {version};")
    params = {"textDocument": {"uri": uri}, "position": position(text, "double [", 1)}
    _found, hover_ms = timed_request(client, "textDocument/hover", params)
    t0 = time.perf_counter()
    client.change(uri, version, [{"text": text}])
    _diags, arrived = client.wait_diagnostics(uri, version, 60)
    return hover_ms, (arrived - t0) * 1000


def bench_during_load(options: int, samples: int) -> dict[str, Any]:
    """Hover and lints of a file outside the project, with the default
    ``nixlens.workers``: idle, then while the generated flake's context
    loads (empty disk cache)."""
    tmp = Path(tempfile.mkdtemp(prefix="nixlens-bench-during-"))
    try:
        root, env = generated_flake(tmp, options)
        other = tmp / "other.nix"
        other.write_text(OTHER)
        # The workspace holds the project folder and a file outside it.
        client = start_project(tmp, env)
        try:
            uri = other.as_uri()
            client.open(uri, OTHER)
            client.wait_diagnostics(uri, 1, 60)
            idle = [lint_and_hover(client, uri, 2 + i) for i in range(samples)]
            version = 2 + samples

            def progress(kind: str) -> bool:
                return any(
                    n["method"] == "$/progress" and n["params"]["value"].get("kind") == kind
                    for n in client.notifications
                )

            m0 = root / "m0.nix"
            client.open(m0.as_uri(), m0.read_text())
            if not client.wait_until(lambda: progress("begin"), 60):
                raise AssertionError("the project load never began")
            during = []
            while not progress("end"):
                during.append(lint_and_hover(client, uri, version))
                version += 1
        finally:
            client.shutdown_and_exit()
            client.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not during:
        raise AssertionError("the load ended before any request could be made")
    return {
        "samples_during": len(during),
        "idle_hover_p95_ms": percentile([h for h, _ in idle], 0.95),
        "idle_lint_p95_ms": percentile([lint for _, lint in idle], 0.95),
        "load_hover_p95_ms": percentile([h for h, _ in during], 0.95),
        "load_lint_p95_ms": percentile([lint for _, lint in during], 0.95),
    }


# ------------------------------------------------ 100,000-name completion


def bench_names(names: int, samples: int) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="nixlens-bench-names-"))
    try:
        text = "{ pkgs }:\n{\n  x = pkgs.;\n}\n"
        valid = text.replace("pkgs.;", "pkgs;")  # a broken text is not evaluated
        (work / "pkg.nix").write_text(valid)
        entry = (
            "let pkgs = builtins.listToAttrs (builtins.genList (i: { name = "
            f'"pkg${{toString i}}"; value = i; }}) {names}); in '
            f"import {work}/pkg.nix {{ inherit pkgs; }}"
        )
        client = start(work, entry)
        uri = (work / "pkg.nix").as_uri()
        try:
            client.open(uri, valid)
            settle(client, uri, timeout=600)
            results: dict[str, Any] = {}
            for label, typed in (("names_empty", ""), ("names_typed", "pkg9999")):
                body = text.replace("pkgs.;", f"pkgs.{typed};")
                client.change(uri, 3 if typed else 2, [{"text": body}])
                pos = position(body, "pkgs.", 5 + len(typed))
                params = {"textDocument": {"uri": uri}, "position": pos}
                times = []
                for _ in range(samples):
                    found, ms = timed_request(client, "textDocument/completion", params)
                    items = (found or {}).get("items", [])
                    if not items or (typed and items[0]["label"] != typed):
                        raise AssertionError(f"completion after pkgs.{typed}: {items[:3]}")
                    times.append(ms)
                results[f"{label}_first_ms"] = times[0]
                results[f"{label}_p95_ms"] = percentile(times, 0.95)
                results[f"{label}_incomplete"] = bool(found.get("isIncomplete"))
        finally:
            client.shutdown_and_exit()
            client.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return results


# ------------------------------------------- option error shown and gone


def bench_error_round_trip(samples: int) -> dict[str, Any]:
    """Seconds from an edit to its option error's publication, and from the fix to its end."""
    with tempfile.TemporaryDirectory(prefix="nixlens-bench-roundtrip-") as tmp:
        project = projects.ProjectFactory(tmp).demo()
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "NIX_STORE_DIR": project.store_dir,
            "XDG_CACHE_HOME": os.path.join(tmp, "cache"),
        }
        path = project.path("config.nix")
        text = Path(path).read_text()
        uri = Path(path).as_uri()
        line = text.count("\n", 0, text.index("9090"))
        col = text.index("9090") - (text.rfind("\n", 0, text.index("9090")) + 1)
        shown: list[float] = []
        gone: list[float] = []
        gone_evaluated: list[float] = []
        with LspClient(env=env) as client:
            client.initialize(None, root=Path(project.root).as_uri())  # default settings
            client.open(uri, text)
            settle(client, uri)
            version = 1
            for _ in range(samples):
                for value, old_len in (('"x"', 4), ("9090", 3)):
                    version += 1
                    before = client.diagnostics_count(uri)
                    rng = {
                        "start": {"line": line, "character": col},
                        "end": {"line": line, "character": col + old_len},
                    }
                    t0 = time.perf_counter()
                    client.change(uri, version, [{"range": rng, "text": value}])
                    wanted = value != "9090"
                    seen = publications(client, uri, version, before, wanted)
                    if wanted:
                        shown.append(seen[0] - t0)
                    else:
                        gone.append(seen[0] - t0)
                        gone_evaluated.append(seen[1] - t0)
                    settle(client, uri)
            client.shutdown_and_exit()
    return {
        "samples": samples,
        "shown_p50_s": percentile(shown, 0.5),
        "shown_p95_s": percentile(shown, 0.95),
        "gone_p50_s": percentile(gone, 0.5),
        "gone_p95_s": percentile(gone, 0.95),
        "gone_evaluated_p95_s": percentile(gone_evaluated, 0.95),
        "shown_s": shown,
        "gone_s": gone,
        "gone_evaluated_s": gone_evaluated,
    }


def publications(
    client: LspClient, uri: str, version: int, before: int, error: bool, timeout: float = 60
) -> list[float]:
    """Arrival times of: the first publication of ``version`` (after the
    ``before``-th) showing the option error (``error``) or not showing it,
    and of the evaluation's publication of ``version`` (its second: the
    static layer comes first)."""
    times: list[float] = []

    def done() -> bool:
        times.clear()
        at_version = [
            (diags, t) for v, diags, t in client.diagnostics.get(uri, [])[before:] if v == version
        ]
        first = next(
            (
                t
                for diags, t in at_version
                if any(d.get("code") == "option_type" for d in diags) == error
            ),
            None,
        )
        if first is None or (not error and len(at_version) < 2):
            return False
        times.extend([first, at_version[1][1] if len(at_version) > 1 else first])
        return True

    if not client.wait_until(done, timeout):
        raise TimeoutError(f"version {version} of {uri}: {client.diagnostics.get(uri, [])[-1:]}")
    return list(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=30)
    ap.add_argument("--options", type=int, default=5000)
    ap.add_argument("--names", type=int, default=100_000)
    ap.add_argument("--round-trips", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="print the raw figures as JSON")
    ap.add_argument(
        "--only-round-trip", action="store_true", help="measure the option error round trip only"
    )
    args = ap.parse_args()
    trip = bench_error_round_trip(args.round_trips)
    trip_rows = [
        ("option error shown p50 (s)", trip["shown_p50_s"], None),
        ("option error shown p95 (s)", trip["shown_p95_s"], ROUND_TRIP_TARGET_S),
        ("option error gone p50 (s)", trip["gone_p50_s"], None),
        ("option error gone p95 (s)", trip["gone_p95_s"], ROUND_TRIP_TARGET_S),
        ("  gone, evaluated p95 (s)", trip["gone_evaluated_p95_s"], ROUND_TRIP_TARGET_S),
    ]
    if args.only_round_trip:
        if args.json:
            print(json.dumps({"round_trip": trip}, indent=2))
        else:
            print_rows(trip_rows, f"{trip['samples']} edits and fixes, default settings")
        return 0
    fixture = bench_fixture(args.samples)
    ready = bench_options_ready(args.options)
    cache = bench_options_cache(args.options)
    during = bench_during_load(args.options, args.samples)
    names = bench_names(args.names, args.samples)
    if args.json:
        figures = {"fixture": fixture, "options": ready, "cache": cache, "during_load": during}
        print(json.dumps({**figures, "names": names, "round_trip": trip}, indent=2))
        return 0
    first, cached = cache["first"], cache["cached"]
    rows = [
        ("fixture context ready (ms)", fixture["context_ready_ms"], None),
        ("option completion p50 (ms)", fixture["completion_p50_ms"], None),
        ("option completion p95 (ms)", fixture["completion_p95_ms"], COMPLETION_TARGET_MS),
        ("option hover p50 (ms)", fixture["hover_p50_ms"], None),
        ("option hover p95 (ms)", fixture["hover_p95_ms"], HOVER_TARGET_MS),
        (f"{ready['options']} options ready (s)", ready["options_ready_s"], OPTIONS_READY_TARGET_S),
        ("  same options, nix-instantiate-2.26 (s)", ready["nix_2_26_s"], None),
        (f"flake of {ready['options']}: options ready, first (s)", first["ready_s"], 30.0),
        (f"flake of {ready['options']}: from the disk cache (s)", cached["ready_s"], 1.0),
        ("other file: hover p95 idle (ms)", during["idle_hover_p95_ms"], None),
        ("other file: hover p95 during a load (ms)", during["load_hover_p95_ms"], None),
        ("other file: lints p95 idle (ms)", during["idle_lint_p95_ms"], None),
        ("other file: lints p95 during a load (ms)", during["load_lint_p95_ms"], None),
        (f"{args.names:,} names, `pkgs.` first (ms)", names["names_empty_first_ms"], None),
        (f"{args.names:,} names, `pkgs.` p95 (ms)", names["names_empty_p95_ms"], NAMES_TARGET_MS),
        (f"{args.names:,} names, `pkgs.pkg9999` first (ms)", names["names_typed_first_ms"], None),
        (
            f"{args.names:,} names, `pkgs.pkg9999` p95 (ms)",
            names["names_typed_p95_ms"],
            NAMES_TARGET_MS,
        ),
    ]
    print_rows(rows + trip_rows, f"round trip: {trip['samples']} edits and fixes")
    print(
        f"options from the disk cache: first server {first['from_cache']} (its own load's "
        f"snapshot, before its evaluation ends), second server {cached['from_cache']}; "
        f"during-load samples: {during['samples_during']}; during / idle p95: hover "
        f"{during['load_hover_p95_ms'] / during['idle_hover_p95_ms']:.2f}, lints "
        f"{during['load_lint_p95_ms'] / during['idle_lint_p95_ms']:.2f}"
    )
    print(
        f"isIncomplete after `pkgs.`: {names['names_empty_incomplete']}, "
        f"after `pkgs.pkg9999`: {names['names_typed_incomplete']}"
    )
    return 0


def print_rows(rows: list[tuple[str, float | None, float | None]], note: str) -> None:
    """The figures with their targets and the ratio figure / target."""
    print(f"{'measure':48} {'value':>10} {'target':>8} {'ratio':>7}")
    for name, value, target in rows:
        shown = "n/a" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}"
        ratio = f"{value / target:.2f}" if value is not None and target else ""
        print(f"{name:48} {shown:>10} {target or '':>8} {ratio:>7}")
    print(note)


if __name__ == "__main__":
    sys.exit(main())
