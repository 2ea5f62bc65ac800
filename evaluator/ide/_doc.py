"""Shared plumbing of the analyses: a parsed and resolved document (kept in
an ``AnalysisCache`` owned by whoever runs the analyses), node chains to an
offset, repaired parses of incomplete text, and cheap evaluation of one node
in its lexical scope."""

from __future__ import annotations

import bisect
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TypeVar

from .. import nodes as N
from ..compiler import FocusCompiler
from ..errors import EvalLimit, NixError
from ..eval import Evaluator
from ..io import RealIO
from ..parse import parse
from ..scope import Resolution, resolve
from ..vm import Budget
from ..walk import children

#: The identifier inserted at the cursor to repair incomplete text.
HOLE = "nixlensHole"

# Suffixes tried (in order) after the hole until the text parses: typing
# `lib.` in `{ a = lib.| }` parses as `lib.nixlensHole;`, `f { | }` as
# `f { nixlensHole = null; }`, a let still missing `in` as `… ; in null`.
_REPAIRS = ("", ";", " = null;", "; in null", " = null; in null", "; }", " = null; }", ")", "]")


@dataclass(slots=True)
class Doc:
    """One parsed document: ``root`` is None when the text has syntax errors."""

    source: N.Source
    root: N.Node | None
    errors: list[N.ParseError]
    path: str | None
    _res: Resolution | None = None
    # Results that are functions of this text alone (``memo_eval``), by key.
    memo: dict[Any, Any] = field(default_factory=dict)
    _res_lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def res(self) -> Resolution:
        """Name resolution of ``root`` (computed once: threads asking
        meanwhile, such as the server's lints and a request, wait for it)."""
        if self._res is None:
            with self._res_lock:
                if self._res is None:
                    assert self.root is not None
                    self._res = resolve(self.root)
        return self._res

    @property
    def text(self) -> bytes:
        return self.source.text


def to_bytes(text: str | bytes) -> bytes:
    """The document's bytes (offsets everywhere are byte offsets)."""
    return text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text


class AnalysisCache:
    """The parsed documents and tree indexes of the last few texts: one per
    analysis host (``server.host.AnalysisHost``), which installs it with
    ``using`` for the duration of each request.  Eviction and thread safety
    live here and nowhere else.

    Requests arriving together for a new text (and the server's static
    layer, which lowers its incrementally parsed tree) make one parse between
    them: the second waits for the first (``shared``)."""

    #: Source bytes kept (besides the newest analysis): the tree of a
    #: 40,000-line file takes hundreds of megabytes, and after an edit only
    #: the current text's is wanted.
    KEEP_BYTES = 1_000_000
    #: Most analyses kept; most tree indexes kept.
    KEEP_DOCS = 16
    KEEP_INDEXES = 4

    def __init__(self) -> None:
        self._docs: OrderedDict[tuple[bytes, str | None], Doc] = OrderedDict()
        self._parsing: dict[tuple[bytes, str | None], threading.Event] = {}
        self._indexes: OrderedDict[int, TreeIndex] = OrderedDict()
        self._lock = threading.Lock()
        self._indexing = threading.Lock()

    def __len__(self) -> int:
        return len(self._docs)

    def shared(self, data: bytes, path: str | None, make: Callable[[], Doc]) -> Doc:
        """The cached analysis of ``data`` and ``path``, else the one being
        made (waited for), else ``make()``'s, remembered."""
        key = (data, path)
        with self._lock:
            doc = self._docs.get(key)
            if doc is not None:
                self._docs.move_to_end(key)
                return doc
            running = self._parsing.get(key)
            if running is None:
                done = self._parsing[key] = threading.Event()
        if running is not None:
            running.wait()
            with self._lock:
                doc = self._docs.get(key)
            if doc is not None:
                return doc
            return self.remember(make())  # the other parse failed (or was evicted already)
        try:
            self._make_room(len(data))
            return self.remember(make())
        finally:
            with self._lock:
                del self._parsing[key]
            done.set()

    def _make_room(self, size: int) -> None:
        """Before a text of ``size`` bytes is analysed: forget now the analyses
        (and their tree indexes) that ``remember`` would evict once it is made,
        so that the tree of the previous version of a large file is not alive
        next to the new one while that is made."""
        evicted = []
        with self._lock:
            total = sum(len(key[0]) for key in self._docs)
            while self._docs and total + size > self.KEEP_BYTES:
                (text, _), old = self._docs.popitem(last=False)
                total -= len(text)
                evicted.append(old)
            roots = {id(d.root) for d in evicted if d.root is not None}
            for key in [k for k, index in self._indexes.items() if id(index.root) in roots]:
                del self._indexes[key]

    def remember(self, doc: Doc) -> Doc:
        """Keep ``doc`` as the analysis of its text and path (the newest few,
        and never more than about ``KEEP_BYTES`` of source)."""
        with self._lock:
            self._docs[(doc.source.text, doc.path)] = doc
            total = sum(len(key[0]) for key in self._docs)
            while len(self._docs) > self.KEEP_DOCS or (
                len(self._docs) > 1 and total > self.KEEP_BYTES
            ):
                (text, _), _old = self._docs.popitem(last=False)
                total -= len(text)
        return doc

    def cached(self, data: bytes, path: str | None, timeout: float | None = None) -> Doc | None:
        """The analysis of ``data`` if cached or being made (then waited for,
        at most ``timeout`` seconds); never parses."""
        key = (data, path)
        with self._lock:
            running = self._parsing.get(key)
        if running is not None:
            running.wait(timeout)
        with self._lock:
            return self._docs.get(key)

    def tree_index(self, root: N.Node) -> TreeIndex:
        """The index of ``root`` (made once: threads asking meanwhile wait)."""
        with self._lock:
            index = self._indexes.get(id(root))
            if index is not None and index.root is root:
                self._indexes.move_to_end(id(root))
                return index
        with self._indexing:
            with self._lock:
                index = self._indexes.get(id(root))
            if index is None or index.root is not root:
                index = TreeIndex(root)
                with self._lock:
                    self._indexes[id(root)] = index  # holds ``root``: its id stays unique
                    # As for the analyses: an old version's index would keep
                    # its whole tree alive.
                    total = sum(len(i.root.span.source.text) for i in self._indexes.values())
                    while len(self._indexes) > self.KEEP_INDEXES or (
                        len(self._indexes) > 1 and total > self.KEEP_BYTES
                    ):
                        _key, old = self._indexes.popitem(last=False)
                        total -= len(old.root.span.source.text)
        return index

    def forget_source(self, source: N.Source) -> None:
        """Forget the analyses of ``source`` (an incremental lowering is about
        to change their trees in place for the document's next version)."""
        with self._lock:
            for key in [k for k, d in self._docs.items() if d.source is source]:
                del self._docs[key]
            for root_id in [k for k, i in self._indexes.items() if i.root.span.source is source]:
                del self._indexes[root_id]

    def clear(self) -> None:
        """Forget every analysis (files on disk changed, or memory is wanted)."""
        with self._lock:
            self._docs.clear()
            self._indexes.clear()


# The cache the analyses use.  Their signatures are a public API without a
# state parameter, so the owner installs its cache around each call
# (``using``): each analysis host of the language server has its own.
# Library callers that install none (scripts, ``nixlens eval``, unit tests)
# share ``DEFAULT_CACHE``: still one object owning eviction and locking.
DEFAULT_CACHE = AnalysisCache()
_ACTIVE: ContextVar[AnalysisCache] = ContextVar("nixlens_analysis_cache", default=DEFAULT_CACHE)


@contextmanager
def using(cache: AnalysisCache) -> Iterator[AnalysisCache]:
    """Make ``cache`` the one the analyses use (in this thread / task)."""
    token = _ACTIVE.set(cache)
    try:
        yield cache
    finally:
        _ACTIVE.reset(token)


def active_cache() -> AnalysisCache:
    """The cache the analyses use now (``using``'s, else ``DEFAULT_CACHE``)."""
    return _ACTIVE.get()


def _analyse(data: bytes, path: str | None) -> Doc:
    return shared_analysis(data, path, lambda: _parsed(data, path))


def _parsed(data: bytes, path: str | None) -> Doc:
    pr = parse(data, path)
    return Doc(pr.source, pr.root, pr.errors, path)


def shared_analysis(data: bytes, path: str | None, make: Callable[[], Doc]) -> Doc:
    """``AnalysisCache.shared`` of the active cache."""
    return _ACTIVE.get().shared(data, path, make)


def forget_source(source: N.Source) -> None:
    """``AnalysisCache.forget_source`` of the active cache."""
    _ACTIVE.get().forget_source(source)


def remember(doc: Doc) -> Doc:
    """Keep ``doc`` in the active cache (a caller that has lowered the text
    already, e.g. for diagnostics, saves the next parse)."""
    return _ACTIVE.get().remember(doc)


def cached_parse(data: bytes, path: str | None, timeout: float | None = None) -> Doc | None:
    """``AnalysisCache.cached`` of the active cache."""
    return _ACTIVE.get().cached(data, path, timeout)


def remember_parse(
    source: N.Source, root: N.Node | None, errors: list[N.ParseError], path: str | None
) -> Doc:
    """``remember`` a parse made elsewhere (of ``source.text``; ``root`` None on errors)."""
    return remember(Doc(source, root if not errors else None, list(errors), path))


def analyse(text: str | bytes, path: str | None) -> Doc:
    """Parse ``text`` (cached on the exact text and path)."""
    return _analyse(to_bytes(text), path)


def analyse_repaired(
    text: str | bytes, path: str | None, offset: int, force: bool = False
) -> tuple[Doc, int]:
    """A parsed document for possibly incomplete text, and the length of what
    was inserted at ``offset`` (0 when the text parsed as it is).

    Strategy: parse as is; else insert ``HOLE`` plus each of ``_REPAIRS`` at
    the cursor and keep the first that parses; else cut the text at the
    cursor and try the same suffixes; else return the failed parse."""
    data = to_bytes(text)
    doc = analyse(data, path)
    if doc.root is not None and not force:
        return doc, 0
    before, after = data[:offset], data[offset:]
    for tail in (after, b""):
        for suffix in _REPAIRS:
            ins = (HOLE + suffix).encode()
            cand = analyse(before + ins + tail, path)
            if cand.root is not None:
                return cand, len(HOLE)
    return analyse(data, path), 0


def contains(span: N.Span, offset: int) -> bool:
    """Whether ``offset`` is inside ``span`` or at its end."""
    return span.start <= offset <= span.end


class TreeIndex:
    """Traversal data of one tree, computed once (a 40,000-line file has
    hundreds of thousands of nodes; walking them all per request is slow).

    ``extent`` of a node is the byte range its whole subtree covers: the
    synthetic sets of ``a.b = v;`` have spans (the path ``a``) that do not
    contain their values, so a search for an offset descends into every child
    whose extent, not span, contains it."""

    __slots__ = ("root", "parents", "kids", "extent", "_by_type", "_wide")

    def __init__(self, root: N.Node) -> None:
        self.root = root
        parents: dict[int, N.Node] = {}
        kids: dict[int, list[N.Node]] = {}  # nodes with children only
        extent: dict[int, tuple[int, int]] = {}
        self.parents, self.kids, self.extent = parents, kids, extent
        self._by_type: dict[tuple[type, ...], list[N.Node]] = {}
        # Nodes with many children (a large file's top-level set): their
        # children ordered by extent, for ``around`` (see ``_containing``).
        self._wide: dict[int, tuple[list[int], list[int], list[int], list[int]]] = {}
        order: list[N.Node] = []
        stack = [root]
        pop, push, visit = stack.pop, stack.extend, order.append
        while stack:
            n = pop()
            visit(n)
            cs = children(n)
            if cs:
                kids[id(n)] = cs
                for c in cs:
                    parents[id(c)] = n
                push(reversed(cs))
        self._by_type[()] = order  # pre-order, as ``walk``
        for n in reversed(order):
            i = id(n)
            sp = n.span
            lo, hi = sp.start, sp.end
            below = kids.get(i)
            if below is not None:
                for c in below:
                    clo, chi = extent[id(c)]
                    if clo < lo:
                        lo = clo
                    if chi > hi:
                        hi = chi
            extent[i] = (lo, hi)

    def nodes(self, types: tuple[type, ...] = ()) -> list[N.Node]:
        """All nodes (of ``types``) in ``walk`` order."""
        found = self._by_type.get(types)
        if found is None:
            found = self._by_type[types] = [n for n in self._by_type[()] if isinstance(n, types)]
        return found

    def around(self, offset: int) -> Iterator[N.Node]:
        """The nodes whose span contains ``offset``, in ``walk`` order."""
        extent, kids = self.extent, self.kids
        stack = [self.root]
        while stack:
            n = stack.pop()
            lo, hi = extent[id(n)]
            if not lo <= offset <= hi:
                continue
            if n.span.start <= offset <= n.span.end:
                yield n
            cs = kids.get(id(n))
            if cs is not None:
                if len(cs) > _WIDE:
                    cs = self._containing(n, cs, offset)
                stack.extend(reversed(cs))

    def _containing(self, n: N.Node, cs: list[N.Node], offset: int) -> list[N.Node]:
        """The children of ``n`` whose extent contains ``offset``, in order:
        by bisection over the children sorted by extent start, walking back
        while the running maximum of their ends still reaches ``offset``."""
        wide = self._wide.get(id(n))
        if wide is None:
            ext = [self.extent[id(c)] for c in cs]
            by_start = sorted(range(len(cs)), key=lambda k: ext[k][0])
            starts = [ext[k][0] for k in by_start]
            ends = [ext[k][1] for k in by_start]
            reach, top = [], -1
            for e in ends:
                top = max(top, e)
                reach.append(top)
            wide = self._wide[id(n)] = (by_start, starts, ends, reach)
        by_start, starts, ends, reach = wide
        hits = []
        j = bisect.bisect_right(starts, offset) - 1
        while j >= 0 and reach[j] >= offset:
            if ends[j] >= offset:
                hits.append(by_start[j])
            j -= 1
        hits.sort()
        return [cs[k] for k in hits]


# Above this many children ``around`` bisects (``TreeIndex._containing``).
_WIDE = 32


def tree_index(root: N.Node) -> TreeIndex:
    """The index of ``root``, kept in the active cache."""
    return _ACTIVE.get().tree_index(root)


def parent_map(root: N.Node) -> dict[int, N.Node]:
    """id(node) -> parent for every node under ``root``."""
    return tree_index(root).parents


def chain_to(root: N.Node, target: N.Node) -> list[N.Node]:
    """Nodes from ``root`` down to ``target`` (``[target]`` if not found)."""
    parents = parent_map(root)
    chain = [target]
    while id(chain[-1]) in parents:
        chain.append(parents[id(chain[-1])])
    chain.reverse()
    return chain if chain[0] is root else [target]


def node_at(root: N.Node, offset: int, pred: Any = None) -> N.Node | None:
    """The smallest node (satisfying ``pred``) whose span contains ``offset``
    (of equal ones, the last in ``walk`` order)."""
    best: N.Node | None = None
    for n in tree_index(root).around(offset):
        sp = n.span
        if pred is None or pred(n):
            if best is None or sp.end - sp.start <= best.span.end - best.span.start:
                best = n
    return best


def make_evaluator(io: Any = None, steps: int = 200_000, timeout_s: float = 0.25) -> Evaluator:
    """An evaluator with a small budget (for completion, hints, navigation)."""
    budget = Budget(max_steps=steps, timeout_s=timeout_s)
    budget.start()
    return Evaluator(io=io, budget=budget, max_values=100_000, home=os.environ.get("HOME"), env={})


def eval_chain(
    doc: Doc,
    chain: list[N.Node],
    ev: Evaluator | None = None,
    io: Any = None,
    arg_values: dict[tuple[str, int], Any] | None = None,
) -> Any:
    """The value (weak head normal form) of ``chain[-1]`` in its lexical
    scope (with ``arg_values`` for enclosing functions), or None when it
    fails, depends on an argument or runs out of budget."""
    ev = ev or make_evaluator(io)
    try:
        focus = FocusCompiler(doc.source, ev.globals, chain, arg_values or {}, doc.res)
        entry = focus.compile_focus(chain[0])
        return ev.run(entry([None]))
    except (NixError, RecursionError, AssertionError, ValueError, KeyError, TypeError):
        return None


class _WatchedIO:
    """An I/O object that notes whether the evaluation used it at all."""

    def __init__(self, io: Any) -> None:
        self._io = io
        self.used = False

    def __getattr__(self, name: str) -> Any:
        self.used = True
        return getattr(self._io, name)


R = TypeVar("R")


def observed_args(
    chain: list[N.Node], observed: dict[tuple[str, int], list[Any]]
) -> dict[tuple[str, int], Any]:
    """The argument values to evaluate ``chain[-1]`` with: the first call an
    evaluation observed of each enclosing function (``api.EvalResult.observed``)."""
    if not observed:
        return {}
    out = {}
    for n in chain[:-1]:
        if n.__class__ is N.Lambda:
            key = (n.span.source.name, n.span.start)
            seen = observed.get(key)
            if seen:
                out[key] = seen[0]
    return out


def memo_eval(
    doc: Doc,
    key: Any,
    chain: list[N.Node],
    io: Any,
    derive: Callable[[Any], R],
    arg_values: dict[tuple[str, int], Any] | None = None,
) -> R:
    """``derive`` of the value of ``chain[-1]`` (``eval_chain``; None when it
    fails), remembered on ``doc`` under ``key`` when it is a function of the
    text alone: the evaluation read no file and was not stopped by its budget
    (it finished, or failed for a reason the text determines, such as
    depending on a function's argument), with the same ``arg_values`` (the
    caller's key tells them apart).  ``derive`` keeps what is wanted
    (names, not the values, whose program holds a copy of every scope)."""
    memo = doc.memo
    if key in memo:
        return memo[key]  # type: ignore[no-any-return]
    watched = _WatchedIO(io or RealIO())
    ev = make_evaluator(watched)
    definitive = True
    try:
        focus = FocusCompiler(doc.source, ev.globals, chain, arg_values or {}, doc.res)
        value = ev.run(focus.compile_focus(chain[0])([None]))
    except EvalLimit:
        value, definitive = None, False
    except (NixError, AssertionError, ValueError, KeyError, TypeError):
        value = None
    except RecursionError:
        value, definitive = None, False
    out = derive(value)
    if definitive and not watched.used:
        memo[key] = out
    return out


def eval_node(doc: Doc, node: N.Node, io: Any = None, ev: Evaluator | None = None) -> Any:
    """``eval_chain`` for a node of ``doc.root``."""
    assert doc.root is not None
    return eval_chain(doc, chain_to(doc.root, node), ev, io)


def ident_before(text: bytes, offset: int) -> int:
    """Start of the identifier (possibly empty) that ends at ``offset``."""
    i = offset
    while i > 0 and (chr(text[i - 1]).isalnum() or text[i - 1] in b"_'-"):
        i -= 1
    while i < offset and not (chr(text[i]).isalpha() or text[i] == 0x5F):
        i += 1  # identifiers start with a letter or '_'
    return i


def ident_after(text: bytes, offset: int) -> int:
    """End of the identifier characters from ``offset``."""
    i = offset
    while i < len(text) and (chr(text[i]).isalnum() or text[i] in b"_'-"):
        i += 1
    return i
