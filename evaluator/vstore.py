"""The evaluation's own virtual store: store paths made during an evaluation
are readable in that evaluation, as in Nix, while nothing is written.

``builtins.toFile`` registers its text; ``"${./dir}"``, ``builtins.path`` and
``builtins.filterSource`` register the source they copy (and the filter's
answers); a workspace flake's ``self`` registers its folder (``workspace``:
files under it are the user's files, ``host_path``).  ``StoreView`` wraps the evaluator's read-only I/O: a path under a
registered store path is served from the text or the source it came from;
every other path (derivation outputs included, which only a build makes) is
passed on unchanged, so a real store on the machine still reads as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import NixError


class _Text:
    """A store object that is one regular file with these bytes."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _Copy:
    """A store object copied from ``source`` on the host; with ``keep``, only
    the entries the path filter accepted (host path -> accepted)."""

    __slots__ = ("source", "keep", "accept", "workspace")

    def __init__(
        self,
        source: str,
        keep: dict[str, bool] | None,
        accept: Callable[[str, str], bool] | None = None,
        workspace: bool = False,
    ) -> None:
        self.source = source
        self.keep = keep
        # Instead of ``keep``: the filter itself, asked with (host path, kind).
        self.accept = accept
        # The copy of a workspace folder: what is read below it is the user's
        # files (``StoreView.host_path``).
        self.workspace = workspace


class StoreView:
    """Read-only I/O: the store objects of this evaluation over ``inner``."""

    def __init__(self, inner: Any, store_dir: str) -> None:
        self.inner = inner
        self.store_dir = store_dir.rstrip("/")
        self.objects: dict[str, _Text | _Copy] = {}

    def __getattr__(self, name: str) -> Any:
        # Anything else the wrapped I/O offers (allowed_roots, overlays, ...).
        return getattr(self.inner, name)

    # ------------------------------------------------------------ registering
    def add_text(self, store_path: str, data: bytes) -> None:
        """Register ``builtins.toFile``'s output."""
        self.objects[store_path] = _Text(data)

    def add_copy(self, store_path: str, source: str, keep: dict[str, bool] | None = None) -> None:
        """Register a copy of the host path ``source`` (filtered by ``keep``)."""
        self.objects.setdefault(store_path, _Copy(source, keep))

    def add_workspace(
        self, store_path: str, source: str, accept: Callable[[str, str], bool] | None = None
    ) -> None:
        """Register the copy Nix would make of the workspace folder ``source``
        (only what ``accept(host path, kind)`` takes, e.g. Git's tracked files)."""
        self.objects.setdefault(store_path, _Copy(source, None, accept, workspace=True))

    def workspaces(self) -> list[tuple[str, str, Callable[[str, str], bool] | None]]:
        """The workspace copies registered: (store path, folder, filter)."""
        return [
            (sp, obj.source, obj.accept)
            for sp, obj in self.objects.items()
            if isinstance(obj, _Copy) and obj.workspace
        ]

    def host_path(self, path: str) -> str:
        """The workspace file behind ``path`` when it lies in the copy of a
        workspace folder (``add_workspace``), else ``path`` itself."""
        found = self._find(path)
        if found is None:
            return path
        obj, rest = found
        if not isinstance(obj, _Copy) or not obj.workspace:
            return path
        return self._host(obj, rest) or path

    # ---------------------------------------------------------------- lookup
    def _find(self, path: str) -> tuple[_Text | _Copy, str] | None:
        """The store object holding ``path`` and the rest of the path below it."""
        prefix = self.store_dir + "/"
        if not self.objects or not path.startswith(prefix):
            return None
        top, sep, rest = path[len(prefix) :].partition("/")
        obj = self.objects.get(prefix + top)
        if obj is None:
            return None
        return obj, (sep + rest).rstrip("/")

    def _host(self, obj: _Copy, rest: str) -> str | None:
        """The host path behind ``rest`` of a copy, None when filtered out."""
        if obj.keep is not None and rest:
            cur = obj.source.rstrip("/")
            for part in rest.strip("/").split("/"):
                cur = cur + "/" + part
                if not obj.keep.get(cur, False):
                    return None
        elif obj.accept is not None and rest:
            cur = obj.source.rstrip("/")
            for part in rest.strip("/").split("/"):
                cur = cur + "/" + part
                kind = self.inner.file_type(cur, False)
                if kind is None or not obj.accept(cur, kind):
                    return None
        return obj.source + rest

    def _resolve(self, path: str) -> tuple[str, Any] | None:
        """("text", bytes) / ("host", host path) / ("missing", None) for a
        path in this evaluation's store; None for any other path."""
        found = self._find(path)
        if found is None:
            return None
        # A copy of a store object of this evaluation is resolved again.
        for _ in range(len(self.objects)):
            obj, rest = found
            if isinstance(obj, _Text):
                return ("text", obj.data) if not rest else ("missing", None)
            host = self._host(obj, rest)
            if host is None:
                return ("missing", None)
            found = self._find(host)
            if found is None:
                return ("host", host)
        return ("missing", None)

    # -------------------------------------------------------- the I/O methods
    def check(self, path: str) -> None:
        r = self._resolve(path)
        if r is None:
            self.inner.check(path)
        elif r[0] == "host":
            self.inner.check(r[1])

    def read_bytes(self, path: str) -> bytes:
        r = self._resolve(path)
        if r is None:
            return self.inner.read_bytes(path)
        kind, val = r
        if kind == "text":
            return val  # type: ignore[no-any-return]
        if kind == "missing":
            raise NixError(f"path '{path}' does not exist")
        try:
            return self.inner.read_bytes(val)  # type: ignore[no-any-return]
        except NixError as e:
            # Messages name the store path the program used, not the source.
            raise NixError(e.msg.replace(val, path)) from None

    def file_type(self, path: str, follow: bool = True) -> str | None:
        r = self._resolve(path)
        if r is None:
            return self.inner.file_type(path, follow)  # type: ignore[no-any-return]
        kind, val = r
        if kind == "text":
            return "regular"
        if kind == "missing":
            return None
        return self.inner.file_type(val, follow)  # type: ignore[no-any-return]

    def exists(self, path: str) -> bool:
        return self.file_type(path) is not None

    def list_dir(self, path: str) -> list[str]:
        r = self._resolve(path)
        if r is None:
            return self.inner.list_dir(path)  # type: ignore[no-any-return]
        kind, val = r
        if kind != "host":
            raise NixError(f"'{path}' is not a directory")
        # Only what every filter on the way accepted (a filter sees host paths).
        base = path.rstrip("/")
        return [n for n in self.inner.list_dir(val) if self.file_type(base + "/" + n, False)]

    def read_link(self, path: str) -> str:
        r = self._resolve(path)
        if r is None:
            return self.inner.read_link(path)  # type: ignore[no-any-return]
        if r[0] != "host":
            raise NixError(f"'{path}' is not a symbolic link")
        return self.inner.read_link(r[1])  # type: ignore[no-any-return]

    def is_executable(self, path: str) -> bool:
        r = self._resolve(path)
        if r is None:
            return self.inner.is_executable(path)  # type: ignore[no-any-return]
        return r[0] == "host" and bool(self.inner.is_executable(r[1]))

    def version_key(self, path: str) -> object:
        if self._find(path) is not None:
            return ("store", path)  # store objects never change
        return self.inner.version_key(path)
