"""Outline and workspace symbols, with the state that makes them incremental
(owned by the analysis host of a helper process, ``server.host``).

* ``Outline``: a document's last outline, its answer as JSON text, and the
  pieces later versions reuse (``ide.outline`` chunks, converted fragments).
* ``WorkspaceFiles``: the symbols of each ``.nix`` file of the workspace,
  kept until the file (its modification time and size) or buffer changes.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tree_sitter import Tree

from evaluator import ide

from .positions import LineIndex

if TYPE_CHECKING:
    from lsprotocol import types

    from . import convert

# ``server.convert`` (and lsprotocol with it) is imported when an outline or
# workspace symbols are first asked for: it takes a second of a helper's
# start-up, and most helpers answer hovers first.

#: Workspace symbols: at most this many files are read, each at most this big.
MAX_WORKSPACE_FILES = 2000
MAX_WORKSPACE_FILE_BYTES = 2_000_000
#: Workspace symbols: at most this many results.
MAX_WORKSPACE_SYMBOLS = 500


@dataclass
class Outline:
    """A document's last outline (see the module docstring)."""

    data: bytes | None = None
    encoding: str = ""
    json: convert.RawJSON | None = None
    chunks: dict[Any, Any] = field(default_factory=dict)
    fragments: convert.FragmentCache = field(default_factory=dict)

    def answer(self, data: bytes, tree: Tree, index: LineIndex, encoding: str) -> convert.RawJSON:
        """DocumentSymbol[] of ``data`` as JSON text (the same object while
        the text and encoding are)."""
        from . import convert

        if self.json is not None and self.data is data and self.encoding == encoding:
            return self.json
        items = ide.outline(data, tree, self.chunks)
        text = convert.outline_json(items, index, encoding, self.fragments)
        self.data, self.encoding = data, encoding
        self.json = convert.RawJSON(text.encode())
        return self.json


@dataclass
class _FileSymbols:
    key: Any  # (mtime_ns, size, encoding) of a file, or the bytes object of a buffer
    symbols: list[types.WorkspaceSymbol]


class WorkspaceFiles:
    """Workspace symbols per file (see the module docstring)."""

    def __init__(self) -> None:
        self._files: dict[str, _FileSymbols] = {}

    def clear(self) -> None:
        """Forget every file's symbols."""
        self._files.clear()

    def search(
        self, roots: list[str], buffers: dict[str, bytes], query: str, encoding: str
    ) -> list[types.WorkspaceSymbol]:
        """The symbols matching ``query`` (a subsequence of the name, any case)."""
        paths = list(dict.fromkeys([*buffers, *_nix_files(roots)]))
        q = query.lower()
        out: list[types.WorkspaceSymbol] = []
        for p in paths:
            for s in self._symbols(p, buffers.get(p), encoding):
                if _matches(q, s.name.lower()):
                    out.append(s)
                    if len(out) >= MAX_WORKSPACE_SYMBOLS:
                        return out
        return out

    def _symbols(
        self, path: str, buffer: bytes | None, encoding: str
    ) -> list[types.WorkspaceSymbol]:
        key: Any = buffer
        data = buffer
        cached = self._files.get(path)
        if data is None:
            try:
                st = os.stat(path)
            except OSError:
                return []
            if st.st_size > MAX_WORKSPACE_FILE_BYTES:
                return []
            key = (st.st_mtime_ns, st.st_size, encoding)
            if cached is not None and cached.key == key:
                return cached.symbols
            try:
                with open(path, "rb") as f:
                    data = f.read(MAX_WORKSPACE_FILE_BYTES + 1)
            except OSError:
                return []
        elif cached is not None and cached.key is key:
            return cached.symbols
        from pygls.uris import from_fs_path

        from . import convert

        target = convert.Target(from_fs_path(path) or path, path, LineIndex(data), encoding)
        symbols: list[types.WorkspaceSymbol] = []
        stack: list[tuple[ide.Symbol, str | None]] = [
            (s, None) for s in reversed(ide.document_symbols(data, path))
        ]
        while stack:
            sym, container = stack.pop()
            loc = target.location(sym.selection)
            if loc is not None:
                symbols.append(convert.workspace_symbol(sym.name, sym.kind, container, loc))
            stack.extend((c, sym.name) for c in reversed(sym.children))
        self._files[path] = _FileSymbols(key, symbols)
        return symbols


def _nix_files(roots: list[str]) -> Iterator[str]:
    """``.nix`` files under ``roots``: hidden directories and ``result`` links
    (build outputs in the store) skipped, at most ``MAX_WORKSPACE_FILES``."""
    count = 0
    seen: set[str] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".")
                and not (_is_result_name(d) and os.path.islink(os.path.join(dirpath, d)))
            )
            for name in sorted(filenames):
                if not name.endswith(".nix") or name.startswith("."):
                    continue
                p = os.path.join(dirpath, name)
                if p in seen:
                    continue
                seen.add(p)
                yield p
                count += 1
                if count >= MAX_WORKSPACE_FILES:
                    return


def _is_result_name(name: str) -> bool:
    return name == "result" or name.startswith("result-")


def _matches(query: str, name: str) -> bool:
    """``query`` is a subsequence of ``name`` (both lower case)."""
    it = iter(name)
    return all(c in it for c in query)


__all__ = ["Outline", "WorkspaceFiles"]
