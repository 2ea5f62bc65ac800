"""Projects without settings: flake.lock, input store paths, flakes evaluated as Nix does, entries.

Differential tests run the reference Nix 2.26 (``nix-instantiate-2.26``, with
a scratch ``--store local?root=...`` it copies flakes into) when installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from typing import Any

import pytest
from projects import NIXPKGS_LIB, ProjectFactory, write_lock

from evaluator.errors import NixError
from evaluator.eval import Evaluator, search_path_entries, split_nix_path
from evaluator.io import OverlayIO, RealIO
from evaluator.project.cache import DiskCache
from evaluator.project.context import (
    ProjectContext,
    ProjectSpec,
    evaluate_entry,
    find_project,
    load_context,
)
from evaluator.project.entries import Entry
from evaluator.project.lock import LockError, locked_store_path, parse_lock
from evaluator.store import Hash, RealFS, nar_hash_path, path_to_store
from evaluator.values import Thunk

NIX = shutil.which("nix-instantiate-2.26")
needs_nix = pytest.mark.skipif(NIX is None, reason="nix-instantiate-2.26 not installed")


def nix_eval(expr: str, store_root: str) -> Any:
    """``expr`` evaluated by Nix 2.26 (flakes enabled), as JSON."""
    assert NIX is not None
    out = subprocess.run(
        [
            NIX,
            "--store",
            f"local?root={store_root}",
            "--extra-experimental-features",
            "flakes nix-command",
            "--option",
            "substituters",
            "",
            "--eval",
            "--strict",
            "--json",
            "-E",
            expr,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def ours(expr: str, store_dir: str = "/nix/store", io: Any = None) -> Any:
    ev = Evaluator(store_dir=store_dir, io=io)
    ev.experimental_features = {"flakes"}
    v = ev.eval_text(expr.encode(), "/tmp/«test».nix")
    ev.deep_force(v)
    return _plain(v)


def _plain(v: Any) -> Any:
    if isinstance(v, Thunk):
        v = v.v
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_plain(x) for x in v]
    return str(v) if isinstance(v, str) else v


# ------------------------------------------------------------ search path


def test_nix_path_splitting_keeps_urls() -> None:
    assert split_nix_path("a=/x:/y::b=https://e.org/t.tar.gz:c=/z") == [
        "a=/x",
        "/y",
        "b=https://e.org/t.tar.gz",
        "c=/z",
    ]
    env = {"NIX_PATH": "nixpkgs=/n:/m"}
    assert search_path_entries(["x=/s"], env) == ["x=/s", "nixpkgs=/n", "/m"]
    assert search_path_entries([], {}) == []


# -------------------------------------------------------------- flake.lock

GOOD_LOCK = {
    "nodes": {
        "a": {"locked": {"type": "github", "owner": "o", "repo": "a", "narHash": ""}},
        "b": {
            "inputs": {"nixpkgs": ["a"]},
            "locked": {"type": "github", "owner": "o", "repo": "b"},
        },
        "root": {"inputs": {"a": "a", "b": "b", "c": ["b", "nixpkgs"]}},
    },
    "root": "root",
    "version": 7,
}


def test_lock_follows_resolve_from_the_root() -> None:
    lock = parse_lock(json.dumps(GOOD_LOCK))
    assert lock.resolve(["b", "nixpkgs"]) == "a"
    inputs = {i.name: i for i in lock.root_inputs("/nix/store")}
    assert inputs["c"].node == "a" and inputs["c"].follows == ("b", "nixpkgs")
    assert inputs["b"].description == "github:o/b"


@pytest.mark.parametrize("version", [5, 6, 7])
def test_lock_versions_5_to_7(version: int) -> None:
    assert parse_lock(json.dumps({**GOOD_LOCK, "version": version})).version == version


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{ not json", "is not valid JSON"),
        (json.dumps({**GOOD_LOCK, "version": 4}), "unsupported version 4"),
        (json.dumps({**GOOD_LOCK, "version": 8}), "unsupported version 8"),
        (json.dumps({"version": 7, "root": "root"}), "no valid 'nodes'"),
        (json.dumps({"version": 7, "nodes": {}, "root": "root"}), "no root node"),
        (
            json.dumps({"version": 7, "root": "root", "nodes": {"root": {"inputs": {"x": "y"}}}}),
            "unknown node 'y'",
        ),
        (
            json.dumps(
                {"version": 7, "root": "root", "nodes": {"root": {"inputs": {"x": ["x", "y"]}}}}
            ),
            "input 'x'",
        ),
        ("[1, 2]", "not a JSON object"),
    ],
)
def test_broken_locks_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(LockError) as err:
        parse_lock(text, "/p/flake.lock")
    assert message in err.value.msg


def test_locked_store_path_is_the_fixed_output_path_of_a_source_nar(tmp_path: Any) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("hi\n")
    digest = nar_hash_path(str(tmp_path / "d"), RealFS())
    sri = Hash("sha256", digest).sri
    expected = path_to_store(str(tmp_path / "d"), "source", RealFS())
    assert locked_store_path({"narHash": sri}, "/nix/store") == expected
    assert locked_store_path({"narHash": "sha256-bad"}, "/nix/store") is None
    assert locked_store_path({}, "/nix/store") is None


@needs_nix
def test_locked_store_path_agrees_with_nix(tmp_path: Any) -> None:
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "f").write_text("hi\n")
    os.chmod(tmp_path / "d" / "f", 0o755)
    sri = Hash("sha256", nar_hash_path(str(tmp_path / "d"), RealFS())).sri
    expr = f'builtins.path {{ path = {tmp_path}/d; name = "source"; sha256 = "{sri}"; }}'
    assert nix_eval(expr, str(tmp_path / "nix")) == locked_store_path(
        {"narHash": sri}, "/nix/store"
    )


# ------------------------------------------------------------ flakes vs Nix


def _git(cwd: str, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.email=t@e", "-c", "user.name=t", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


FLAKE_PROBE = (
    'let f = builtins.getFlake "{ref}"; in {{ out = f.outPath; inherit (f) narHash src; '
    "names = builtins.attrNames f; rev = f.rev or f.dirtyRev or null; "
    "revCount = f.revCount or null; drv = f.drv.drvPath; }}"
)

FLAKE_TEXT = """{
  outputs = { self }: {
    src = "${./sub}";
    drv = derivation {
      name = "d"; builder = "/bin/sh"; system = "x86_64-linux";
      src = self; sub = ./sub; rev = self.shortRev or "dirty";
    };
  };
}
"""


@needs_nix
@pytest.mark.parametrize("kind", ["path", "git-clean", "git-dirty", "git-subdir"])
def test_self_agrees_with_nix(tmp_path: Any, kind: str) -> None:
    repo = tmp_path / "repo"
    ws = repo / "flake" if kind == "git-subdir" else repo
    (ws / "sub").mkdir(parents=True)
    (ws / "flake.nix").write_text(FLAKE_TEXT)
    (ws / "sub" / "f").write_text("a\n")
    ref = f"path:{ws}"
    if kind != "path":
        _git(str(repo), "init", "-q")
        (ws / "untracked").write_text("not copied\n")
        (repo / "README").write_text("at the top\n")
        _git(str(repo), "add", ".")
        _git(str(repo), "rm", "-q", "--cached", os.path.relpath(ws / "untracked", repo))
        _git(str(repo), "commit", "-qm", "init")
        if kind == "git-dirty":
            (ws / "sub" / "f").write_text("b\n")
        ref = f"git+file://{repo}" + ("?dir=flake" if kind == "git-subdir" else "")
    expected = nix_eval(FLAKE_PROBE.format(ref=ref), str(tmp_path / "nix"))
    # nixlens reads a path flake's folder as it is (git or not: as Nix does for "path:" refs
    # of a folder without .git, and "git+file:" refs of one with it).
    got = ours(FLAKE_PROBE.format(ref=f"path:{ws}"))
    assert got == expected
    assert got["out"].endswith("/flake") == (kind == "git-subdir")


# Paths in the flake's own files: Nix evaluates the flake from its store copy.
# ``PHYS`` is where Nix's scratch store keeps that copy: a chroot store
# prints a path value's physical location, which ``norm`` maps back.
PATHS_FLAKE = """{
  outputs = { self }: let m = import ./mod.nix; in {
    ts = toString ./sub;
    interp = "${./sub}";
    selfStr = builtins.toString self;
    out = self.outPath;
    inherit (m) modTs modRead modDir;
    selfRead = builtins.readFile "${self}/sub/f";
    exists = builtins.pathExists ./sub/f;
    dir = builtins.attrNames (builtins.readDir ./.);
    ctx = builtins.getContext (toString ./sub);
    drv = (derivation {
      name = "d"; builder = "/bin/sh"; system = "x86_64-linux";
      p = builtins.replaceStrings [ "PHYS" ] [ "/nix/store" ] (toString ./sub/f);
      s = ./sub; t = "${self}/sub"; m = m.modTs;
    }).drvPath;
  };
}
"""
PATHS_MOD = """{
  modTs = builtins.replaceStrings [ "PHYS" ] [ "/nix/store" ] (toString ./sub/f);
  modRead = builtins.readFile ./sub/f;
  modDir = builtins.attrNames (builtins.readDir ./sub);
}
"""


def _paths_flake(ws: Any, phys: str) -> None:
    (ws / "sub").mkdir(parents=True)
    (ws / "flake.nix").write_text(PATHS_FLAKE.replace("PHYS", phys))
    (ws / "mod.nix").write_text(PATHS_MOD.replace("PHYS", phys))
    (ws / "sub" / "f").write_text("a\n")


def _norm(v: Any, phys: str) -> Any:
    if isinstance(v, dict):
        return {_norm(k, phys): _norm(x, phys) for k, x in v.items()}
    if isinstance(v, list):
        return [_norm(x, phys) for x in v]
    return v.replace(phys, "/nix/store") if isinstance(v, str) else v


@needs_nix
@pytest.mark.parametrize("kind", ["path", "git"])
def test_paths_in_the_flake_are_in_its_store_copy_as_in_nix(tmp_path: Any, kind: str) -> None:
    """``toString ./x``, ``"${self}/x"``, ``self`` in the flake and in a file
    it imports print as the store copy Nix evaluates; reads through them
    come from the workspace; a derivation using them has Nix's hash."""
    store_root = str(tmp_path / "nix")
    phys = store_root + "/nix/store"
    ws = tmp_path / "ws"
    _paths_flake(ws, phys)
    if kind == "git":
        (ws / "untracked").write_text("not copied\n")
        _git(str(ws), "init", "-q")
        _git(str(ws), "add", "flake.nix", "mod.nix", "sub")
        _git(str(ws), "commit", "-qm", "init")
    # nixlens copies a folder in a Git work tree as Nix copies a "git+file:" flake.
    ref = f"git+file://{ws}" if kind == "git" else f"path:{ws}"
    expected = _norm(nix_eval(f'(builtins.getFlake "{ref}").outputs // {{ }}', store_root), phys)
    got = ours(f'(builtins.getFlake "path:{ws}").outputs // {{ }}')
    assert got == expected
    assert got["ts"] == got["out"] + "/sub" and got["out"].startswith("/nix/store/")
    assert got["modTs"] == got["out"] + "/sub/f"
    assert got["selfRead"] == got["modRead"] == "a\n"


@needs_nix
def test_paths_in_the_flake_read_unsaved_buffers(tmp_path: Any) -> None:
    """An editor buffer of a file in the flake counts as Nix would count the
    saved file: in what is read and in the store path of the copy."""
    store_root = str(tmp_path / "nix")
    phys = store_root + "/nix/store"
    ws = tmp_path / "ws"
    _paths_flake(ws, phys)
    probe = f'(builtins.getFlake "path:{ws}").outputs // {{ }}'
    before = ours(probe)
    buffers = {str(ws / "sub" / "f"): b"edited\n"}
    got = ours(probe, io=OverlayIO(buffers))
    (ws / "sub" / "f").write_text("edited\n")  # saved: what Nix sees
    expected = _norm(nix_eval(probe, store_root), phys)
    assert got == expected
    assert got["modRead"] == "edited\n" and got["out"] != before["out"]


def test_a_file_of_the_flake_keeps_its_workspace_path_for_positions(tmp_path: Any) -> None:
    """Evaluated from the store copy, the flake's files are still the user's
    files: an error in one points there (where the editor shows it)."""
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "flake.nix").write_text("{ outputs = { self }: { x = import ./mod.nix; }; }\n")
    (ws / "mod.nix").write_text("{ y = toString ./.; z = 1 + true; }\n")
    ev = Evaluator()
    ev.experimental_features = {"flakes"}
    v = ev.eval_text(f'(builtins.getFlake "path:{ws}").x'.encode(), "/tmp/«test».nix")
    ev.deep_force(v["y"])
    assert str(v["y"].v).startswith("/nix/store/") and str(v["y"].v).endswith("-source")
    with pytest.raises(NixError) as err:
        ev.deep_force(v["z"])
    assert err.value.span is not None
    assert err.value.span.source.path == str(ws / "mod.nix")
    assert str(ws / "mod.nix") in ev.files_seen and str(ws / "flake.nix") in ev.files_seen


def test_a_large_flake_is_evaluated_from_the_workspace(tmp_path: Any, monkeypatch: Any) -> None:
    """Hashing a tree as large as nixpkgs at each evaluation would cost
    seconds: above the limit, the flake's paths are the workspace's, while
    ``self.outPath`` is still the copy's."""
    from evaluator.project import flake

    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "flake.nix").write_text(
        "{ outputs = { self }: { p = toString ./.; o = self.outPath; }; }"
    )
    (ws / "a").write_text("1")
    probe = f'(builtins.getFlake "path:{ws}").outputs // {{ }}'
    small = ours(probe)
    assert small["p"] == small["o"] and small["o"].startswith("/nix/store/")
    monkeypatch.setattr(flake, "COPY_FILES_LIMIT", 1)
    large = ours(probe)
    assert large == {"p": str(ws), "o": small["o"]}


@needs_nix
def test_flake_with_a_locked_input_agrees_with_nix(projects: ProjectFactory, tmp_path: Any) -> None:
    src = str(tmp_path / "libsrc")
    shutil.copytree(NIXPKGS_LIB, src, ignore=shutil.ignore_patterns("tests"))
    lib = projects.add_to_store(src)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "flake.nix").write_text(
        """{
  inputs.nixpkgs.url = "path:LIB";
  outputs = { self, nixpkgs }: {
    version = nixpkgs.lib.version;
    input = { out = nixpkgs.outPath; inherit (nixpkgs) narHash; names = builtins.attrNames nixpkgs; };
    drv = derivation { name = "d"; builder = "/bin/sh"; system = "x86_64-linux"; lib = nixpkgs; };
  };
}
""".replace("LIB", src)
    )
    # A locked "path" input is fetched from the path by Nix (offline) and
    # found in the store by nixlens: the same store path, from the narHash.
    node = {
        "locked": {"type": "path", "path": src, "narHash": lib.nar_hash},
        "original": {"type": "path", "path": src},
    }
    write_lock(str(ws), {"nixpkgs": node})
    probe = 'let f = builtins.getFlake "path:{ws}"; in {{ inherit (f) version input; }}'
    expected = nix_eval(probe.format(ws=ws), str(tmp_path / "nix"))
    got = ours(probe.format(ws=ws), store_dir=projects.store_dir)
    assert got["version"] == expected["version"]
    assert got["input"]["names"] == expected["input"]["names"]
    assert got["input"]["narHash"] == expected["input"]["narHash"] == lib.nar_hash
    # Store paths depend on the store directory: ours is the temporary one.
    assert got["input"]["out"] == lib.store_path
    assert expected["input"]["out"] == locked_store_path({"narHash": lib.nar_hash}, "/nix/store")


# ------------------------------------------------------------ contexts


def test_demo_context_entries_and_files(projects: ProjectFactory) -> None:
    p = projects.demo()
    spec = find_project(p.path("services.nix"), [p.root], p.store_dir)
    assert spec == ProjectSpec(p.root, "flake", p.store_dir)
    steps: list[tuple[str, int]] = []
    ctx = load_context(spec, progress=lambda m, pct: steps.append((m, pct)))
    assert [i.name for i in ctx.inputs] == ["nixpkgs"] and ctx.inputs[0].present
    assert ctx.problems == ()
    labels = [r.entry.label for r in ctx.entries]
    assert labels == ["configurations.demo", "nixosConfigurations.web"]
    assert ctx.entry_for(p.path("config.nix")) == Entry(("configurations", "demo"), "configuration")
    assert ctx.entry_for(p.path("web.nix")) == Entry(
        ("nixosConfigurations", "web"), "configuration"
    )
    assert ctx.entry_for(p.path("flake.nix")) == Entry((), "flake")
    assert ctx.entry_for(p.path("nowhere.nix")) is None
    assert steps[0][1] < steps[-1][1] == 100
    # Picklable (it can come back from a helper process).
    import pickle

    assert pickle.loads(pickle.dumps(ctx)) == ctx


def test_entry_evaluation_sees_unsaved_buffers(projects: ProjectFactory) -> None:
    p = projects.demo()
    spec = find_project(p.path("config.nix"), [p.root], p.store_dir)
    assert spec is not None
    ctx = load_context(spec)
    entry = ctx.entry_for(p.path("config.nix"))
    assert entry is not None
    ok = evaluate_entry(ctx, entry, io=RealIO())
    assert ok.diagnostics == [] and p.path("services.nix") in ok.files
    edited = b"{ services.web.enable = true; services.web.port = 80; }"
    bad = evaluate_entry(ctx, entry, io=OverlayIO({p.path("config.nix"): edited}))
    (d,) = bad.diagnostics
    assert d.code == "assertion_failed" and d.span.source.path == p.path("services.nix")
    # The module functions' arguments were observed (for hover in the module).
    assert any(name == p.path("services.nix") for name, _ in bad.observed)


def test_missing_inputs_and_broken_locks(projects: ProjectFactory) -> None:
    for p, needle in [
        (projects.missing(), "is not in the Nix store"),
        (projects.broken(), "is not valid JSON"),
    ]:
        ctx = load_context(ProjectSpec(p.root, "flake", p.store_dir))
        assert sorted(x.message.split("'")[1] for x in ctx.problems) == ["nixpkgs", "utils"]
        text = open(p.path("flake.nix"), "rb").read()
        for problem in ctx.problems:
            assert needle in problem.message and "nix flake archive" in problem.message
            name = problem.message.split("'")[1]
            assert text[problem.start : problem.end] == name.encode()
        res = evaluate_entry(ctx, Entry((), "flake"), io=RealIO())
        assert res.diagnostics == []  # the missing inputs are not repeated as errors
    # No lock at all: the same, from the inputs flake.nix declares.
    p = projects.missing()
    os.unlink(p.path("flake.lock"))
    ctx = load_context(ProjectSpec(p.root, "flake", p.store_dir))
    assert len(ctx.problems) == 2 and "has no flake.lock" in ctx.problems[0].message


def test_a_broken_flake_nix_is_one_error_and_nothing_else(projects: ProjectFactory) -> None:
    p = projects.demo()
    with open(p.path("flake.nix"), "w") as f:
        f.write("{ outputs = { self, nixpkgs }: { x = nixpkgs.lib.nope; }; }")
    ctx = load_context(ProjectSpec(p.root, "flake", p.store_dir))
    assert ctx.entries == () and ctx.problems == ()
    res = evaluate_entry(ctx, Entry((), "flake"), io=RealIO())
    assert [d.code for d in res.diagnostics] == ["eval_error"]
    assert "nope" in res.diagnostics[0].message


def test_discovery_never_forces_a_large_set(projects: ProjectFactory) -> None:
    root = projects.copy_fixture("demo")
    with open(os.path.join(root, "flake.nix"), "w") as f:
        f.write(
            """{
  outputs = { self }:
    let
      big = builtins.listToAttrs (builtins.genList (i: {
        name = "p${toString i}"; value = throw "forced ${toString i}";
      }) 100000);
    in {
      legacyPackages.x86_64-linux = big;
      packages.x86_64-linux = big;
      lots = big;
      packages.x86_64-linux-small = { };
      checks.x86_64-linux.one = derivation { name = "c"; builder = "/bin/sh"; system = "x86_64-linux"; };
    };
}
"""
        )
    assert not os.path.exists(os.path.join(root, "flake.lock"))  # no inputs
    t0 = time.monotonic()
    ctx = load_context(ProjectSpec(root, "flake", projects.store_dir))
    elapsed = time.monotonic() - t0
    assert [r.entry.label for r in ctx.entries] == ["checks.x86_64-linux.one"]
    assert ctx.problems == ()  # no inputs, so no lock needed
    assert ctx.entries[0].error is None
    assert elapsed < 30  # building the names is the cost; no value is forced


def test_default_nix_called_with_its_default_arguments(tmp_path: Any) -> None:
    (tmp_path / "default.nix").write_text(
        "{ greeting ? import ./greeting.nix }: { hello = derivation { name = greeting; "
        'builder = "/bin/sh"; system = "x86_64-linux"; }; other = 1; }'
    )
    (tmp_path / "greeting.nix").write_text('"hello"')
    spec = find_project(str(tmp_path / "greeting.nix"), [str(tmp_path)])
    assert spec == ProjectSpec(str(tmp_path), "nix")
    ctx = load_context(spec)
    assert [r.entry.label for r in ctx.entries] == ['"default.nix".hello']
    assert ctx.entry_for(str(tmp_path / "greeting.nix")) == Entry(
        ("default.nix", "hello"), "derivation"
    )


def test_a_nixpkgs_sized_default_nix_is_not_forced(tmp_path: Any) -> None:
    (tmp_path / "default.nix").write_text(
        '{ }: builtins.listToAttrs (builtins.genList (i: { name = "p${toString i}"; '
        'value = throw "forced"; }) 100000)'
    )
    (tmp_path / "shell.nix").write_text("{ x ? 1 }: { a = x; b = import ./b.nix; }")
    (tmp_path / "b.nix").write_text("2")
    ctx = load_context(ProjectSpec(str(tmp_path), "nix"))
    assert [(r.entry.label, r.entry.kind, r.error) for r in ctx.entries] == [
        ('"shell.nix"', "attrs", None)
    ]
    assert ctx.entry_for(str(tmp_path / "b.nix")) == Entry(("shell.nix",), "attrs")


def test_entries_past_the_load_budget_are_listed_not_evaluated(projects: ProjectFactory) -> None:
    p = projects.demo()
    ctx = load_context(ProjectSpec(p.root, "flake", p.store_dir), load_budget_s=0)
    assert [r.entry.label for r in ctx.entries] == [
        "configurations.demo",
        "nixosConfigurations.web",
    ]
    assert all(r.files == frozenset() and "not evaluated" in (r.error or "") for r in ctx.entries)


def test_loading_is_cancelled(projects: ProjectFactory) -> None:
    import threading

    from evaluator.errors import Cancelled

    p = projects.demo()
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        load_context(ProjectSpec(p.root, "flake", p.store_dir), cancel=cancel)


def test_disk_cache_is_keyed_and_robust(tmp_path: Any) -> None:
    cache = DiskCache(str(tmp_path / "c"), "1.0")
    key = cache.key("names", ["sha256-b", "sha256-a"])
    assert key == cache.key("names", ["sha256-a", "sha256-b"])
    assert key != DiskCache(str(tmp_path / "c"), "1.1").key("names", ["sha256-a", "sha256-b"])
    assert cache.get(key) is None
    cache.put(key, ["x", "y"])
    assert cache.get(key) == ["x", "y"]
    (tmp_path / "c" / key).write_text("{ truncated")
    assert cache.get(key) is None and not (tmp_path / "c" / key).exists()
    DiskCache(None, "1.0").put(key, 1)  # no cache directory: nothing happens


def test_input_outputs_come_from_the_disk_cache(projects: ProjectFactory, tmp_path: Any) -> None:
    p = projects.demo()
    cache = DiskCache(str(tmp_path / "cache"), "test")
    spec = ProjectSpec(p.root, "flake", p.store_dir)
    first = load_context(spec, cache=cache)
    assert first.inputs[0].outputs == ("lib",)
    (entry,) = os.listdir(tmp_path / "cache")
    with open(tmp_path / "cache" / entry, "w") as f:
        json.dump({"key": entry, "value": ["from-cache"]}, f)
    assert load_context(spec, cache=cache).inputs[0].outputs == ("from-cache",)


def test_get_flake_of_a_locked_reference_offline(projects: ProjectFactory) -> None:
    lib = projects.nixpkgs_lib()
    ref = f"github:nix-community/nixpkgs.lib/{'0' * 40}?narHash={lib.nar_hash}"
    got = ours(f'(builtins.getFlake "{ref}").lib.strings.toUpper "x"', projects.store_dir)
    assert got == "X"
    from evaluator.errors import NixError

    with pytest.raises(NixError) as err:
        ours('builtins.getFlake "github:o/r"', projects.store_dir)
    assert "unlocked" in err.value.msg
    missing = "github:o/r?narHash=sha256-0000000000000000000000000000000000000000000="
    with pytest.raises(NixError) as err:
        ours(f'builtins.getFlake "{missing}"', projects.store_dir)
    assert "is not in the Nix store" in err.value.msg


def test_context_is_plain_data() -> None:
    ctx = ProjectContext(ProjectSpec("/p", "flake"))
    assert ctx.entry_for("/p/flake.nix") == Entry((), "flake")
    assert ctx.missing_inputs() == []


def test_hashing_self_stops_with_the_budget(tmp_path: Any) -> None:
    from evaluator.errors import EvalLimit
    from evaluator.vm import Budget

    for i in range(3000):
        (tmp_path / f"f{i}.nix").write_text(str(i))
    (tmp_path / "flake.nix").write_text("{ outputs = { self }: { }; }")
    budget = Budget(timeout_s=0.05)
    budget.start()
    ev = Evaluator(budget=budget)
    ev.experimental_features = {"flakes"}
    with pytest.raises(EvalLimit):
        ev.eval_text(f'(builtins.getFlake "{tmp_path}").outPath'.encode(), "/tmp/x.nix")


@needs_nix
def test_non_flake_relative_and_follows_inputs_agree_with_nix(
    projects: ProjectFactory, tmp_path: Any
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "value.txt").write_text("42\n")
    stored = projects.add_to_store(str(data))
    ws = tmp_path / "ws"
    (ws / "sub").mkdir(parents=True)
    (ws / "sub" / "flake.nix").write_text(
        '{ inputs.data.url = "path:DATA"; inputs.data.flake = false;\n'
        '  outputs = { self, data }: { fromSub = builtins.readFile "${data}/value.txt"; }; }\n'
    )
    (ws / "flake.nix").write_text(
        """{
  inputs.data = { url = "path:DATA"; flake = false; };
  inputs.sub.url = "path:./sub";
  inputs.sub.inputs.data.follows = "data";
  outputs = { self, data, sub }: {
    text = builtins.readFile "${data}/value.txt";
    dataNames = builtins.attrNames data;
    fromSub = sub.fromSub;
    subNames = builtins.attrNames sub;
  };
}
""".replace("DATA", str(data))
    )
    (ws / "sub" / "flake.nix").write_text(
        (ws / "sub" / "flake.nix").read_text().replace("DATA", str(data))
    )
    data_node = {
        "flake": False,
        "locked": {"type": "path", "path": str(data), "narHash": stored.nar_hash},
        "original": {"type": "path", "path": str(data)},
    }
    sub_node = {
        "inputs": {"data": ["data"]},
        "locked": {"type": "path", "path": "./sub"},
        "original": {"type": "path", "path": "./sub"},
        "parent": [],
    }
    write_lock(str(ws), {"data": data_node, "sub": sub_node})
    probe = f'(builtins.getFlake "path:{ws}").outputs'
    expected = nix_eval(probe, str(tmp_path / "nix"))
    got = ours(probe, store_dir=projects.store_dir)
    assert got["text"] == got["fromSub"] == "42\n"
    assert got == expected
