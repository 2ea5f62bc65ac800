"""A persistent cache of compiled Nix files, as CPython keeps ``.pyc`` files.

Real evaluations read the same files again and again (nixpkgs lib, a
project's modules): parsing, lowering, generating Python and compiling it
cost more than running most of that code, which runs once.  The cache keeps,
per file, the compiled program (``compiler.export_program``): the code of
every generated function that ran (marshalled code objects, one line per
function in their location tables), the compressed sources of the others,
the constants the code refers to and its trace notes (kept pickled until a
trace reads one).  A later
evaluation of the same text skips the whole front end.

Entries live under ``$XDG_CACHE_HOME/nixlens`` (default ``~/.cache/nixlens``),
one file per source path, named by a hash of the path, so an edited file
replaces its entry instead of adding one.  An entry is used only when its key
matches: a hash of the file's bytes and of everything its compiled form
depends on (the evaluator's own sources, the Python version, the names in
global scope, lints, home directory, ``scopedImport`` names).  The cache is
never needed for correctness: an entry that is missing, stale, truncated or
unreadable is a miss, and writes go to a temporary file renamed into place
(concurrent writers: the last one wins, readers never see half a file).
"""

from __future__ import annotations

import importlib.util
import os
import pickle
import sys
import tempfile
from typing import Any

from . import hashing

_MAGIC = b"NIXLENS-CODE-2\n"
_EVALUATOR_DIR = os.path.dirname(os.path.abspath(__file__))


def default_directory() -> str:
    """``$XDG_CACHE_HOME/nixlens``, or ``~/.cache/nixlens``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nixlens")


def fingerprint() -> bytes:
    """A hash of what compiled code depends on besides the file: the
    evaluator's own sources and the Python version (bytecode format)."""
    h = hashing.sha256()
    h.update(importlib.util.MAGIC_NUMBER)
    h.update(sys.version.encode())
    for root, dirs, files in os.walk(_EVALUATOR_DIR):
        dirs.sort()
        for name in sorted(files):
            if name.endswith(".py"):
                path = os.path.join(root, name)
                h.update(os.path.relpath(path, _EVALUATOR_DIR).encode())
                with open(path, "rb") as f:
                    h.update(f.read())
    return h.digest()


class CodeCache:
    """The on-disk cache of compiled files under ``directory``.

    Owned by whoever creates evaluators (the command line, the server) and
    passed to each ``Evaluator``; every method fails soft (a miss, or no
    write)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._fp: bytes | None = None
        self.hits = 0
        self.misses = 0
        self.writes = 0

    @classmethod
    def default(cls) -> CodeCache | None:
        """The user's cache, unless ``NIXLENS_CODE_CACHE=0`` turns it off."""
        if os.environ.get("NIXLENS_CODE_CACHE", "1") in ("0", "off", "false", ""):
            return None
        return cls(default_directory())

    def key(self, path: str, data: bytes, *parts: Any) -> bytes:
        """The key of ``path``'s text ``data`` compiled under ``parts``."""
        if self._fp is None:
            self._fp = fingerprint()
        h = hashing.sha256(self._fp)
        h.update(path.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
        h.update(repr(parts).encode("utf-8", "surrogatepass"))
        h.update(b"\0")
        h.update(data)
        return h.digest()

    def _file(self, path: str) -> str:
        name = hashing.sha256(path.encode("utf-8", "surrogatepass")).hexdigest()[:40]
        return os.path.join(self.directory, name[:2], name[2:] + ".nlc")

    def load(self, path: str, key: bytes) -> Any:
        """The payload stored for ``path`` under ``key``, or None."""
        try:
            with open(self._file(path), "rb") as f:
                head = f.read(len(_MAGIC) + len(key))
                if head != _MAGIC + key:
                    self.misses += 1
                    return None
                payload = pickle.loads(f.read())
        except Exception:  # noqa: BLE001 - missing, truncated or corrupt: a miss
            self.misses += 1
            return None
        self.hits += 1
        return payload

    def store(self, path: str, key: bytes, payload: Any) -> bool:
        """Keep ``payload`` for ``path`` under ``key``; False if it could not."""
        target = self._file(path)
        try:
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=os.path.dirname(target), suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_MAGIC + key)
                    f.write(data)
                os.replace(tmp, target)
            except BaseException:
                os.unlink(tmp)
                raise
        except Exception:  # noqa: BLE001 - a read-only or full disk: no cache
            return False
        self.writes += 1
        return True
