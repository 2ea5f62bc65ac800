"""A loaded project kept on disk: its context and its configurations' options.

Loading a large project (a NixOS configuration: thousands of options) takes
seconds; opening it again should not.  ``ProjectCache`` keeps, per project
folder, one file under ``$XDG_CACHE_HOME/nixlens/projects`` holding

* a header: what the load depended on (``Stamps``) and the key made of it,
* the ``ProjectContext`` (plain data, as ``load_context`` returned it),
* each configuration entry's options (``ide.option_snapshot.OptionTree``),

so a server that opens the project again answers option completion and
hover at once while the real evaluation runs.

Never stale: the key hashes nixlens's version and the evaluator's own
sources, the project (folder, kind, store, system), the search path, the
source tree's Git facts, and every answer the file system gave the load
(``RecordingIO``: each file read, by its contents' SHA-256; each existence
or type check; each directory listing).  Paths in the Nix store are
immutable (a locked input's store path is its ``narHash``): their contents
are not hashed, but whether they exist is recorded (a fetched input makes a
new key).  ``ProjectCache.load_context`` replays those checks against the
current files (editor buffers through the ``io`` given) and uses the entry
only when every answer is the same.

Files are pickled (like ``evaluator.codecache``, in the user's own cache);
writes are atomic (a temporary file renamed); a missing, truncated, corrupt
or foreign file is a miss, logged and removed, never an error.
``NIXLENS_PROJECT_CACHE=0`` turns the cache off.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import struct
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..errors import NixError

log = logging.getLogger(__name__)

MAGIC = b"NIXLENS-PROJECT-2\n"
_LENGTH = struct.Struct("<Q")
#: Files of this project whose checks are replayed at most (a larger load is not kept).
MAX_CHECKS = 50_000


def cache_enabled(environ: dict[str, str] | None = None) -> bool:
    """False when ``NIXLENS_PROJECT_CACHE`` is ``0``/``off``/``false``."""
    env = os.environ if environ is None else environ
    return env.get("NIXLENS_PROJECT_CACHE", "1").lower() not in ("0", "off", "false", "")


# ------------------------------------------------------------------ stamps


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class RecordingIO:
    """An evaluator I/O (``evaluator.io``) that remembers every answer it gave.

    ``checks`` maps (operation, path) to what the file system said: a file's
    digest (or the error's type), a file type, a directory listing's digest.
    Reads under ``store_dir`` record only that they succeeded."""

    def __init__(self, inner: Any, store_dir: str) -> None:
        self.inner = inner
        self.store = store_dir.rstrip("/") + "/"
        self.checks: dict[tuple[str, str], str | None] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)  # overlays, allowed_roots, check, version_key

    def _in_store(self, path: str) -> bool:
        return path.startswith(self.store)

    def read_bytes(self, path: str) -> bytes:
        try:
            data: bytes = self.inner.read_bytes(path)
        except NixError as err:
            self.checks[("read", path)] = "!" + type(err).__name__
            raise
        self.checks[("read", path)] = "store" if self._in_store(path) else _digest(data)
        return data

    def file_type(self, path: str, follow: bool = True) -> str | None:
        kind: str | None = self.inner.file_type(path, follow)
        self.checks[("type" if follow else "ltype", path)] = kind
        return kind

    def exists(self, path: str) -> bool:
        return self.file_type(path) is not None

    def list_dir(self, path: str) -> list[str]:
        try:
            names: list[str] = self.inner.list_dir(path)
        except NixError as err:
            self.checks[("list", path)] = "!" + type(err).__name__
            raise
        listing = "\0".join(names).encode("utf-8", "surrogateescape")
        self.checks[("list", path)] = "store" if self._in_store(path) else _digest(listing)
        return names

    def read_link(self, path: str) -> str:
        target: str = self.inner.read_link(path)
        self.checks[("link", path)] = target
        return target

    def is_executable(self, path: str) -> bool:
        answer: bool = self.inner.is_executable(path)
        self.checks[("exec", path)] = str(answer)
        return answer


def replay(io: Any, check: tuple[str, str], store_dir: str) -> str | None:
    """What ``io`` answers now to one recorded ``check`` (as ``RecordingIO`` records it)."""
    op, path = check
    rec = RecordingIO(io, store_dir)
    if op in ("read", "list") and rec._in_store(path):
        # Store objects never change: that it is still there is enough (no
        # need to read nixpkgs again).
        try:
            kind = io.file_type(path)
        except (NixError, OSError) as err:
            return "!" + type(err).__name__
        readable = kind not in (None, "directory") if op == "read" else kind == "directory"
        return "store" if readable else "!changed"
    try:
        if op == "read":
            rec.read_bytes(path)
        elif op == "type":
            rec.file_type(path)
        elif op == "ltype":
            rec.file_type(path, follow=False)
        elif op == "list":
            rec.list_dir(path)
        elif op == "link":
            rec.read_link(path)
        elif op == "exec":
            rec.is_executable(path)
        else:
            return "?unknown"
    except NixError:
        pass  # recorded by ``rec``
    except OSError as err:
        return "!" + type(err).__name__
    return rec.checks.get(check, "?none")


@dataclass(frozen=True)
class Stamps:
    """What a load depended on: the file system's answers and the rest of the key."""

    checks: tuple[tuple[tuple[str, str], str | None], ...]
    # nixlens version, evaluator fingerprint, project, search path, Git facts.
    context: str

    def key(self) -> str:
        """The hash naming this state."""
        h = hashlib.sha256(MAGIC)
        h.update(self.context.encode("utf-8", "surrogatepass"))
        for (op, path), answer in self.checks:
            h.update(f"\0{op}\0{path}\0{answer}".encode("utf-8", "surrogatepass"))
        return h.hexdigest()


def tree_facts(tree: Any) -> str:
    """The source tree's facts that evaluation can see, but its file system
    answers do not record (Git revision, tracked files; not ``lastModified``,
    see the README)."""
    if tree is None:
        return "no tree"
    tracked = sorted(tree.tracked) if tree.tracked is not None else None
    listing = _digest(repr(tracked).encode("utf-8", "surrogateescape"))
    return repr((tree.top, tree.subdir, tree.kind, tree.rev, tree.rev_count, tree.dirty, listing))


# ------------------------------------------------------------------- files


class ProjectCache:
    """Snapshots of loaded projects under ``directory`` (see the module docstring)."""

    def __init__(self, directory: str | None, version: str) -> None:
        self.directory = directory
        self.version = version
        self._fingerprint: str | None = None
        self.hits = 0
        self.misses = 0

    @classmethod
    def default(cls, version: str) -> ProjectCache:
        """The user's cache (a disabled one when ``NIXLENS_PROJECT_CACHE=0``)."""
        from .cache import default_cache_dir

        return cls(default_cache_dir() if cache_enabled() else None, version)

    def context_text(self, spec: Any, search_path: Iterable[Any], tree: Any) -> str:
        """The part of the key that is not the file system's answers."""
        if self._fingerprint is None:
            from ..codecache import fingerprint

            self._fingerprint = fingerprint().hex()
        return repr(
            (
                self.version,
                self._fingerprint,
                dataclasses.astuple(spec),
                tuple(str(p) for p in search_path),
                tree_facts(tree),
            )
        )

    def file_for(self, spec: Any) -> str | None:
        """The snapshot file of project ``spec`` (one per project folder)."""
        if self.directory is None:
            return None
        name = hashlib.sha256(repr(dataclasses.astuple(spec)).encode()).hexdigest()[:40]
        return os.path.join(self.directory, f"project-{name}.snapshot")

    def store(self, spec: Any, stamps: Stamps, context: Any, options: dict[Any, Any]) -> str | None:
        """Write the snapshot of ``spec``; its key, or None when not written."""
        target = self.file_for(spec)
        if target is None or len(stamps.checks) > MAX_CHECKS:
            return None
        key = stamps.key()
        try:
            parts = [
                pickle.dumps((key, stamps), protocol=pickle.HIGHEST_PROTOCOL),
                pickle.dumps(dataclasses.replace(context, cache_key=key, cache_file=target), 5),
                pickle.dumps(options, protocol=pickle.HIGHEST_PROTOCOL),
            ]
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(MAGIC)
                    for part in parts:
                        f.write(_LENGTH.pack(len(part)))
                        f.write(part)
                os.replace(tmp, target)
            except BaseException:
                os.unlink(tmp)
                raise
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as err:
            log.info("could not write the project snapshot %s: %s", target, err)
            return None
        return key

    def _read(self, path: str, sections: int) -> list[Any] | None:
        """The first ``sections`` parts of the file at ``path`` (None: missing or bad)."""
        try:
            with open(path, "rb") as f:
                if f.read(len(MAGIC)) != MAGIC:
                    raise ValueError("not a nixlens project snapshot of this format")
                out = []
                for _ in range(sections):
                    head = f.read(_LENGTH.size)
                    if len(head) != _LENGTH.size:
                        raise ValueError("truncated")
                    (size,) = _LENGTH.unpack(head)
                    body = f.read(size)
                    if len(body) != size:
                        raise ValueError("truncated")
                    out.append(pickle.loads(body))
                return out
        except FileNotFoundError:
            return None
        except Exception as err:  # noqa: BLE001 - a corrupt file of any kind is a miss
            log.warning("ignoring the unreadable project snapshot %s: %s", path, err)
            try:
                os.unlink(path)
            except OSError:
                pass
            return None

    def load_context(self, spec: Any, search_path: Iterable[Any], io: Any, tree: Any) -> Any:
        """The snapshot's ``ProjectContext`` (with ``cache_key``) when every
        recorded answer still holds through ``io``; else None."""
        path = self.file_for(spec)
        if path is None:
            return None
        parts = self._read(path, 2)
        if parts is None:
            self.misses += 1
            return None
        try:
            (key, stamps), context = parts
            stale = stamps.context != self.context_text(spec, search_path, tree)
            if not stale:
                for check, answer in stamps.checks:
                    if replay(io, check, spec.store_dir) != answer:
                        log.info("project snapshot of %s is stale: %s %s", spec.root, *check)
                        stale = True
                        break
            else:
                log.info("project snapshot of %s is stale: version, settings or Git", spec.root)
            if stale or stamps.key() != key or context.cache_key != key:
                self.misses += 1
                return None
        except Exception as err:  # noqa: BLE001 - a foreign or damaged entry
            log.warning("ignoring the unreadable project snapshot %s: %s", path, err)
            self.misses += 1
            return None
        self.hits += 1
        return dataclasses.replace(context, tree=tree)

    @staticmethod
    def load_options(path: str, key: str) -> dict[Any, Any] | None:
        """The option trees (by entry attribute path) of the snapshot at
        ``path`` when its key is still ``key``."""
        reader = ProjectCache(os.path.dirname(path), "")
        parts = reader._read(path, 3)
        if parts is None:
            return None
        try:
            (found, _stamps), _context, trees = parts
        except (TypeError, ValueError) as err:
            log.warning("ignoring the unreadable project snapshot %s: %s", path, err)
            return None
        return trees if found == key and isinstance(trees, dict) else None


__all__ = [
    "ProjectCache",
    "RecordingIO",
    "Stamps",
    "cache_enabled",
    "replay",
    "tree_facts",
]
