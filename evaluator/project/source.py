"""The source tree of a flake in the workspace (``self``), as Nix would copy it.

Nix copies a local flake to the store before evaluating it: for a flake in a
Git work tree, the tracked files only (with their working-tree contents) of
the whole repository, the flake being a subdirectory of it; for a plain
directory, every file.  ``self.outPath`` is that copy's store path.  nixlens
never writes it: ``describe_tree`` gathers the facts (Git metadata by running
``git`` locally, read-only) and ``tree_store_path`` hashes the tree through
the evaluator's I/O, so unsaved editor buffers count.
"""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from typing import Any

from ..store import make_fixed_output_path, nar_hash_path

GIT_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class SourceTree:
    """Where a local flake's source tree is and what Nix would record about it."""

    # The directory copied to the store (a Git work tree's top, or the flake's folder).
    top: str
    # The flake's folder relative to ``top`` ("" when they are the same).
    subdir: str
    kind: str  # "git" or "path"
    # Tracked files relative to ``top`` (Git only).
    tracked: frozenset[str] | None = None
    rev: str | None = None
    rev_count: int | None = None
    last_modified: int | None = None
    # Whether the work tree differs from HEAD on disk (editor buffers are checked later).
    dirty: bool = False

    def filter(self) -> Any:
        """The ``dump_nar`` filter Nix's copy applies (None: every file)."""
        if self.tracked is None:
            return None
        files = self.tracked
        dirs = {os.path.dirname(f) for f in files}
        for d in list(dirs):
            while d:
                d = os.path.dirname(d)
                dirs.add(d)
        top = self.top.rstrip("/") + "/"

        def keep(path: str, _kind: str) -> bool:
            rel = path[len(top) :] if path.startswith(top) else path
            return rel in files or rel in dirs

        return keep


def _git(top: str, *args: str) -> str | None:
    try:
        out = subprocess.run(
            # No fsmonitor hook: a repository's config must not run programs.
            ["git", "-c", "core.fsmonitor=false", "-C", top, *args],
            capture_output=True,
            timeout=GIT_TIMEOUT_S,
            check=False,
            env={**os.environ, "GIT_OPTIONAL_LOCKS": "0"},
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.decode("utf-8", "surrogateescape")


def _git_top(folder: str) -> str | None:
    d = os.path.abspath(folder)
    while True:
        if os.path.exists(os.path.join(d, ".git")):
            return d
        parent = os.path.dirname(d)
        if parent == d:
            return None
        d = parent


def describe_tree(flake_dir: str) -> SourceTree:
    """The source tree Nix would copy for the flake in ``flake_dir``."""
    flake_dir = os.path.abspath(flake_dir)
    top = _git_top(flake_dir)
    if top is not None:
        listing = _git(top, "ls-files", "-z", "--cached")
        if listing is not None:
            tracked = frozenset(p for p in listing.split("\0") if p)
            head = (_git(top, "rev-parse", "--verify", "-q", "HEAD") or "").strip() or None
            count = _git(top, "rev-list", "--count", "HEAD") if head else None
            when = _git(top, "log", "-1", "--format=%ct") if head else None
            status = _git(top, "status", "--porcelain", "--untracked-files=no")
            subdir = os.path.relpath(flake_dir, top)
            return SourceTree(
                top=top,
                subdir="" if subdir == "." else subdir,
                kind="git",
                tracked=tracked,
                rev=head,
                rev_count=int(count) if count and count.strip().isdigit() else None,
                last_modified=int(when) if when and when.strip().isdigit() else None,
                dirty=bool(status and status.strip()) or head is None,
            )
    return SourceTree(top=flake_dir, subdir="", kind="path", last_modified=_newest_mtime(flake_dir))


def _newest_mtime(folder: str, limit: int = 20_000) -> int:
    """The newest modification time below ``folder`` (Nix's ``lastModified`` of a path)."""
    newest = 0
    seen = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        for name in filenames + dirnames:
            seen += 1
            if seen > limit:
                return newest
            try:
                newest = max(newest, int(os.lstat(os.path.join(dirpath, name)).st_mtime))
            except OSError:
                continue
    return newest


def file_count(tree: SourceTree, limit: int) -> int:
    """How many files Nix would copy for ``tree``, counted up to ``limit + 1``."""
    if tree.tracked is not None:
        return min(len(tree.tracked), limit + 1)
    seen = 0
    for _dirpath, _dirnames, filenames in os.walk(tree.top):
        seen += len(filenames)
        if seen > limit:
            return limit + 1
    return seen


def tree_store_path(tree: SourceTree, store_io: Any, store_dir: str, filter: Any = None) -> str:
    """The store path of the tree's copy (name ``source``), hashed through ``store_io``
    (``filter``: instead of the tree's own, e.g. one that also checks a budget)."""
    digest = nar_hash_path(tree.top, store_io, filter if filter is not None else tree.filter())
    return make_fixed_output_path("source", "recursive", "sha256", digest, (), store_dir)


def last_modified_date(seconds: int) -> str:
    """Nix's ``lastModifiedDate``: ``%Y%m%d%H%M%S`` in UTC."""
    return time.strftime("%Y%m%d%H%M%S", time.gmtime(seconds))
