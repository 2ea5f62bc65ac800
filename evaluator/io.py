"""The I/O interface: every file access of the evaluator goes through here.

``RealIO`` reads the real file system, optionally only below allowed roots.
``OverlayIO`` adds in-memory contents (the editor's unsaved buffers) on top.
Nothing here ever writes.
"""

from __future__ import annotations

import os
import stat

from .errors import MissingPath, NixError, Unavailable


class AccessDenied(Unavailable):
    """A read outside the allowed roots."""


class RealIO:
    """Read-only access to the file system (optionally sandboxed)."""

    def __init__(self, allowed_roots: list[str] | None = None) -> None:
        self.allowed_roots = (
            None if allowed_roots is None else [os.path.abspath(r) for r in allowed_roots]
        )

    def check(self, path: str) -> None:
        """Refuse paths outside the allowed roots (when any are set)."""
        if self.allowed_roots is None:
            return
        real = os.path.realpath(path)
        for root in self.allowed_roots:
            rr = os.path.realpath(root)
            if real == rr or real.startswith(rr.rstrip("/") + "/"):
                return
        raise AccessDenied(
            f"access to path '{path}' is forbidden: it is outside the workspace and search path"
        )

    def read_bytes(self, path: str) -> bytes:
        self.check(path)
        try:
            with open(path, "rb") as f:
                return f.read()
        except IsADirectoryError:
            raise NixError(f"reading file '{path}': Is a directory") from None
        except FileNotFoundError:
            raise MissingPath(path) from None
        except OSError as e:
            raise NixError(f"reading file '{path}': {e.strerror}") from None

    def file_type(self, path: str, follow: bool = True) -> str | None:
        """'regular' | 'directory' | 'symlink' | 'unknown', None if missing."""
        self.check(path)
        try:
            st = os.stat(path) if follow else os.lstat(path)
        except OSError:
            return None
        m = st.st_mode
        if stat.S_ISREG(m):
            return "regular"
        if stat.S_ISDIR(m):
            return "directory"
        if stat.S_ISLNK(m):
            return "symlink"
        return "unknown"

    def exists(self, path: str) -> bool:
        return self.file_type(path) is not None

    def list_dir(self, path: str) -> list[str]:
        self.check(path)
        try:
            return sorted(os.listdir(path))
        except NotADirectoryError:
            raise NixError(f"'{path}' is not a directory") from None
        except OSError as e:
            raise NixError(f"reading directory '{path}': {e.strerror}") from None

    def read_link(self, path: str) -> str:
        self.check(path)
        return os.readlink(path)

    def is_executable(self, path: str) -> bool:
        self.check(path)
        try:
            return bool(os.stat(path).st_mode & stat.S_IXUSR)
        except OSError:
            return False

    def version_key(self, path: str) -> object:
        """Something that changes when the file changes (import cache key)."""
        try:
            st = os.stat(path)
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return None


class OverlayIO(RealIO):
    """``RealIO`` plus in-memory file contents that take precedence."""

    def __init__(
        self, overlays: dict[str, bytes] | None = None, allowed_roots: list[str] | None = None
    ) -> None:
        super().__init__(allowed_roots)
        self.overlays = {os.path.abspath(k): v for k, v in (overlays or {}).items()}

    def read_bytes(self, path: str) -> bytes:
        data = self.overlays.get(path)
        if data is not None:
            return data
        return super().read_bytes(path)

    def file_type(self, path: str, follow: bool = True) -> str | None:
        if path in self.overlays:
            return "regular"
        return super().file_type(path, follow)

    def version_key(self, path: str) -> object:
        data = self.overlays.get(path)
        if data is not None:
            return ("overlay", hash(data))
        return super().version_key(path)
