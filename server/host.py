"""The analysis host: all analysis state of one helper process, and the
requests it answers.

One ``AnalysisHost`` lives in each helper process (``server.helper``) and is
the only owner of that process's analysis state:

* the documents, mirrored from the server by byte edits (``open``,
  ``change``, ``close``); every helper mirrors every open document (other
  buffers are overlays of an evaluation), but keeps a tree-sitter tree only
  for those routed to it;
* the parsed and lowered files (``AnalysisCache``, installed around each
  request so ``evaluator.ide`` uses it), the outline pieces, workspace
  symbols per file;
* the last evaluation of each document, with the argument values it
  observed (hover inside a function shows them), and hover answers;
* the garbage collector's settings (``configure_gc``, ``maybe_collect``).

Two threads of the helper call it (interactive and background requests,
``server.helper``) while a third applies document edits: the mirror and the
tables change under ``lock``; ``AnalysisCache`` has its own.

Requests
--------
``REQUESTS`` maps a request kind to the method answering it.  Every method
has the shape ``method(self, req: Request, *args) -> result``: ``req`` holds
the document (``req.doc``, None for workspace-wide kinds), the server's
``Context`` (paths evaluation may read, search path, budgets) and the cancel
event of the call.  Arguments and results are small picklable values
(offsets, the evaluator's dataclasses); the server converts results to LSP.

=====================  ================================  =========================
kind                   arguments                         result
=====================  ================================  =========================
``lint``               --                                list[Diagnostic] (syntax + lints)
``evaluate``           --                                ``Evaluated``
``hover``              offset, print depth, budget ms    ``HoverInfo`` or None
``completion``         offset                            list[CompletionItem]
``definition``         offset                            list[Location]
``references``         offset, include declaration       list[Location]
``highlight``          offset                            list[Highlight]
``prepare_rename``     offset                            Span or a refusal (str)
``rename``             offset, new name                  list[Edit] or a refusal
``selection_ranges``   offsets                           list[SelectionRange]
``document_links``     --                                list[DocumentLink]
``signature_help``     offset                            SignatureHelp or None
``code_actions``       (start, end), diagnostics         list[CodeAction]
``inlay_hints``        start, end                        list[InlayHint]
``outline``            encoding                          ``RawJSON`` (DocumentSymbol[])
``semantic_tokens``    encoding                          list[int] (LSP token array)
``workspace_symbols``  roots, query, encoding           list[WorkspaceSymbol]
``project_load``       key, ``ProjectSpec``, version     ``ProjectContext``
=====================  ================================  =========================

``evaluate`` takes an optional ``ProjectRef``: the document is then evaluated
as the project entry that reaches it (``evaluator.project``), so a module's
diagnostics come from the configuration that imports it and hover inside it
sees the arguments that configuration passed.  Contexts are loaded by
``project_load`` in the pool's project loader (a helper of its own, with
``$/progress`` sent back through ``Request.progress``), which also writes the
project's disk snapshot (``evaluator.project.snapshot``); the server keeps
them (plain data) and sends one to a helper with the first evaluation that
needs it there (``ProjectRef.context``), the helper keeps it by project
folder.  Until a document's evaluation has a configuration's options, option
completion, hover and definition answer from the snapshot
(``_snapshot_modules``).

Adding a request kind (e.g. project context: flake inputs, module-system
options) is one method here plus one line in ``REQUESTS`` (and in
``INTERACTIVE`` if the user waits for it and it is quick); the server calls
it with ``ls.pool.call(kind, uri, context, *args)`` (``server.workers``).
State the new kind keeps belongs on this object, evicted in ``forget`` /
``invalidate``.

Memory: the helper runs under an address-space cap (``server.helper``).  An
evaluation that exhausts it ends with an ``eval_limit`` diagnostic naming the
cap, and the host asks its process to restart (``restart_reason``), since
the allocator's state after a ``MemoryError`` is best not trusted.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from evaluator import api, ide
from evaluator.codecache import CodeCache
from evaluator.diagnostics import Diagnostic, Severity
from evaluator.errors import EvalLimit
from evaluator.ide._doc import AnalysisCache, using
from evaluator.ide.option_snapshot import CachedConfiguration, CachedModules
from evaluator.io import OverlayIO
from evaluator.nodes import Source, Span
from evaluator.parse import make_parser
from evaluator.project.context import (
    Entry,
    ProjectContext,
    ProjectSpec,
    evaluate_entry,
    load_context,
)
from evaluator.project.snapshot import ProjectCache

from . import outline as outline_mod
from .analysis import Incremental, Snapshot, static_diagnostics
from .documents import Document
from .wire import Context, ProjectRef

log = logging.getLogger(__name__)


def _rss_mb() -> float:
    """This process's resident memory in MB (0 where /proc is missing)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


#: Documents larger than this keep one version's analysis at a time (``lint``).
LARGE_BYTES = 100_000

#: Hover answers kept (least recently used evicted one by one).
HOVERS_KEPT = 256


class HostDoc:
    """A helper's mirror of one open document."""

    __slots__ = ("uri", "path", "version", "data", "owned", "_tree_doc", "incremental")

    def __init__(
        self, uri: str, path: str | None, version: int | None, data: bytes, owned: bool
    ) -> None:
        self.uri, self.path, self.version, self.data = uri, path, version, data
        self.owned = owned  # routed to this helper: it keeps a tree
        self._tree_doc: Document | None = None
        # A large document's lowering and lints, kept across versions (``lint``).
        self.incremental: Incremental | None = None

    def tree_doc(self, host: AnalysisHost) -> Document:
        """The document with its tree-sitter tree (parsed on first use, then
        reparsed incrementally by ``apply``)."""
        if self._tree_doc is None or self._tree_doc.data is not self.data:
            self._tree_doc = Document.from_bytes(self.uri, self.data, self.version, host.parser)
        self._tree_doc.version = self.version
        return self._tree_doc

    def apply(self, version: int | None, edits: list[tuple[int, int, bytes]]) -> None:
        """The server's byte edits, in order."""
        doc = self._tree_doc if self.owned else None
        for start, old_end, new in edits:
            if doc is not None:
                doc.edit_bytes(start, old_end, new)
                self.data = doc.data
            else:
                self.data = self.data[:start] + new + self.data[old_end:]
        self.version = version
        if doc is not None:
            doc.take_edits()
            doc.version = version
        elif self._tree_doc is not None:
            self._tree_doc = None


@dataclass(frozen=True, slots=True)
class DocView:
    """A document as one request sees it (edits arriving meanwhile do not
    change it)."""

    uri: str
    path: str | None
    version: int | None
    data: bytes


@dataclass
class Request:
    """One call: its document (None for workspace-wide kinds), context and
    cancel event (set by the server's ``cancel``)."""

    doc: DocView | None
    ctx: Context
    cancel: threading.Event = field(default_factory=threading.Event)
    # Reports ``(message, percentage)`` of a long request to the server
    # (``$/progress``); set by the helper for each call.
    progress: Callable[[str, int], None] = lambda _message, _pct: None

    @property
    def d(self) -> DocView:
        """The document (kinds that need one)."""
        assert self.doc is not None, "request needs an open document"
        return self.doc


@dataclass
class Evaluated:
    """What the server gets of an evaluation (its values stay in the helper)."""

    diagnostics: list[Diagnostic]
    value_text: str | None
    elapsed_ms: float
    version: int | None
    # It ended at the memory cap (the helper restarts after answering).
    out_of_memory: bool = False
    # The ``ProjectRef`` named a context this helper has not got (it was
    # restarted): the server sends the call again with the context.
    needs_project: bool = False
    # The files it read: an edit of one makes its values stale (``server.lsp``).
    files: frozenset[str] = frozenset()


class AnalysisHost:
    """The analysis state of one helper process (see the module docstring)."""

    def __init__(self, max_memory_mb: int = 0) -> None:
        self.max_memory_mb = max_memory_mb
        self.docs: dict[str, HostDoc] = {}
        self.by_path: dict[str, HostDoc] = {}
        self.parser = make_parser()
        self.cache = AnalysisCache()
        # Compiled imported files (nixpkgs lib, a project's modules), kept
        # across evaluations and sessions (``evaluator.codecache``).
        self.code_cache = CodeCache.default()
        # uri -> (key, evaluation): the last finished evaluation of each document.
        self.results: dict[str, tuple[Any, api.EvalResult]] = {}
        self.hovers: OrderedDict[Any, api.HoverInfo | None] = OrderedDict()
        self.outlines: dict[str, outline_mod.Outline] = {}
        self.files = outline_mod.WorkspaceFiles()
        # project folder -> (key, context): the contexts evaluations use here.
        self.projects: dict[str, tuple[tuple[str, int], ProjectContext]] = {}
        self._project_cache: Any = None  # ``DiskCache`` of input outputs, made on first load
        # uri -> (context, entry): the project entry a document is evaluated as,
        # set when its evaluation starts; and the disk snapshots of their
        # options read here ((file, key) -> entry -> ``CachedModules``, the
        # last few), which answer option features until an evaluation has its own.
        self.project_entries: dict[str, tuple[ProjectContext, Entry]] = {}
        self.snapshots: OrderedDict[tuple[str, str], dict[Entry, CachedModules]] = OrderedDict()
        # Set when the process should be replaced after the current answer.
        self.restart_reason: str | None = None
        # Two threads use the host (``server.helper``): the document mirror
        # and the tables below change under this lock.  Evaluations replaced
        # while an interactive request may be using their values are
        # released when it ends (``_retired``).
        self.lock = threading.RLock()
        self._interactive = 0
        self._retired: list[api.EvalResult] = []
        self._rss_after_gc = 0.0
        self._calls = 0  # requests since the last full collection

    # --------------------------------------------------- garbage collection

    #: A full collection after this many requests ...
    GC_EVERY_CALLS = 200
    #: ... or when idle, once the RSS grew this much (MB) since the last one.
    GC_GROWTH_MB = 16

    def configure_gc(self) -> None:
        """The one place that sets the cyclic GC of a helper process.

        Lowering and evaluation keep millions of live objects: a high
        young-generation threshold keeps the collector from rescanning them
        (``evaluator.vm`` only ever raises it too), and the objects loaded at
        start-up are moved out of its sight.  With thresholds this high, full
        collections would hardly ever run, and what analyses leave in cycles
        (exception tracebacks, superseded values) would pile up: they are run
        here instead (``maybe_collect``)."""
        gc.set_threshold(200_000, 20, 100)
        gc.freeze()
        self._rss_after_gc = _rss_mb()

    def maybe_collect(self, idle: bool) -> None:
        """A full collection every ``GC_EVERY_CALLS`` requests, or when idle
        and grown by ``GC_GROWTH_MB`` (a second at 40,000 lines, a few
        milliseconds for usual files)."""
        with self.lock:
            due = self._calls >= self.GC_EVERY_CALLS
        if due or (idle and _rss_mb() - self._rss_after_gc >= self.GC_GROWTH_MB):
            gc.collect()
            with self.lock:
                self._calls = 0
            self._rss_after_gc = _rss_mb()

    # ------------------------------------------------------------ documents

    def open(
        self, uri: str, path: str | None, version: int | None, data: bytes, owned: bool
    ) -> None:
        """Mirror a newly opened document (replacing any of that URI)."""
        with self.lock:
            self.close(uri)
            doc = HostDoc(uri, path, version, data, owned)
            self.docs[uri] = doc
            if path:
                self.by_path[path] = doc

    def change(self, uri: str, version: int | None, edits: list[tuple[int, int, bytes]]) -> None:
        """Apply the server's byte edits to the mirror of ``uri``."""
        with self.lock:
            doc = self.docs.get(uri)
            if doc is not None:
                doc.apply(version, edits)

    def close(self, uri: str) -> None:
        """Forget a document and everything computed for it."""
        with self.lock:
            doc = self.docs.pop(uri, None)
            if doc is not None and doc.path and self.by_path.get(doc.path) is doc:
                del self.by_path[doc.path]
            self.forget(uri)

    def forget(self, uri: str) -> None:
        """Drop the results kept for ``uri``."""
        with self.lock:
            old = self.results.pop(uri, None)
            if old is not None:
                self._retire(old[1])
            self.outlines.pop(uri, None)
            self.project_entries.pop(uri, None)
            for key in [k for k in self.hovers if k[0] == uri]:
                del self.hovers[key]

    def invalidate(self) -> None:
        """Files on disk changed: every result may be stale."""
        with self.lock:
            for uri in list(self.results):
                self.forget(uri)
            self.hovers.clear()
            self.cache.clear()
            self.files.clear()

    def _retire(self, result: api.EvalResult) -> None:
        """Release ``result``'s values now, or when no interactive request
        that may use them runs any more (caller holds the lock)."""
        if self._interactive:
            self._retired.append(result)
        else:
            result.release()

    def view(self, uri: str) -> DocView | None:
        """The document ``uri`` as it is now (None if not open)."""
        with self.lock:
            doc = self.docs.get(uri)
            return None if doc is None else DocView(doc.uri, doc.path, doc.version, doc.data)

    def _tree(self, view: DocView) -> tuple[Any, Any]:
        """A private copy of the tree of ``view``'s text, and its line index."""
        with self.lock:
            doc = self.docs.get(view.uri)
            if doc is not None and doc.data is view.data:
                tree_doc = doc.tree_doc(self)
                return tree_doc.tree.copy(), tree_doc.index
        # Edited since the request was made: parse the request's text.
        fresh = Document.from_bytes(view.uri, view.data, view.version, make_parser())
        return fresh.tree, fresh.index

    def text_of(self, path: str | None) -> bytes:
        """The text of the open document at ``path`` (``wire`` puts it back
        into sources sent by reference)."""
        doc = self.by_path.get(path) if path else None
        return doc.data if doc is not None else b""

    def is_open_text(self, source: Source) -> bool:
        """Whether ``source`` is the current text of an open document (then
        the server has it: ``wire`` sends it by reference)."""
        doc = self.by_path.get(source.path) if source.path else None
        return doc is not None and doc.data is source.text

    # ------------------------------------------------------------- helpers

    def _io(self, req: Request) -> OverlayIO:
        """Disk plus the other open buffers, within the context's roots (with
        an entry, the document's own too: it is read through it like any other
        file)."""
        if req.ctx.entry:
            return self._all_buffers_io(req)
        own = req.doc.path if req.doc is not None else None
        with self.lock:
            overlays = {p: d.data for p, d in self.by_path.items() if p != own}
        roots = None if req.ctx.allowed_roots is None else list(req.ctx.allowed_roots)
        return OverlayIO(overlays, roots)

    def _all_buffers_io(self, req: Request) -> OverlayIO:
        """Disk plus every open buffer (the document's own too: it is read
        through an entry like any other file)."""
        with self.lock:
            overlays = {p: d.data for p, d in self.by_path.items()}
        if req.doc is not None and req.doc.path:
            overlays[req.doc.path] = req.doc.data  # as the request saw it
        roots = None if req.ctx.allowed_roots is None else list(req.ctx.allowed_roots)
        return OverlayIO(overlays, roots)

    def _budget(self, req: Request, budget_ms: int) -> api.Budget:
        ctx = req.ctx
        return api.Budget(
            max_steps=ctx.max_steps or None,
            timeout_s=budget_ms / 1000,
            cancel=req.cancel,
            max_values=ctx.max_values or None,
            max_depth=ctx.max_depth or None,
        )

    def _eval_key(self, req: Request) -> Any:
        with self.lock:
            others = tuple(sorted((p, d.version, len(d.data)) for p, d in self.by_path.items()))
        return (req.d.version, len(req.d.data), req.ctx, others)

    def memory_limit_diagnostic(self, doc: DocView, what: str) -> Diagnostic:
        """The ``eval_limit`` diagnostic of an evaluation that hit the memory cap."""
        cap = f"{self.max_memory_mb} MB" if self.max_memory_mb else "the available memory"
        src = Source(doc.data, doc.path, None if doc.path else "«buffer»")
        return Diagnostic(
            "eval_limit",
            Severity.ERROR,
            f"evaluation limit: {what} used more than {cap} of memory "
            f"(nixlens.eval.maxMemoryMB); its helper process was restarted",
            Span(src, 0, 0),
        )

    # ------------------------------------------------------------ requests

    def lint(self, req: Request) -> list[Diagnostic]:
        """Syntax errors and lints of the document.

        A large document keeps one version's analysis at a time: its last
        evaluation (whose values hold the previous version's tree) is
        released before the new text is lowered, not after it is evaluated
        (a hover meanwhile waits for the new parse anyway)."""
        if len(req.d.data) > LARGE_BYTES:
            with self.lock:
                old = self.results.get(req.d.uri)
                if old is not None and old[0][0] != req.d.version:
                    del self.results[req.d.uri]
                    self._retire(old[1])
        tree, _index = self._tree(req.d)
        incremental = None
        if len(req.d.data) > LARGE_BYTES:
            # Only the background thread lints: the state is never shared.
            with self.lock:
                doc = self.docs.get(req.d.uri)
                if doc is not None and doc.owned:
                    if doc.incremental is None:
                        doc.incremental = Incremental(doc.path)
                    incremental = doc.incremental
        return static_diagnostics(
            Snapshot(req.d.data, tree, req.d.version), req.d.path, incremental
        )

    def evaluate(self, req: Request, project: ProjectRef | None = None) -> Evaluated:
        """Evaluate the document (or the context's entry, or the project entry
        that reaches it); the result is kept for hovers; a superseded one is
        released."""
        doc = req.d
        key = (*self._eval_key(req), project)  # [0]: the version (``lint``)
        cached = self.results.get(doc.uri)
        result: api.EvalResult | None = None
        ctx = self._project(project) if project is not None else None
        if project is not None and ctx is None:
            return Evaluated([], None, 0.0, doc.version, needs_project=True)
        if project is not None and ctx is not None:
            with self.lock:
                self.project_entries[doc.uri] = (ctx, project.entry)
        if cached is not None and cached[0] == key:
            result = cached[1]
        else:
            try:
                if project is not None and ctx is not None:
                    result = evaluate_entry(
                        ctx,
                        project.entry,
                        io=self._all_buffers_io(req),
                        budget=self._budget(req, req.ctx.budget_ms),
                        search_path=list(req.ctx.search_path),
                        path=doc.path,
                        text=doc.data,
                        code_cache=self.code_cache,
                    )
                else:
                    result = api.evaluate(
                        doc.data,
                        doc.path,
                        io=self._io(req),
                        budget=self._budget(req, req.ctx.budget_ms),
                        search_path=list(req.ctx.search_path),
                        entry=req.ctx.entry or None,
                        code_cache=self.code_cache,
                    )
            except MemoryError:
                result = None
            if result is None:  # out of memory: the partial values are gone with the frame
                gc.collect()
                self.restart_reason = "an evaluation reached the memory cap"
                diag = self.memory_limit_diagnostic(doc, "this evaluation")
                return Evaluated([diag], None, 0.0, doc.version, out_of_memory=True)
            if req.cancel.is_set():
                result.release()
                raise EvalLimit("evaluation cancelled", "cancelled")
            with self.lock:
                old = self.results.get(doc.uri)
                self.results[doc.uri] = (key, result)
                if old is not None:
                    self._retire(old[1])
        assert result is not None
        return Evaluated(
            list(result.diagnostics),
            result.value_text,
            result.elapsed_ms,
            doc.version,
            files=frozenset(result.files),
        )

    def hover(self, req: Request, offset: int, print_depth: int, budget_ms: int) -> Any:
        """The value at ``offset`` (with the argument values the document's
        last evaluation observed); complete answers are kept."""
        doc = req.d
        with self.lock:
            cached = self.results.get(doc.uri)
            last = cached[1] if cached is not None else None
            observed = last.observed if last is not None else None
        # Options from the project's disk snapshot until an evaluation has its own.
        context: Any = last.context if last is not None else None
        origin = last.origin if last is not None else None
        if context is None:
            context = self._snapshot_modules(doc)
        ids = (id(observed), id(context))
        key = (doc.uri, doc.version, len(doc.data), ids, offset, print_depth, req.ctx)
        with self.lock:
            if key in self.hovers:
                self.hovers.move_to_end(key)
                return self.hovers[key]
        try:
            info = api.hover(
                doc.data,
                doc.path,
                offset,
                observed=observed,
                io=self._io(req),
                budget=self._budget(req, budget_ms),
                print_depth=print_depth,
                search_path=list(req.ctx.search_path),
                context=context,
                origin=origin,
                code_cache=self.code_cache,
                base_dir=last.bases.get(doc.path or "") if last is not None else None,
                workspaces=last.workspaces if last is not None else (),
            )
        except EvalLimit as err:
            # The budget ran out before the value was evaluated (parsing a
            # large file counts too): say so, as for a value that takes too long.
            return api.HoverInfo(f"*stopped after {budget_ms} ms* ({err.msg})", None, None, False)  # type: ignore[arg-type]
        if info is None or info.complete:
            with self.lock:
                self.hovers[key] = info
                while len(self.hovers) > HOVERS_KEPT:
                    self.hovers.popitem(last=False)
        return info

    def _values(self, req: Request) -> dict[str, Any]:
        """The values of the document's last evaluation, as keyword arguments
        of the ``evaluator.ide`` analyses: the arguments it called the
        document's functions with (``observed``) and its module-system
        configurations (``context``); only those it has.  Interactive kinds
        only: their results are not released while they run (``_retire``)."""
        with self.lock:
            cached = self.results.get(req.d.uri)
        extra: dict[str, Any] = {}
        result = cached[1] if cached is not None else None
        if result is not None and result.observed:
            extra["observed"] = result.observed
        if result is not None and result.context is not None:
            extra["context"] = result.context
        else:
            snapshot = self._snapshot_modules(req.d)
            if snapshot is not None:
                extra["context"] = snapshot
        return extra

    #: Option snapshots kept in memory (one per project and version of it).
    SNAPSHOTS_KEPT = 2

    def _snapshot_modules(self, doc: DocView) -> CachedModules | None:
        """The options of the configuration entry ``doc`` is evaluated as, from
        the project's disk snapshot, while no evaluation has given its own
        (None: no snapshot).  Like a last evaluation, it stands until the
        next one replaces it (the server checked it against the files and
        buffers when the context was loaded; a save loads it again)."""
        with self.lock:
            held = self.project_entries.get(doc.uri)
        if held is None:
            return None
        ctx, entry = held
        if ctx.cache_file is None or ctx.cache_key is None or entry.kind != "configuration":
            return None
        ref = (ctx.cache_file, ctx.cache_key)
        with self.lock:
            views = self.snapshots.get(ref)
        if views is None:
            # One object per entry: hover answers are kept by its identity.
            trees = ProjectCache.load_options(*ref) or {}
            views = {}
            for r in ctx.entries:
                tree = trees.get(r.entry.attr_path)
                if tree is not None and r.entry.kind == "configuration":
                    label = f"{r.entry.label} (options from the disk cache)"
                    views[r.entry] = CachedModules([(CachedConfiguration(tree, label), r.files)])
            with self.lock:
                self.snapshots[ref] = views
                while len(self.snapshots) > self.SNAPSHOTS_KEPT:
                    self.snapshots.popitem(last=False)
        return views.get(entry)

    def completion(self, req: Request, offset: int) -> list[ide.CompletionItem]:
        """Completion items at ``offset`` (option paths and attributes of the
        values the last evaluation saw, too)."""
        d = req.d
        return ide.completion(d.data, d.path, offset, self._io(req), **self._values(req))

    def definition(self, req: Request, offset: int) -> list[ide.Location]:
        """Where the name (or option) at ``offset`` is defined."""
        d = req.d
        return ide.definition(d.data, d.path, offset, self._io(req), **self._values(req))

    def references(self, req: Request, offset: int, include: bool) -> list[ide.Location]:
        """Uses of the name at ``offset``."""
        return ide.references(req.d.data, req.d.path, offset, include)

    def highlight(self, req: Request, offset: int) -> list[ide.Highlight]:
        """Reads and writes of the name at ``offset`` in this document."""
        return ide.document_highlight(req.d.data, req.d.path, offset)

    def prepare_rename(self, req: Request, offset: int) -> Any:
        """The span of the renamable name at ``offset``, or why not."""
        return ide.prepare_rename(req.d.data, req.d.path, offset)

    def rename(self, req: Request, offset: int, new_name: str) -> Any:
        """The edits renaming the name at ``offset``, or why not."""
        return ide.rename(req.d.data, req.d.path, offset, new_name)

    def selection_ranges(self, req: Request, offsets: list[int]) -> list[ide.SelectionRange]:
        """Nested ranges around each offset."""
        return ide.selection_ranges(req.d.data, offsets)

    def document_links(self, req: Request) -> list[ide.DocumentLink]:
        """Paths in the document that name existing files."""
        return ide.document_links(req.d.data, req.d.path, self._io(req))

    def signature_help(self, req: Request, offset: int) -> ide.SignatureHelp | None:
        """The signature of the function being applied at ``offset``."""
        return ide.signature_help(req.d.data, req.d.path, offset, self._io(req))

    def code_actions(
        self, req: Request, span_range: tuple[int, int], diags: list[Diagnostic]
    ) -> list[ide.CodeAction]:
        """Fixes and refactorings for a range."""
        return ide.code_actions(req.d.data, req.d.path, span_range, diags)

    def inlay_hints(self, req: Request, start: int, end: int) -> list[ide.InlayHint]:
        """Evaluated values of cheap bindings in ``[start, end)``."""
        d = req.d
        return ide.inlay_hints(d.data, d.path, start, end, self._io(req), **self._values(req))

    def outline(self, req: Request, encoding: str) -> Any:
        """The document's outline as DocumentSymbol[] JSON (``RawJSON``),
        rebuilt from the previous version's unchanged pieces."""
        tree, index = self._tree(req.d)
        with self.lock:
            state = self.outlines.setdefault(req.d.uri, outline_mod.Outline())
        return state.answer(req.d.data, tree, index, encoding)

    def semantic_tokens(self, req: Request, encoding: str) -> list[int]:
        """The document's semantic tokens (LSP integer array) from its tree."""
        from . import highlight  # with lsprotocol: only when first asked for

        tree, index = self._tree(req.d)
        return highlight.encode_tokens(highlight.compute_tokens(tree.root_node, index, encoding))

    def workspace_symbols(
        self, req: Request, roots: list[str], query: str, encoding: str
    ) -> list[Any]:
        """Matching symbols of the workspace's files (open buffers instead of
        their files), each file's symbols kept until it changes."""
        with self.lock:
            buffers = {p: d.data for p, d in self.by_path.items()}
        return self.files.search(roots, buffers, query, encoding)

    # ------------------------------------------------------------ projects

    def project_load(
        self, req: Request, key: tuple[str, int], spec: ProjectSpec, version: str
    ) -> ProjectContext:
        """Load the context of project ``spec``: its inputs, its entries, each
        evaluated once for the files it reaches (progress goes to the server).
        Kept here under ``key`` for this helper's evaluations."""
        from evaluator.project.cache import DiskCache, default_cache_dir
        from evaluator.project.snapshot import cache_enabled

        if self._project_cache is None:
            folder = default_cache_dir() if cache_enabled() else None
            self._project_cache = DiskCache(folder, version)
        ctx = load_context(
            spec,
            io=self._all_buffers_io(req),
            search_path=list(req.ctx.search_path),
            cancel=req.cancel,
            cache=self._project_cache,
            progress=req.progress,
            snapshots=ProjectCache.default(version),
        )
        with self.lock:
            self.projects[spec.root] = (key, ctx)
        return ctx

    def _project(self, ref: ProjectRef) -> ProjectContext | None:
        """The context ``ref`` names (keeping the one it brings); None when
        this helper has not got it."""
        root = ref.key[0]
        with self.lock:
            if ref.context is not None:
                self.projects[root] = (ref.key, ref.context)
                return ref.context
            held = self.projects.get(root)
        return held[1] if held is not None and held[0] == ref.key else None

    # -------------------------------------------------------------- driver

    def run(self, kind: str, req: Request, args: tuple[Any, ...]) -> Any:
        """Answer one request (with this host's analysis cache installed)."""
        method = REQUESTS.get(kind)
        if method is None:
            raise ValueError(f"unknown request kind {kind!r}")
        interactive = kind in INTERACTIVE
        with self.lock:
            self._calls += 1
            if interactive:
                self._interactive += 1
        try:
            with using(self.cache):
                return method(self, req, *args)
        finally:
            if interactive:
                with self.lock:
                    self._interactive -= 1
                    retired = self._retired if not self._interactive else []
                    if retired:
                        self._retired = []
                for result in retired:
                    result.release()


#: The requests a helper answers: kind -> method (see the module docstring).
REQUESTS: dict[str, Callable[..., Any]] = {
    "lint": AnalysisHost.lint,
    "evaluate": AnalysisHost.evaluate,
    "hover": AnalysisHost.hover,
    "completion": AnalysisHost.completion,
    "definition": AnalysisHost.definition,
    "references": AnalysisHost.references,
    "highlight": AnalysisHost.highlight,
    "prepare_rename": AnalysisHost.prepare_rename,
    "rename": AnalysisHost.rename,
    "selection_ranges": AnalysisHost.selection_ranges,
    "document_links": AnalysisHost.document_links,
    "signature_help": AnalysisHost.signature_help,
    "code_actions": AnalysisHost.code_actions,
    "inlay_hints": AnalysisHost.inlay_hints,
    "outline": AnalysisHost.outline,
    "semantic_tokens": AnalysisHost.semantic_tokens,
    "workspace_symbols": AnalysisHost.workspace_symbols,
    "project_load": AnalysisHost.project_load,
}

#: Kinds answered on the helper's interactive thread: quick, asked by the
#: user, so they never wait behind a lint or an evaluation of the helper's
#: documents (the two threads share the interpreter).  Other kinds run one
#: at a time, in order, on the background thread.
INTERACTIVE = frozenset(
    {
        "hover",
        "completion",
        "definition",
        "references",
        "highlight",
        "prepare_rename",
        "rename",
        "selection_ranges",
        "document_links",
        "signature_help",
        "code_actions",
        "inlay_hints",
        # From the tree-sitter tree alone: a second at 40,000 lines, better
        # than waiting for the document's lints and evaluation.
        "semantic_tokens",
    }
)
