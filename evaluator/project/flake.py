"""Evaluating a flake as Nix does, offline: ``outputs`` called with its locked inputs.

The graph walk follows Nix's ``call-flake.nix`` (every lock node becomes
``outputs // sourceInfo // { outPath, inputs, outputs, sourceInfo, _type }``,
``follows`` resolved from the root, ``flake = false`` inputs are their source
tree, relative ``path:`` inputs sit below their parent), written here in Nix
(``CALL_FLAKE``) and run by the evaluator, so everything stays lazy: an input
is looked up only when something uses it.  Fetching is replaced by
``fetchLocked``: a locked node's ``sourceInfo`` comes from its lock entry and
its store path from its ``narHash``; an input whose path is not in the store
raises ``MissingInput`` (an error naming the command that fetches it).

The workspace's own flake (``self``) is evaluated as Nix does, from the
store path Nix would copy it to (computed by hashing the workspace,
``source.tree_store_path``, never written): ``self.outPath``, ``toString
./x`` and ``"${self}/x"`` in its files are in that copy, so derivation
hashes agree with Nix.  The copy is registered with the evaluator's store
view as a workspace folder (``StoreView.add_workspace``): what is read
under it (imports, ``readFile``, ``pathExists``, ``readDir``) comes from the
workspace and the open buffers, so unsaved edits count, and the files it
imports keep the user's paths for their positions (``Evaluator.load``).
A tree of more than ``COPY_FILES_LIMIT`` files (nixpkgs itself) would be
hashed again at each evaluation: it is evaluated from the workspace instead
(its paths are the workspace's; ``self.outPath`` is still the copy's).
``FlakeLoader`` is owned by one ``Evaluator`` (``ev.flake_loader``); it also
answers ``builtins.getFlake``.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import NixError
from ..values import Attrs, CtxStr, Lambda, NixPath, PrimOp, Thunk
from ..vm import force
from .lock import LockError, LockFile, describe_ref, locked_store_path, parse_lock, read_lock
from .source import SourceTree, describe_tree, file_count, last_modified_date, tree_store_path

CALL_FLAKE_NAME = "«nixlens-call-flake»"

# lockFileStr: the lock's JSON; root: { flakeFile, dir, sourceInfo, subdir };
# fetchLocked: node key -> sourceInfo (Python, see ``FlakeLoader._fetch_locked``).
CALL_FLAKE = b"""lockFileStr: root: fetchLocked:
let
  lockFile = builtins.fromJSON lockFileStr;

  # An input spec names a node, or is a 'follows' path from the root.
  resolveInput = spec:
    if builtins.isList spec then getInputByPath lockFile.root spec else spec;

  getInputByPath = nodeName: path:
    if path == [ ] then nodeName
    else getInputByPath
      (resolveInput lockFile.nodes.${nodeName}.inputs.${builtins.head path})
      (builtins.tail path);

  isRelative = key: node:
    key != lockFile.root && node.locked.type or "" == "path"
    && builtins.substring 0 1 node.locked.path != "/";

  parentOf = node: getInputByPath lockFile.root (node.parent or [ ]);

  # Each node's source tree, its flake's folder, and where its files are
  # read from: the workspace for the root and the relative inputs below
  # it, the store for the others.
  places = builtins.mapAttrs (key: node:
    let
      isRoot = key == lockFile.root;
      parent = places.${parentOf node};
      sourceInfo =
        if isRoot then root.sourceInfo
        else if isRelative key node
        then parent.sourceInfo // { outPath = parent.outPath + ("/" + node.locked.path); }
        else fetchLocked key;
      subdir = if isRoot then root.subdir else node.locked.dir or "";
      outPath = sourceInfo.outPath + (if subdir == "" then "" else "/" + subdir);
    in {
      inherit sourceInfo outPath;
      readDir =
        if isRoot then root.dir
        else if isRelative key node then parent.readDir + ("/" + node.locked.path)
        else outPath;
    }
  ) lockFile.nodes;

  allNodes = builtins.mapAttrs (key: node:
    let
      inherit (places.${key}) sourceInfo outPath;
      flake =
        if key == lockFile.root then import root.flakeFile
        else import (places.${key}.readDir + "/flake.nix");
      inputs = builtins.mapAttrs (_name: spec: allNodes.${resolveInput spec}) (node.inputs or { });
      outputs = flake.outputs (inputs // { self = result; });
      result = outputs // sourceInfo // {
        inherit outPath inputs outputs sourceInfo;
        _type = "flake";
      };
    in
    if node.flake or true then
      assert builtins.isFunction flake.outputs;
      result
    else sourceInfo
  ) lockFile.nodes;
in
allNodes.${lockFile.root}
"""

FETCH_COMMAND = "nix flake archive"

#: Above this many files, a workspace flake is evaluated from the workspace,
#: not from its (hashed) store copy.
COPY_FILES_LIMIT = 5_000


class MissingInput(NixError):
    """A flake input that is not available offline (not in the store, not locked)."""

    code = "flake_input_missing"

    def __init__(self, msg: str, input_name: str = "", span: Any = None) -> None:
        super().__init__(msg, span)
        self.input_name = input_name


def _lazy_code(env: Any) -> Any:
    return env()
    yield  # a generator function: thunks run their code as one


def lazy(fn: Any) -> Thunk:
    """A thunk whose value is ``fn()`` (plain Python, computed when forced)."""
    return Thunk(_lazy_code, fn)


def _store_str(path: str) -> CtxStr:
    return CtxStr(path, frozenset([path]))


def source_info(locked: dict[str, Any], out_path: str) -> Attrs:
    """``fetchTree``'s result for a locked input whose tree is at ``out_path``."""
    info: dict[str, Any] = {"outPath": _store_str(out_path)}
    if isinstance(locked.get("narHash"), str):
        info["narHash"] = locked["narHash"]
    rev = locked.get("rev")
    if isinstance(rev, str):
        info["rev"] = rev
        info["shortRev"] = rev[:7]
    modified = locked.get("lastModified")
    if isinstance(modified, int) and not isinstance(modified, bool):
        info["lastModified"] = modified
        info["lastModifiedDate"] = last_modified_date(modified)
    if isinstance(locked.get("revCount"), int):
        info["revCount"] = locked["revCount"]
    if locked.get("type") == "git":
        info["submodules"] = bool(locked.get("submodules", False))
    return Attrs(info)


class FlakeLoader:
    """Flake values of one evaluator, each built once (``ev.flake_loader``)."""

    def __init__(self, ev: Any, store_dir: str, trees: dict[str, SourceTree] | None = None):
        self.ev = ev
        self.store_dir = store_dir
        # Source trees of workspace flakes, by folder (``describe_tree`` runs git).
        self.trees: dict[str, SourceTree] = dict(trees or {})
        self._values: dict[str, Any] = {}
        self._call_flake: Any = None

    # ------------------------------------------------------------ helpers
    def _helper(self) -> Any:
        if self._call_flake is None:
            self._call_flake = self.ev.compile(CALL_FLAKE, None, CALL_FLAKE_NAME)
        return self._call_flake

    def _exists(self, path: str) -> bool:
        return os.path.isdir(path)

    def _fetcher(self, lock: LockFile, flake_dir: str, problem: str | None) -> PrimOp:
        def fetch_locked(key: Any) -> Any:
            k = yield from force(key)
            return self._fetch_locked(lock, str(k), flake_dir, problem)

        return PrimOp("fetchLocked", 1, fetch_locked, "a locked flake input's source tree")

    def _fetch_locked(self, lock: LockFile, key: str, flake_dir: str, problem: str | None) -> Attrs:
        node = lock.nodes.get(key, {})
        locked = node.get("locked") or {}
        name = _input_name(lock, key)
        where = f"in '{flake_dir}'"
        if problem is not None:
            raise MissingInput(
                f"flake input '{name}' is not available: {problem}; "
                f"run `{FETCH_COMMAND}` {where} to lock and fetch it",
                name,
            )
        path = locked_store_path(locked, self.store_dir)
        ref = describe_ref(node.get("original") or locked)
        if path is None:
            raise MissingInput(
                f"flake input '{name}' ({ref}) has no narHash in flake.lock, so it cannot be "
                f"found offline; run `{FETCH_COMMAND}` {where} to fetch it",
                name,
            )
        if not self._exists(path):
            raise MissingInput(
                f"flake input '{name}' ({ref}) is not in the Nix store (expected at {path}); "
                f"run `{FETCH_COMMAND}` {where} to fetch it",
                name,
            )
        return source_info(locked, path)

    def _self_info(self, tree: SourceTree) -> tuple[Attrs, Any]:
        """``self``'s sourceInfo, and a function giving the store path of the
        copy (computed once, from the workspace, when first used)."""
        from ..eval import _StoreIOAdapter

        adapter = _StoreIOAdapter(self.ev.io)
        base = tree.filter()
        check = self.ev.check_budget
        memo: list[str] = []

        def within_budget(path: str, kind: str) -> bool:
            # Hashing a large work tree takes a while: stop with the budget.
            check()
            return base is None or bool(base(path, kind))

        def store_path() -> str:
            if not memo:
                path = tree_store_path(tree, adapter, self.store_dir, within_budget)
                # Reads below it are the workspace's (Git: its tracked files).
                accept = (lambda p, k: bool(base(p, k))) if base is not None else None
                self.ev.io.add_workspace(path, tree.top, accept)
                memo.append(path)
            return memo[0]

        def out_path() -> CtxStr:
            return _store_str(store_path())

        info: dict[str, Any] = {"outPath": lazy(out_path)}
        if tree.kind == "git" and tree.rev is not None:
            dirty = tree.dirty or self._overlays_dirty(tree)
            if dirty:
                info["dirtyRev"] = tree.rev + "-dirty"
                info["dirtyShortRev"] = tree.rev[:7] + "-dirty"
            else:
                info["rev"] = tree.rev
                info["shortRev"] = tree.rev[:7]
                if tree.rev_count is not None:
                    info["revCount"] = tree.rev_count
            info["submodules"] = False
        if tree.last_modified is not None:
            info["lastModified"] = tree.last_modified
            info["lastModifiedDate"] = last_modified_date(tree.last_modified)

        def nar_hash() -> str:
            from ..store import Hash, nar_hash_path

            return Hash("sha256", nar_hash_path(tree.top, adapter, within_budget)).sri

        info["narHash"] = lazy(nar_hash)
        return Attrs(info), store_path

    def _overlays_dirty(self, tree: SourceTree) -> bool:
        overlays = getattr(self.ev.io, "overlays", None) or {}
        top = tree.top.rstrip("/") + "/"
        for path, data in overlays.items():
            if path.startswith(top) and tree.tracked and path[len(top) :] in tree.tracked:
                try:
                    with open(path, "rb") as f:
                        if f.read() != data:
                            return True
                except OSError:
                    return True
        return False

    # ------------------------------------------------------------- values
    def workspace_flake(self, flake_dir: str, lock: LockFile | None, problem: str | None) -> Any:
        """Generator: the value of the flake in ``flake_dir`` (read from the workspace).

        ``lock`` None: a lock is made up from the inputs ``flake.nix`` declares,
        each unavailable because of ``problem`` (no lock file, a broken one)."""
        flake_dir = os.path.abspath(flake_dir)
        cached = self._values.get(flake_dir)
        if cached is not None:
            return cached
        tree = self.trees.get(flake_dir)
        if tree is None:
            tree = self.trees[flake_dir] = describe_tree(flake_dir)
        flake_file = os.path.join(flake_dir, "flake.nix")
        if lock is None:
            names = yield from self.declared_inputs(flake_file)
            lock = synthetic_lock(names)
            problem = problem or "the flake has no flake.lock"
        info, store_path = self._self_info(tree)

        def in_copy(rel: str) -> Any:
            # The flake's folder (or a file in it) inside the store copy.
            def value() -> CtxStr:
                top = store_path()
                return _store_str(os.path.join(top, tree.subdir, rel).rstrip("/"))

            return lazy(value)

        from_copy = file_count(tree, COPY_FILES_LIMIT) <= COPY_FILES_LIMIT
        root = Attrs(
            {
                "flakeFile": in_copy("flake.nix") if from_copy else NixPath(flake_file),
                "dir": in_copy("") if from_copy else NixPath(flake_dir),
                "sourceInfo": info,
                "subdir": tree.subdir,
            }
        )
        value = yield from self._call(lock, root, flake_dir, problem)
        self._values[flake_dir] = value
        return value

    def store_flake(self, path: str, locked: dict[str, Any]) -> Any:
        """Generator: the value of a flake already in the store at ``path``."""
        subdir = str(locked.get("dir", "") or "")
        key = path + "//" + subdir
        cached = self._values.get(key)
        if cached is not None:
            return cached
        flake_dir = os.path.join(path, subdir) if subdir else path
        lock = read_lock(flake_dir, _reader(self.ev.io))
        problem = None
        if lock is None:
            names = yield from self.declared_inputs(os.path.join(flake_dir, "flake.nix"))
            lock = synthetic_lock(names)
            problem = "the flake has no flake.lock"
        root = Attrs(
            {
                "flakeFile": _store_str(os.path.join(flake_dir, "flake.nix")),
                "dir": _store_str(flake_dir),
                "sourceInfo": source_info(locked, path),
                "subdir": subdir,
            }
        )
        value = yield from self._call(lock, root, flake_dir, problem)
        self._values[key] = value
        return value

    def _call(self, lock: LockFile, root: Attrs, flake_dir: str, problem: str | None) -> Any:
        helper = self._helper()
        fn = yield from self._eval(helper([None]))
        f1 = yield (fn, lock.text, None)
        f2 = yield (f1, root, None)
        return (yield (f2, self._fetcher(lock, flake_dir, problem), None))

    @staticmethod
    def _eval(gen: Any) -> Any:
        v = yield gen
        if v.__class__ is Thunk:
            v = yield v
        return v

    def declared_inputs(self, flake_file: str) -> Any:
        """Generator: the inputs ``flake.nix`` declares (``inputs`` and ``outputs``' formals)."""
        v = yield self.ev.import_thunk(flake_file)
        names: set[str] = set()
        if v.__class__ is Attrs:
            inputs = yield from force(v.get("inputs"))
            if inputs.__class__ is Attrs:
                names.update(inputs)
            outputs = yield from force(v.get("outputs"))
            if outputs.__class__ is Lambda and outputs.node.formals is not None:
                names.update(f.name for f in outputs.node.formals)
        names.discard("self")
        return sorted(names)

    # ------------------------------------------------------------ getFlake
    def get_flake(self, ref: str) -> Any:
        """Generator: ``builtins.getFlake ref`` offline (paths and locked references)."""
        from ..builtins.flakes import parse_flake_ref

        attrs = dict(parse_flake_ref(ref))
        if attrs.get("type") == "path":
            folder = str(attrs.get("path", ""))
            if not os.path.isabs(folder):
                raise NixError(f"cannot call 'getFlake' on unlocked flake reference '{ref}'")
            if self.store_dir and folder.startswith(self.store_dir.rstrip("/") + "/"):
                if isinstance(attrs.get("narHash"), str):
                    return (yield from self.store_flake(folder, attrs))
            lock, problem = None, None
            try:
                lock = read_lock(folder, _reader(self.ev.io))
            except LockError as err:
                problem = err.msg
            return (yield from self.workspace_flake(folder, lock, problem))
        path = locked_store_path(attrs, self.store_dir)
        if path is None:
            raise NixError(
                f"cannot call 'getFlake' on unlocked flake reference '{ref}' "
                "(nixlens evaluates offline: give a reference with a narHash, or a path)"
            )
        if not self._exists(path):
            raise MissingInput(
                f"flake '{ref}' is not in the Nix store (expected at {path}); "
                f"run `nix flake prefetch '{ref}'` to fetch it"
            )
        return (yield from self.store_flake(path, attrs))


def _reader(io: Any) -> Any:
    def read(path: str) -> bytes | None:
        if io.file_type(path) is None:
            return None
        data: bytes = io.read_bytes(path)
        return data

    return read


def _input_name(lock: LockFile, key: str) -> str:
    """The name the root knows a node by (its key otherwise)."""
    for name, spec in (lock.nodes[lock.root].get("inputs") or {}).items():
        try:
            if lock.resolve(spec) == key:
                return str(name)
        except LockError:
            continue
    return key


def synthetic_lock(names: list[str]) -> LockFile:
    """A lock whose root has inputs ``names``, none of them locked (all missing)."""
    import json

    nodes: dict[str, Any] = {"root": {"inputs": {n: n for n in names}}}
    for n in names:
        nodes[n] = {
            "locked": {"type": "indirect", "id": n},
            "original": {"type": "indirect", "id": n},
        }
    # A name clashing with "root" would be unusual; keep the root unique.
    text = json.dumps({"nodes": nodes, "root": "root", "version": 7})
    return parse_lock(text, "«no flake.lock»")
