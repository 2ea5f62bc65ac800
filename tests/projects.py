"""Project fixtures shared by tests and benchmarks: flakes with inputs in a temporary store.

``ProjectFactory`` copies a fixture of ``tests/fixtures/projects/`` into a
temporary workspace and places locked inputs into a temporary Nix store
directory (``NIX_STORE_DIR``) at the path their NAR hash gives, writing the
``flake.lock`` that pins them, as ``nix flake archive`` would have left them.
The ``demo`` flake's ``nixpkgs`` input is a copy of ``../shared/nixpkgs-lib``
(nixpkgs' real ``lib``, which has its own ``flake.nix``); nothing is copied
into the repository.

Use the ``projects`` pytest fixture (tests/conftest.py) or ``ProjectFactory(tmp)``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass

from evaluator.store import Hash, RealFS, make_fixed_output_path, nar_hash_path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "tests", "fixtures", "projects")
NIXPKGS_LIB = os.path.join(os.path.dirname(ROOT), "shared", "nixpkgs-lib")
NIXPKGS_LIB_REV = "de42d44212d207476489bce163375d8306a26d59"
NIXPKGS_LIB_MODIFIED = 1781395200


@dataclass(frozen=True)
class StoredInput:
    """An input placed in the temporary store."""

    store_path: str
    nar_hash: str


@dataclass(frozen=True)
class Project:
    """A fixture project ready to open: its folder and its store."""

    root: str
    store_dir: str

    def path(self, name: str) -> str:
        """A file of the project."""
        return os.path.join(self.root, name)

    def env(self) -> dict[str, str]:
        """Environment for a server or evaluator using this project's store."""
        return {"NIX_STORE_DIR": self.store_dir}


class ProjectFactory:
    """Makes fixture projects under ``tmp`` (one store directory shared by all)."""

    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.store_dir = os.path.join(tmp, "store")
        os.makedirs(self.store_dir, exist_ok=True)
        self._inputs: dict[str, StoredInput] = {}

    def add_to_store(self, src: str, ignore: shutil.IgnorePattern | None = None) -> StoredInput:
        """Copy ``src`` into the store at the path its NAR hash gives (name ``source``)."""
        staging = os.path.join(self.tmp, "staging-" + os.path.basename(src.rstrip("/")))
        if os.path.exists(staging):
            shutil.rmtree(staging)
        shutil.copytree(src, staging, symlinks=True, ignore=ignore)
        digest = nar_hash_path(staging, RealFS())
        path = make_fixed_output_path("source", "recursive", "sha256", digest, (), self.store_dir)
        if os.path.exists(path):
            shutil.rmtree(staging)
        else:
            os.rename(staging, path)
        return StoredInput(path, Hash("sha256", digest).sri)

    def nixpkgs_lib(self) -> StoredInput:
        """nixpkgs' lib (``../shared/nixpkgs-lib`` without its tests) in the store."""
        if "nixpkgs-lib" not in self._inputs:
            self._inputs["nixpkgs-lib"] = self.add_to_store(
                NIXPKGS_LIB, shutil.ignore_patterns("tests")
            )
        return self._inputs["nixpkgs-lib"]

    def copy_fixture(self, name: str, dest: str | None = None) -> str:
        """The fixture folder ``name`` copied into a fresh workspace folder."""
        dest = dest or os.path.join(self.tmp, "ws-" + name)
        if os.path.exists(dest):
            shutil.rmtree(dest)
        shutil.copytree(os.path.join(FIXTURES, name), dest)
        return dest

    def demo(self, dest: str | None = None) -> Project:
        """The demo flake, its ``nixpkgs`` input locked to nixpkgs' lib in the store."""
        root = self.copy_fixture("demo", dest)
        lib = self.nixpkgs_lib()
        write_lock(root, {"nixpkgs": github_node("nix-community", "nixpkgs.lib", lib)})
        return Project(root, self.store_dir)

    def generated(self, options: int, per_module: int = 100) -> Project:
        """A flake whose ``configurations.gen`` (``lib.evalModules``, its
        ``nixpkgs`` input nixpkgs' lib) declares ``options`` options:
        ``m<i>.nix`` declares ``gen.m<i>.o<j>`` (type int, default j,
        description "Option j of module i.") and defines ``gen.m<i>.o0``."""
        root = os.path.join(self.tmp, f"ws-gen-{options}")
        os.makedirs(root)
        names = generate_modules(root, options, per_module)
        modules = " ".join(f"./{n}" for n in names)
        with open(os.path.join(root, "flake.nix"), "w", encoding="utf-8") as f:
            f.write(
                '{\n  inputs.nixpkgs.url = "github:nix-community/nixpkgs.lib";\n'
                "  outputs = { self, nixpkgs }: {\n"
                f"    configurations.gen = nixpkgs.lib.evalModules {{ modules = [ {modules} ]; }};\n"
                "  };\n}\n"
            )
        lib = self.nixpkgs_lib()
        write_lock(root, {"nixpkgs": github_node("nix-community", "nixpkgs.lib", lib)})
        return Project(root, self.store_dir)

    def missing(self) -> Project:
        """A flake whose locked inputs are not in the store."""
        return Project(self.copy_fixture("missing"), self.store_dir)

    def broken(self) -> Project:
        """A flake whose ``flake.lock`` is not valid JSON."""
        return Project(self.copy_fixture("broken"), self.store_dir)


def generate_modules(folder: str, options: int, per_module: int = 100) -> list[str]:
    """Write modules declaring ``options`` options in all into ``folder``; their names."""
    names = []
    for m in range((options + per_module - 1) // per_module):
        lines = ["{ lib, ... }:", "{", f"  options.gen.m{m} = {{"]
        for o in range(min(per_module, options - m * per_module)):
            lines.append(
                f"    o{o} = lib.mkOption {{ type = lib.types.int; default = {o}; "
                f'description = "Option {o} of module {m}."; }};'
            )
        lines += ["  };", f"  config.gen.m{m}.o0 = {m};", "}"]
        name = f"m{m}.nix"
        with open(os.path.join(folder, name), "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        names.append(name)
    return names


def github_node(owner: str, repo: str, stored: StoredInput) -> dict[str, object]:
    """A lock node as ``nix flake lock`` writes it for a GitHub input."""
    return {
        "locked": {
            "lastModified": NIXPKGS_LIB_MODIFIED,
            "narHash": stored.nar_hash,
            "owner": owner,
            "repo": repo,
            "rev": NIXPKGS_LIB_REV,
            "type": "github",
        },
        "original": {"owner": owner, "repo": repo, "type": "github"},
    }


def write_lock(
    root: str, nodes: dict[str, dict[str, object]], follows: dict[str, list[str]] | None = None
) -> None:
    """Write ``flake.lock`` (version 7) for the root inputs ``nodes`` (and ``follows``)."""
    inputs: dict[str, object] = {name: name for name in nodes}
    inputs.update(follows or {})
    data = {"nodes": {**nodes, "root": {"inputs": inputs}}, "root": "root", "version": 7}
    with open(os.path.join(root, "flake.lock"), "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
