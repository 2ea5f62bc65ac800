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
global scope, lints, home directory, ``scopedImport`` names); the hash of
the evaluator's sources is itself remembered there under their sizes and
modification times (``remembered_fingerprint``).  The cache is
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

try:
    from _blake2 import blake2b as _blake2b
except ImportError:  # an interpreter built without it
    _blake2b = None  # type: ignore[assignment,misc]

_MAGIC = b"NIXLENS-CODE-3\n"
_EVALUATOR_DIR = os.path.dirname(os.path.abspath(__file__))


def default_directory() -> str:
    """``$XDG_CACHE_HOME/nixlens``, or ``~/.cache/nixlens``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nixlens")


def _hasher(data: bytes) -> Any:
    """A hash object for keys: BLAKE2b, the interpreter's own (no OpenSSL to
    load) and three times as fast as its SHA-256 on the files keys cover."""
    if _blake2b is None:
        return hashing.sha256(data)
    return _blake2b(data, digest_size=32)


def _sources(root: str) -> list[str]:
    """The evaluator's ``.py`` files under ``root``, in a fixed order."""
    out: list[str] = []
    for base, dirs, files in os.walk(root):
        dirs.sort()
        out.extend(os.path.join(base, name) for name in sorted(files) if name.endswith(".py"))
    return out


def _runtime_tag() -> bytes:
    # The bytecode format and the interpreter that compiled code is for.
    return importlib.util.MAGIC_NUMBER + sys.version.encode()


def fingerprint(root: str = _EVALUATOR_DIR) -> bytes:
    """A hash of what compiled code depends on besides the file: the
    evaluator's own sources (under ``root``) and the Python version
    (bytecode format)."""
    h = _hasher(_runtime_tag())
    for path in _sources(root):
        h.update(os.path.relpath(path, root).encode())
        with open(path, "rb") as f:
            h.update(f.read())
    return h.digest()


def remembered_fingerprint(memo_dir: str, root: str = _EVALUATOR_DIR) -> bytes:
    """``fingerprint(root)``, remembered in ``memo_dir`` under the sources'
    sizes and modification times (as CPython trusts a ``.pyc`` whose
    source's size and mtime match): hashing every source costs each process
    more than most of a small evaluation.  An edited source has another size
    or mtime, and the hash is computed again; a missing or damaged memo is
    only recomputed."""
    stamp = _hasher(_runtime_tag())
    stamp.update(root.encode("utf-8", "surrogatepass"))
    try:
        for path in _sources(root):
            st = os.stat(path)
            stamp.update(
                f"\0{path}\0{st.st_size}\0{st.st_mtime_ns}".encode("utf-8", "surrogatepass")
            )
    except OSError:  # a source vanished while listing: trust nothing
        return fingerprint(root)
    key = stamp.digest()
    # One memo per evaluator directory and Python, so edits replace it.
    name = _hasher(root.encode("utf-8", "surrogatepass") + _runtime_tag()).hexdigest()
    memo = os.path.join(memo_dir, "fingerprint-" + name[:32])
    try:
        with open(memo, "rb") as f:
            data = f.read()
        if len(data) == 64 and data[:32] == key:
            return data[32:]
    except OSError:
        pass
    fp = fingerprint(root)
    try:
        os.makedirs(memo_dir, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=memo_dir, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(key + fp)
            os.replace(tmp, memo)
        except BaseException:
            os.unlink(tmp)
            raise
    except OSError:  # a read-only or full disk: computed again next time
        pass
    return fp


class CodeCache:
    """The on-disk cache of compiled files under ``directory``.

    Owned by whoever creates evaluators (the command line, the server) and
    passed to each ``Evaluator``; every method fails soft (a miss, or no
    write)."""

    def __init__(self, directory: str, fingerprint_memo: str | None = None) -> None:
        self.directory = directory
        # Where the evaluator's fingerprint is remembered (None: hashed anew).
        self.fingerprint_memo = fingerprint_memo
        self._fp: bytes | None = None
        self.hits = 0
        self.misses = 0
        self.writes = 0

    @classmethod
    def default(cls) -> CodeCache | None:
        """The user's cache, unless ``NIXLENS_CODE_CACHE=0`` turns it off."""
        if os.environ.get("NIXLENS_CODE_CACHE", "1") in ("0", "off", "false", ""):
            return None
        directory = default_directory()
        return cls(directory, fingerprint_memo=directory)

    def key(self, path: str, data: bytes, *parts: Any) -> bytes:
        """The key of ``path``'s text ``data`` compiled under ``parts``."""
        if self._fp is None:
            memo = self.fingerprint_memo
            self._fp = fingerprint() if memo is None else remembered_fingerprint(memo)
        h = _hasher(self._fp)
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
