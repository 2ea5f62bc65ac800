"""``flake.lock``: reading it, resolving ``follows``, and where each input lives.

A lock file (versions 5 to 7, as Nix accepts) is a graph of nodes; the root
node's ``inputs`` map input names to a node key or, for ``follows``, to a
path of input names from the root (a JSON list).  A locked input's store
path comes from its ``narHash`` alone: the fixed-output path of a recursive
sha256 NAR named ``source`` (what ``fetchTree`` produces), under the store
directory.  Nothing is fetched; an input whose path is absent is "missing".
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from ..errors import NixError
from ..store import BadHash, make_fixed_output_path, parse_hash

MIN_VERSION = 5
MAX_VERSION = 7


class LockError(NixError):
    """A lock file Nix would refuse (bad JSON, unsupported version, bad graph)."""

    code = "flake_lock_invalid"


@dataclass(frozen=True)
class LockedInput:
    """One input of a flake as its lock file pins it (plain, picklable data)."""

    # The input's name at the root (``nixpkgs``), and its lock node key.
    name: str
    node: str
    locked: dict[str, Any] = field(default_factory=dict)
    original: dict[str, Any] = field(default_factory=dict)
    # False for ``flake = false`` inputs: the value is the source tree only.
    is_flake: bool = True
    # Where its source tree is (None: no narHash, or a relative path input).
    store_path: str | None = None
    # The ``follows`` path when the input follows another (["a", "b"]).
    follows: tuple[str, ...] | None = None

    @property
    def description(self) -> str:
        """The reference in URL form, for messages (``github:o/r/rev``)."""
        return describe_ref(self.original or self.locked)


@dataclass(frozen=True)
class LockFile:
    """A parsed lock file: the raw JSON text and its nodes."""

    text: str
    version: int
    root: str
    nodes: dict[str, dict[str, Any]]

    def resolve(self, spec: Any, _depth: int = 0) -> str:
        """The node key an input spec names (a key, or a ``follows`` path from the root)."""
        if _depth > 64:
            raise LockError("lock file 'follows' paths form a cycle")
        if isinstance(spec, list):
            return self.node_at_path(self.root, spec, _depth + 1)
        if not isinstance(spec, str) or spec not in self.nodes:
            raise LockError(f"lock file refers to unknown node {spec!r}")
        return spec

    def node_at_path(self, start: str, path: list[Any], _depth: int = 0) -> str:
        """Follow input names from ``start`` (Nix's ``getInputByPath``)."""
        key = start
        for name in path:
            inputs = self.nodes.get(key, {}).get("inputs") or {}
            if name not in inputs:
                joined = "/".join(str(p) for p in path)
                raise LockError(f"input '{joined}' does not exist in the lock file")
            key = self.resolve(inputs[name], _depth + 1)
        return key

    def root_inputs(self, store_dir: str) -> list[LockedInput]:
        """The root's inputs, resolved, each with its store path."""
        out = []
        inputs = self.nodes[self.root].get("inputs") or {}
        for name in sorted(inputs):
            spec = inputs[name]
            key = self.resolve(spec)
            node = self.nodes[key]
            locked = node.get("locked") or {}
            out.append(
                LockedInput(
                    name=name,
                    node=key,
                    locked=dict(locked),
                    original=dict(node.get("original") or {}),
                    is_flake=node.get("flake", True) is not False,
                    store_path=locked_store_path(locked, store_dir),
                    follows=tuple(spec) if isinstance(spec, list) else None,
                )
            )
        return out


def parse_lock(text: str, where: str = "flake.lock") -> LockFile:
    """Parse and check a lock file's text (``LockError`` says what is wrong)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise LockError(f"lock file '{where}' is not valid JSON: {err}") from None
    if not isinstance(data, dict):
        raise LockError(f"lock file '{where}' is not a JSON object")
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise LockError(f"lock file '{where}' has no version")
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise LockError(f"lock file '{where}' has unsupported version {version}")
    nodes = data.get("nodes")
    if not isinstance(nodes, dict) or not all(isinstance(n, dict) for n in nodes.values()):
        raise LockError(f"lock file '{where}' has no valid 'nodes'")
    root = data.get("root", "root")
    if not isinstance(root, str) or root not in nodes:
        raise LockError(f"lock file '{where}' has no root node '{root}'")
    lock = LockFile(text, version, root, nodes)
    for key, node in nodes.items():
        inputs = node.get("inputs", {})
        if not isinstance(inputs, dict):
            raise LockError(f"lock file '{where}': node '{key}' has invalid 'inputs'")
        for name, spec in inputs.items():
            if isinstance(spec, list):
                if not all(isinstance(p, str) for p in spec):
                    raise LockError(f"lock file '{where}': input '{name}' has an invalid 'follows'")
            elif not isinstance(spec, str) or spec not in nodes:
                raise LockError(
                    f"lock file '{where}': input '{name}' refers to unknown node {spec!r}"
                )
        if key != root and not isinstance(node.get("locked"), dict):
            raise LockError(f"lock file '{where}': node '{key}' has no 'locked' attributes")
    # Every follows path must lead somewhere (Nix fails on first use; we say it once).
    for name, spec in (nodes[root].get("inputs") or {}).items():
        if isinstance(spec, list):
            try:
                lock.resolve(spec)
            except LockError as err:
                raise LockError(f"lock file '{where}': input '{name}': {err.msg}") from None
    return lock


def read_lock(flake_dir: str, read: Any = None) -> LockFile | None:
    """The lock file of the flake in ``flake_dir`` (None when it has none)."""
    path = os.path.join(flake_dir, "flake.lock")
    if read is None:
        if not os.path.exists(path):
            return None
        with open(path, "rb") as f:
            data = f.read()
    else:
        data = read(path)
        if data is None:
            return None
    return parse_lock(data.decode("utf-8", "replace"), path)


def locked_store_path(locked: dict[str, Any], store_dir: str) -> str | None:
    """Where ``fetchTree`` puts a locked input: from its ``narHash`` (None without one)."""
    nar_hash = locked.get("narHash")
    if not isinstance(nar_hash, str):
        return None
    try:
        digest = parse_hash(nar_hash, "sha256").digest
    except BadHash:
        return None
    return make_fixed_output_path("source", "recursive", "sha256", digest, (), store_dir)


def describe_ref(attrs: dict[str, Any]) -> str:
    """A flake reference's URL form, or its attributes when it has none."""
    from ..builtins.flakes import flake_ref_to_string

    try:
        return flake_ref_to_string({k: v for k, v in attrs.items() if k != "narHash"})
    except NixError:
        return json.dumps(attrs, sort_keys=True)
