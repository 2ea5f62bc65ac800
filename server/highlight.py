"""Semantic tokens and folding ranges from the project's tree-sitter queries.

Semantic tokens (``textDocument/semanticTokens/full``, ``/full/delta`` and
``/range``) come from ``queries/highlights.scm`` run over the document's
tree.  Each capture maps to a standard LSP token type and modifiers, so
editor themes colour them without configuration:

================================  ==========  ================================
capture                           type        modifiers
================================  ==========  ================================
``@comment``                      comment
``@keyword``, ``@keyword.*``      keyword     (``if``/``then``/``else``, ``or``,
                                              ``import``, ``let``, ...)
``@operator``                     operator
``@number``, ``@number.float``    number
``@string``                       string
``@string.escape``                regexp      (escapes stand out in strings)
``@string.special.path``          string      (paths and URLs are
``@string.special.url``           string      string-like literals)
``@variable``                     variable
``@variable.member``              property
``@variable.parameter``           parameter   declaration (a binding site)
``@variable.parameter.builtin``   parameter   defaultLibrary (``...``)
``@function``                     function    declaration (``f = x: ...;``)
``@function.call``                function
``@function.builtin``             function    defaultLibrary
``@constant.builtin``             variable    readonly, defaultLibrary
                                              (``true``, ``null``, ``builtins``)
``@punctuation.*``                (none)      not a semantic token
``@none``                         (none)      hides enclosing captures
================================  ==========  ================================

A capture name missing from the table uses its longest listed prefix
(``@keyword.return`` -> ``@keyword``); an unknown one gives no token but
still hides enclosing captures; ``@spell``, ``@nospell``, ``@conceal`` and ``@_private`` captures are ignored.

Precedence, as in nvim-treesitter and ``tests/test_queries.py``: at every
byte the innermost captured node wins; among captures of nodes with the same
extent, the later pattern in ``highlights.scm`` wins.  The winners are cut
into maximal runs, adjacent runs of one token are joined, and runs are split
at line ends, so no two tokens overlap and none spans lines.  Positions are
in the negotiated encoding (``server.positions`` does that arithmetic).

Patterns that only capture punctuation are not run (they give no token, and
skipping them saves a fifth of the work on large files).  The one place
where punctuation sits inside another capture, ``${ ... }`` inside a path,
is covered by a pattern the server adds, ``(interpolation) @none``: the
interpolated code keeps its own colours and ``${``/``}`` get none, as with
the query's ``@punctuation.special``.

To know which pattern produced a capture, the query is compiled with every
capture renamed ``<name>.<pattern index>`` (``QueryCursor.captures`` is about
three times faster than ``matches`` on large files, but reports names only).

Results are cached per document and text (its bytes and the encoding): the
last result of each document is kept under its ``resultId`` so
``full/delta`` can answer with one edit replacing the differing middle of
the integer array (or with full tokens when the previous id is unknown).

Folding ranges come from ``queries/folds.scm``: one per ``@fold`` capture
spanning several lines (kind ``comment`` for comments, ``region``
otherwise).  Convention: when the node's last line holds nothing but closing
punctuation (``}``, ``]``, ``)``, ``''``, ``;``), the fold ends on the line
before it, so the closer stays visible; otherwise on the node's last line.
Ranges that end up on one line are dropped, and of several ranges starting
on the same line only the largest is kept (clients show one per line).
Folds are always whole lines (fine with ``lineFoldingOnly``), and the
client's ``rangeLimit`` is respected.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import weakref
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, Final

from lsprotocol import types
from tree_sitter import Node, Query, QueryCursor

from evaluator.parse import LANGUAGE

from . import positions
from .documents import Document
from .positions import LineIndex

__all__ = [
    "LEGEND",
    "TOKEN_MODIFIERS",
    "TOKEN_TYPES",
    "Highlighter",
    "compute_tokens",
    "encode_tokens",
    "folding_ranges",
    "load_query_text",
    "FEATURES",
    "token_delta",
]

TOKEN_TYPES: Final = (
    types.SemanticTokenTypes.Namespace.value,
    types.SemanticTokenTypes.Type.value,
    types.SemanticTokenTypes.Parameter.value,
    types.SemanticTokenTypes.Variable.value,
    types.SemanticTokenTypes.Property.value,
    types.SemanticTokenTypes.EnumMember.value,
    types.SemanticTokenTypes.Function.value,
    types.SemanticTokenTypes.Method.value,
    types.SemanticTokenTypes.Macro.value,
    types.SemanticTokenTypes.Keyword.value,
    types.SemanticTokenTypes.Comment.value,
    types.SemanticTokenTypes.String.value,
    types.SemanticTokenTypes.Number.value,
    types.SemanticTokenTypes.Regexp.value,
    types.SemanticTokenTypes.Operator.value,
)
TOKEN_MODIFIERS: Final = (
    types.SemanticTokenModifiers.Declaration.value,
    types.SemanticTokenModifiers.Definition.value,
    types.SemanticTokenModifiers.Readonly.value,
    types.SemanticTokenModifiers.Static.value,
    types.SemanticTokenModifiers.Deprecated.value,
    types.SemanticTokenModifiers.DefaultLibrary.value,
)
LEGEND: Final = types.SemanticTokensLegend(
    token_types=list(TOKEN_TYPES), token_modifiers=list(TOKEN_MODIFIERS)
)

# capture name (or prefix) -> (token type, modifiers); None: no token.
MAPPING: Final[dict[str, tuple[str, tuple[str, ...]] | None]] = {
    "comment": ("comment", ()),
    "keyword": ("keyword", ()),
    "operator": ("operator", ()),
    "number": ("number", ()),
    "string": ("string", ()),
    "string.escape": ("regexp", ()),
    "string.special": ("string", ()),
    "variable": ("variable", ()),
    "variable.member": ("property", ()),
    "variable.parameter": ("parameter", ("declaration",)),
    "variable.parameter.builtin": ("parameter", ("defaultLibrary",)),
    "variable.builtin": ("variable", ("defaultLibrary",)),
    "property": ("property", ()),
    "function": ("function", ("declaration",)),
    "function.call": ("function", ()),
    "function.builtin": ("function", ("defaultLibrary",)),
    "function.method": ("method", ()),
    "function.macro": ("macro", ()),
    "constant": ("variable", ("readonly",)),
    "constant.builtin": ("variable", ("readonly", "defaultLibrary")),
    "module": ("namespace", ()),
    "type": ("type", ()),
    "punctuation": None,
    "none": ("", ()),  # no colour, and hides the colours of enclosing captures
}
# Not highlight groups at all: they neither colour nor hide anything.
IGNORED: Final = frozenset({"spell", "nospell", "conceal"})

# A token as carried through the pipeline: type index << 16 | modifier bits.
Token = int
_NO_TOKEN: Final = -1


def token_for(capture: str) -> Token | None:
    """The packed token of a capture name (``_NO_TOKEN``: hides, None: ignored)."""
    if capture.startswith("_") or capture in IGNORED:
        return None
    name = capture
    while name:
        if name in MAPPING:
            entry = MAPPING[name]
            if entry is None:
                return None
            kind, modifiers = entry
            if not kind:
                return _NO_TOKEN
            bits = sum(1 << TOKEN_MODIFIERS.index(m) for m in modifiers)
            return TOKEN_TYPES.index(kind) << 16 | bits
        name = name.rpartition(".")[0]
    return _NO_TOKEN  # an unknown group: shown by nothing, still hides


# ------------------------------------------------------------------ queries


def load_query_text(name: str) -> str:
    """The text of ``queries/<name>.scm``: the installed package, else the checkout."""
    try:
        return resources.files("server.queries").joinpath(f"{name}.scm").read_text("utf-8")
    except (ModuleNotFoundError, FileNotFoundError, NotADirectoryError, TypeError):
        path = Path(__file__).resolve().parent.parent / "queries" / f"{name}.scm"
        return path.read_text(encoding="utf-8")


# A string literal, a comment, or a capture (group 1: its name).
_QUERY_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|;[^\n]*|@([A-Za-z_][\w.\-]*)')


@dataclass(frozen=True)
class CompiledHighlights:
    """The highlights query with per-pattern capture names, and their tokens."""

    query: Query
    # renamed capture "<name>.<pattern>" -> (rank, token); ranks follow pattern order
    captures: dict[str, tuple[int, Token]]


# Added to the query: interpolated code inside a path is code, not path (the
# query marks only its ``${`` and ``}``, as punctuation, which is not run).
_EXTRA_PATTERNS: Final = "\n(interpolation) @none\n"


@cache
def highlights_query() -> CompiledHighlights:
    """Compile ``highlights.scm`` once, each capture renamed ``<name>.<pattern>``.

    Patterns without a capture that gives or hides a token are disabled, and
    ignored captures (``@spell``) too, so the cursor does not report them."""
    text = load_query_text("highlights") + _EXTRA_PATTERNS
    plain = Query(LANGUAGE, text)
    data = text.encode("utf-8")
    parts: list[bytes] = []
    done = 0
    captures: dict[str, tuple[int, Token]] = {}
    ignored: set[str] = set()
    unused: list[int] = []
    count: int = plain.pattern_count  # type: ignore[assignment]  # a property at run time
    for pattern in range(count):
        start, end = plain.start_byte_for_pattern(pattern), plain.end_byte_for_pattern(pattern)
        parts.append(data[done:start])
        source = data[start:end].decode("utf-8")
        used = False

        def rename(m: re.Match[str], pattern: int = pattern) -> str:
            nonlocal used
            if m[1] is None:
                return m[0]
            renamed = f"{m[1]}.{pattern}"
            token = token_for(m[1])
            if token is None:
                if not m[1].startswith("_"):  # private captures feed predicates
                    ignored.add(renamed)
            elif renamed not in captures:
                captures[renamed] = (len(captures), token)  # ranks follow pattern order
                used = True
            return "@" + renamed

        parts.append(_QUERY_TOKEN.sub(rename, source).encode("utf-8"))
        if not used:
            unused.append(pattern)
        done = end
    parts.append(data[done:])
    query = Query(LANGUAGE, b"".join(parts).decode("utf-8"))
    for pattern in unused:
        query.disable_pattern(pattern)
    for name in ignored:
        query.disable_capture(name)
    return CompiledHighlights(query, captures)


@cache
def folds_query() -> Query:
    """Compile ``folds.scm`` once."""
    return Query(LANGUAGE, load_query_text("folds"))


# ----------------------------------------------------------- semantic tokens

_MAX_END: Final = (1 << 32) - 1


def _winners(node: Node, byte_range: tuple[int, int] | None) -> dict[int, Token]:
    """The winning token of each captured extent, keyed ``start << 32 | (_MAX_END - end)``.

    Captures are applied in pattern order, so for one extent the later
    pattern's token is the one left (integer keys sort by start, then by
    decreasing end: outer nodes before inner ones)."""
    compiled = highlights_query()
    cursor = QueryCursor(compiled.query)
    if byte_range is not None:
        cursor.set_byte_range(*byte_range)
    found = cursor.captures(node)
    known = sorted(
        (compiled.captures[name], nodes)
        for name, nodes in found.items()
        if name in compiled.captures
    )
    winners: dict[int, Token] = {}
    for (_, token), nodes in known:
        keys = [n.start_byte << 32 | (_MAX_END - n.end_byte) for n in nodes]
        winners.update(dict.fromkeys(keys, token))
    return winners


def _runs(winners: dict[int, Token]) -> list[tuple[int, int, Token]]:
    """Maximal ``(start byte, end byte, token)`` runs, in order, not overlapping.

    A sweep over the extents, outer before inner, with a stack of the
    enclosing ones: each byte gets the token of the innermost extent holding
    it; adjacent runs of one token are joined."""
    starts: list[int] = []
    ends: list[int] = []
    tokens: list[Token] = []
    stack_end: list[int] = []  # the enclosing extents (ends and tokens)
    stack_token: list[Token] = []

    def emit(start: int, end: int, token: Token) -> None:
        if token == _NO_TOKEN:
            return
        if ends and ends[-1] == start and tokens[-1] == token:
            ends[-1] = end  # joins the previous run
        else:
            starts.append(start)
            ends.append(end)
            tokens.append(token)

    pos = 0
    mask = _MAX_END
    for key in sorted(winners):
        s = key >> 32
        e = mask - (key & mask)
        if e <= s:
            continue  # zero-width (MISSING) nodes
        while stack_end and stack_end[-1] <= s:  # close the extents that end here
            top_end = stack_end.pop()
            top_token = stack_token.pop()
            if top_end > pos:
                emit(pos, top_end, top_token)
                pos = top_end
        if stack_end:  # the enclosing extent's part before this one
            top_end = stack_end[-1]
            if s > pos:
                emit(pos, s, stack_token[-1])
            if e > top_end:
                e = top_end  # nodes nest; never let a capture escape its parent
        if s > pos:
            pos = s
        stack_end.append(e)
        stack_token.append(winners[key])
    while stack_end:
        top_end = stack_end.pop()
        top_token = stack_token.pop()
        if top_end > pos:
            emit(pos, top_end, top_token)
            pos = top_end
    return list(zip(starts, ends, tokens, strict=True))


def compute_tokens(
    node: Node, index: LineIndex, encoding: str, byte_range: tuple[int, int] | None = None
) -> list[tuple[int, int, int, Token]]:
    """Absolute ``(line, character, length, token)`` tokens of a tree (or a byte range)."""
    return positions.line_pieces(index, _runs(_winners(node, byte_range)), encoding)


def encode_tokens(tokens: Iterable[tuple[int, int, int, Token]]) -> list[int]:
    """The LSP integer array (relative positions) of absolute tokens in order."""
    data: list[int] = []
    last_line = last_char = 0
    for line, char, length, token in tokens:
        delta_line = line - last_line
        data += (
            delta_line,
            char - last_char if delta_line == 0 else char,
            length,
            token >> 16,
            token & 0xFFFF,
        )
        last_line, last_char = line, char
    return data


def decode_tokens(data: list[int]) -> list[tuple[int, int, int, str, tuple[str, ...]]]:
    """Inverse of ``encode_tokens``, with legend names (for tests and logs)."""
    out: list[tuple[int, int, int, str, tuple[str, ...]]] = []
    line = char = 0
    for i in range(0, len(data), 5):
        delta_line, delta_char, length, kind, bits = data[i : i + 5]
        line += delta_line
        char = char + delta_char if delta_line == 0 else delta_char
        modifiers = tuple(m for b, m in enumerate(TOKEN_MODIFIERS) if bits >> b & 1)
        out.append((line, char, length, TOKEN_TYPES[kind], modifiers))
    return out


def _common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the common prefix of two int lists (slice compares run in C)."""
    n = min(len(a), len(b))
    lo = 0
    step = 4096
    while lo < n:
        hi = min(n, lo + step)
        if a[lo:hi] != b[lo:hi]:
            while a[lo] == b[lo]:
                lo += 1
            return lo
        lo = hi
    return n


def token_delta(old: list[int], new: list[int]) -> list[types.SemanticTokensEdit]:
    """Edits turning ``old`` into ``new``: one edit replacing the differing middle."""
    prefix = _common_prefix(old, new)
    limit = min(len(old), len(new)) - prefix
    suffix = min(_common_prefix(old[::-1], new[::-1]), limit)
    if prefix == len(old) == len(new):
        return []
    return [
        types.SemanticTokensEdit(
            start=prefix,
            delete_count=len(old) - prefix - suffix,
            data=new[prefix : len(new) - suffix],
        )
    ]


@dataclass(frozen=True)
class TokenResult:
    """The tokens of one text, under a result id."""

    source: bytes
    encoding: str
    result_id: str
    data: list[int]


#: Files larger than this get their tokens from their analysis helper.
REMOTE_BYTES = 100_000

#: Computes the encoded tokens of a document elsewhere (given the encoding).
Remote = Callable[[str], Awaitable[list[int]]]


class Highlighter:
    """Per-document token cache and the last result sent (for deltas)."""

    def __init__(self) -> None:
        self._last: weakref.WeakKeyDictionary[Document, TokenResult] = weakref.WeakKeyDictionary()
        self._ids = itertools.count(1)

    def full(self, doc: Document, encoding: str) -> TokenResult:
        """The tokens of the current text (cached while the text is unchanged)."""
        last = self._last.get(doc)
        if last is not None and last.source is doc.data and last.encoding == encoding:
            return last
        data = encode_tokens(compute_tokens(doc.tree.root_node, doc.index, encoding))
        result = TokenResult(doc.data, encoding, f"{doc.version}.{next(self._ids)}", data)
        self._last[doc] = result
        return result

    async def full_async(
        self, doc: Document, encoding: str, remote: Remote | None = None
    ) -> TokenResult:
        """``full``, computed off the event loop: by ``remote`` (the document's
        analysis helper) for a file over ``REMOTE_BYTES`` (a second's work at
        40,000 lines, which in a thread would starve the event loop), else in
        a worker thread on a snapshot of the document (the tree is copied
        because an edit mutates the document's tree in place)."""
        last = self._last.get(doc)
        if last is not None and last.source is doc.data and last.encoding == encoding:
            return last
        data, version = doc.data, doc.version
        if remote is not None and len(data) > REMOTE_BYTES:
            tokens = await remote(encoding)
        else:
            tree, index = doc.tree.copy(), doc.index

            def work() -> list[int]:
                return encode_tokens(compute_tokens(tree.root_node, index, encoding))

            tokens = await asyncio.to_thread(work)
        result = TokenResult(data, encoding, f"{version}.{next(self._ids)}", tokens)
        self._last[doc] = result
        return result

    async def delta(
        self, doc: Document, encoding: str, previous_id: str, remote: Remote | None = None
    ) -> types.SemanticTokens | types.SemanticTokensDelta:
        """Edits from the result ``previous_id`` (full tokens when it is not the last one)."""
        last = self._last.get(doc)
        result = await self.full_async(doc, encoding, remote)
        if last is None or last.result_id != previous_id or last.encoding != encoding:
            return types.SemanticTokens(data=result.data, result_id=result.result_id)
        return types.SemanticTokensDelta(
            edits=token_delta(last.data, result.data), result_id=result.result_id
        )

    def range(self, doc: Document, encoding: str, rng: types.Range) -> list[int]:
        """The tokens that intersect ``rng`` (from the cache, else from that range only)."""
        first, last_line = rng.start.line, rng.end.line
        if (rng.end.line, rng.end.character) < (rng.start.line, rng.start.character):
            return []  # an empty (reversed) range holds no tokens
        last = self._last.get(doc)
        if last is not None and last.source is doc.data and last.encoding == encoding:
            tokens = [
                (line, char, length, kind << 16 | bits)
                for line, char, length, kind, bits in _absolute(last.data)
                if first <= line <= last_line
            ]
        else:
            index = doc.index
            byte_range = (
                index.offset(first, 0, encoding),
                index.offset(last_line + 1, 0, encoding),
            )
            tokens = compute_tokens(doc.tree.root_node, index, encoding, byte_range)
        start = (rng.start.line, rng.start.character)
        end = (rng.end.line, rng.end.character)
        return encode_tokens(
            t for t in tokens if (t[0], t[1] + t[2]) > start and (t[0], t[1]) < end
        )


def _absolute(data: list[int]) -> list[tuple[int, int, int, int, int]]:
    """``(line, char, length, type, modifier bits)`` of an encoded token array."""
    out = []
    line = char = 0
    for i in range(0, len(data), 5):
        delta_line, delta_char, length, kind, bits = data[i : i + 5]
        line += delta_line
        char = char + delta_char if delta_line == 0 else delta_char
        out.append((line, char, length, kind, bits))
    return out


# ------------------------------------------------------------ folding ranges

_CLOSERS: Final = b" \t}])';"


def folding_ranges(
    node: Node, index: LineIndex, limit: int | None = None
) -> list[types.FoldingRange]:
    """The folds of a tree (see the module docstring for the conventions)."""
    best: dict[int, tuple[int, str]] = {}
    for nodes in QueryCursor(folds_query()).captures(node).values():
        for n in nodes:
            first = index.line_of(n.start_byte)
            last = index.line_of(n.end_byte)
            if last > first and not positions.line_prefix(index, n.end_byte).strip(_CLOSERS):
                last -= 1
            if last <= first:
                continue
            kind = (
                types.FoldingRangeKind.Comment
                if n.type == "comment"
                else types.FoldingRangeKind.Region
            )
            if first not in best or best[first][0] < last:
                best[first] = (last, kind.value)
    folds = [
        types.FoldingRange(start_line=first, end_line=last, kind=kind)
        for first, (last, kind) in sorted(best.items())
    ]
    return folds[:limit] if limit else folds


# ---------------------------------------------------------------- handlers


async def semantic_tokens_full(
    ls: Any, params: types.SemanticTokensParams
) -> types.SemanticTokens | None:
    doc = ls.documents.get(params.text_document.uri)
    if doc is None:
        return None
    result = await ls.highlighter.full_async(doc, ls.encoding, _remote(ls, doc))
    return types.SemanticTokens(data=result.data, result_id=result.result_id)


def _remote(ls: Any, doc: Document) -> Remote:
    """The tokens of ``doc`` computed by its analysis helper."""

    async def tokens(encoding: str) -> list[int]:
        answer: list[int] = await ls.pool.call(
            "semantic_tokens", doc.uri, ls.context(doc), encoding
        )
        return answer

    return tokens


async def semantic_tokens_delta(
    ls: Any, params: types.SemanticTokensDeltaParams
) -> types.SemanticTokens | types.SemanticTokensDelta | None:
    doc = ls.documents.get(params.text_document.uri)
    if doc is None:
        return None
    return await ls.highlighter.delta(doc, ls.encoding, params.previous_result_id, _remote(ls, doc))


def semantic_tokens_range(
    ls: Any, params: types.SemanticTokensRangeParams
) -> types.SemanticTokens | None:
    doc = ls.documents.get(params.text_document.uri)
    if doc is None:
        return None
    return types.SemanticTokens(data=ls.highlighter.range(doc, ls.encoding, params.range))


async def folding_range(
    ls: Any, params: types.FoldingRangeParams
) -> list[types.FoldingRange] | None:
    doc = ls.documents.get(params.text_document.uri)
    if doc is None:
        return None
    caps = ls.client_capabilities.text_document
    folding = caps.folding_range if caps is not None else None
    limit = folding.range_limit if folding is not None else None
    # In a worker, on a snapshot (see ``Highlighter.full_async``).
    tree, index = doc.tree.copy(), doc.index
    return await asyncio.to_thread(lambda: folding_ranges(tree.root_node, index, limit))


#: The handlers of this module (registered by ``server.lsp``).
FEATURES: list[tuple[str, Any, Any]] = [
    (types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, LEGEND, semantic_tokens_full),
    (types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL_DELTA, LEGEND, semantic_tokens_delta),
    (types.TEXT_DOCUMENT_SEMANTIC_TOKENS_RANGE, LEGEND, semantic_tokens_range),
    (types.TEXT_DOCUMENT_FOLDING_RANGE, None, folding_range),
]
