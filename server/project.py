"""Project contexts in the server process: which project a document is in,
loading its context in a helper, ``$/progress``, and the entry to evaluate.

For a document inside a project (``evaluator.project``: a flake, or a folder
with ``default.nix``), the server has the project's context loaded once (its
inputs, its entries and which files each reaches) by the pool's project
loader (the ``project_load`` request of ``server.host`` in a helper process
of its own, ``Pool.call_loader``), reporting ``$/progress`` when the client
supports server-initiated progress.  The loader keeps the context and its
configurations' options on disk (``evaluator.project.snapshot``): when
everything that load read is unchanged, the next server takes the context
from there at once (``_from_snapshot``), and the document's helper answers
option features from the snapshot until its own evaluation has them.  The context is plain
data: the server keeps it (no evaluation here) until ``flake.nix`` /
``flake.lock`` (or another file the context watches) change -- an edit
cancels a load in flight and the next evaluation starts a new one -- or a
file is saved.

Two hooks into the evaluation path (``server.lsp``):

* ``project_ref`` -- the document's evaluation becomes the entry that reaches
  it (``wire.ProjectRef``), evaluated in the document's own helper, so a
  module's diagnostics come from the configuration that imports it and hover
  inside it (and option completion, go to definition, inlay hints: every
  request of that helper reads its last evaluation) sees the arguments that
  evaluation passed;
* ``problems_for`` -- the project's own diagnostics (a missing input, a
  broken lock) on ``flake.nix``.

``nixlens.eval.entry`` set: no project evaluation (the setting wins).  An
untrusted workspace evaluates nothing, so it loads no project either.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from evaluator.diagnostics import Diagnostic
from evaluator.io import OverlayIO
from evaluator.project.context import (
    ENTRY_BUDGET_S,
    LOAD_BUDGET_S,
    ProjectContext,
    ProjectSpec,
    find_project,
)
from evaluator.project.snapshot import ProjectCache
from evaluator.project.source import describe_tree

from .wire import ProjectRef
from .workers import GRACE_S, CallCancelled, HelperDied, HelperError

if TYPE_CHECKING:
    from .core import NixLensServer
    from .documents import Document

log = logging.getLogger(__name__)

#: Seconds a ``project_load`` call may run before its helper is killed: the
#: whole-load budget, the entry that was running at its end, and the grace.
LOAD_TIMEOUT_S = LOAD_BUDGET_S + ENTRY_BUDGET_S + GRACE_S


@dataclass(frozen=True)
class Loaded:
    """A loaded context and the key that names it in the helpers."""

    key: tuple[str, int]
    context: ProjectContext


class Projects:
    """The project contexts of one server, by project folder."""

    def __init__(
        self, version: str, on_loaded: Callable[[str, set[str]], None] | None = None
    ) -> None:
        self.version = version  # of the disk cache's entries
        # Loaded contexts kept on disk (``evaluator.project.snapshot``).
        self.snapshots = ProjectCache.default(version)
        # Called with the project folder and the URIs waiting for it when a
        # new context is ready (the server evaluates the others again in it).
        self.on_loaded = on_loaded
        self.loaded: dict[str, Loaded] = {}
        self._loading: dict[str, asyncio.Task[Loaded]] = {}
        self._waiting: dict[str, set[str]] = {}
        self._keys = itertools.count(1)
        # (helper generation, key): the helpers known to hold a context.
        self.delivered: set[tuple[int, tuple[str, int]]] = set()

    def spec_for(self, ls: NixLensServer, path: str | None) -> ProjectSpec | None:
        """The project ``path`` is in (None outside any, or with an entry set)."""
        if path is None or ls.settings.eval.entry:
            return None
        store = os.environ.get("NIX_STORE_DIR") or "/nix/store"
        return find_project(path, ls.workspace_roots(), store)

    async def context(self, ls: NixLensServer, spec: ProjectSpec, doc: Document) -> Loaded | None:
        """The loaded context of ``spec`` (loading it first in ``doc``'s helper);
        None when loading failed."""
        waiting = self._waiting.setdefault(spec.root, set())
        waiting.add(doc.uri)
        try:
            # A load superseded by an edit of flake.nix is started again.
            for _ in range(5):
                held = self.loaded.get(spec.root)
                if held is not None and held.context.spec == spec:
                    return held
                task = self._loading.get(spec.root)
                if task is None:
                    task = self._start(ls, spec, doc)
                try:
                    return await asyncio.shield(task)
                except asyncio.CancelledError:
                    me = asyncio.current_task()
                    if me is not None and me.cancelling():
                        raise  # this request itself was cancelled
                except (HelperDied, HelperError, CallCancelled) as err:
                    log.warning("loading the project %s failed: %s", spec.root, err)
                    return None
            return None
        finally:
            waiting.discard(doc.uri)

    def _start(self, ls: NixLensServer, spec: ProjectSpec, doc: Document) -> asyncio.Task[Loaded]:
        key = (spec.root, next(self._keys))
        task = asyncio.get_running_loop().create_task(self._load(ls, spec, doc, key))
        self._loading[spec.root] = task
        return task

    async def _load(
        self, ls: NixLensServer, spec: ProjectSpec, doc: Document, key: tuple[str, int]
    ) -> Loaded:
        reporter = _Progress(ls, spec)
        reporter.begin()
        try:
            ctx = await self._from_snapshot(ls, spec, doc)
            if ctx is None:
                # In the pool's loader: the helpers' other work goes on meanwhile.
                ctx = await ls.pool.call_loader(
                    "project_load",
                    doc.uri,
                    ls.context(doc),
                    key,
                    spec,
                    self.version,
                    timeout=LOAD_TIMEOUT_S,
                    progress=reporter.report,
                )
        finally:
            reporter.end()
            if self._loading.get(spec.root) is asyncio.current_task():
                del self._loading[spec.root]
        loaded = Loaded(key, ctx)
        self.loaded[spec.root] = loaded
        log.info(
            "project %s loaded in %.0f ms: %d entries, %d problems",
            spec.root,
            ctx.elapsed_ms,
            len(ctx.entries),
            len(ctx.problems),
        )
        if self.on_loaded is not None:
            self.on_loaded(spec.root, set(self._waiting.get(spec.root, ())))
        return loaded

    async def _from_snapshot(
        self, ls: NixLensServer, spec: ProjectSpec, doc: Document
    ) -> ProjectContext | None:
        """The context from the project's disk snapshot, when everything it
        read is unchanged (open buffers included); checked off the event loop."""
        if self.snapshots.directory is None:
            return None
        wire_ctx = ls.context(doc)
        overlays: dict[str, bytes] = {}
        for other in ls.documents:
            path = to_fs_path(other.uri) if other.uri.startswith("file:") else None
            if path is not None:
                overlays[path] = other.data
        roots = None if wire_ctx.allowed_roots is None else list(wire_ctx.allowed_roots)
        io = OverlayIO(overlays, roots)

        def check() -> ProjectContext | None:
            t0 = time.monotonic()
            tree = describe_tree(spec.root) if spec.kind == "flake" else None
            ctx = self.snapshots.load_context(spec, wire_ctx.search_path, io, tree)
            if ctx is not None:
                log.info(
                    "project %s: context and options from the disk cache (checked in %.0f ms)",
                    spec.root,
                    (time.monotonic() - t0) * 1000,
                )
            return ctx  # type: ignore[no-any-return]

        try:
            return await asyncio.to_thread(check)
        except Exception:  # noqa: BLE001 - the cache is a shortcut: load instead
            log.exception("checking the project snapshot of %s failed", spec.root)
            return None

    def invalidate(self, path: str | None = None) -> None:
        """Forget contexts (all, or those ``path`` defines) and stop their loads."""
        for root in list(self.loaded) + list(self._loading):
            held = self.loaded.get(root)
            watched = held.context.watched if held is not None else ()
            if path is None or path in watched or _defines(root, path):
                self.loaded.pop(root, None)
                self.delivered = {d for d in self.delivered if d[1][0] != root}
                task = self._loading.pop(root, None)
                if task is not None:
                    task.cancel()  # cancels its helper call (``Pool.call``)

    def problems_for(self, path: str | None, text: bytes) -> list[Diagnostic]:
        """The project's own diagnostics that belong on the file ``path``."""
        if path is None:
            return []
        out: list[Diagnostic] = []
        for held in self.loaded.values():
            out.extend(p.diagnostic(text) for p in held.context.problems if p.path == path)
        return out

    def ref(self, ls: NixLensServer, uri: str, loaded: Loaded, path: str) -> ProjectRef | None:
        """The reference to the entry reaching ``path``, with the context when
        ``uri``'s helper has not got it yet (None: no entry reaches it)."""
        entry = loaded.context.entry_for(path)
        if entry is None:
            return None
        generation = ls.pool.helper_for(uri).generation
        if (generation, loaded.key) in self.delivered:
            return ProjectRef(loaded.key, entry)
        self.delivered.add((generation, loaded.key))
        return ProjectRef(loaded.key, entry, loaded.context)

    def with_context(self, ref: ProjectRef) -> ProjectRef:
        """``ref`` carrying its context (for a helper that lost it)."""
        held = self.loaded.get(ref.key[0])
        if held is None or held.key != ref.key:
            return ref
        return ProjectRef(ref.key, ref.entry, held.context)

    def shutdown(self) -> None:
        """Stop every load in flight."""
        for task in self._loading.values():
            task.cancel()
        self._loading.clear()


def _defines(root: str, path: str) -> bool:
    return os.path.dirname(path) == root and os.path.basename(path) in (
        "flake.nix",
        "flake.lock",
    )


async def project_ref(ls: NixLensServer, doc: Document, path: str | None) -> ProjectRef | None:
    """The project entry ``doc`` (at ``path``) is evaluated as (None: its own value)."""
    spec = ls.projects.spec_for(ls, path)
    if spec is None or path is None:
        return None
    loaded = await ls.projects.context(ls, spec, doc)
    if loaded is None:
        return None
    return ls.projects.ref(ls, doc.uri, loaded, path)


class _Progress:
    """``$/progress`` of one load (nothing when the client cannot show it)."""

    def __init__(self, ls: NixLensServer, spec: ProjectSpec) -> None:
        self.ls = ls
        self.title = f"nixlens: loading {os.path.basename(spec.root) or spec.root}"
        self.enabled = ls.client_supports("window.work_done_progress")
        self.token = f"nixlens-project-{uuid.uuid4().hex}"
        self.begun = False
        self.ended = False

    def begin(self) -> None:
        if not self.enabled:
            return

        def created(*_args: Any) -> None:
            if self.ended:
                return
            self.begun = True
            self.ls.work_done_progress.begin(
                self.token,
                types.WorkDoneProgressBegin(title=self.title, percentage=0, cancellable=False),
            )

        try:
            self.ls.work_done_progress.create(self.token, created)
        except Exception:  # noqa: BLE001 - progress is a courtesy
            log.exception("window/workDoneProgress/create failed")
            self.enabled = False

    def report(self, message: str, percentage: int) -> None:
        if self.begun and not self.ended:
            self.ls.work_done_progress.report(
                self.token,
                types.WorkDoneProgressReport(message=message, percentage=min(100, percentage)),
            )

    def end(self) -> None:
        if self.begun and not self.ended:
            self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message="ready"))
        self.ended = True
