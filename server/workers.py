"""The pool of analysis helper processes, as the server's event loop sees it.

The server process stays light: it keeps the documents, reparses them
incrementally, publishes syntax errors and routes.  Everything that lowers,
lints or evaluates runs in ``nixlens.workers`` helper processes
(``server.helper``, each owning one ``server.host.AnalysisHost``), started
with ``subprocess`` (fork + exec: nothing of this threaded process is
copied) and spoken to over pipes in frames (``server.wire``).

* Every helper mirrors every open document (byte edits, in order); each
  document is routed to one helper (the one with the fewest bytes routed to
  it when it opens), which answers all of its requests, so a hover sees the
  values its evaluation observed.  Workspace-wide requests go to helper 0.
* ``call`` awaits an answer.  Cancelling the awaiting task sends ``cancel``:
  a queued call is dropped, a running evaluation stops at its next budget
  check.  A call that outlives its ``timeout`` (a budget plus grace: the
  helper no longer honours budgets) gets its helper killed.
* A helper that dies (killed, crashed, out of memory, or timed out) is
  replaced at once: the new one gets every open document; the calls that
  were waiting on the old one get ``HelperDied`` (callers retry once);
  ``on_restart`` tells the server which documents were routed to it (their
  evaluations are made again).  The log says what happened.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterable
from typing import Any

from . import wire
from .documents import Document

log = logging.getLogger(__name__)

#: Seconds a call may run past its own budget before its helper is killed.
GRACE_S = 10.0


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
    """One helper process and the calls waiting on it."""

    def __init__(self, index: int, generation: int) -> None:
        self.index = index
        self.generation = generation
        self.proc: asyncio.subprocess.Process | None = None
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.backlog: list[bytes] = []  # frames sent before the process is up
        self.reader: asyncio.Task[None] | None = None
        self.dead = False
        self.exit_reason: str | None = None
        self.bytes_routed = 0
        # Set once the pool has put this helper's replacement in place.
        self.replaced = asyncio.Event()
        # call id -> (kind, seconds it may run); armed when the helper starts it
        self.limits: dict[int, tuple[str, float]] = {}
        self.timers: dict[int, asyncio.TimerHandle] = {}

    @property
    def pid(self) -> int | None:
        """The process id (None until started)."""
        return self.proc.pid if self.proc is not None else None

    def send_frame(self, frame: bytes) -> None:
        """Queue one frame (written as soon as the process is up)."""
        if self.dead:
            return
        if self.proc is None or self.proc.stdin is None:
            self.backlog.append(frame)
            return
        try:
            self.proc.stdin.write(frame)
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            pass  # the reader sees the end and restarts it

    def kill(self) -> None:
        """Kill the process (the reader notices and the pool replaces it)."""
        if self.proc is not None and self.proc.returncode is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass


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

    # ------------------------------------------------------------ lifetime

    def start(self) -> None:
        """Start the helpers (they start up in the background)."""
        for i in range(self.size):
            self.helpers.append(self._spawn(i))

    def _spawn(self, index: int) -> Helper:
        helper = Helper(index, next(self._generations))
        helper.reader = asyncio.get_running_loop().create_task(self._run(helper))
        return helper

    async def _run(self, helper: Helper) -> None:
        """Start ``helper``'s process, then read its frames until it ends."""
        env = dict(os.environ)
        root = _package_root()
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        # One malloc arena per thread reserves 64 MB of address space each:
        # two keep the memory cap (an address-space limit) meaningful.
        env.setdefault("MALLOC_ARENA_MAX", "2")
        level = logging.getLevelName(logging.getLogger().getEffectiveLevel()).lower()
        try:
            helper.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "server.helper",
                "--max-memory-mb",
                str(self.max_memory_mb),
                "--log-level",
                level if level in ("debug", "info", "warning", "error") else "info",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=env,
                cwd=root,
            )
        except OSError as exc:
            log.error("could not start analysis helper %d: %s", helper.index, exc)
            helper.dead = True
            self._fail_pending(helper, HelperDied(str(exc)))
            return
        log.info("analysis helper %d started (pid %d)", helper.index, helper.proc.pid)
        backlog, helper.backlog = helper.backlog, []
        for frame in backlog:
            helper.send_frame(frame)
        assert helper.proc.stdout is not None
        out = helper.proc.stdout
        try:
            while True:
                head = await out.readexactly(wire.HEADER.size)
                (size,) = wire.HEADER.unpack(head)
                body = await out.readexactly(size)
                self._dispatch(helper, wire.loads(body, self._text_of))
        except (asyncio.IncompleteReadError, ConnectionResetError):
            pass
        except asyncio.CancelledError:
            helper.kill()
            raise
        except Exception:
            log.exception("analysis helper %d: unreadable message", helper.index)
            helper.kill()
        await self._ended(helper)

    def _dispatch(self, helper: Helper, message: Any) -> None:
        tag = message[0]
        if tag == "log":
            log.log(message[1], "%s", message[2])
            return
        if tag == "restart":
            helper.exit_reason = message[1]
            return
        if tag == "started":
            self._arm_watchdog(helper, message[1])
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

    async def _ended(self, helper: Helper) -> None:
        """``helper``'s process is gone: say why, fail its calls, replace it."""
        helper.dead = True
        proc = helper.proc
        code = await proc.wait() if proc is not None else None
        why = helper.exit_reason or _describe_exit(code)
        for timer in helper.timers.values():
            timer.cancel()
        helper.timers.clear()
        self._fail_pending(helper, HelperDied(why))
        if self._closing or self.helpers[helper.index] is not helper:
            helper.replaced.set()
            return
        self.restarts += 1
        log.warning(
            "analysis helper %d (pid %s) ended: %s; starting a new one",
            helper.index,
            helper.pid,
            why,
        )
        fresh = self._spawn(helper.index)
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

    async def close(self) -> None:
        """Stop every helper (server shutdown)."""
        self._closing = True
        for helper in self.helpers:
            helper.kill()
        for helper in self.helpers:
            if helper.reader is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(helper.reader), 2)
                except (TimeoutError, asyncio.CancelledError, Exception):  # noqa: BLE001
                    pass

    async def reconfigure(self, size: int, max_memory_mb: int) -> None:
        """New helper count or memory cap: replace every helper."""
        size = max(1, size)
        if size == self.size and max_memory_mb == self.max_memory_mb and self.helpers:
            return
        log.info("analysis helpers: %d, memory cap %d MB", size, max_memory_mb)
        await self.close()
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

    def _broadcast(self, message: Any) -> None:
        frame = wire.dumps(message)
        for helper in self.helpers:
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
        for helper in self.helpers:
            owned = helper.index == index
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

    async def call(
        self,
        kind: str,
        uri: str | None,
        ctx: wire.Context,
        *args: Any,
        timeout: float | None = None,
        retries: int = 1,
    ) -> Any:
        """The answer of helper request ``kind`` (``server.host.REQUESTS``)
        about document ``uri``; raises ``HelperDied`` (after ``retries``
        more tries), ``HelperError`` or ``CallCancelled``."""
        while True:
            helper = self.helper_for(uri)
            try:
                return await self._call_once(helper, kind, uri, ctx, args, timeout)
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
    ) -> Any:
        if helper.dead:
            raise HelperDied("helper not running")
        call_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        helper.pending[call_id] = future
        if timeout is not None:
            helper.limits[call_id] = (kind, timeout)
        helper.send_frame(wire.dumps(("call", call_id, kind, uri, ctx, args), self._by_reference))
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            helper.pending.pop(call_id, None)
            helper.send_frame(wire.dumps(("cancel", call_id)))
            raise
        finally:
            helper.limits.pop(call_id, None)
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
