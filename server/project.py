"""Project contexts in the server: load them off the event loop, show progress, use them.

For a document inside a project (``evaluator.project``: a flake, or a folder
with ``default.nix``), the server loads the project's context once (its
inputs, its entries and which files each reaches) in a worker thread,
reporting ``$/progress`` when the client supports server-initiated progress,
and keeps it until ``flake.nix``/``flake.lock`` change (an edit cancels a
load in flight and starts a new one) or a file is saved.

Two small hooks into the evaluation path (``server.lsp``):

* ``prepare_job`` -- the document's evaluation becomes the entry that reaches
  it (``Job.project``/``Job.project_entry``), so a module's diagnostics come
  from the configuration that imports it and its functions see the arguments
  that evaluation passed;
* ``problems_for`` -- the project's own diagnostics (a missing input, a
  broken lock) on ``flake.nix``.

``nixlens.eval.entry`` set: no project evaluation (the setting wins).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls.uris import to_fs_path

from evaluator.diagnostics import Diagnostic
from evaluator.errors import Cancelled
from evaluator.project.cache import DiskCache, default_cache_dir
from evaluator.project.context import ProjectContext, ProjectSpec, find_project, load_context

if TYPE_CHECKING:
    from .documents import Document
    from .evaluation import Job
    from .lsp import NixLensServer

log = logging.getLogger(__name__)


@dataclasses.dataclass
class _Loading:
    cancel: threading.Event
    future: asyncio.Future[ProjectContext]


class Projects:
    """The loaded project contexts of one server, by project folder."""

    def __init__(self, version: str, on_loaded: Callable[[str], None] | None = None) -> None:
        self.version = version
        # Called with the project folder when a new context is ready (the
        # server re-evaluates the project's other open documents in it).
        self.on_loaded = on_loaded
        self.contexts: dict[str, ProjectContext] = {}
        self._loading: dict[str, _Loading] = {}
        self.cache = DiskCache(default_cache_dir(), version)

    def spec_for(self, ls: NixLensServer, path: str | None) -> ProjectSpec | None:
        """The project ``path`` is in (None outside any)."""
        if path is None or ls.settings.eval.entry:
            return None
        folders = [p for f in ls.workspace.folders.values() if (p := to_fs_path(f.uri))]
        store = os.environ.get("NIX_STORE_DIR") or "/nix/store"
        return find_project(path, folders, store)

    async def context(
        self, ls: NixLensServer, spec: ProjectSpec, allowed_roots: tuple[str, ...] | None = None
    ) -> ProjectContext | None:
        """The loaded context of ``spec`` (loading it first, reading only ``allowed_roots``
        when given: the sandbox); None if the load was superseded."""
        ctx = self.contexts.get(spec.root)
        if ctx is not None and ctx.spec == spec:
            return ctx
        loading = self._loading.get(spec.root)
        if loading is None:
            loading = self._start(ls, spec, allowed_roots)
        try:
            ctx = await asyncio.shield(loading.future)
        except (Cancelled, asyncio.CancelledError):
            if loading.cancel.is_set():
                return None
            raise
        except Exception:
            log.exception("loading the project %s failed", spec.root)
            return None
        finally:
            if self._loading.get(spec.root) is loading and loading.future.done():
                del self._loading[spec.root]
        if loading.cancel.is_set():
            return None
        if self.contexts.get(spec.root) is not ctx:
            self.contexts[spec.root] = ctx
            if self.on_loaded is not None:
                self.on_loaded(spec.root)
        return ctx

    def _start(
        self, ls: NixLensServer, spec: ProjectSpec, allowed_roots: tuple[str, ...] | None
    ) -> _Loading:
        loop = asyncio.get_running_loop()
        cancel = threading.Event()
        reporter = _Progress(ls, spec)
        search = _search_path(ls)
        overlays = _overlays(ls)  # read here, on the event loop

        def progress(message: str, percentage: int) -> None:
            loop.call_soon_threadsafe(reporter.report, message, percentage)

        def run() -> ProjectContext:
            from evaluator.io import OverlayIO

            roots = None if allowed_roots is None else list(allowed_roots)
            io = OverlayIO(overlays, roots)
            try:
                return load_context(
                    spec,
                    io=io,
                    search_path=search,
                    cancel=cancel,
                    cache=self.cache,
                    progress=progress,
                )
            finally:
                loop.call_soon_threadsafe(reporter.end)

        reporter.begin()
        future = loop.run_in_executor(None, run)
        loading = _Loading(cancel, future)
        self._loading[spec.root] = loading
        return loading

    def invalidate(self, path: str | None = None) -> None:
        """Forget contexts (all, or those ``path`` defines) and stop their loads."""
        for root in list(self.contexts) + list(self._loading):
            ctx = self.contexts.get(root)
            watched = ctx.watched if ctx is not None else ()
            if path is None or path in watched or _defines(root, path):
                self.contexts.pop(root, None)
                loading = self._loading.pop(root, None)
                if loading is not None:
                    loading.cancel.set()

    def problems_for(self, path: str | None, text: bytes) -> list[Diagnostic]:
        """The project's own diagnostics that belong on the file ``path``."""
        if path is None:
            return []
        out: list[Diagnostic] = []
        for ctx in self.contexts.values():
            out.extend(p.diagnostic(text) for p in ctx.problems if p.path == path)
        return out

    def shutdown(self) -> None:
        """Stop every load in flight."""
        for loading in self._loading.values():
            loading.cancel.set()
        self._loading.clear()


def _defines(root: str, path: str) -> bool:
    return os.path.dirname(path) == root and os.path.basename(path) in (
        "flake.nix",
        "flake.lock",
    )


def _overlays(ls: NixLensServer) -> dict[str, bytes]:
    out = {}
    for doc in ls.documents:
        p = to_fs_path(doc.uri)
        if p:
            out[p] = doc.data
    return out


def _search_path(ls: NixLensServer) -> tuple[str, ...]:
    from evaluator.eval import search_path_entries

    return tuple(search_path_entries(ls.settings.search_path))


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


async def prepare_job(ls: NixLensServer, doc: Document, job: Job) -> Job:
    """``job`` evaluating the project entry that reaches ``doc`` (unchanged when none does)."""
    spec = ls.projects.spec_for(ls, job.path)
    if spec is None or job.path is None:
        return job
    ctx = await ls.projects.context(ls, spec, job.allowed_roots)
    if ctx is None:
        return job
    entry = ctx.entry_for(job.path)
    if entry is None:
        return job
    return dataclasses.replace(job, project=ctx, project_entry=entry)


def ready_job(ls: NixLensServer, job: Job) -> Job:
    """Like ``prepare_job`` for requests that must not wait: only a context already loaded."""
    spec = ls.projects.spec_for(ls, job.path)
    if spec is None or job.path is None:
        return job
    ctx = ls.projects.contexts.get(spec.root)
    entry = ctx.entry_for(job.path) if ctx is not None else None
    if ctx is None or entry is None:
        return job
    return dataclasses.replace(job, project=ctx, project_entry=entry)
