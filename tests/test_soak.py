"""Soak test (issue 7): a long scripted session against the real server, no leaks.

Four documents (LF, CRLF, emoji, both) get random incremental edits -- also
edits whose range ends split a UTF-16 surrogate pair, CRLF line ends,
multi-line inserts and deletes -- mixed with hovers, completions,
documentSymbol and definition requests.  The client applies every edit to its
own copy of the text (in UTF-16 code units, as LSP positions count them) and
the server's copy (``nixlens/documentText``) must equal it, periodically and
at the end.  Every request must be answered within its timeout, the last
version of each document must get its diagnostics, and the server's RSS at
the end (summed over the server and its analysis helpers) must be at most
1.2 x that after the first 1,000 operations.

The default run does 2,000 operations; ``python -m pytest -m slow
tests/test_soak.py -s`` runs 20,000 and prints the figures.
"""

from __future__ import annotations

import random
import re
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import pytest
from lsp_client import LspClient, LspError

REQUEST_TIMEOUT = 20.0  # seconds, from sending to the answer
MAX_IN_FLIGHT = 6
RSS_GROWTH_LIMIT = 1.2

_BREAK = re.compile(r"\r\n|\r|\n")

BASE = """let
  pkgs = { lib = { id = x: x; }; hello = "hello"; };
  f = { a, b ? 2, ... }@args: a + b;
  xs = [ 1 2 3 (f { a = 1; }) ];
  s = "value ${toString (builtins.length xs)}";
  nested = { a.b.c = 1; a.b.d = [ "x" "y" ]; };
in
with pkgs.lib;
{
  inherit xs s;
  r = id (f { a = 40; });
  t = builtins.trace "soak" nested.a.b.c;
}
"""

EMOJI = """# emoji 😀 and friends 🎉
let
  greeting = "héllo 😀 wörld 🎉";
  faces = [ "😀" "😃" "😄" "👍🏽" ];
  # a comment with 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 and 🐍
  count = builtins.length faces;
in { inherit greeting count; sum = count + 1; }
"""


def initial_texts() -> dict[str, str]:
    return {
        "file:///tmp/nixlens-soak/lf.nix": BASE,
        "file:///tmp/nixlens-soak/crlf.nix": BASE.replace("\n", "\r\n"),
        "file:///tmp/nixlens-soak/emoji.nix": EMOJI,
        "file:///tmp/nixlens-soak/mixed.nix": (EMOJI + BASE.replace("let\n", "x = 1;\n", 1))
        .replace("\n", "\r\n")
        .replace("in {", "in\r{"),
    }


INSERTS = [
    "x",
    " ",
    "1",
    "😀",
    "é",
    "🎉🎉",
    "\n",
    "\r\n",
    "\n  y = 2;\n",
    "\r\n  z = { q = 1; };\r\n",
    "let w = 1; in w",
    '"str 👍 ${s}"',
    "# comment\n",
    "{ a = 1; }",
    "(",
    ")",
    "}",
    ";",
]


def to_units(text: str) -> str:
    """``text`` with every astral character as its two UTF-16 surrogates (one per unit)."""
    out = []
    for ch in text:
        cp = ord(ch)
        if cp > 0xFFFF:
            cp -= 0x10000
            out.append(chr(0xD800 + (cp >> 10)) + chr(0xDC00 + (cp & 0x3FF)))
        else:
            out.append(ch)
    return "".join(out)


@dataclass
class Doc:
    """The client's copy of one document, in UTF-16 code units."""

    uri: str
    units: str
    version: int = 1

    def line_starts(self) -> list[tuple[int, int]]:
        """(start, end before the line break) of every line."""
        lines = []
        start = 0
        for m in _BREAK.finditer(self.units):
            lines.append((start, m.start()))
            start = m.end()
        lines.append((start, len(self.units)))
        return lines

    def position(self, offset: int) -> dict[str, int]:
        for line, (start, end) in enumerate(self.line_starts()):
            if start <= offset <= end:
                return {"line": line, "character": offset - start}
        raise AssertionError(f"offset {offset} inside a line break")

    def offset(self, pos: dict[str, int]) -> int:
        lines = self.line_starts()
        if pos["line"] >= len(lines):
            return len(self.units)
        start, end = lines[pos["line"]]
        return min(start + pos["character"], end)

    def valid_offsets(self) -> list[int]:
        """Offsets that are positions (not inside a CRLF)."""
        out: list[int] = []
        for start, end in self.line_starts():
            out.extend(range(start, end + 1))
        return out

    def apply(self, start: int, end: int, text: str) -> None:
        self.units = self.units[:start] + to_units(text) + self.units[end:]


@dataclass
class Stats:
    ops: int = 0
    edits: int = 0
    surrogate_splits: int = 0
    requests: int = 0
    errors: list[str] = field(default_factory=list)
    slowest: float = 0.0


def random_edit(rng: random.Random, doc: Doc, stats: Stats) -> tuple[int, int, str]:
    """A random (start, end, text) edit of ``doc``, in code units."""
    offsets = doc.valid_offsets()
    kind = rng.random()
    if kind < 0.15:  # split a surrogate pair at one or both ends
        halves = [
            i for i in offsets if 0 < i < len(doc.units) and "\udc00" <= doc.units[i] <= "\udfff"
        ]
        if halves:
            stats.surrogate_splits += 1
            a = rng.choice(halves)
            b = rng.choice([o for o in offsets if abs(o - a) <= 12] or [a])
            text = rng.choice(["", "", "x", "😀", "\n"])
            return min(a, b), max(a, b), text
    start = rng.choice(offsets)
    size = len(doc.units)
    if size > 4000 or (kind < 0.45 and size > 400):  # delete (or replace)
        near = [o for o in offsets if start <= o <= start + rng.choice([1, 3, 10, 40, 120])]
        end = rng.choice(near)
        text = "" if rng.random() < 0.7 else rng.choice(INSERTS)
        return start, end, text
    if size < 600 and kind < 0.6:  # keep the documents from shrinking away
        block = rng.choice([BASE, EMOJI])
        return start, start, block.replace("\n", "\r\n") if rng.random() < 0.5 else block
    return start, start, rng.choice(INSERTS)


def run_session(operations: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    docs = {uri: Doc(uri, to_units(text)) for uri, text in initial_texts().items()}
    stats = Stats()
    in_flight: deque[tuple[str, float, Future[Any]]] = deque()
    figures: dict[str, Any] = {"operations": operations}
    client = LspClient()

    def settle_one() -> None:
        method, sent, fut = in_flight.popleft()
        left = max(0.0, sent + REQUEST_TIMEOUT - time.monotonic())
        try:
            fut.result(left)
        except LspError as err:
            stats.errors.append(f"{method}: {err}")
        except Exception as exc:  # timeout or EOF
            raise AssertionError(
                f"{method}: no answer within {REQUEST_TIMEOUT}s ({exc!r})"
            ) from exc
        stats.slowest = max(stats.slowest, time.monotonic() - sent)

    def drain() -> None:
        while in_flight:
            settle_one()

    def check_texts() -> None:
        drain()
        for doc in docs.values():
            got = client.request("nixlens/documentText", {"uri": doc.uri}, timeout=REQUEST_TIMEOUT)
            assert got is not None, doc.uri
            assert got["version"] == doc.version, (doc.uri, got["version"], doc.version)
            if to_units(got["text"]) != doc.units:
                raise AssertionError(
                    f"{doc.uri} differs after {stats.ops} operations:\n"
                    f"server: {to_units(got['text'])!r}\nclient: {doc.units!r}"
                )

    try:
        caps = client.initialize()["capabilities"]
        requests = [
            (cap, method)
            for cap, method in [
                ("hoverProvider", "textDocument/hover"),
                ("completionProvider", "textDocument/completion"),
                ("documentSymbolProvider", "textDocument/documentSymbol"),
                ("definitionProvider", "textDocument/definition"),
            ]
            if caps.get(cap)
        ]
        assert requests, "the server advertises none of the requests of the soak test"
        for doc in docs.values():
            client.open(
                doc.uri,
                doc.units.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass"),
            )
        t0 = time.monotonic()
        for _ in range(operations):
            doc = rng.choice(list(docs.values()))
            if rng.random() < 0.6:
                start, end, text = random_edit(rng, doc, stats)
                change = {
                    "range": {"start": doc.position(start), "end": doc.position(end)},
                    "text": text,
                }
                doc.apply(start, end, text)
                doc.version += 1
                client.change(doc.uri, doc.version, [change])
                stats.edits += 1
            else:
                _, method = rng.choice(requests)
                params: dict[str, Any] = {"textDocument": {"uri": doc.uri}}
                if method != "textDocument/documentSymbol":
                    params["position"] = doc.position(rng.choice(doc.valid_offsets()))
                _, fut = client.request_async(method, params)
                in_flight.append((method, time.monotonic(), fut))
                stats.requests += 1
                while len(in_flight) > MAX_IN_FLIGHT:
                    settle_one()
            stats.ops += 1
            if stats.ops % 500 == 0:
                check_texts()
            if stats.ops == 1000:
                figures["rss_1000_kb"] = client.tree_kb("VmRSS")
                figures["server_rss_1000_kb"] = client.status_kb("VmRSS")
            assert client.proc.poll() is None, f"server exited after {stats.ops} operations"
        check_texts()
        for doc in docs.values():  # the last version of each document is diagnosed
            client.wait_diagnostics(doc.uri, doc.version, 60)
        figures["wall_s"] = time.monotonic() - t0
        figures["rss_end_kb"] = client.tree_kb("VmRSS")
        figures["server_rss_end_kb"] = client.status_kb("VmRSS")
        figures["hwm_kb"] = client.status_kb("VmHWM")
        figures["helpers"] = len(client.helper_pids())
        figures["exit_code"] = client.shutdown_and_exit(30)
    finally:
        client.close()
    figures.update(
        edits=stats.edits,
        surrogate_splits=stats.surrogate_splits,
        requests=stats.requests,
        error_responses=stats.errors,
        slowest_answer_s=stats.slowest,
        final_lengths={uri.rsplit("/", 1)[-1]: len(d.units) for uri, d in docs.items()},
    )
    return figures


def check(figures: dict[str, Any]) -> None:
    print()
    for key, value in figures.items():
        print(f"  {key}: {value}")
    base, end = figures.get("rss_1000_kb", 0), figures["rss_end_kb"]
    if base and end:
        print(
            f"  RSS after 1000 ops {base / 1024:.1f} MB, at end {end / 1024:.1f} MB, ratio {end / base:.3f}"
        )
        assert end <= RSS_GROWTH_LIMIT * base
    assert figures["exit_code"] == 0
    # Requests on a document in the middle of an edit are fine; internal errors are not.
    assert not [e for e in figures["error_responses"] if "-32603" in e], figures["error_responses"]


def test_soak_short() -> None:
    figures = run_session(2_000)
    check(figures)
    assert figures["edits"] > 1000 and figures["surrogate_splits"] > 0


@pytest.mark.slow
def test_soak_long() -> None:
    figures = run_session(20_000, seed=11)
    check(figures)
