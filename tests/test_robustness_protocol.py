"""Malformed protocol traffic (issue 7): the real server over stdio, raw bytes.

For every bad message the server must answer as JSON-RPC 2.0 / LSP specify
(or ignore it, for notifications) and keep serving: after each one, a valid
request still gets its answer.  Every read has a deadline and every server
process is killed at the end, so no test can hang.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from lsp_client import ROOT, LspClient, LspError, frame

URI = "file:///tmp/nixlens-client/robust.nix"
TEXT = 'let\n  a = { b = 1; c = "x"; };\n  f = { x, y ? 2 }: x + y;\nin f { x = a.b; }\n'
NEVER_OPENED = "file:///tmp/nixlens-client/never-opened.nix"

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
SERVER_NOT_INITIALIZED = -32002


def pos(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


def hover_params(uri: str = URI, position: Any = None) -> dict[str, Any]:
    return {"textDocument": {"uri": uri}, "position": position or pos(1, 2)}


def wait_orphan(client: LspClient, count: int, timeout: float = 10) -> list[dict[str, Any]]:
    """Wait until ``count`` responses without a waiting request (e.g. id null) arrived."""
    assert client.wait_until(lambda: len(client.orphans) >= count, timeout), (
        f"expected {count} unsolicited responses, got {client.orphans}"
    )
    return client.orphans[:count]


def assert_serving(client: LspClient) -> None:
    """A valid request round trip still works, and the document is intact."""
    result = client.request("textDocument/hover", hover_params(), timeout=15)
    assert result is not None and "contents" in result
    doc = client.request("nixlens/documentText", {"uri": URI}, timeout=10)
    assert doc is not None and doc["text"] == TEXT
    assert client.proc.poll() is None


@pytest.fixture(scope="module")
def server() -> Iterator[LspClient]:
    """One initialized server with ``TEXT`` open (each test leaves it serving)."""
    client = LspClient()
    try:
        client.initialize()
        client.open(URI, TEXT)
        client.wait_diagnostics(URI, 1)
        yield client
        assert client.shutdown_and_exit() == 0
    finally:
        client.close()


@pytest.fixture
def fresh() -> Iterator[LspClient]:
    """A server of its own (lifecycle tests), not initialized yet."""
    client = LspClient()
    try:
        yield client
    finally:
        client.close()


# ------------------------------------------------------------ bad messages


@pytest.mark.parametrize(
    "body",
    [b"{not json", b'{"jsonrpc": "2.0", "id": 1, "method": ', b"\xff\xfe\x00", b"   "],
    ids=["garbage", "truncated", "not-utf8", "whitespace"],
)
def test_invalid_json_is_a_parse_error(server: LspClient, body: bytes) -> None:
    before = len(server.orphans)
    server.send_raw(frame(body))
    (reply,) = wait_orphan(server, before + 1)[before:]
    assert reply["id"] is None
    assert reply["error"]["code"] == PARSE_ERROR
    assert_serving(server)


@pytest.mark.parametrize(
    ("body", "expected_id"),
    [
        (b"[1, 2]", None),
        (b"42", None),
        (b'"hello"', None),
        (b'{"id": 77, "method": "textDocument/hover"}', 77),  # no "jsonrpc"
    ],
    ids=["batch-array", "number", "string", "no-jsonrpc"],
)
def test_valid_json_that_is_no_message_is_an_invalid_request(
    server: LspClient, body: bytes, expected_id: Any
) -> None:
    before = len(server.orphans)
    server.send_raw(frame(body))
    (reply,) = wait_orphan(server, before + 1)[before:]
    assert reply["id"] == expected_id
    assert reply["error"]["code"] == INVALID_REQUEST
    assert_serving(server)


def test_unknown_request_is_method_not_found(server: LspClient) -> None:
    with pytest.raises(LspError) as err:
        server.request("nixlens/noSuchMethod", {"x": 1}, timeout=10)
    assert err.value.code == METHOD_NOT_FOUND
    with pytest.raises(LspError) as err:
        server.request("$/noSuchRequest", {}, timeout=10)
    assert err.value.code == METHOD_NOT_FOUND
    assert_serving(server)


@pytest.mark.parametrize("method", ["nixlens/noSuchNotification", "$/noSuchNotification"])
def test_unknown_notifications_are_ignored(server: LspClient, method: str) -> None:
    before = len(server.orphans)
    server.notify(method, {"x": 1})
    server.notify(method)  # without params too
    assert_serving(server)
    assert len(server.orphans) == before  # nothing answered a notification


@pytest.mark.parametrize(
    "params",
    [
        hover_params(position="x"),
        hover_params(position={"line": "one", "character": 0}),
        {"textDocument": URI, "position": pos(0, 0)},
        {"position": pos(0, 0)},
        "not an object",
        [1, 2, 3],
    ],
    ids=["position-string", "line-string", "document-string", "no-document", "string", "array"],
)
def test_request_with_wrong_param_types_is_invalid_params(server: LspClient, params: Any) -> None:
    with pytest.raises(LspError) as err:
        server.request("textDocument/hover", params, timeout=10)
    assert err.value.code == INVALID_PARAMS
    assert_serving(server)


@pytest.mark.parametrize(
    "changes",
    [
        [{"range": "bogus", "text": "zz"}],
        [{"range": {"start": {"line": "a"}, "end": 3}, "text": "zz"}],
        [{"range": {"start": pos(0, 0), "end": pos(0, 1)}, "text": "x", "rangeLength": "a"}],
        "not a list",
    ],
    ids=["range-string", "range-fields", "range-length-string", "changes-string"],
)
def test_notification_with_wrong_param_types_is_ignored(server: LspClient, changes: Any) -> None:
    before = len(server.orphans)
    server.notify(
        "textDocument/didChange",
        {"textDocument": {"uri": URI, "version": 99}, "contentChanges": changes},
    )
    assert_serving(server)  # the document is untouched (and still at its text)
    doc = server.request("nixlens/documentText", {"uri": URI}, timeout=10)
    assert doc["version"] == 1
    assert len(server.orphans) == before


def test_notifications_for_documents_never_opened_are_ignored(server: LspClient) -> None:
    edit = {"range": {"start": pos(0, 0), "end": pos(0, 1)}, "text": "x"}
    server.change(NEVER_OPENED, 2, [edit])
    server.notify("textDocument/didSave", {"textDocument": {"uri": NEVER_OPENED}})
    server.notify("textDocument/didClose", {"textDocument": {"uri": NEVER_OPENED}})
    assert_serving(server)
    assert server.request("nixlens/documentText", {"uri": NEVER_OPENED}) is None


# ------------------------------------------- positions, URIs, every feature


def _feature_requests(
    caps: dict[str, Any],
) -> list[tuple[str, Callable[[str, dict[str, int]], dict[str, Any]]]]:
    """The position-taking requests the server advertises, with a params builder."""

    def doc(uri: str) -> dict[str, Any]:
        return {"textDocument": {"uri": uri}}

    def at(uri: str, p: dict[str, int]) -> dict[str, Any]:
        return {**doc(uri), "position": p}

    def rng(uri: str, p: dict[str, int]) -> dict[str, Any]:
        return {**doc(uri), "range": {"start": p, "end": p}}

    table: list[tuple[str, str, Callable[[str, dict[str, int]], dict[str, Any]]]] = [
        ("hoverProvider", "textDocument/hover", at),
        ("completionProvider", "textDocument/completion", at),
        ("definitionProvider", "textDocument/definition", at),
        ("declarationProvider", "textDocument/declaration", at),
        ("typeDefinitionProvider", "textDocument/typeDefinition", at),
        ("implementationProvider", "textDocument/implementation", at),
        (
            "referencesProvider",
            "textDocument/references",
            lambda u, p: {**at(u, p), "context": {"includeDeclaration": True}},
        ),
        ("documentHighlightProvider", "textDocument/documentHighlight", at),
        ("signatureHelpProvider", "textDocument/signatureHelp", at),
        ("documentSymbolProvider", "textDocument/documentSymbol", lambda u, p: doc(u)),
        ("foldingRangeProvider", "textDocument/foldingRange", lambda u, p: doc(u)),
        ("semanticTokensProvider", "textDocument/semanticTokens/full", lambda u, p: doc(u)),
        (
            "documentFormattingProvider",
            "textDocument/formatting",
            lambda u, p: {**doc(u), "options": {"tabSize": 2, "insertSpaces": True}},
        ),
        (
            "selectionRangeProvider",
            "textDocument/selectionRange",
            lambda u, p: {**doc(u), "positions": [p]},
        ),
        ("inlayHintProvider", "textDocument/inlayHint", rng),
        (
            "codeActionProvider",
            "textDocument/codeAction",
            lambda u, p: {**rng(u, p), "context": {"diagnostics": []}},
        ),
    ]
    return [(method, build) for cap, method, build in table if caps.get(cap)]


@pytest.fixture(scope="module")
def capabilities() -> Iterator[dict[str, Any]]:
    client = LspClient()
    try:
        yield client.initialize()["capabilities"]
    finally:
        client.close()


def _is_empty(result: Any) -> bool:
    if result is None or result == []:
        return True
    if isinstance(result, dict):  # e.g. semantic tokens, completion list
        return all(not v for k, v in result.items() if k in ("data", "items"))
    return False


def test_positions_past_the_end_and_huge_numbers(
    server: LspClient, capabilities: dict[str, Any]
) -> None:
    features = _feature_requests(capabilities)
    assert features, "the server advertises no position-taking feature"
    big = 2**31 - 1
    positions = [pos(0, 500), pos(3, 10_000), pos(200, 0), pos(big, big), pos(0, big), pos(4, 0)]
    for method, build in features:
        for p in positions:
            try:
                server.request(method, build(URI, p), timeout=15)
            except LspError as err:  # refusing is fine; failing inside is not
                assert err.code != INTERNAL_ERROR, (method, p, err.error)
        # Out of range of the protocol's uinteger: refused as invalid params or answered.
        for p in [pos(-1, -5), pos(0, -1), pos(2**40, 0)]:
            try:
                server.request(method, build(URI, p), timeout=15)
            except LspError as err:
                assert err.code == INVALID_PARAMS, (method, p, err.error)
    assert_serving(server)


def test_documents_never_opened_give_empty_results(
    server: LspClient, capabilities: dict[str, Any]
) -> None:
    for method, build in _feature_requests(capabilities):
        for uri in [NEVER_OPENED, "untitled:Untitled-9", "file:///tmp/nixlens-client/%zz"]:
            result = server.request(method, build(uri, pos(0, 0)), timeout=15)
            assert _is_empty(result), (method, uri, result)
    result = server.request(
        "textDocument/diagnostic", {"textDocument": {"uri": NEVER_OPENED}}, timeout=15
    )
    assert result["items"] == []
    assert_serving(server)


# --------------------------------------------------------------- lifecycle


def test_request_before_initialize_is_server_not_initialized(fresh: LspClient) -> None:
    with pytest.raises(LspError) as err:
        fresh.request("textDocument/hover", hover_params(), timeout=10)
    assert err.value.code == SERVER_NOT_INITIALIZED
    with pytest.raises(LspError) as err:
        fresh.request("shutdown", timeout=10)
    assert err.value.code == SERVER_NOT_INITIALIZED
    fresh.open(URI, TEXT)  # a notification before initialize: dropped
    fresh.initialize()
    assert fresh.request("nixlens/documentText", {"uri": URI}, timeout=10) is None
    fresh.open(URI, TEXT)
    fresh.wait_diagnostics(URI, 1)
    assert fresh.request("textDocument/hover", hover_params(), timeout=15) is not None
    assert fresh.shutdown_and_exit() == 0


def test_requests_after_shutdown_are_invalid_and_exit_code_is_0(fresh: LspClient) -> None:
    fresh.initialize()
    fresh.open(URI, TEXT)
    assert fresh.request("shutdown", timeout=10) is None
    for method, params in [
        ("textDocument/hover", hover_params()),
        ("nixlens/noSuchMethod", {}),
        ("shutdown", None),
    ]:
        with pytest.raises(LspError) as err:
            fresh.request(method, params, timeout=10)
        assert err.value.code == INVALID_REQUEST, method
    fresh.notify("textDocument/didClose", {"textDocument": {"uri": URI}})  # ignored
    fresh.notify("exit")
    assert fresh.wait_exit(15) == 0


def test_exit_without_shutdown_exits_with_1(fresh: LspClient) -> None:
    fresh.initialize()
    fresh.open(URI, TEXT)
    fresh.notify("exit")
    assert fresh.wait_exit(15) == 1


def test_exit_before_initialize_exits_with_1(fresh: LspClient) -> None:
    fresh.notify("exit")
    assert fresh.wait_exit(15) == 1


def test_end_of_input_stops_the_server(fresh: LspClient) -> None:
    fresh.initialize()
    assert fresh.proc.stdin is not None
    fresh.proc.stdin.close()
    assert fresh.wait_exit(15) is not None


# ----------------------------------------------------------- handler errors

# Runs the real server with one function patched to fail for line 4242.
FAILING_SERVER = """
import sys
import server.positions as positions
import server.lsp as lsp

original = positions.to_offset

def to_offset(index, position, encoding):
    if position.line == 4242:
        raise RuntimeError("boom from the robustness test")
    return original(index, position, encoding)

positions.to_offset = to_offset
sys.exit(lsp.main(sys.argv[1:]))
"""


def test_internal_error_answers_that_request_only() -> None:
    client = LspClient([sys.executable, "-c", FAILING_SERVER])
    try:
        client.initialize()
        client.open(URI, TEXT)
        client.wait_diagnostics(URI, 1)
        # Several in flight at once: only the failing one gets an error.
        _, ok_before = client.request_async("textDocument/hover", hover_params())
        _, failing = client.request_async("textDocument/hover", hover_params(position=pos(4242, 0)))
        _, ok_after = client.request_async("textDocument/hover", hover_params())
        with pytest.raises(LspError) as err:
            failing.result(15)
        assert err.value.code == INTERNAL_ERROR
        assert "boom from the robustness test" in err.value.error["message"]
        assert ok_before.result(15) is not None
        assert ok_after.result(15) is not None
        deadline = time.monotonic() + 5
        while "boom from the robustness test" not in client.stderr_text():
            assert time.monotonic() < deadline, "no traceback on stderr"
            time.sleep(0.05)
        stderr = client.stderr_text()
        assert "Traceback" in stderr and "RuntimeError: boom from the robustness test" in stderr
        assert client.request("textDocument/hover", hover_params(), timeout=15) is not None
        assert client.shutdown_and_exit() == 0
    finally:
        client.close()


def test_many_bad_messages_in_one_write(server: LspClient) -> None:
    """Several frames (good and bad) in one write are all handled, in order."""
    before = len(server.orphans)
    good = {"jsonrpc": "2.0", "id": "batch-good", "method": "nixlens/documentText"}
    good["params"] = {"uri": URI}
    blob = b"".join([frame(b"{oops"), frame(b"[]"), frame(json.dumps(good).encode()), frame(b"7")])
    server.send_raw(blob)
    replies = wait_orphan(server, before + 4)[before:]
    assert [r.get("error", {}).get("code") for r in replies] == [
        PARSE_ERROR,
        INVALID_REQUEST,
        None,
        INVALID_REQUEST,
    ]
    assert replies[2]["id"] == "batch-good" and replies[2]["result"]["text"] == TEXT
    assert_serving(server)


@pytest.mark.parametrize(
    ("text", "position", "expected"),
    [
        ("abc", pos(0, 10), "abcX"),  # past the end of the last line (no line break)
        ("abc\r\ndef", pos(0, 7), "abcX\r\ndef"),  # past the end of a CRLF line
        ("a\udc4d bc", pos(0, 5), "a\udc4d bcX"),  # a lone surrogate on the line
        ("x = 1;", pos(9, 0), "x = 1;X"),  # a line past the end
    ],
    ids=["last-line", "crlf-line", "lone-surrogate", "past-last-line"],
)
def test_edits_past_the_end_of_a_line_are_clamped_to_it(
    server: LspClient, text: str, position: dict[str, int], expected: str
) -> None:
    """LSP: a character past the line length means the line length.  (pygls'
    own document copy used to rewrite such positions to ``length - 1`` in the
    params before the server's handler saw them.)"""
    uri = "file:///tmp/nixlens-client/clamp.nix"
    server.open(uri, text)
    server.change(uri, 2, [{"range": {"start": position, "end": position}, "text": "X"}])
    got = server.request("nixlens/documentText", {"uri": uri}, timeout=10)
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    assert got == {"uri": uri, "version": 2, "text": expected}
    assert_serving(server)


def test_notification_futures_are_not_kept() -> None:
    """pygls files the future of each generator/async handler under an id and
    drops only those of requests; the server's protocol drops the others too
    (every didChange used to leak one: RSS grew 1.4x over the long soak)."""
    from server.lsp import create_server

    protocol = create_server().protocol

    def generator_handler(params: Any) -> Any:
        if params is None:
            yield
        return None

    before = dict(protocol._request_futures)
    for k in range(100):
        protocol._execute_handler(
            f"n{k}", generator_handler, protocol._check_handler_result, ("p",)
        )
    assert protocol._request_futures == before


def test_hover_whose_budget_runs_out_while_parsing_answers() -> None:
    """A hover budget spent before the value is evaluated (parsing a large
    file) gives a "stopped after" hover, not an internal error."""
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    from bench_lsp import generate

    # 40,000 lines: the hover comes long before the server's own analysis of
    # the text (whose parse a hover would reuse) is done.
    text, where = generate(40000)
    uri = "file:///tmp/nixlens-client/big.nix"
    client = LspClient()
    try:
        client.initialize({"hover": {"budgetMs": 1}})
        client.open(uri, text)
        line, character = where["hover"]
        params = {"textDocument": {"uri": uri}, "position": pos(line, character)}
        result = client.request("textDocument/hover", params, timeout=30)
        assert result is not None
        assert "stopped after" in result["contents"]["value"]
        assert client.shutdown_and_exit() == 0
    finally:
        client.close()
