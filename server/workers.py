"""The pool of analysis helper processes, as the server's event loop sees it.

The server process stays light: it keeps the documents, reparses them
incrementally, publishes syntax errors and routes.  Everything that lowers,
lints or evaluates runs in ``nixlens.workers`` helper processes
(``server.helper``, each owning one ``server.host.AnalysisHost``), started
with ``subprocess`` (fork + exec: nothing of this threaded process is
copied) and spoken to over pipes in frames (``server.wire``), each pipe
served by a daemon thread.

* Every helper mirrors every open document (byte edits, in order); each
  document is routed to one helper (the one with the fewest bytes routed to
  it when it opens), which answers all of its requests, so a hover sees the
  values its evaluation observed.  Workspace-wide requests go to helper 0.
* ``call`` awaits an answer.  Cancelling the awaiting task sends ``cancel``:
  a queued call is dropped, a running evaluation stops at its next budget
  check.  A call that outlives its ``timeout`` (a budget plus grace: the
  helper no longer honours budgets) gets its helper killed.
* Loading a project's context (``project_load``: seconds of evaluation)
  runs in one more helper, the loader, started on the first load and kept:
  it mirrors the documents too (unsaved buffers count) but owns none, so
  the lints, evaluations and hovers of every document go on meanwhile.  A
  loader that dies is started again by the next load (``call_loader``).
* A helper that dies (killed, crashed, out of memory, or timed out) is
  replaced at once: the new one gets every open document; the calls that
  were waiting on the old one get ``HelperDied`` (callers retry once);
  ``on_restart`` tells the server which documents were routed to it (their
  evaluations are made again).  The log says what happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from . import wire
from .documents import Document

log = logging.getLogger(__name__)

#: Seconds a call may run past its own budget before its helper is killed.
GRACE_S = 10.0
#: A helper that dies sooner than this after starting, three times in a row,
#: is started again only after a growing delay (it may fail at start-up).
QUICK_DEATH_S = 5.0


class HelperDied(Exception):
    """The helper answering a call died (or was killed) before answering."""


class HelperTimeout(HelperDied):
    """The call ran past its timeout: its helper was killed (not retried)."""


class HelperError(Exception):
    """The helper answered a call with an error."""


class CallCancelled(Exception):
    """The helper dropped a cancelled call (the caller was not cancelled itself)."""


def default_workers() -> int:
    """Helpers by default: one per CPU, at least 2 (a large file's analysis
    then never holds up the other files), at most 4."""
    return max(2, min(4, os.cpu_count() or 1))


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Helper:
    """One helper process and the calls waiting on it.

    Its pipes are served by two daemon threads (a reader that hands each
    message to the event loop, and a writer fed by a queue), so the event
    loop never blocks on a pipe and never waits for a process at exit."""

    def __init__(self, index: int, generation: int) -> None:
        self.index = index
        self.generation = generation
        self.proc: subprocess.Popen[bytes] | None = None
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self._outgoing: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self.dead = False
        self.exit_reason: str | None = None
        self.bytes_routed = 0
        # Set once the pool has put this helper's replacement in place.
        self.replaced = asyncio.Event()
        # call id -> (kind, seconds it may run); armed when the helper starts it
        self.limits: dict[int, tuple[str, float]] = {}
        # call id -> what to do with the call's ``progress`` messages
        self.progress: dict[int, Callable[[str, int], None]] = {}
        self.timers: dict[int, asyncio.TimerHandle] = {}
        self.started = time.monotonic()
        self.quick_deaths = 0  # deaths in a row soon after starting

    @property
    def pid(self) -> int | None:
        """The process id (None until started)."""
        return self.proc.pid if self.proc is not None else None

    def send_frame(self, frame: bytes) -> None:
        """Queue one frame for the writer thread."""
        if not self.dead:
            self._outgoing.put(frame)

    def kill(self) -> None:
        """Kill the process (the reader notices and the pool replaces it)."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass

    def stop_writer(self) -> None:
        self._outgoing.put(None)

    def write_frames(self) -> None:
        """Writer thread: the queued frames, in order, until the pipe closes."""
        assert self.proc is not None and self.proc.stdin is not None
        pipe = self.proc.stdin
        try:
            while (frame := self._outgoing.get()) is not None:
                pipe.write(frame)
                pipe.flush()
        except (OSError, ValueError):
            pass  # the process is gone: the reader reports it
        with contextlib.suppress(OSError, ValueError):
            pipe.close()

    def read_frames(self, deliver: Callable[[Any], None], text_of: Callable[[Any], bytes]) -> None:
        """Reader thread: hand each message to ``deliver``; at the end, the exit status."""
        assert self.proc is not None and self.proc.stdout is not None
        pipe = self.proc.stdout
        try:
            while True:
                head = pipe.read(wire.HEADER.size)
                if len(head) < wire.HEADER.size:
                    break
                (size,) = wire.HEADER.unpack(head)
                body = pipe.read(size)
                if len(body) < size:
                    break
                deliver(wire.loads(body, text_of))
        except Exception:  # noqa: BLE001 - an unreadable message: the helper is replaced
            log.exception("analysis helper %d: unreadable message", self.index)
            self.kill()
        deliver(("exited", self.proc.wait()))


class Pool:
    """The helpers of one server (see the module docstring)."""

    def __init__(
        self,
        size: int,
        max_memory_mb: int,
        documents: Callable[[], Iterable[Document]],
        path_of: Callable[[str], str | None],
        on_restart: Callable[[list[str]], None] = lambda uris: None,
    ) -> None:
        self.size = max(1, size)
        self.max_memory_mb = max_memory_mb
        self._documents = documents
        self._path_of = path_of
        self.on_restart = on_restart
        self.helpers: list[Helper] = []
        self.routes: dict[str, int] = {}  # uri -> helper index
        self._ids = itertools.count(1)
        self._generations = itertools.count(1)
        self._closing = False
        self._texts: dict[str, bytes] = {}  # path -> text of open documents (wire)
        self._sizes: dict[str, int] = {}  # uri -> bytes counted in its helper's load
        self.restarts = 0
        # The helper loading project contexts (started by ``call_loader``).
        self.loader: Helper | None = None

    # ------------------------------------------------------------ lifetime

    def start(self) -> None:
        """Start the helpers (they import and warm up in the background)."""
        for i in range(self.size):
            self.helpers.append(self._spawn(i))

    def _spawn(self, index: int) -> Helper:
        helper = Helper(index, next(self._generations))
        env = dict(os.environ)
        root = _package_root()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # One malloc arena per thread reserves 64 MB of address space each:
        # two keep the memory cap (an address-space limit) meaningful.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        try:
            # fork + exec: nothing of this (threaded) process is copied.
            helper.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "server.helper",
                    "--max-memory-mb",
                    str(self.max_memory_mb),
                    "--log-level",
                    level if level in ("debug", "info", "warning", "error") else "info",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
                cwd=root,
            )
        except OSError as exc:
            log.error("could not start analysis helper %d: %s", index, exc)
            helper.dead = True
            helper.replaced.set()
            return helper
        log.info("analysis helper %d started (pid %d)", index, helper.proc.pid)
        loop = asyncio.get_running_loop()

        def deliver(message: Any) -> None:
            with contextlib.suppress(RuntimeError):  # the loop is closed: exiting
                loop.call_soon_threadsafe(self._dispatch, helper, message)

        name = f"nixlens-helper-{index}"
        threading.Thread(target=helper.write_frames, name=name + "-w", daemon=True).start()
        threading.Thread(
            target=helper.read_frames, args=(deliver, self._text_of), name=name + "-r", daemon=True
        ).start()
        return helper

    def _dispatch(self, helper: Helper, message: Any) -> None:
        tag = message[0]
        if tag == "exited":
            self._ended(helper, message[1])
            return
        if tag == "log":
            log.log(message[1], "%s", message[2])
            return
        if tag == "restart":
            helper.exit_reason = message[1]
            return
        if tag == "started":
            self._arm_watchdog(helper, message[1])
            return
        if tag == "progress":
            report = helper.progress.get(message[1])
            if report is not None:
                try:
                    report(message[2], message[3])
                except Exception:  # noqa: BLE001 - progress is a courtesy
                    log.exception("progress report failed")
            return
        future = helper.pending.pop(message[1], None)
        timer = helper.timers.pop(message[1], None)
        if timer is not None:
            timer.cancel()
        if future is None or future.done():
            return
        if tag == "ok":
            future.set_result(message[2])
        elif tag == "cancelled":
            future.set_exception(CallCancelled())
        else:
            future.set_exception(HelperError(message[2]))

    def _ended(self, helper: Helper, code: int | None) -> None:
        """``helper``'s process is gone: say why, fail its calls, replace it."""
        helper.dead = True
        helper.stop_writer()
        why = helper.exit_reason or _describe_exit(code)
        for timer in helper.timers.values():
            timer.cancel()
        helper.timers.clear()
        self._fail_pending(helper, HelperDied(why))
        if helper is self.loader:  # the next load starts another one
            self.loader = None
            helper.replaced.set()
            if not self._closing:
                log.warning("project loader (pid %s) ended: %s", helper.pid, why)
            return
        current = self.helpers[helper.index] if helper.index < len(self.helpers) else None
        if self._closing or current is not helper:  # shut down, or replaced by ``reconfigure``
            helper.replaced.set()
            return
        self.restarts += 1
        quick = time.monotonic() - helper.started < QUICK_DEATH_S
        deaths = helper.quick_deaths + 1 if quick else 0
        delay = 0.0 if deaths < 3 else min(60.0, 2.0 ** (deaths - 2))
        log.warning(
            "analysis helper %d (pid %s) ended: %s; starting a new one%s",
            helper.index,
            helper.pid,
            why,
            f" in {delay:g} s (it keeps dying at start)" if delay else "",
        )
        if delay:
            asyncio.get_running_loop().call_later(delay, self._replace, helper, deaths)
        else:
            self._replace(helper, deaths)

    def _replace(self, helper: Helper, deaths: int) -> None:
        """Put a new helper where ``helper`` was and give it every document."""
        if self._closing or helper.index >= len(self.helpers):
            helper.replaced.set()
            return
        if self.helpers[helper.index] is not helper:
            helper.replaced.set()
            return
        fresh = self._spawn(helper.index)
        fresh.quick_deaths = deaths
        fresh.bytes_routed = helper.bytes_routed
        self.helpers[helper.index] = fresh
        for doc in self._documents():
            self._send_open(doc)
        helper.replaced.set()
        uris = [u for u, i in self.routes.items() if i == helper.index]
        self.on_restart(uris)

    def _fail_pending(self, helper: Helper, error: Exception) -> None:
        pending, helper.pending = helper.pending, {}
        for future in pending.values():
            if not future.done():
                future.set_exception(error)

    def close(self) -> None:
        """Stop every helper (server shutdown; they also end by themselves
        when the server's end of their pipes closes)."""
        self._closing = True
        for helper in self._everyone():
            helper.stop_writer()
            helper.kill()
        self.loader = None

    def reconfigure(self, size: int, max_memory_mb: int) -> None:
        """New helper count or memory cap: replace every helper."""
        size = max(1, size)
        if size == self.size and max_memory_mb == self.max_memory_mb and self.helpers:
            return
        log.info("analysis helpers: %d, memory cap %d MB", size, max_memory_mb)
        self.close()
        self._closing = False
        self.size, self.max_memory_mb = size, max_memory_mb
        self.helpers = []
        self.routes.clear()
        self._sizes.clear()
        self.start()
        for doc in self._documents():
            self.open(doc)
        self.on_restart(list(self.routes))

    # ------------------------------------------------------------ documents

    def _everyone(self) -> list[Helper]:
        """The helpers and the loader (every process mirroring the documents)."""
        return self.helpers + ([self.loader] if self.loader is not None else [])

    def _broadcast(self, message: Any) -> None:
        frame = wire.dumps(message)
        for helper in self._everyone():
            helper.send_frame(frame)

    def _text_of(self, path: str | None) -> bytes:
        return self._texts.get(path, b"") if path else b""

    def _route(self, uri: str, size: int) -> int:
        index = self.routes.get(uri)
        if index is None or index >= len(self.helpers):
            index = min(range(len(self.helpers)), key=lambda i: self.helpers[i].bytes_routed)
            self.routes[uri] = index
            self.helpers[index].bytes_routed += size
            self._sizes[uri] = size
        return index

    def _send_open(self, doc: Document) -> None:
        index = self._route(doc.uri, len(doc.data))
        path = self._path_of(doc.uri)
        for helper in self._everyone():
            owned = helper.index == index and helper is not self.loader
            helper.send_frame(wire.dumps(("open", doc.uri, path, doc.version, doc.data, owned)))

    def open(self, doc: Document) -> None:
        """A document was opened (or its whole text replaced)."""
        doc.outbox.clear()
        self._send_open(doc)
        path = self._path_of(doc.uri)
        if path:
            self._texts[path] = doc.data

    def change(self, doc: Document) -> None:
        """Send the edits ``doc`` collected since the last call."""
        edits, doc.outbox = doc.outbox, []
        if edits:
            self._broadcast(("change", doc.uri, doc.version, edits))
        path = self._path_of(doc.uri)
        if path:
            self._texts[path] = doc.data

    def close_document(self, uri: str) -> None:
        """A document was closed."""
        self._broadcast(("close", uri))
        index = self.routes.pop(uri, None)
        path = self._path_of(uri)
        if path:
            self._texts.pop(path, None)
        size = self._sizes.pop(uri, 0)
        if index is not None and index < len(self.helpers):
            helper = self.helpers[index]
            helper.bytes_routed = max(0, helper.bytes_routed - size)

    def invalidate(self) -> None:
        """Files on disk changed: every helper drops its results."""
        self._broadcast(("invalidate",))

    # ---------------------------------------------------------------- calls

    def helper_for(self, uri: str | None) -> Helper:
        """The helper that answers requests about ``uri``."""
        index = self.routes.get(uri, 0) if uri is not None else 0
        return self.helpers[index]

    def _the_loader(self) -> Helper:
        """The loader, started (with every open document) if not running."""
        if self.loader is None or self.loader.dead:
            self.loader = self._spawn(len(self.helpers))
            for doc in self._documents():
                path = self._path_of(doc.uri)
                frame = wire.dumps(("open", doc.uri, path, doc.version, doc.data, False))
                self.loader.send_frame(frame)
            log.info("project loader is helper %d (pid %s)", self.loader.index, self.loader.pid)
        return self.loader

    async def call_loader(
        self,
        kind: str,
        uri: str | None,
        ctx: wire.Context,
        *args: Any,
        timeout: float | None = None,
        progress: Callable[[str, int], None] | None = None,
    ) -> Any:
        """As ``call``, answered by the loader (once more, by a new one, if it dies)."""
        for attempt in range(2):
            helper = self._the_loader()
            try:
                return await self._call_once(helper, kind, uri, ctx, args, timeout, progress)
            except HelperTimeout:
                raise
            except HelperDied as died:
                if attempt or self._closing:
                    raise
                log.info("%s request lost with the project loader (%s): asked again", kind, died)
        raise AssertionError("unreachable")

    async def call(
        self,
        kind: str,
        uri: str | None,
        ctx: wire.Context,
        *args: Any,
        timeout: float | None = None,
        retries: int = 1,
        progress: Callable[[str, int], None] | None = None,
    ) -> Any:
        """The answer of helper request ``kind`` (``server.host.REQUESTS``)
        about document ``uri``; raises ``HelperDied`` (after ``retries``
        more tries), ``HelperError`` or ``CallCancelled``.  ``progress`` gets
        the ``(message, percentage)`` reports the request sends while it runs
        (``Request.progress``), on the event loop."""
        while True:
            helper = self.helper_for(uri)
            try:
                return await self._call_once(helper, kind, uri, ctx, args, timeout, progress)
            except HelperTimeout:
                raise
            except HelperDied as died:
                if retries <= 0 or self._closing:
                    raise
                retries -= 1
                log.info(
                    "%s request for %s lost with its helper (%s): asked again", kind, uri, died
                )
                try:
                    await asyncio.wait_for(helper.replaced.wait(), GRACE_S)
                except TimeoutError:
                    raise died from None

    async def _call_once(
        self,
        helper: Helper,
        kind: str,
        uri: str | None,
        ctx: wire.Context,
        args: tuple[Any, ...],
        timeout: float | None,
        progress: Callable[[str, int], None] | None = None,
    ) -> Any:
        if helper.dead:
            raise HelperDied("helper not running")
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        helper.pending[call_id] = future
        if timeout is not None:
            helper.limits[call_id] = (kind, timeout)
        if progress is not None:
            helper.progress[call_id] = progress
        helper.send_frame(wire.dumps(("call", call_id, kind, uri, ctx, args), self._by_reference))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            helper.pending.pop(call_id, None)
            helper.send_frame(wire.dumps(("cancel", call_id)))
            raise
        finally:
            helper.limits.pop(call_id, None)
            helper.progress.pop(call_id, None)
            timer = helper.timers.pop(call_id, None)
            if timer is not None:
                timer.cancel()

    def _arm_watchdog(self, helper: Helper, call_id: int) -> None:
        """The helper started a call: kill it if the call runs past its limit
        (budgets are checked by the evaluator; past them plus ``GRACE_S`` the
        helper is stuck somewhere that does not check)."""
        limit = helper.limits.get(call_id)
        if limit is None:
            return
        kind, seconds = limit
        loop = asyncio.get_running_loop()
        helper.timers[call_id] = loop.call_later(
            seconds, self._overdue, helper, call_id, kind, seconds
        )

    def _overdue(self, helper: Helper, call_id: int, kind: str, seconds: float) -> None:
        future = helper.pending.pop(call_id, None)
        helper.timers.pop(call_id, None)
        if future is None or future.done():
            return
        reason = f"killed: a {kind} request ran past {seconds:.1f} s"
        log.error("analysis helper %d (pid %s) %s", helper.index, helper.pid, reason)
        helper.exit_reason = reason
        future.set_exception(HelperTimeout(reason))
        helper.kill()

    def _by_reference(self, source: Any) -> bool:
        return bool(source.path) and self._texts.get(source.path) is source.text


def _describe_exit(code: int | None) -> str:
    if code is None:
        return "ended"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"killed by {name}"
    return f"exited with status {code}"
