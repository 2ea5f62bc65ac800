"""The analysis helpers (issue 12) through the real server: a helper that
dies is replaced and loses no request; an evaluation that allocates without
bound ends at the memory cap with an ``eval_limit`` diagnostic, and the
server stays up."""

from __future__ import annotations

import os
import signal
import time
from typing import Any

import pytest
from lsp_client import LspClient

URI = "file:///tmp/nixlens-workers/main.nix"
OTHER = "file:///tmp/nixlens-workers/other.nix"
TEXT = 'let double = x: x * 2; r = double 21; in builtins.trace "made ${toString r}" r'
IN_BODY = TEXT.index("x * 2")  # inside the function: shows the observed argument
ON_R = TEXT.index("r = ")  # the binding `r`: its value
END_OF_MESSAGE = TEXT.index('r}"') + 2


def _codes(diags: list[Any]) -> list[str]:
    return [d.get("code") for d in diags]


def _hover(client: LspClient, uri: str, line: int, character: int) -> str:
    got = client.request(
        "textDocument/hover",
        {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}},
        timeout=30,
    )
    assert got is not None
    return str(got["contents"]["value"])


def _wait_helpers(client: LspClient, count: int, timeout: float = 30) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = client.helper_pids()
        if len(pids) >= count:
            return pids
        time.sleep(0.05)
    raise AssertionError(f"{count} helpers expected, have {client.helper_pids()}")


def _wait_evaluated(client: LspClient, uri: str, version: int, code: str, after: int = 0) -> Any:
    """The first diagnostics of ``uri`` at ``version`` that hold ``code``."""
    found: list[Any] = []

    def have() -> bool:
        for v, diags, _t in client.diagnostics.get(uri, [])[after:]:
            if v == version and code in _codes(diags):
                found.append(diags)
                return True
        return False

    assert client.wait_until(have, 60), client.diagnostics.get(uri)
    return found[0]


def test_killing_every_helper_loses_no_request() -> None:
    with LspClient() as client:
        client.initialize({"workers": 2})
        client.open(URI, TEXT)
        diags = _wait_evaluated(client, URI, 1, "trace")
        assert any(d["message"] == "made 42" for d in diags)
        assert "`21`" in _hover(client, URI, 0, IN_BODY)  # seen with x = 21
        pids = _wait_helpers(client, 2)
        for pid in pids:
            os.kill(pid, signal.SIGKILL)
        # At once, while they are being replaced: answered correctly.
        assert "42" in _hover(client, URI, 0, ON_R)
        # The evaluation diagnostics come back for a new version within seconds.
        seen = client.diagnostics_count(URI)
        client.change(
            URI,
            2,
            [
                {
                    "range": {
                        "start": {"line": 0, "character": END_OF_MESSAGE},
                        "end": {"line": 0, "character": END_OF_MESSAGE},
                    },
                    "text": " again",
                }
            ],
        )
        started = time.monotonic()
        diags = _wait_evaluated(client, URI, 2, "trace", after=seen)
        assert any(d["message"] == "made 42 again" for d in diags)
        assert time.monotonic() - started < 20
        # Hover inside the function shows the argument values again: the
        # replaced helper evaluated the document anew.
        assert "`21`" in _hover(client, URI, 0, IN_BODY)
        new_pids = client.helper_pids()
        assert len(new_pids) == 2 and not set(new_pids) & set(pids)
        log = client.stderr_text()
        assert "killed by SIGKILL" in log and "starting a new one" in log
        assert client.shutdown_and_exit() == 0


def test_unbounded_allocation_ends_at_the_memory_cap() -> None:
    options = {
        "eval": {"maxValues": 0, "maxSteps": 0, "budgetMs": 120_000, "maxMemoryMB": 300},
        "workers": 1,
    }
    with LspClient() as client:
        client.initialize(options)
        client.open(URI, "builtins.length (builtins.genList (x: [ x ]) 200000000)")
        diags = _wait_evaluated(client, URI, 1, "eval_limit")
        (limit,) = [d for d in diags if d["code"] == "eval_limit"]
        assert "300 MB" in limit["message"] and "nixlens.eval.maxMemoryMB" in limit["message"]
        # The server is up and its (restarted) helper answers.
        client.open(OTHER, "let a = 20 + 22; in a")
        assert "42" in _hover(client, OTHER, 0, 20)
        # The helper says why it restarts as it goes; the server logs it when
        # the message arrives, which may be after the answers above.
        deadline = time.monotonic() + 30
        while "memory cap" not in client.stderr_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "memory cap" in client.stderr_text()
        assert client.shutdown_and_exit() == 0


def test_a_raising_analysis_answers_its_call_with_an_error() -> None:
    """In the helper (no process): an analysis that raises answers that call
    with the error's text, and the next call is answered as usual."""
    import evaluator.ide as ide
    from server import helper, wire
    from server.host import AnalysisHost

    sent: list[Any] = []

    class Sender:
        def send(self, message: Any) -> None:
            sent.append(message)

    host = AnalysisHost()
    host.open(URI, None, 1, b"let a = 1; in a", True)
    work = helper._Work(host, Sender())  # type: ignore[arg-type]
    real = ide.definition

    def boom(*args: Any) -> Any:
        raise RuntimeError("analysis exploded")

    ide.definition = boom  # type: ignore[assignment]
    try:
        work.call(1, "definition", URI, wire.Context(), (14,))
    finally:
        ide.definition = real  # type: ignore[assignment]
    work.call(2, "definition", URI, wire.Context(), (14,))
    assert sent[0] == ("started", 1)
    assert sent[1] == ("err", 1, "RuntimeError: analysis exploded")
    assert sent[2] == ("started", 2) and sent[3][:2] == ("ok", 2)
    assert [(loc.span.start, loc.span.end) for loc in sent[3][2]] == [(4, 5)]
    # A call cancelled before its turn is answered "cancelled", not run.
    work.cancel(3)
    work.call(3, "definition", URI, wire.Context(), (14,))
    assert sent[4] == ("cancelled", 3)


async def test_a_call_past_its_limit_gets_its_helper_replaced() -> None:
    """The pool's watchdog: a call still running past its limit (here a tiny
    one; really its budget plus ``GRACE_S``) has its helper killed; the
    caller gets ``HelperTimeout`` and the replacement answers the next call."""
    from server import wire
    from server.documents import DocumentStore
    from server.workers import HelperTimeout, Pool

    store = DocumentStore()
    doc = store.open(URI, "let f = n: if n == 0 then 0 else f (n - 1); in f 100000000", 1)
    restarted: list[list[str]] = []
    pool = Pool(1, 0, lambda: list(store), lambda uri: None, restarted.append)
    pool.start()
    try:
        pool.open(doc)
        first = pool.helpers[0]
        slow = wire.Context(budget_ms=60_000, max_steps=0)
        with pytest.raises(HelperTimeout):
            await pool.call("evaluate", URI, slow, timeout=0.5)
        await first.replaced.wait()
        assert pool.helpers[0] is not first and restarted == [[URI]]
        store.change(
            URI,
            2,
            [_whole("1 + 1")],
            "utf-16",
        )
        pool.change(doc)
        result = await pool.call("evaluate", URI, wire.Context(), timeout=30)
        assert result.value_text == "2" and result.version == 2
    finally:
        pool.close()


def _whole(text: str) -> Any:
    from lsprotocol import types

    return types.TextDocumentContentChangeWholeDocument(text=text)


def test_sources_of_open_documents_travel_by_reference() -> None:
    """``server.wire``: a span's source that is an open document's text is
    sent without the text and gets the receiver's copy back."""
    from evaluator.diagnostics import Diagnostic, Severity
    from evaluator.nodes import Source, Span
    from server import wire

    big = Source(b"x" * 100_000, "/w/big.nix")
    other = Source(b"import ./big.nix", "/w/other.nix")
    diags = [
        Diagnostic("eval_error", Severity.ERROR, "m", Span(big, 1, 2)),
        Diagnostic("eval_error", Severity.ERROR, "n", Span(other, 0, 6)),
    ]
    frame = wire.dumps(("ok", 1, diags), lambda src: src is big or src.text is big.text)
    assert len(frame) < 10_000  # the 100 kB text stayed home
    (size,) = wire.HEADER.unpack(frame[: wire.HEADER.size])
    texts = {"/w/big.nix": b"x" * 100_000}
    tag, call_id, got = wire.loads(frame[wire.HEADER.size :], lambda p: texts.get(p or "", b""))
    assert (tag, call_id) == ("ok", 1) and size == len(frame) - wire.HEADER.size
    assert got[0].span.source.text == big.text and got[0].span.source.path == "/w/big.nix"
    assert got[1].span.source.text == other.text  # not an open document: sent whole
