"""A small hand-written LSP client for the real server over stdio (tests and bench).

Content-Length framing, a reader thread, one ``concurrent.futures.Future`` per
request id, and the ``textDocument/publishDiagnostics`` notifications kept
with their version.  Raw bytes can be sent too (``send_raw``), to test how the
server copes with malformed traffic.  Every wait has a deadline; ``close``
kills the process if it does not exit by itself.

Server-to-client requests are answered automatically: ``workspace/configuration``
with ``None`` per item (the server then uses its initializationOptions),
anything else with ``null``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = [sys.executable, "-m", "server.lsp"]


class LspError(Exception):
    """An error response: ``code``, ``message`` and the whole ``error`` object."""

    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(f"{error.get('code')}: {error.get('message')}")
        self.error = error
        self.code = error.get("code")


class LspTimeout(Exception):
    """No answer within the deadline."""


def frame(body: bytes) -> bytes:
    """``body`` with its Content-Length header."""
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


class LspClient:
    """The server as a subprocess, spoken to over its stdin/stdout."""

    def __init__(
        self,
        cmd: list[str] | None = None,
        *,
        cwd: str = ROOT,
        env: dict[str, str] | None = None,
        stderr_path: str | None = None,
    ) -> None:
        self._stderr_file = (
            open(stderr_path, "w+b")  # noqa: SIM115 - closed in close()
            if stderr_path
            else tempfile.TemporaryFile()
        )
        self.proc = subprocess.Popen(
            cmd or SERVER,
            cwd=cwd,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr_file,
        )
        self.pid = self.proc.pid
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._next_id = 0
        self._pending: dict[Any, Future[Any]] = {}
        # Responses whose id nobody waits for (e.g. id null), in order.
        self.orphans: list[dict[str, Any]] = []
        # uri -> list of (version, diagnostics, arrival time)
        self.diagnostics: dict[str, list[tuple[int | None, list[Any], float]]] = {}
        self.notifications: list[dict[str, Any]] = []
        self.server_requests: list[dict[str, Any]] = []
        self.eof = False
        self._arrived = 0.0
        self.arrivals: dict[Any, float] = {}
        self.reader_error: BaseException | None = None
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()

    # ----------------------------------------------------------- transport

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (framing included, or not)."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_raw(frame(json.dumps(message).encode("utf-8")))

    def _read_loop(self) -> None:
        out = self.proc.stdout
        assert out is not None
        try:
            while True:
                length = None
                while True:
                    line = out.readline()
                    if not line:
                        return
                    if line in (b"\r\n", b"\n"):
                        break
                    name, _, value = line.decode("ascii").partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                if length is None:
                    continue
                body = out.read(length)
                if len(body) < length:
                    return
                self._arrived = time.perf_counter()
                self._dispatch(json.loads(body))
        except BaseException as exc:  # pragma: no cover - reported by waiters
            self.reader_error = exc
        finally:
            with self._cond:
                self.eof = True
                for fut in self._pending.values():
                    if not fut.done():
                        fut.set_exception(EOFError("server closed its output"))
                self._cond.notify_all()

    def _dispatch(self, msg: dict[str, Any]) -> None:
        if "method" in msg and "id" in msg:  # a request from the server
            self.server_requests.append(msg)
            result: Any = None
            if msg["method"] == "workspace/configuration":
                result = [None for _ in msg.get("params", {}).get("items", [])]
            self.send({"jsonrpc": "2.0", "id": msg["id"], "result": result})
            return
        if "method" in msg:
            with self._cond:
                if msg["method"] == "textDocument/publishDiagnostics":
                    p = msg["params"]
                    self.diagnostics.setdefault(p["uri"], []).append(
                        (p.get("version"), p["diagnostics"], time.perf_counter())
                    )
                else:
                    self.notifications.append(msg)
                self._cond.notify_all()
            return
        with self._cond:
            fut = self._pending.pop(msg.get("id"), None)
            if fut is not None:
                # When the whole answer had been read (its decoding here excluded).
                self.arrivals[msg.get("id")] = self._arrived
            if fut is None:
                self.orphans.append(msg)
                self._cond.notify_all()
                return
        if "error" in msg:
            fut.set_exception(LspError(msg["error"]))
        else:
            fut.set_result(msg.get("result"))

    # ---------------------------------------------------------------- calls

    def request_async(
        self, method: str, params: Any = None, *, msg_id: Any = None
    ) -> tuple[Any, Future[Any]]:
        """Send a request; its id and the future of its result."""
        fut: Future[Any] = Future()
        with self._cond:
            if msg_id is None:
                self._next_id += 1
                msg_id = self._next_id
            self._pending[msg_id] = fut
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": msg_id, "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)
        return msg_id, fut

    def request(self, method: str, params: Any = None, *, timeout: float = 10) -> Any:
        """Send a request and wait for its result (``LspError`` for an error response)."""
        msg_id, fut = self.request_async(method, params)
        try:
            return fut.result(timeout)
        except FutureTimeout:
            with self._cond:
                self._pending.pop(msg_id, None)
            raise LspTimeout(f"{method} (id {msg_id}): no answer within {timeout}s") from None

    def request_timed(
        self, method: str, params: Any = None, *, timeout: float = 10
    ) -> tuple[Any, float]:
        """``request``, and the seconds from sending it until its answer had
        arrived (this client's JSON decoding of the answer not included)."""
        t = time.perf_counter()
        msg_id, fut = self.request_async(method, params)
        try:
            result = fut.result(timeout)
        except FutureTimeout:
            with self._cond:
                self._pending.pop(msg_id, None)
            raise LspTimeout(f"{method} (id {msg_id}): no answer within {timeout}s") from None
        finally:
            with self._cond:
                arrived = self.arrivals.pop(msg_id, None)
        return result, (arrived if arrived is not None else time.perf_counter()) - t

    def notify(self, method: str, params: Any = None) -> None:
        message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        self.send(message)

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait (holding the lock while testing) until ``predicate()``; its last value."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0 or self.eof:
                    return predicate()
                self._cond.wait(left)
            return True

    def wait_diagnostics(
        self, uri: str, version: int | None, timeout: float = 30, *, after: int = 0
    ) -> tuple[list[Any], float]:
        """The first diagnostics published for ``uri`` at ``version`` (the ``after``-th
        notification for ``uri`` or later) and their arrival time."""
        found: list[tuple[list[Any], float]] = []

        def have() -> bool:
            for v, diags, t in self.diagnostics.get(uri, [])[after:]:
                if v == version:
                    found.append((diags, t))
                    return True
            return False

        if not self.wait_until(have, timeout):
            raise LspTimeout(f"no diagnostics for {uri} version {version} within {timeout}s")
        return found[0]

    def diagnostics_count(self, uri: str) -> int:
        with self._cond:
            return len(self.diagnostics.get(uri, []))

    # ------------------------------------------------------------- session

    def initialize(
        self,
        options: Any = None,
        *,
        capabilities: dict[str, Any] | None = None,
        root: str = "file:///tmp/nixlens-client",
        timeout: float = 30,
    ) -> Any:
        caps = capabilities or {
            "general": {"positionEncodings": ["utf-16"]},
            "textDocument": {
                "hover": {"contentFormat": ["markdown", "plaintext"]},
                "publishDiagnostics": {"versionSupport": True},
                "synchronization": {"didSave": True},
            },
        }
        result = self.request(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": root,
                "capabilities": caps,
                "initializationOptions": options,
                "workspaceFolders": [{"uri": root, "name": "t"}],
            },
            timeout=timeout,
        )
        self.notify("initialized", {})
        return result

    def open(self, uri: str, text: str, version: int = 1) -> None:
        self.notify(
            "textDocument/didOpen",
            {"textDocument": {"uri": uri, "languageId": "nix", "version": version, "text": text}},
        )

    def change(self, uri: str, version: int, changes: list[dict[str, Any]]) -> None:
        self.notify(
            "textDocument/didChange",
            {"textDocument": {"uri": uri, "version": version}, "contentChanges": changes},
        )

    def shutdown_and_exit(self, timeout: float = 10) -> int | None:
        """``shutdown`` then ``exit``; the exit code (None if it had to be killed)."""
        try:
            self.request("shutdown", None, timeout=timeout)
            self.notify("exit")
        except (OSError, LspTimeout, LspError, EOFError):
            pass
        return self.wait_exit(timeout)

    def wait_exit(self, timeout: float = 10) -> int | None:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def close(self) -> None:
        """Make sure the process is gone (kill it if needed)."""
        if self.proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self.proc.stdin is not None
                self.proc.stdin.close()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()
        self._reader.join(5)
        self._stderr_file.close()

    def stderr_text(self) -> str:
        """What the server wrote to stderr so far."""
        # pread: the child shares the file offset, which must not move.
        fd = self._stderr_file.fileno()
        data = os.pread(fd, os.fstat(fd).st_size, 0)
        return data.decode("utf-8", "replace")

    # --------------------------------------------------------------- memory

    def status_kb(self, field: str) -> int:
        """A ``/proc/<pid>/status`` figure in kB (``VmRSS``, ``VmHWM``); 0 if unavailable."""
        try:
            with open(f"/proc/{self.pid}/status") as f:
                for line in f:
                    if line.startswith(field + ":"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def helper_pids(self) -> list[int]:
        """The server's child processes (its analysis helpers)."""
        return _children(self.pid)

    def tree_kb(self, field: str) -> int:
        """``status_kb`` summed over the server and its helpers."""
        total = self.status_kb(field)
        for pid in self.helper_pids():
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith(field + ":"):
                            total += int(line.split()[1])
            except OSError:
                pass
        return total

    def __enter__(self) -> LspClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _children(pid: int) -> list[int]:
    """Child process ids of ``pid`` (Linux ``/proc``; empty elsewhere)."""
    out: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                out.extend(int(c) for c in f.read().split())
    except OSError:
        pass
    return out
