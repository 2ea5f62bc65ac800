"""Shared plumbing of the analyses: a parsed and resolved document (cached),
node chains to an offset, repaired parses of incomplete text, and cheap
evaluation of one node in its lexical scope."""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from typing import Any

from .. import nodes as N
from ..compiler import FocusCompiler
from ..errors import NixError
from ..eval import Evaluator
from ..parse import parse
from ..scope import Resolution, resolve
from ..vm import Budget
from ..walk import children, walk

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

    @property
    def res(self) -> Resolution:
        """Name resolution of ``root`` (computed once)."""
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


@functools.lru_cache(maxsize=16)
def _analyse(data: bytes, path: str | None) -> Doc:
    pr = parse(data, path)
    return Doc(pr.source, pr.root, pr.errors, path)


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


def parent_map(root: N.Node) -> dict[int, N.Node]:
    """id(node) -> parent for every node under ``root``."""
    out: dict[int, N.Node] = {}
    stack = [root]
    while stack:
        n = stack.pop()
        for c in children(n):
            out[id(c)] = n
            stack.append(c)
    return out


def chain_to(root: N.Node, target: N.Node) -> list[N.Node]:
    """Nodes from ``root`` down to ``target`` (``[target]`` if not found)."""
    parents = parent_map(root)
    chain = [target]
    while id(chain[-1]) in parents:
        chain.append(parents[id(chain[-1])])
    chain.reverse()
    return chain if chain[0] is root else [target]


def node_at(root: N.Node, offset: int, pred: Any = None) -> N.Node | None:
    """The smallest node (satisfying ``pred``) whose span contains ``offset``.

    Searches the whole tree, because the synthetic sets of ``a.b = v;`` have
    spans (the path ``a``) that do not contain their values."""
    best: N.Node | None = None
    for n in walk(root):
        sp = n.span
        if sp.start <= offset <= sp.end and (pred is None or pred(n)):
            if best is None or sp.end - sp.start <= best.span.end - best.span.start:
                best = n
    return best


def make_evaluator(io: Any = None, steps: int = 200_000, timeout_s: float = 0.25) -> Evaluator:
    """An evaluator with a small budget (for completion, hints, navigation)."""
    budget = Budget(max_steps=steps, timeout_s=timeout_s)
    budget.start()
    return Evaluator(io=io, budget=budget, max_values=100_000, home=os.environ.get("HOME"), env={})


def eval_chain(doc: Doc, chain: list[N.Node], ev: Evaluator | None = None, io: Any = None) -> Any:
    """The value (weak head normal form) of ``chain[-1]`` in its lexical
    scope, or None when it fails, depends on an argument or runs out of budget."""
    ev = ev or make_evaluator(io)
    try:
        entry = FocusCompiler(doc.source, ev.globals, chain).compile_focus(chain[0])
        return ev.run(entry([None]))
    except (NixError, RecursionError, AssertionError, ValueError, KeyError, TypeError):
        return None


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
