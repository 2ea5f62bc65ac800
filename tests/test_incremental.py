"""Incremental lowering and lints (``evaluator.incremental``,
``evaluator.incremental_lint``) give what an analysis from scratch gives.

Random edits (insertions, deletions, syntax broken and mended again, renames
that change what names resolve to, edits in strings and comments, multi-byte
UTF-8, undoing) are applied to generated files, to real library code and to
Nix's language tests; after each edit the incrementally lowered tree (every
field, every span), its parse errors, the name resolution of it and the lints
(with their ranges) must equal those of the text lowered and linted from
scratch.  Small unit and keep thresholds are used too, so that small files
exercise the reuse as much as a large one does.
"""

from __future__ import annotations

import glob
import os
import random
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from evaluator import incremental_lint, parse
from evaluator import nodes as N
from evaluator.ide._doc import AnalysisCache, using
from evaluator.incremental import Lowering
from evaluator.incremental_lint import IncrementalLint
from evaluator.lint import lint
from evaluator.nodes import Source
from evaluator.parse import lower, make_parser
from evaluator.scope import resolve
from server.analysis import Incremental, Snapshot, static_diagnostics
from server.documents import Document

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))

from bench_lsp import generate  # noqa: E402

SHARED = os.path.join(ROOT, "..", "shared")
LANG_TESTS = os.path.join(SHARED, "nix-lang-tests")
NIXPKGS_LIB = os.path.join(SHARED, "nixpkgs-lib", "lib")

# Inserted at random places: tokens that make and mend syntax errors, bind
# and shadow names, open strings and comments, multi-byte characters.
SNIPPETS = [
    b"x",
    b"lib",
    b"3",
    b" ",
    b"\n",
    b"{",
    b"}",
    b"(",
    b")",
    b"[",
    b"]",
    b";",
    b'"',
    b"''",
    b"${",
    b"#",
    b"/*",
    b"*/",
    b"a = 1;",
    b"inherit a;",
    b"inherit (lib) id;",
    b"inherit;",
    b"with lib; ",
    b"let y = 1; in ",
    b"let in ",
    b"rec ",
    b"z: ",
    b"{ p, q ? 1, ... }@args: ",
    b"true && ",
    b" || false",
    b"<nixpkgs>",
    b"http://example.org",
    b"./a/b",
    b"__curPos",
    b"\xc3\xa9",
    b"\xe2\x86\x92",
    b"\xf0\x9f\x98\x80",
    b"\r",
    b"\t",
    b"if x then 1 else 2",
    b"builtins.map",
    b"a.b.c = 2;",
    b"a = { x = 1; }; a = { y = 2; };",
]

_IDENT = b"abcdefghijklmnopqrstuvwxyz_"


def dump(node: Any) -> list[Any]:
    """Every field of a lowered tree (spans as offsets), in a fixed order."""
    out: list[Any] = []
    stack = [node]
    while stack:
        x = stack.pop()
        if x is None or isinstance(x, (str, int, float, bool)):
            out.append(x)
        elif isinstance(x, N.Span):
            out.append(("span", x.start, x.end))
        elif isinstance(x, (list, tuple)):
            out.append(("seq", len(x)))
            stack.extend(reversed(x))
        elif isinstance(x, dict):
            out.append(("map", tuple(x)))
            stack.extend(reversed(list(x.values())))
        else:
            out.append(type(x).__name__)
            stack.extend(getattr(x, f) for f in reversed(N.fields(x)))
    return out


def resolution(root: N.Node) -> list[Any]:
    """Name resolution as offsets: what each variable refers to, each scope."""
    res = resolve(root)

    def ref(r: Any) -> Any:
        d = r.definition
        where = None if d is None else (d.name, d.kind, d.span.start, d.span.end)
        return (r.kind, where, tuple(w.span.start for w in r.withs))

    refs = sorted((v.span.start, v.span.end, v.name, ref(r)) for v, r in res.refs.items())
    defs = [(d.name, d.kind, d.span.start, len(d.uses)) for d in res.definitions]
    scopes = sorted((s.kind, s.span.start, s.span.end, tuple(s.names)) for s in res.scopes)
    withs = sorted((w.span.start, used) for w, used in res.with_used.items())
    return [refs, defs, scopes, withs]


def findings(diags: list[Any]) -> list[Any]:
    return [
        (d.code, d.severity, d.message, d.span.start, d.span.end, sorted(t.name for t in d.tags))
        for d in diags
    ]


def random_edits(data: bytes, rng: random.Random, count: int) -> Iterator[tuple[int, int, bytes]]:
    """``count`` edits of a text that changes as they are applied (the
    caller applies each before asking for the next)."""
    undo: list[tuple[int, int, bytes]] = []
    for _ in range(count):
        n = len(data)
        op = rng.random()
        if undo and op < 0.15:
            # Undo the last edit: syntax broken by it is mended again.
            edit = undo.pop()
        elif op < 0.3 and n:
            # Rename an identifier (what variables resolve to changes).
            at = rng.randrange(n)
            while at > 0 and data[at - 1] in _IDENT:
                at -= 1
            end = at
            while end < n and data[end] in _IDENT:
                end += 1
            new = bytes(rng.choice(_IDENT[:26]) for _ in range(rng.randint(1, 4)))
            edit = (at, end, new)
        elif op < 0.55 and n:
            start = rng.randrange(n)
            edit = (start, min(n, start + rng.choice([1, 1, 2, 5, 20, 200])), b"")
        else:
            start = rng.randrange(n + 1)
            end = start if rng.random() < 0.7 else min(n, start + rng.randint(1, 10))
            edit = (start, end, rng.choice(SNIPPETS))
        start, end, new = edit
        old = data[start:end]
        data = data[:start] + new + data[end:]
        if op >= 0.15 or not undo:
            undo.append((start, start + len(new), old))
        yield edit


class Checker:
    """A document edited in place, analysed incrementally and from scratch."""

    def __init__(self, data: bytes, path: str = "/tmp/incremental/test.nix") -> None:
        self.doc = Document.from_bytes("file://" + path, data, 1, make_parser())
        self.path = path
        self.lowering = Lowering(path)
        self.lints = IncrementalLint()
        self.checked = 0
        self.check()

    def edit(self, start: int, end: int, new: bytes) -> None:
        self.doc.edit_bytes(start, end, new)
        self.check()

    def check(self) -> None:
        data = self.doc.data
        inc = self.lowering.lower(self.doc.tree.copy(), data)
        full = lower(self.doc.tree, Source(data, self.path))
        where = f"after {self.checked} edits, text {data!r:.300}"
        assert inc.source.text is data
        assert (inc.root is None) == (full.root is None), where
        assert [(e.message, e.code, e.span.start, e.span.end) for e in inc.errors] == [
            (e.message, e.code, e.span.start, e.span.end) for e in full.errors
        ], where
        assert dump(inc.partial) == dump(full.partial), where
        if full.partial is None:
            self.checked += 1
            return
        got = findings(self.lints.lint(inc.partial, inc.source))
        assert got == findings(lint(full.partial, full.source)), where
        self.checked += 1

    def check_resolution(self) -> None:
        data = self.doc.data
        inc = self.lowering.lower(self.doc.tree.copy(), data)
        full = lower(self.doc.tree, Source(data, self.path))
        if full.partial is not None:
            assert inc.partial is not None
            assert resolution(inc.partial) == resolution(full.partial)


def run_edits(data: bytes, seed: int, count: int, *, resolution_every: int = 0) -> Checker:
    rng = random.Random(seed)
    checker = Checker(data)
    for k, (start, end, new) in enumerate(random_edits(data, rng, count)):
        checker.edit(start, end, new)
        if resolution_every and k % resolution_every == 0:
            checker.check_resolution()
    return checker


@pytest.fixture
def small_units(monkeypatch: pytest.MonkeyPatch) -> None:
    """Units and kept subtrees as small as they go: small files reuse as
    much as large ones."""
    monkeypatch.setattr(incremental_lint, "UNIT_BYTES", 8)
    monkeypatch.setattr(parse, "KEEP_BYTES", 0)


def test_generated_file_random_edits() -> None:
    text, _ = generate(3000)
    checker = run_edits(text.encode(), seed=1, count=40, resolution_every=10)
    assert checker.checked == 41


def test_generated_file_reuses_after_a_one_line_edit() -> None:
    text, where = generate(3000)
    checker = Checker(text.encode())
    line, col = where["edit"]
    at = len("\n".join(text.split("\n")[:line])) + 1 + col  # the "3" of "base = I * 3 + 1"
    for old_len, new in ((1, b"4"), (1, b"3"), (1, b"33"), (2, b"3")):
        checker.edit(at, at + old_len, new)
        # Only the file's root and the edited binding's unit were analysed
        # again, and almost every subtree was kept.
        assert checker.lints.analysed == 1
        assert len(checker.lowering.kept) > 1000


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_generated_file_small_units(small_units: None, seed: int) -> None:
    text, _ = generate(300)
    checker = run_edits(text.encode(), seed=seed, count=60, resolution_every=5)
    assert checker.checked == 61


def _lang_tests() -> list[str]:
    files = sorted(glob.glob(os.path.join(LANG_TESTS, "*.nix")))
    return files[::10]  # a fixed sample, every kind of test


@pytest.mark.skipif(not os.path.isdir(LANG_TESTS), reason="nix-lang-tests not available")
@pytest.mark.parametrize("path", _lang_tests(), ids=os.path.basename)
def test_lang_tests_random_edits(small_units: None, path: str) -> None:
    with open(path, "rb") as f:
        data = f.read()
    run_edits(data, seed=len(data), count=20, resolution_every=5)


@pytest.mark.skipif(not os.path.isdir(NIXPKGS_LIB), reason="nixpkgs-lib not available")
@pytest.mark.parametrize("name", ["lists.nix", "attrsets.nix", "strings.nix", "modules.nix"])
def test_nixpkgs_lib_random_edits(small_units: None, name: str) -> None:
    with open(os.path.join(NIXPKGS_LIB, name), "rb") as f:
        data = f.read()
    run_edits(data, seed=7, count=30, resolution_every=10)


def test_merged_sets_and_lambda_names_are_not_reused_stale(small_units: None) -> None:
    """Literal sets merged by ``a = {…}; a = {…};`` are changed in place, and
    a lambda's name comes from the binding holding it: both must be as from
    scratch after edits around them."""
    data = b"let a = { x = 1; }; a = { y = 2; }; f = x: y: x; in [ a f (z: z) ]\n"
    checker = Checker(data)

    def edit(old: bytes, new: bytes, after: bytes = b"") -> None:
        d = checker.doc.data
        at = d.index(old, d.index(after) if after else 0)
        checker.edit(at, at + len(old), new)

    edit(b"y = 2", b"w = 2")  # inside the merged sets
    edit(b"x = 1", b"x = 3")
    edit(b"f = ", b"g = ")  # the lambda is renamed by its binding
    assert checker.checked == 4
    # A lambda kept (tree-sitter reuses it: the edit is not next to it) that
    # is no binding's value any more has no name.
    data = b"let g = (  x: y: x  ); in g\n"
    checker = Checker(data)
    checker.edit(data.index(b"("), data.index(b"("), b"f ")
    assert checker.checked == 2


def test_static_diagnostics_incremental_equals_from_scratch() -> None:
    """The helper's path (``server.analysis``): syntax errors, lints filtered
    on broken text, and the analysis cache shared with the editor features."""
    text, _ = generate(2000)
    data = text.encode()
    path = "/tmp/incremental/static.nix"
    doc = Document.from_bytes("file://" + path, data, 1, make_parser())
    state = Incremental(path)
    rng = random.Random(11)
    with using(AnalysisCache()):
        for k, (start, end, new) in enumerate(random_edits(data, rng, 12)):
            got = static_diagnostics(Snapshot(doc.data, doc.tree.copy(), k), path, state)
            with using(AnalysisCache()):
                want = static_diagnostics(Snapshot(doc.data, doc.tree.copy(), k), path)
            assert findings(got) == findings(want)
            doc.edit_bytes(start, end, new)


def test_host_lints_a_large_document_incrementally() -> None:
    """The analysis helper's host keeps a large document's state across
    versions; its lints and evaluation equal a fresh host's."""
    from server.host import LARGE_BYTES, AnalysisHost, Request
    from server.wire import Context

    text, where = generate(4000)
    data = text.encode()
    assert len(data) > LARGE_BYTES
    uri, path = "file:///tmp/incremental/host.nix", "/tmp/incremental/host.nix"
    line, col = where["edit"]
    at = len("\n".join(text.split("\n")[:line])) + 1 + col

    def answers(host: AnalysisHost) -> tuple[list[Any], list[Any]]:
        view = host.view(uri)
        lints = host.run("lint", Request(view, Context()), ())
        evaluated = host.run("evaluate", Request(view, Context()), ())
        return findings(lints), [(d.code, d.message) for d in evaluated.diagnostics]

    host = AnalysisHost()
    host.open(uri, path, 1, data, True)
    answers(host)
    for version, edit in enumerate([(at, at + 1, b"4"), (at, at, b"12"), (0, 0, b"# top\n")], 2):
        host.change(uri, version, [edit])
        got = answers(host)
        fresh = AnalysisHost()
        fresh.open(uri, path, version, host.docs[uri].data, True)
        assert got == answers(fresh)
        state = host.docs[uri].incremental
        assert state is not None and len(state.lowering.kept) > 1000


def test_kept_lowerings_do_not_accumulate() -> None:
    """Edits that move most of the file keep only the current tree's
    subtrees (an older tree's are dropped with it)."""
    text, _ = generate(2000)
    checker = Checker(text.encode())
    before = len(checker.lowering.kept)
    rng = random.Random(5)
    for _ in range(30):
        data = checker.doc.data
        at = data.find(b";\n", rng.randrange(len(data) // 2)) + 1
        checker.edit(at, at, b" ")
    assert len(checker.lowering.kept) == before
