"""The analysis helper process: ``python -m server.helper --max-memory-mb N``.

Started by the server's pool (``server.workers``), never by hand.  It reads
frames (``server.wire``) on stdin and writes frames on stdout; logging goes
back to the server as messages too.

Messages from the server:

* ``("open", uri, path, version, data, owned)``, ``("change", uri, version,
  edits)``, ``("close", uri)``, ``("invalidate",)``: the document mirror;
* ``("call", id, kind, uri, context, args)``: a request of ``REQUESTS``
  (``server.host``), answered by ``("ok", id, result)``, ``("err", id,
  text)`` or ``("cancelled", id)``, preceded by ``("started", id)`` when
  its turn comes;
* ``("cancel", id)``: a queued call is answered ``cancelled`` when its turn
  comes; a running one has its cancel event set (evaluations stop at the
  VM's next budget check).

Messages to the server: the answers, ``("progress", id, message,
percentage)`` of a running call (``Request.progress``), ``("log", level,
text)``, and
``("restart", reason)`` just before the process exits to be replaced (after
an evaluation reached the memory cap).

A reader thread takes the frames off stdin: it applies the document
messages at once (so a call sees every edit sent before it) and handles
cancels; calls go to one of two worker threads: the interactive one
(hover, completion, navigation: ``host.INTERACTIVE``) and the background one
(lints, evaluations, outlines), each answering its calls in order, so a
hover never waits behind an evaluation.  The
memory cap is the address-space limit (``RLIMIT_AS``): past it allocations
fail with ``MemoryError``.  The cyclic GC is set by the host
(``AnalysisHost.configure_gc``), once, for the whole process.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import queue
import resource
import sys
import threading
import traceback
from typing import Any, BinaryIO

from evaluator.errors import EvalLimit

from . import wire
from .host import INTERACTIVE, AnalysisHost, DocView, Request

#: Seconds without background work after which garbage is collected.
IDLE_GC_S = 1.0
#: Nice value of the background thread (lints, evaluations).
BACKGROUND_NICE = 10
#: Exit status of a helper that asks to be replaced (after a MemoryError).
EXIT_RESTART = 75
#: Address space a helper needs besides what analyses allocate (interpreter,
#: libraries, thread stacks): the cap applies on top of it.
BASE_ADDRESS_SPACE_MB = 256


class _Wire:
    """Frames to the server (from any thread)."""

    def __init__(self, out: BinaryIO, host: AnalysisHost) -> None:
        self._out = out
        self._host = host
        self._lock = threading.Lock()

    def send(self, message: Any) -> None:
        frame = wire.dumps(message, self._host.is_open_text)
        with self._lock:
            self._out.write(frame)
            self._out.flush()


class _ToServer(logging.Handler):
    """Log records of the helper, sent to the server's log."""

    def __init__(self, out: _Wire) -> None:
        super().__init__()
        self._out = out

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._out.send(("log", record.levelno, f"[helper {os.getpid()}] {self.format(record)}"))
        except Exception:  # noqa: BLE001 - the server is gone: nothing to log to
            pass


def _read_frames(inp: BinaryIO, host: AnalysisHost, work: _Work) -> None:
    """Reader thread: apply document messages at once (a call queued after
    them sees them), queue calls, handle cancels."""
    log = logging.getLogger(__name__)
    try:
        while True:
            head = inp.read(wire.HEADER.size)
            if len(head) < wire.HEADER.size:
                break
            (size,) = wire.HEADER.unpack(head)
            body = inp.read(size)
            if len(body) < size:
                break
            message = wire.loads(body, host.text_of)
            tag = message[0]
            try:
                if tag == "call":
                    work.put(message)
                elif tag == "cancel":
                    work.cancel(message[1])
                elif tag == "open":
                    host.open(*message[1:])
                elif tag == "change":
                    host.change(*message[1:])
                elif tag == "close":
                    host.close(message[1])
                elif tag == "invalidate":
                    host.invalidate()
                else:
                    log.error("unknown message %r", tag)
            except MemoryError:
                work.restart(f"out of memory while handling {tag!r}")
    except BaseException:  # noqa: BLE001 - a reader that fails leaves the helper deaf
        traceback.print_exc()
    work.stop()  # the server is gone (or the pipe broke)


class _Work:
    """The calls: queued per thread, the running ones (for ``cancel``), and
    the ids cancelled before their turn."""

    def __init__(self, host: AnalysisHost, sender: _Wire) -> None:
        self.host = host
        self.sender = sender
        self.background: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self.interactive: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._running: dict[int, Request] = {}
        self._cancelled: set[int] = set()
        self.exit_code: queue.SimpleQueue[int] = queue.SimpleQueue()

    def put(self, message: Any) -> None:
        """Queue a call with its document as it is now: the server computed
        the call's offsets on that text (later edits, applied by the reader
        meanwhile, must not change what the call sees)."""
        _tag, _call_id, kind, uri, _ctx, _args = message
        view = self.host.view(uri) if uri is not None else None
        (self.interactive if kind in INTERACTIVE else self.background).put((*message, view))

    def stop(self) -> None:
        self.exit_code.put(0)

    def restart(self, reason: str) -> None:
        """Ask the server for a replacement and end the process."""
        self.host.restart_reason = reason
        try:
            self.sender.send(("restart", reason))
        finally:
            self.exit_code.put(EXIT_RESTART)

    def cancel(self, call_id: int) -> None:
        with self._lock:
            request = self._running.get(call_id)
            if request is not None:
                request.cancel.set()
            else:
                self._cancelled.add(call_id)

    def serve(self, calls: queue.SimpleQueue[Any], nice: int = 0) -> None:
        """A worker thread: answer ``calls`` one at a time, in order."""
        if nice:
            # Lints and evaluations yield the CPU to what the user waits for
            # (the server's event loop, hovers).  On Linux a nice value is
            # per thread.
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
        while True:
            try:
                # The background thread collects garbage once nothing came
                # for a while (not between a lint and its evaluation).
                message = calls.get(timeout=IDLE_GC_S if nice else None)
            except queue.Empty:
                self.host.maybe_collect(idle=True)
                continue
            self.call(*message[1:])
            if self.host.restart_reason is not None:
                self.restart(self.host.restart_reason)
                return
            if nice:
                self.host.maybe_collect(idle=False)

    def call(
        self,
        call_id: int,
        kind: str,
        uri: str | None,
        ctx: wire.Context,
        args: tuple[Any, ...],
        view: DocView | None = None,
    ) -> None:
        host = self.host
        if view is None and uri is not None:
            view = host.view(uri)
        if uri is not None and view is None:
            self.sender.send(("err", call_id, f"{uri} is not open in the helper"))
            return
        request = Request(view, ctx)
        request.progress = lambda message, pct: self.sender.send(
            ("progress", call_id, message, pct)
        )
        with self._lock:
            if call_id in self._cancelled:
                self._cancelled.discard(call_id)
                self.sender.send(("cancelled", call_id))
                return
            self._running[call_id] = request
        self.sender.send(("started", call_id))  # the server's watchdog counts from here
        try:
            answer: Any = ("ok", call_id, host.run(kind, request, args))
        except EvalLimit as err:
            cancelled = request.cancel.is_set()
            answer = ("cancelled", call_id) if cancelled else ("err", call_id, err.msg)
        except MemoryError:
            answer = None
            host.restart_reason = f"a {kind!r} request reached the memory cap"
        except Exception as err:  # noqa: BLE001 - one failing request must not end the helper
            logging.getLogger(__name__).exception("%s request failed", kind)
            answer = ("err", call_id, f"{type(err).__name__}: {err}")
        finally:
            with self._lock:
                self._running.pop(call_id, None)
        if answer is None:
            gc.collect()
            answer = ("err", call_id, f"out of memory (cap {host.max_memory_mb} MB)")
        self.sender.send(answer)


def serve(inp: BinaryIO, out: BinaryIO, host: AnalysisHost) -> int:
    """Answer the server's messages until it goes; the exit status."""
    sender = _Wire(out, host)
    logging.getLogger().handlers[:] = [_ToServer(sender)]
    work = _Work(host, sender)
    for target, args, name in (
        (_read_frames, (inp, host, work), "reader"),
        (work.serve, (work.background, BACKGROUND_NICE), "background"),
        (work.serve, (work.interactive,), "interactive"),
    ):
        threading.Thread(target=target, args=args, name=f"nixlens-{name}", daemon=True).start()
    # Outlines and semantic tokens import lsprotocol (a second, and 17 MB in
    # each helper) on their first request, not before: most helpers never
    # need them.
    return work.exit_code.get()


def _warm_up(host: AnalysisHost) -> None:
    """Run a tiny evaluation and hover: the first real ones of a fresh
    helper then find the lazily loaded parts of the evaluator ready."""
    text = b"let f = x: { y = x + 1; }; in (f 1).y"
    host.open("nixlens:warm-up", None, 0, text, True)
    request = Request(host.view("nixlens:warm-up"), wire.Context())
    try:
        host.run("evaluate", request, ())
        host.run("hover", request, (text.index(b"x +"), 3, 2000))
        host.run("completion", request, (text.index(b"f 1"),))
    finally:
        host.close("nixlens:warm-up")


def limit_memory(max_memory_mb: int) -> None:
    """Cap the address space at ``max_memory_mb`` plus the helper's base."""
    if max_memory_mb <= 0:
        return
    limit = (max_memory_mb + BASE_ADDRESS_SPACE_MB) * 1024 * 1024
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def main(argv: list[str] | None = None) -> int:
    """Run one helper on stdin/stdout."""
    parser = argparse.ArgumentParser(prog="python -m server.helper")
    parser.add_argument("--max-memory-mb", type=int, default=0)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.getLogger().setLevel(getattr(logging, args.log_level.upper(), logging.INFO))
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write on the protocol's pipe
    host = AnalysisHost(args.max_memory_mb)
    _warm_up(host)
    host.configure_gc()
    limit_memory(args.max_memory_mb)
    code = serve(inp, out, host)
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown: the reader thread may still block


if __name__ == "__main__":
    main(sys.argv[1:])
