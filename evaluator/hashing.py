"""Hash functions without loading OpenSSL for small inputs.

``import hashlib`` loads OpenSSL's libcrypto: about 4 MB of resident memory
and 2 ms in every process, for what an evaluation mostly hashes in small
pieces (store path fingerprints, derivation ATerms, code cache keys).
Small inputs are hashed with the interpreter's own implementations
(``_sha256`` and friends, ``_sha2`` from Python 3.12); large or streamed
data (NAR serialisations of source trees, big files) with OpenSSL's, several
times faster, imported on first use.  Both give the same digests.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

# Above this many bytes OpenSSL's speed outweighs loading it.
LARGE = 1 << 20


# The interpreter's own hash modules by algorithm (``_sha2`` from 3.12).
_MODULES = {
    "md5": "_md5",
    "sha1": "_sha1",
    "sha256": "_sha2" if sys.version_info >= (3, 12) else "_sha256",
    "sha512": "_sha2" if sys.version_info >= (3, 12) else "_sha512",
}


def _builtin(algo: str) -> Callable[..., Any] | None:
    module = _MODULES.get(algo)
    if module is None:
        return None
    try:
        return getattr(__import__(module), algo, None)
    except ImportError:  # an interpreter built without it
        return None


def new(algo: str, data: bytes = b"") -> Any:
    """A hash object (``update``, ``digest``, ``hexdigest``) of ``algo``
    (md5, sha1, sha256, sha512) over ``data``; for data streamed in large
    amounts use ``streaming``."""
    ctor = _builtin(algo)
    if ctor is None or len(data) > LARGE:
        return streaming(algo, data)
    return ctor(data)


def streaming(algo: str, data: bytes = b"") -> Any:
    """OpenSSL's hash object of ``algo`` (``hashlib.new``), for large data."""
    import hashlib

    return hashlib.new(algo, data)


class Incremental:
    """A hash fed in pieces (``update``), OpenSSL's only once the data
    passes ``LARGE`` bytes (kept until then: the total is not known ahead)."""

    __slots__ = ("algo", "parts", "size", "hasher")

    def __init__(self, algo: str) -> None:
        self.algo = algo
        self.parts: list[bytes] = []
        self.size = 0
        self.hasher: Any = None

    def update(self, data: bytes) -> None:
        """Add ``data``."""
        if self.hasher is not None:
            self.hasher.update(data)
            return
        self.parts.append(bytes(data))
        self.size += len(data)
        if self.size > LARGE:
            self.hasher = streaming(self.algo, b"".join(self.parts))
            self.parts = []

    def digest(self) -> bytes:
        """The digest of everything added."""
        if self.hasher is not None:
            return self.hasher.digest()  # type: ignore[no-any-return]
        return new(self.algo, b"".join(self.parts)).digest()  # type: ignore[no-any-return]


def sha256(data: bytes = b"") -> Any:
    """``new("sha256", data)``."""
    return new("sha256", data)
