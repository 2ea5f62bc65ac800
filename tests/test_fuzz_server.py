"""Fuzzing the running server (issue 7): hypothesis drives one real server over stdio.

Each example opens a document with generated text (edited Nix, random
Unicode with emoji, CR/CRLF/LF line ends, NULs), applies generated
incremental edits (ranges anywhere, also past the end and between the two
halves of a surrogate pair) and sends every kind of request at generated
positions (also far past the end of a line or of the file).

Properties: every request is answered -- a result or a JSON-RPC error, never
"internal error" (an uncaught exception in a handler) -- within its
deadline; the server's copy of the document equals the client's after the
edits; the server never writes a traceback to its log and never exits.

CI runs a short version; ``python -m pytest -m slow tests/test_fuzz_server.py``
runs the long one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsp_client import LspClient, LspError, LspTimeout

DEADLINE = 15.0  # seconds per request; hover/eval budgets are far below this
INTERNAL_ERROR = -32603

SEED = """let
  pkgs = { lib = { id = x: x; }; hello = "héllo 😀"; };
  f = { a, b ? 2, ... }@args: a + b;
  xs = [ 1 2 3 (f { a = 1; }) ];
  s = ''
    echo ${toString (builtins.length xs)}
  '';
  loop = let l = x: l x; in l 1;
in
with pkgs.lib;
{
  inherit xs s;
  r = id (f { a = 40; });
  t = builtins.trace "fuzz" (assert true; ./some/path);
  u = http://example.org;
}
"""

_TOKENS = [
    "let", "in", "rec", "with", "inherit", "if", "then", "else", "assert", "or",
    "{", "}", "[", "]", "(", ")", ";", ":", "=", ".", ",", "...", "@", "?",
    "${", "''", '"', "\\", "#", "/*", "*/", "+", "++", "//", "==", "->", "!",
    "x", "a.b.c", "builtins.map", "1", "2.5", "./p", "<nixpkgs>", "~/x",
    "😀", "é", "𝔘", "\r\n", "\r", "\n", "\t", " ", "\x00",
]  # fmt: skip

texts = st.one_of(
    st.just(SEED),
    st.lists(st.sampled_from(_TOKENS), max_size=60).map("".join),
    st.text(max_size=200),
)
inserts = st.one_of(
    st.lists(st.sampled_from(_TOKENS), max_size=6).map("".join), st.text(max_size=8)
)
positions = st.tuples(
    st.integers(0, 30) | st.sampled_from([1000, 2**31 - 1]),
    st.integers(0, 90) | st.sampled_from([1000, 2**31 - 1]),
)

METHODS = [
    "textDocument/hover",
    "textDocument/completion",
    "textDocument/definition",
    "textDocument/references",
    "textDocument/documentHighlight",
    "textDocument/documentSymbol",
    "textDocument/foldingRange",
    "textDocument/semanticTokens/full",
    "textDocument/semanticTokens/range",
    "textDocument/selectionRange",
    "textDocument/signatureHelp",
    "textDocument/codeAction",
    "textDocument/inlayHint",
    "textDocument/prepareRename",
    "textDocument/rename",
    "textDocument/documentLink",
    "textDocument/diagnostic",
]

edit_op = st.tuples(st.just("edit"), positions, positions, inserts)
request_op = st.tuples(st.just("request"), st.sampled_from(METHODS), positions, positions)
operations = st.lists(st.one_of(edit_op, request_op), min_size=1, max_size=12)


# ------------------------------------------------------- the client's copy

_BREAK = re.compile(r"\r\n|\r|\n")


def _units(text: str) -> list[str]:
    """The text as UTF-16 code units (astral characters as two surrogates)."""
    data = text.encode("utf-16-le", "surrogatepass")
    return [data[i : i + 2].decode("utf-16-le", "surrogatepass") for i in range(0, len(data), 2)]


def _join(units: list[str]) -> str:
    """Code units back to text, pairs joined, lone surrogates kept."""
    return "".join(units).encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def _offset(units: list[str], line: int, character: int) -> int:
    """A UTF-16 position as an index into ``units``, clamped like LSP servers do."""
    flat = "".join(u if len(u) == 1 else "?" for u in units)
    starts = [0] + [m.end() for m in _BREAK.finditer(flat)]
    if line >= len(starts):
        return len(units)
    start = starts[line]
    end = len(units)
    m = _BREAK.search(flat, start)
    if m is not None:
        end = m.start()
    return min(start + character, end)


def apply_edit(text: str, start: tuple[int, int], end: tuple[int, int], new: str) -> str:
    units = _units(text)
    a, b = _offset(units, *start), _offset(units, *end)
    if b < a:
        a, b = b, a
    return _join(units[:a] + _units(new) + units[b:])


def params_for(method: str, uri: str, p: tuple[int, int], q: tuple[int, int]) -> dict[str, Any]:
    doc = {"uri": uri}
    pos = {"line": p[0], "character": p[1]}
    rng = {"start": pos, "end": {"line": q[0], "character": q[1]}}
    if method in (
        "textDocument/documentSymbol",
        "textDocument/foldingRange",
        "textDocument/semanticTokens/full",
        "textDocument/documentLink",
        "textDocument/diagnostic",
    ):
        return {"textDocument": doc}
    if method in ("textDocument/semanticTokens/range", "textDocument/inlayHint"):
        return {"textDocument": doc, "range": rng}
    if method == "textDocument/codeAction":
        return {"textDocument": doc, "range": rng, "context": {"diagnostics": []}}
    if method == "textDocument/selectionRange":
        return {"textDocument": doc, "positions": [pos, rng["end"]]}
    if method == "textDocument/references":
        return {"textDocument": doc, "position": pos, "context": {"includeDeclaration": True}}
    if method == "textDocument/rename":
        return {"textDocument": doc, "position": pos, "newName": "renamed"}
    return {"textDocument": doc, "position": pos}


# --------------------------------------------------------------- the server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LspClient]:
    root = tmp_path_factory.mktemp("fuzz-ws")
    client = LspClient()
    client.initialize(
        {
            "diagnostics": {"debounceMs": 0},
            "eval": {"budgetMs": 300},
            "hover": {"budgetMs": 100},
            "inlayHints": {"enable": True},
        },
        root=root.as_uri(),
    )
    client.root = root  # type: ignore[attr-defined]
    try:
        yield client
    finally:
        log = client.stderr_text()
        alive = client.proc.poll() is None
        code = client.shutdown_and_exit()
        client.close()
        assert alive, "the server exited during the fuzz run:\n" + log[-3000:]
        assert code == 0
        at = log.find("Traceback")
        assert at < 0, log[max(0, at - 1500) : at + 3000]


_counter = iter(range(10**9))


def run_session(server: LspClient, text: str, ops: list[Any]) -> None:
    n = next(_counter)
    uri = (server.root / f"doc{n}.nix").as_uri()  # type: ignore[attr-defined]
    server.open(uri, text, 1)
    version = 1
    ours = _join(_units(text))
    for op in ops:
        if op[0] == "edit":
            _, start, end, new = op
            version += 1
            lo, hi = sorted([start, end])
            change = {
                "range": {
                    "start": {"line": lo[0], "character": lo[1]},
                    "end": {"line": hi[0], "character": hi[1]},
                },
                "text": new,
            }
            server.change(uri, version, [change])
            ours = apply_edit(ours, lo, hi, new)
            continue
        _, method, p, q = op
        try:
            server.request(method, params_for(method, uri, p, q), timeout=DEADLINE)
        except LspError as err:
            assert err.code != INTERNAL_ERROR, f"{method} at {p}: {err.error}"
        except LspTimeout:
            pytest.fail(f"{method} at {p} not answered within {DEADLINE}s on {ours!r}")
    got = server.request("nixlens/documentText", {"uri": uri}, timeout=DEADLINE)
    assert got["version"] == version
    assert got["text"] == ours
    server.notify("textDocument/didClose", {"textDocument": {"uri": uri}})


_short = settings(
    max_examples=int(os.environ.get("NIXLENS_FUZZ_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@_short
@given(text=texts, ops=operations)
def test_server_answers_everything(server: LspClient, text: str, ops: list[Any]) -> None:
    run_session(server, text, ops)


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=texts, ops=operations)
def test_server_answers_everything_long(server: LspClient, text: str, ops: list[Any]) -> None:
    run_session(server, text, ops)
