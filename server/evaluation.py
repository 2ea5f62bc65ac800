"""Evaluation and hover off the event loop: worker threads, budgets, cancellation, caching.

This is where the server calls the evaluator's API (``evaluator.api.evaluate``
and ``evaluator.api.hover``), in ``_run_evaluate`` and ``_run_hover``.

* One evaluation in flight per document: starting a new one (or ``cancel``)
  sets the old one's ``Budget.cancel`` event, and the VM stops at its next
  check.  A cancelled evaluation's result is never returned.
* Results are cached per ``Job.key()`` (document version, text, settings and
  the other open buffers), so re-asking for the same version is free.
* The caller publishes a result only if the document is still open at the
  version the job was made for (``server.lsp`` checks); older ones are stale.
* Threads, not processes: hover needs the argument values the last
  evaluation observed (live VM values), and the VM never blocks on I/O for
  long.  Budgets bound the time each run holds the interpreter.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from evaluator import api
from evaluator.codecache import CodeCache
from evaluator.io import OverlayIO

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    """Everything one evaluation of one document version depends on."""

    uri: str
    version: int | None
    path: str | None
    data: bytes
    # Unsaved contents of the other open documents, by file path.
    overlays: dict[str, bytes] = field(default_factory=dict)
    allowed_roots: tuple[str, ...] | None = None
    search_path: tuple[str, ...] = ()
    entry: str | None = None
    budget_ms: int = 2000
    max_steps: int | None = 5_000_000
    max_values: int | None = 10_000_000
    max_depth: int | None = 2_500_000
    # The project entry that reaches this document (``server.project``): the
    # evaluation is that entry's instead of the document's own value.
    project: Any = None
    project_entry: Any = None

    def key(self) -> tuple[Any, ...]:
        """Cache key: equal keys give equal results."""
        digest = hashlib.blake2b(self.data, digest_size=16)
        for path in sorted(self.overlays):
            digest.update(path.encode("utf-8", "surrogatepass") + b"\0")
            digest.update(hashlib.blake2b(self.overlays[path], digest_size=16).digest())
        return (
            self.version,
            digest.hexdigest(),
            self.allowed_roots,
            self.search_path,
            self.entry,
            self.budget_ms,
            self.max_steps,
            self.max_values,
            self.max_depth,
            None if self.project is None else (self.project.spec, self.project.elapsed_ms),
            self.project_entry,
        )

    def io(self) -> OverlayIO:
        """The file access of this job: disk plus the unsaved buffers."""
        roots = None if self.allowed_roots is None else list(self.allowed_roots)
        return OverlayIO(self.overlays, roots)

    def budget(self, budget_ms: int, cancel: threading.Event) -> api.Budget:
        return api.Budget(
            max_steps=self.max_steps,
            timeout_s=budget_ms / 1000,
            cancel=cancel,
            max_values=self.max_values,
            max_depth=self.max_depth,
        )


def _run_evaluate(job: Job, cancel: threading.Event, code_cache: Any) -> api.EvalResult:
    """Worker thread: evaluate the document (the evaluator API call)."""
    if job.project is not None and job.project_entry is not None:
        from evaluator.project.context import evaluate_entry

        io = job.io()
        if job.path is not None:
            io.overlays[job.path] = job.data  # the document's own text too
        return evaluate_entry(
            job.project,
            job.project_entry,
            io=io,
            budget=job.budget(job.budget_ms, cancel),
            search_path=list(job.search_path),
        )
    return api.evaluate(
        job.data,
        job.path,
        io=job.io(),
        budget=job.budget(job.budget_ms, cancel),
        search_path=list(job.search_path),
        entry=job.entry or None,
        code_cache=code_cache,
    )


def _run_hover(
    job: Job,
    offset: int,
    print_depth: int,
    budget_ms: int,
    observed: dict[Any, Any] | None,
    cancel: threading.Event,
    code_cache: Any,
) -> api.HoverInfo | None:
    """Worker thread: the value at ``offset`` (the evaluator API call)."""
    return api.hover(
        job.data,
        job.path,
        offset,
        observed=observed,
        io=job.io(),
        budget=job.budget(budget_ms, cancel),
        print_depth=print_depth,
        search_path=list(job.search_path),
        code_cache=code_cache,
    )


# Hover answers kept per document version.
_HOVERS_KEPT = 256


@dataclass
class _InFlight:
    key: tuple[Any, ...]
    cancel: threading.Event
    future: asyncio.Future[api.EvalResult]


class Evaluations:
    """Runs evaluations and hovers in worker threads; one evaluation per document."""

    def __init__(self, max_workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="nixlens-eval")
        # Compiled imported files (nixpkgs lib, the project's modules) kept
        # across evaluations and sessions (``evaluator.codecache``).
        self._code_cache = CodeCache.default()
        self._in_flight: dict[str, _InFlight] = {}
        self._cache: dict[str, tuple[tuple[Any, ...], api.EvalResult]] = {}
        # uri -> (job key and evaluation seen, {(offset, print depth): answer})
        self._hovers: dict[str, tuple[Any, dict[tuple[int, int], api.HoverInfo | None]]] = {}
        # Hovers running with the observed values of a result: id -> count;
        # and results no longer cached that such hovers still use.
        self._users: dict[int, int] = {}
        self._retired: dict[int, api.EvalResult] = {}

    async def evaluate(self, job: Job) -> api.EvalResult | None:
        """The evaluation result for ``job``; None if cancelled or superseded."""
        key = job.key()
        cached = self._cache.get(job.uri)
        if cached is not None and cached[0] == key:
            return cached[1]
        running = self._in_flight.get(job.uri)
        if running is not None and running.key == key:
            return await self._wait(job.uri, running)
        self.cancel(job.uri)
        cancel = threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._pool, _run_evaluate, job, cancel, self._code_cache)
        entry = _InFlight(key, cancel, future)
        self._in_flight[job.uri] = entry
        return await self._wait(job.uri, entry)

    async def _wait(self, uri: str, entry: _InFlight) -> api.EvalResult | None:
        try:
            result = await asyncio.shield(entry.future)
        except asyncio.CancelledError:
            entry.cancel.set()
            raise
        finally:
            if self._in_flight.get(uri) is entry and entry.future.done():
                del self._in_flight[uri]
        if entry.cancel.is_set():
            self._retire(result)
            return None  # superseded: its result describes an older text
        old = self._cache.get(uri)
        self._cache[uri] = (entry.key, result)
        if old is not None and old[1] is not result:
            self._retire(old[1])
        return result

    def _retire(self, result: api.EvalResult) -> None:
        """``result`` is no longer cached: release its values and programs
        (a large file's take tens of megabytes, in cycles the garbage
        collector would free only at its next full collection) at once, or
        when the last hover using its observed values ends."""
        if self._users.get(id(result)):
            self._retired[id(result)] = result
        else:
            result.release()

    def _done_with(self, result: api.EvalResult) -> None:
        left = self._users[id(result)] - 1
        if left:
            self._users[id(result)] = left
            return
        del self._users[id(result)]
        retired = self._retired.pop(id(result), None)
        if retired is not None:
            retired.release()

    async def hover(
        self, job: Job, offset: int, *, print_depth: int, budget_ms: int
    ) -> api.HoverInfo | None:
        """Hover at ``offset``; cancelling the awaiting task stops the evaluation.

        Complete answers are cached per document version (and evaluation
        result, whose observed arguments they show) and place."""
        cached = self._cache.get(job.uri)
        result = cached[1] if cached is not None else None
        observed = result.observed if result is not None else None
        key = (job.key(), id(observed))
        hovers = self._hovers.get(job.uri)
        if hovers is None or hovers[0] != key:
            hovers = self._hovers[job.uri] = (key, {})
        answers = hovers[1]
        where = (offset, print_depth)
        if where in answers:
            return answers[where]
        cancel = threading.Event()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(
            self._pool,
            _run_hover,
            job,
            offset,
            print_depth,
            budget_ms,
            observed,
            cancel,
            self._code_cache,
        )
        if result is not None:  # not released while the worker uses its values
            self._users[id(result)] = self._users.get(id(result), 0) + 1
            future.add_done_callback(lambda _done: self._done_with(result))
        try:
            info = await asyncio.shield(future)
        except asyncio.CancelledError:
            cancel.set()  # $/cancelRequest: let the worker stop at its next check
            raise
        if info is None or info.complete:
            if len(answers) >= _HOVERS_KEPT:
                answers.clear()
            answers[where] = info
        return info

    def last_result(self, uri: str) -> api.EvalResult | None:
        """The latest finished evaluation of ``uri`` (any version)."""
        cached = self._cache.get(uri)
        return cached[1] if cached is not None else None

    def cancel(self, uri: str) -> None:
        """Stop the evaluation in flight for ``uri``, if any."""
        running = self._in_flight.pop(uri, None)
        if running is not None:
            running.cancel.set()

    def forget(self, uri: str) -> None:
        """Cancel and drop everything about ``uri`` (document closed)."""
        self.cancel(uri)
        cached = self._cache.pop(uri, None)
        if cached is not None:
            self._retire(cached[1])
        self._hovers.pop(uri, None)

    def invalidate(self) -> None:
        """Drop all cached results (files on disk or settings changed)."""
        for _key, result in self._cache.values():
            self._retire(result)
        self._cache.clear()
        self._hovers.clear()

    def shutdown(self) -> None:
        """Cancel everything and stop the workers."""
        for uri in list(self._in_flight):
            self.cancel(uri)
        self._pool.shutdown(wait=False, cancel_futures=True)
