"""A disk cache for what depends only on a project's locked inputs.

Entries are JSON files under ``$XDG_CACHE_HOME/nixlens/projects`` (or
``~/.cache/...``), named by a hash of nixlens's version, the inputs'
``narHash``es and what is cached, so a new lock or a new nixlens never reads
a stale entry.  Writes are atomic (a temporary file renamed); an unreadable or
corrupt entry counts as missing and is removed.  Never required: without a
writable cache directory everything is computed again.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)

FORMAT = 1


def default_cache_dir(environ: dict[str, str] | None = None) -> str:
    """``$XDG_CACHE_HOME/nixlens/projects`` (``~/.cache`` when unset)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "nixlens", "projects")


class DiskCache:
    """JSON values keyed by (kind, version, narHashes, detail)."""

    def __init__(self, directory: str | None, version: str) -> None:
        self.directory = directory
        self.version = version

    def key(self, kind: str, nar_hashes: Iterable[str], detail: str = "") -> str:
        """The file name of one entry."""
        h = hashlib.sha256()
        for part in (str(FORMAT), self.version, kind, detail, *sorted(nar_hashes)):
            h.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return f"{kind}-{h.hexdigest()[:40]}.json"

    def get(self, key: str) -> Any:
        """The value stored under ``key``, or None."""
        if self.directory is None:
            return None
        path = os.path.join(self.directory, key)
        try:
            with open(path, encoding="utf-8") as f:
                data = json.load(f)
            if not isinstance(data, dict) or data.get("key") != key:
                raise ValueError("not an entry of this cache")
            return data.get("value")
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as err:
            log.info("dropping unreadable cache entry %s: %s", path, err)
            try:
                os.unlink(path)
            except OSError:
                pass
            return None

    def put(self, key: str, value: Any) -> None:
        """Store ``value`` (JSON-serialisable) under ``key``; failures are only logged."""
        if self.directory is None:
            return
        try:
            os.makedirs(self.directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".tmp-", suffix=".json")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as f:
                    json.dump({"key": key, "value": value}, f)
                os.replace(tmp, os.path.join(self.directory, key))
            except BaseException:
                os.unlink(tmp)
                raise
        except (OSError, TypeError, ValueError) as err:
            log.info("could not write cache entry %s: %s", key, err)
