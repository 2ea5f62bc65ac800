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

Messages to the server: the answers, ``("log", level, text)``, and
``("restart", reason)`` just before the process exits to be replaced (after
an evaluation reached the memory cap).

A reader thread takes the frames off stdin (so a cancel reaches a running
evaluation); the main thread runs the calls one at a time, in order.  The
memory cap is the address-space limit (``RLIMIT_AS``): past it allocations
fail with ``MemoryError``.  The cyclic GC's thresholds are set here, once,
for the whole process.
"""

from __future__ import annotations

import argparse
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
from .host import AnalysisHost, Request

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


def _read_frames(
    inp: BinaryIO, host: AnalysisHost, calls: queue.SimpleQueue[Any], state: _Running
) -> None:
    """Reader thread: queue the server's messages; handle cancels at once."""
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
            if message[0] == "cancel":
                state.cancel(message[1])
            else:
                calls.put(message)
    except BaseException:  # noqa: BLE001 - a reader that fails leaves the helper deaf
        traceback.print_exc()
    calls.put(None)  # the server is gone (or the pipe broke): stop


class _Running:
    """The call being run and the ids cancelled before their turn."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.call_id: int | None = None
        self.request: Request | None = None
        self.cancelled: set[int] = set()

    def start(self, call_id: int, request: Request) -> bool:
        """Mark ``call_id`` running; False if it was cancelled already."""
        with self._lock:
            if call_id in self.cancelled:
                self.cancelled.discard(call_id)
                return False
            self.call_id, self.request = call_id, request
            return True

    def finish(self) -> None:
        with self._lock:
            self.call_id, self.request = None, None

    def cancel(self, call_id: int) -> None:
        with self._lock:
            if self.call_id == call_id and self.request is not None:
                self.request.cancel.set()
            else:
                self.cancelled.add(call_id)


def serve(inp: BinaryIO, out: BinaryIO, host: AnalysisHost) -> int:
    """Answer the server's messages until it goes; the exit status."""
    sender = _Wire(out, host)
    logging.getLogger().handlers[:] = [_ToServer(sender)]
    calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
    state = _Running()
    reader = threading.Thread(
        target=_read_frames,
        args=(inp, host, calls, state),
        name="nixlens-helper-reader",
        daemon=True,
    )
    reader.start()
    while True:
        message = calls.get()
        if message is None:
            return 0
        tag = message[0]
        try:
            if tag == "call":
                _call(host, sender, state, *message[1:])
            elif tag == "open":
                host.open(*message[1:])
            elif tag == "change":
                host.change(*message[1:])
            elif tag == "close":
                host.close(message[1])
            elif tag == "invalidate":
                host.invalidate()
            else:
                logging.getLogger(__name__).error("unknown message %r", tag)
        except MemoryError:
            host.restart_reason = f"out of memory while handling {tag!r}"
        if host.restart_reason is not None:
            sender.send(("restart", host.restart_reason))
            return EXIT_RESTART


def _call(
    host: AnalysisHost,
    sender: _Wire,
    state: _Running,
    call_id: int,
    kind: str,
    uri: str | None,
    ctx: wire.Context,
    args: tuple[Any, ...],
) -> None:
    doc = host.docs.get(uri) if uri is not None else None
    if uri is not None and doc is None:
        sender.send(("err", call_id, f"{uri} is not open in the helper"))
        return
    request = Request(doc, ctx)
    if not state.start(call_id, request):
        sender.send(("cancelled", call_id))
        return
    sender.send(("started", call_id))  # the server's watchdog counts from here
    try:
        answer: Any = ("ok", call_id, host.run(kind, request, args))
    except EvalLimit as err:
        answer = ("cancelled", call_id) if request.cancel.is_set() else ("err", call_id, err.msg)
    except MemoryError:
        answer = None
        host.restart_reason = f"a {kind!r} request reached the memory cap"
    except Exception:  # noqa: BLE001 - one failing request must not end the helper
        logging.getLogger(__name__).exception("%s request failed", kind)
        answer = ("err", call_id, traceback.format_exc(limit=-8))
    finally:
        state.finish()
    if answer is None:
        gc.collect()
        answer = ("err", call_id, f"out of memory (cap {host.max_memory_mb} MB)")
    sender.send(answer)


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
    # Evaluations keep millions of live objects: a high young-generation
    # threshold keeps the cyclic GC from rescanning them (one setting for the
    # whole process; see evaluator.vm), and the modules loaded so far are
    # moved out of its sight.
    gc.set_threshold(50_000, 20, 100)
    host = AnalysisHost(args.max_memory_mb)
    gc.freeze()
    limit_memory(args.max_memory_mb)
    code = serve(inp, out, host)
    sys.stderr.flush()
    os._exit(code)  # no interpreter teardown: the reader thread may still block


if __name__ == "__main__":
    main(sys.argv[1:])
