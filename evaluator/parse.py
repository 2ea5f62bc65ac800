"""Parse Nix source with tree-sitter-nix and lower the tree to ``evaluator.nodes``.

The lowering reproduces what Nix's own parser (``parser.y``, ``lexer.l`` and
``parser-state.hh``) builds: string escapes and indentation stripping are
re-lexed from the source bytes with Nix's rules, nested attribute paths are
merged like ``ParserState::addAttr``, and the static checks Nix does while
parsing (duplicate attributes and formals, dynamic attributes in ``let`` and
``inherit``, trailing slashes in paths, NUL bytes in strings, oversized
integers) are reported as ``ParseError``s.  All errors are collected; the
result's ``root`` is None whenever there is at least one.

Lowering is iterative (an explicit post-order stack), so nesting depth is
limited only by memory, never by Python's recursion limit.

Callers that parse with their own tree-sitter parser (the language server
keeps an incrementally reparsed tree per buffer) must feed tree-sitter
``prepare_text(text)`` rather than the raw text; see ``_grammar_gaps`` below.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable

import tree_sitter_nix
from tree_sitter import Language, Node, Parser, Tree

from . import nodes as N
from .literals import KEYWORDS, show_identifier
from .nodes import ParseError, ParseResult, Source, Span, shift_spans

LANGUAGE = Language(tree_sitter_nix.language())


MAX_INT = 2**63 - 1

PIPE_MESSAGE = (
    "experimental Nix feature 'pipe-operators' is disabled; "
    "add '--extra-experimental-features pipe-operators' to enable it"
)


def make_parser() -> Parser:
    """A fresh tree-sitter parser for Nix (parsers are not thread-safe; languages are)."""
    return Parser(LANGUAGE)


# --------------------------------------------------------------------------
# _grammar_gaps: where tree-sitter-nix 0.1.0 and Nix 2.36 disagree.
#
# Fixed before parsing, by same-length byte substitutions (so every offset in
# the tree is an offset in the original text, which lowering reads from):
#   * A lone CR (not followed by LF) ends a line for Nix (``#`` comments stop
#     at it; it is whitespace) but not for the grammar.  It becomes LF.  String
#     contents are re-lexed from the original bytes, so they keep their CR.
#   * A NUL byte is an ERROR for the grammar.  It becomes a space; inside a
#     string Nix reports "cannot be represented as Nix string" (done by the
#     string lowering), elsewhere it is reported as an unexpected character.
#   * ``~/${x}`` (a home path that starts with an interpolation) is an ERROR in
#     the grammar.  ``~`` becomes ``.`` so the grammar sees ``./${x}``; the
#     path lowering looks at the original byte and treats it as a home path.
# Fixed while lowering:
#   * A trailing comma in formals ``{ x, y, }:`` comes out as a formal whose
#     name is a zero-width MISSING identifier: it is dropped, not reported.
#     After a formal with a default value the comma instead comes out as an
#     ERROR node holding just ``,``: also accepted.
#   * Keywords after a dot or in ``inherit`` (``a.if``, ``inherit rec;``) are
#     accepted by the grammar; Nix rejects them (``_check_identifier``).
#   * ``1 |> f`` (pipe operators, unknown to the grammar) gets Nix's
#     "experimental feature disabled" message.
# --------------------------------------------------------------------------

_LONE_CR = re.compile(rb"\r(?!\n)")
_IND_OPEN_REST = re.compile(rb" *\n")


def prepare_text(text: bytes) -> bytes:
    """The bytes to give tree-sitter for ``text`` (same length, same offsets)."""
    if b"\r" in text:
        text = _LONE_CR.sub(b"\n", text)
    if b"~/${" in text:
        text = text.replace(b"~/${", b"./${")
    if b"\0" in text:
        text = text.replace(b"\0", b" ")
    return text


def parse(
    text: bytes | str,
    path: str | None = None,
    name: str | None = None,
    *,
    home: str | None = None,
    check: Callable[[], None] | None = None,
    base: str | None = None,
) -> ParseResult:
    """Parse Nix source text into a ``ParseResult`` (root is None on errors).

    ``check`` is called every few thousand nodes while lowering; it may raise
    to stop (an evaluation budget or cancellation).  ``base``: the directory
    relative path literals resolve against, when not the file's own (a file
    of a workspace flake, imported as Nix would from the flake's store copy)."""
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    source = Source(data, path, name)
    tree = make_parser().parse(prepare_text(data))
    return lower(tree, source, home=home, check=check, base=base)


def lower(
    tree: Tree,
    source: Source,
    *,
    home: str | None = None,
    check: Callable[[], None] | None = None,
    base: str | None = None,
    reuse: dict[int, Kept] | None = None,
    record: dict[int, Kept] | None = None,
    paths: dict[int, KeptPath] | None = None,
    paths_out: dict[int, KeptPath] | None = None,
    names: dict[bytes, str] | None = None,
) -> ParseResult:
    """Lower a tree-sitter tree of ``prepare_text(source.text)`` into AST nodes
    (relative paths resolved against ``base``, default the file's folder).

    Incremental lowering (``evaluator.incremental``): subtrees of ``tree``
    with a lowering in ``reuse`` are not lowered again; ``record`` receives
    this lowering's reusable subtrees (those in its tree: kept ones of
    older trees are dropped); ``paths`` has kept attribute paths of
    bindings, ``paths_out`` receives this lowering's; ``names`` maps
    identifiers' bytes to their strings (read and added to)."""
    lowerer = _Lowerer(source, home, base)
    lowerer.check = check
    lowerer.reuse, lowerer.paths, lowerer.paths_out = reuse or None, paths, paths_out
    made: dict[int, Kept] | None = None if record is None else {}
    lowerer.record = made
    if names is not None:
        lowerer.names = names
    lowerer.syntax_errors(tree.root_node)
    root: N.Node | None
    try:
        root = lowerer.lower_root(tree.root_node)
    except RecursionError:
        # Only attribute-set merging recurses (as deep as two literals nest
        # the same keys); anything absurd enough to hit the limit lands here.
        lowerer.error("expression nested too deeply", 0, len(source.text))
        root = None
    if b"\0" in source.text and not lowerer.nul_reported:
        at = source.text.index(b"\0")
        lowerer.error("unexpected NUL character", at, at + 1)
    errors = lowerer.errors
    errors.sort(key=lambda e: (e.span.start, e.span.end))
    if record is not None and made is not None:
        # The kept subtrees of this tree: made or moved by this lowering, and
        # those inside the moved ones (kept by earlier lowerings).  Sets that
        # merging changed in place are not kept (their insides are).
        old = reuse or {}
        mutated = lowerer.mutated
        stack = list(lowerer.top)
        while stack:
            key = stack.pop()
            entry = made.get(key) or old.get(key)
            if entry is None:
                continue
            if id(entry[0]) not in mutated:
                record[key] = entry
            stack.extend(entry[3])
    return ParseResult(source, None if errors else root, errors, root)


def tree_syntax_errors(tree: Tree, source: Source) -> list[ParseError]:
    """The ERROR and MISSING nodes of a tree as parse errors, without lowering.

    Milliseconds even for a huge file (only subtrees with errors are walked);
    ``lower`` reports these and the errors lowering finds (duplicate
    attributes, bad escapes, …)."""
    lowerer = _Lowerer(source, None)
    lowerer.syntax_errors(tree.root_node)
    return sorted(lowerer.errors, key=lambda e: (e.span.start, e.span.end))


# --------------------------------------------------------------------------
# Literal lexing (Nix's lexer rules, applied to the original bytes).
# --------------------------------------------------------------------------

_ESCAPES = {ord("n"): "\n", ord("r"): "\r", ord("t"): "\t"}


def _dec(b: bytes) -> str:
    # Nix strings are bytes; surrogateescape keeps invalid UTF-8 round-trippable.
    return b.decode("utf-8", "surrogateescape")


def _unescape_char(c: int) -> str:
    """``\\c`` in a string: n, r, t are control characters, anything else is itself."""
    return _ESCAPES.get(c) or _dec(bytes((c,)))


def _home_dir(home: str | None) -> str:
    if home is not None:
        return home
    return os.environ.get("HOME") or os.path.expanduser("~")


def canon_path(path: str) -> str:
    """Nix's ``canonPath``: drop ``.``, empty segments and ``..`` (never above /)."""
    out: list[str] = []
    for seg in path.split("/"):
        if seg == "" or seg == ".":
            continue
        if seg == "..":
            if out:
                out.pop()
            continue
        out.append(seg)
    return "/" + "/".join(out)


def abs_path(path: str, base: str) -> str:
    """Nix's ``absPath``: ``path`` resolved against directory ``base``, canonical."""
    if not path.startswith("/"):
        path = base + "/" + path
    return canon_path(path)


# Token of an indented string before stripping: literal text and whether it
# takes part in indentation (Nix's StringToken.hasIndentation), or an
# interpolated expression.
_IndTok = tuple[str, bool, int] | N.Node


def strip_indentation(tokens: list[_IndTok]) -> tuple[list[str | N.Node], bool]:
    """Nix's ``stripIndentation`` over lexed tokens; also says whether Nix
    would build a concatenation (more than one part) rather than a string."""
    at_start = True
    min_indent = 1000000
    cur_indent = 0
    for tok in tokens:
        if not isinstance(tok, tuple) or not tok[1]:
            # Interpolations and escapes end the leading whitespace of a line.
            if at_start:
                at_start = False
                min_indent = min(min_indent, cur_indent)
            continue
        for ch in tok[0]:
            if at_start:
                if ch == " ":
                    cur_indent += 1
                elif ch == "\n":
                    cur_indent = 0
                else:
                    at_start = False
                    min_indent = min(min_indent, cur_indent)
            elif ch == "\n":
                at_start = True
                cur_indent = 0

    parts: list[str | N.Node] = []
    at_start = True
    dropped = 0
    remaining = len(tokens)
    for tok in tokens:
        if not isinstance(tok, tuple):
            at_start = False
            dropped = 0
            parts.append(tok)
            remaining -= 1
            continue
        out: list[str] = []
        for ch in tok[0]:
            if at_start:
                if ch == " ":
                    if dropped >= min_indent:
                        out.append(ch)
                    dropped += 1
                elif ch == "\n":
                    dropped = 0
                    out.append(ch)
                else:
                    at_start = False
                    dropped = 0
                    out.append(ch)
            else:
                out.append(ch)
                if ch == "\n":
                    at_start = True
        s = "".join(out)
        if remaining == 1:
            # The last line is dropped when it is only spaces.
            p = s.rfind("\n")
            if p >= 0 and s[p + 1 :].strip(" ") == "":
                s = s[: p + 1]
        remaining -= 1
        if s:
            parts.append(s)
    concat = not (len(parts) == 1 and isinstance(parts[0], str)) and bool(parts)
    return _merge_literals(parts), concat


def _merge_literals(parts: list[str | N.Node]) -> list[str | N.Node]:
    out: list[str | N.Node] = []
    for p in parts:
        if isinstance(p, str) and out and isinstance(out[-1], str):
            out[-1] = out[-1] + p
        else:
            out.append(p)
    return out


# --------------------------------------------------------------------------
# The lowering.
# --------------------------------------------------------------------------

_OPERATORS = frozenset(("->", "!=", "==", "<=", ">=", "&&", "||", "++", "//", "..."))
_CLOSERS = {"}": "{", "]": "[", ")": "(", '"': '"', "''": "''"}
_EXPR_TYPES = frozenset(
    (
        "variable_expression",
        "integer_expression",
        "float_expression",
        "string_expression",
        "indented_string_expression",
        "path_expression",
        "hpath_expression",
        "spath_expression",
        "uri_expression",
        "parenthesized_expression",
        "attrset_expression",
        "rec_attrset_expression",
        "let_attrset_expression",
        "let_expression",
        "list_expression",
        "select_expression",
        "has_attr_expression",
        "apply_expression",
        "unary_expression",
        "binary_expression",
        "function_expression",
        "if_expression",
        "assert_expression",
        "with_expression",
    )
)


def _empty_inherit(n: Node) -> bool:
    """Grammar gap: ``inherit;`` and ``inherit (e);`` are valid Nix, but
    tree-sitter-nix reads them as an inherit of one MISSING identifier."""
    p = n.parent
    return (
        n.is_missing
        and n.start_byte == n.end_byte
        and p is not None
        and p.type == "inherited_attrs"
        and p.named_child_count == 1
    )


#: A kept lowering of a tree-sitter subtree (by the subtree's id, which is
#: its address: the owner keeps the tree alive, so no other subtree gets it):
#: the lowered node, the node's start minus the lowered node's span start
#: (constant as both move), whether the lowered string is a concatenation,
#: and the ids of the kept subtrees nearest inside it.
Kept = tuple[N.Node, int, bool, tuple[int, ...]]

#: A kept attribute path of a binding (by its node's id): the names, their
#: spans, and the binding's start when they were made.
KeptPath = tuple[list[N.AttrName], list[Span], int]

#: Sets and lets with at least this many bindings keep their bindings'
#: attribute paths across incremental lowerings.
KEEP_PATHS = 64

#: Subtrees shorter than this (bytes) are lowered again rather than kept:
#: as quick, and half the memory of keeping every node.
KEEP_BYTES = 16


class _Binds:
    """Bindings being collected for an attribute set or ``let``."""

    __slots__ = ("attrs", "dynamic", "inherit_from")

    def __init__(self) -> None:
        self.attrs: dict[str, N.AttrDef] = {}
        self.dynamic: list[N.DynAttr] = []
        self.inherit_from: list[N.Node] = []


class _Lowerer:
    def __init__(self, source: Source, home: str | None, base: str | None = None):
        self.source = source
        self.text = source.text
        self.home = home
        self.base_dir = base if base is not None else source.base_dir
        self.check: Callable[[], None] | None = None
        self.errors: list[ParseError] = []
        self.results: dict[int, N.Node] = {}
        # Str nodes that Nix represents as a concatenation (an interpolated or
        # multi-token string): as attribute names these are dynamic.
        self.concat: set[int] = set()
        self._error_at: set[int] = set()
        self.names: dict[bytes, str] = {}
        self.nul_reported = False
        # Incremental lowering (``evaluator.incremental``): the kept lowerings
        # of an earlier tree by tree-sitter node id, and where this lowering's
        # are recorded for the next one.
        self.reuse: dict[int, Kept] | None = None
        self.record: dict[int, Kept] | None = None
        self.top: list[int] = []  # the kept subtrees nearest below the root
        # The attribute paths of bindings, by tree-sitter node id (as
        # ``Kept``): those of the previous lowering, and this one's.
        self.paths: dict[int, KeptPath] | None = None
        self.paths_out: dict[int, KeptPath] | None = None
        # Lowered sets changed after they were built (literal sets merged by
        # ``add_attr_def``): never to be reused on their own.
        self.mutated: set[int] = set()

    # ---------------------------------------------------------------- utils
    def span(self, start: int, end: int) -> Span:
        return Span(self.source, start, end)

    def nspan(self, n: Node) -> Span:
        return Span(self.source, n.start_byte, n.end_byte)

    def error(self, message: str, start: int, end: int) -> None:
        if "already defined at" in message:
            code = "duplicate_attribute"
        elif message.startswith("duplicate formal"):
            code = "duplicate_formal"
        else:
            code = "syntax_error"
        self.errors.append(ParseError(message, Span(self.source, start, end), code))

    def raw(self, n: Node) -> bytes:
        return self.text[n.start_byte : n.end_byte]

    def placeholder(self, n: Node) -> N.Node:
        # Stands in for a part of the tree that could not be parsed.
        return N.Var(self.nspan(n), "")

    def get(self, n: Node | None, parent: Node) -> N.Node:
        if n is None:
            return N.Var(self.span(parent.end_byte, parent.end_byte), "")
        r = self.results.get(n.id)
        return r if r is not None else self.placeholder(n)

    # ------------------------------------------------------- syntax errors
    def syntax_errors(self, root: Node) -> None:
        """Report every ERROR and MISSING node (not descending into ERRORs)."""
        if not root.has_error:
            return
        stack = [root]
        while stack:
            n = stack.pop()
            if n.type == "ERROR":
                self.report_error_node(n)
                continue
            if n.is_missing:
                if not _empty_inherit(n):
                    self.report_missing(n)
                continue
            if n.has_error:
                stack.extend(reversed(n.children))

    def _leaves(self, n: Node) -> list[Node]:
        out: list[Node] = []
        stack = [n]
        while stack:
            c = stack.pop()
            if c.child_count == 0 or c.type in ("string_fragment", "path_fragment"):
                if c.type != "comment":
                    out.append(c)
            else:
                stack.extend(reversed(c.children))
        return out

    def _describe(self, tok: Node) -> str:
        t = _dec(self.raw(tok))
        if tok.type == "identifier" and t not in KEYWORDS:
            return f"identifier `{t}`"
        if tok.type in ("integer_expression", "float_expression"):
            return f"number `{t}`"
        if len(t) > 30:
            t = t[:30] + "…"
        return f"`{t}`"

    def _prev_leaf(self, n: Node) -> Node | None:
        while n is not None:
            p = n.prev_sibling
            if p is not None:
                while p.child_count and p.type not in ("string_fragment", "path_fragment"):
                    p = p.children[-1]
                if p.type == "comment" or (p.is_missing and p.start_byte == p.end_byte):
                    n = p
                    continue
                return p
            n = n.parent  # type: ignore[assignment]
        return None

    def _next_leaf(self, n: Node) -> Node | None:
        cur: Node | None = n
        while cur is not None:
            nx = cur.next_sibling
            while nx is not None and nx.type == "comment":
                nx = nx.next_sibling
            if nx is not None:
                while nx.child_count and nx.type not in ("string_fragment", "path_fragment"):
                    nx = nx.children[0]
                return nx
            cur = cur.parent
        return None

    def report_error_node(self, n: Node) -> None:
        # Inner ERROR nodes pin the problem down better than the outer one.
        inner: list[Node] = []
        stack = list(reversed(n.children))
        while stack:
            c = stack.pop()
            if c.type == "ERROR":
                inner.append(c)
            elif c.has_error:
                stack.extend(reversed(c.children))
        if inner:
            for c in inner:
                self.report_error_node(c)
            return
        start, end = n.start_byte, n.end_byte
        if start in self._error_at:
            return
        parent = n.parent
        if parent is not None and parent.type == "formals" and self.raw(n) == b",":
            if self._trailing_comma_formal(n, parent):
                return
        self._error_at.add(start)
        text = self.text
        if text[start : start + 2] in (b"|>", b"<|"):
            self.error(PIPE_MESSAGE, start, start + 2)
            return
        leaves = self._leaves(n)
        at_eof = self._next_leaf(n) is None
        if not leaves:
            self.error("unexpected end of file", start, max(end, start))
            return
        first = leaves[0]
        ftext = _dec(self.raw(first))
        if ftext in ('"', "''") and at_eof:
            self.error("unterminated string", first.start_byte, first.end_byte)
            return
        keywords = [
            lf
            for lf in leaves
            if lf.type == "keyword" or (lf is not first and _dec(self.raw(lf)) in KEYWORDS)
        ]
        if keywords:
            kw = keywords[0]
            kt = _dec(self.raw(kw))
            msg = f"unexpected `{kt}`"
            if kt == "else" and self._unmatched_if(kw):
                msg += ", expected `then`"
            self.error(msg, kw.start_byte, kw.end_byte)
            return
        opens = [lf for lf in leaves if _dec(self.raw(lf)) in ("{", "[", "(", "${")]
        closes = sum(1 for lf in leaves if _dec(self.raw(lf)) in ("}", "]", ")"))
        if at_eof and len(opens) > closes:
            o = opens[0]
            self.error(f"unclosed `{_dec(self.raw(o))}`", o.start_byte, o.end_byte)
            return
        if first.type == "ERROR" or first.start_byte == first.end_byte:
            # The lexer itself failed (e.g. a character Nix does not know).
            bad = text[start : start + 1]
            if bad and bad[0] >= 0x80:
                ch = _dec(text[start:end]).strip()[:1] or "?"
                width = len(ch.encode("utf-8", "surrogateescape"))
                if "\udc80" <= ch <= "\udcff":
                    ch = f"\\x{ord(ch) - 0xDC00:02x}"  # an invalid UTF-8 byte
                self.error(f"unexpected character `{ch}`", start, start + width)
                return
        body = _dec(text[start:end]).strip()
        prev = self._prev_leaf(n)
        if prev is not None and prev.end_byte == start:
            joined = _dec(self.raw(prev)) + body
            if joined in _OPERATORS:
                # `->` lexed as `-` then `>`, and the like.
                self.error(f"unexpected `{joined}`", prev.start_byte, end)
                return
        if body == "." and not at_eof:
            nxt = self._next_leaf(n)
            assert nxt is not None
            self.error("expected attribute name after `.`", nxt.start_byte, nxt.end_byte)
            return
        if len(body) > 30 or "\n" in body:
            body = ftext
            end = first.end_byte
            start = first.start_byte
        msg = f"unexpected `{body}`"
        if prev is not None and body[:1] not in (")", "}", "]"):
            msg += f" after `{_dec(self.raw(prev))[:30]}`"
        self.error(msg, start, end)

    def _unmatched_if(self, n: Node) -> bool:
        """Whether an ``if`` without its ``then`` precedes ``n``."""
        p = self._prev_leaf(n)
        for _ in range(1000):
            if p is None:
                return False
            t = self.raw(p)
            if t == b"then":
                return False
            if t == b"if":
                return True
            p = self._prev_leaf(p)
        return False

    def report_missing(self, n: Node) -> None:
        pos = n.start_byte
        if pos in self._error_at:
            return
        parent = n.parent
        if n.type == "identifier" and parent is not None and parent.type == "formal":
            formals = parent.parent
            if formals is not None and self._trailing_comma_formal(parent, formals):
                return
        self._error_at.add(pos)
        what = n.type
        prev = self._prev_leaf(n)
        pspan = (prev.start_byte, prev.end_byte) if prev is not None else (pos, pos)
        if what in _CLOSERS and parent is not None:
            opener = _CLOSERS[what]
            for c in parent.children:
                if c.type == opener and not c.is_missing:
                    self.error(f"unclosed `{opener}`", c.start_byte, c.end_byte)
                    return
            self.error(f"expected `{what}`", *pspan)
            return
        if what == "identifier" or what.endswith("_expression"):
            if prev is not None:
                ptext = _dec(self.raw(prev))
                self.error(f"expected expression after `{ptext[:30]}`", *pspan)
            else:
                self.error("expected expression", pos, pos)
            return
        if what == ";":
            ptype = parent.type if parent is not None else ""
            ctx = {
                "binding": "attribute definition",
                "inherit": "`inherit`",
                "inherit_from": "`inherit`",
                "assert_expression": "`assert` condition",
                "with_expression": "`with` expression",
            }.get(ptype)
            if ctx:
                self.error(f"expected `;` after {ctx}", *pspan)
            else:
                self.error("expected `;`", *pspan)
            return
        if what in ("then", "else", "in", ":", "=", "."):
            self.error(f"expected `{what}`", *pspan)
            return
        self.error(f"expected `{what}`", *pspan)

    def _trailing_comma_formal(self, node: Node, formals: Node) -> bool:
        """``{ x, }``: a zero-width formal after the last comma, or (after a
        default value) an ERROR holding just that comma; both grammar gaps."""
        is_comma = node.type == "ERROR"
        if not is_comma and node.start_byte != node.end_byte:
            return False
        kids = [c for c in formals.children if c.type != "comment"]
        try:
            i = next(k for k, c in enumerate(kids) if c.id == node.id)
        except StopIteration:
            return False
        if i + 1 >= len(kids) or kids[i + 1].type != "}" or i == 0:
            return False
        if any(c.type == "ellipses" for c in kids[:i]):
            return False
        before = kids[i - 1]
        return before.type == "formal" if is_comma else before.type == ","

    # ------------------------------------------------------------ lowering
    def lower_root(self, root: Node) -> N.Node | None:
        """Post-order over the tree; each expression is built from lowered children."""
        expr = root.child_by_field_name("expression")
        if root.type != "source_code":
            expr = root
        if expr is None:
            if not root.has_error:
                self.error("unexpected end of file, expected an expression", 0, len(self.text))
            return None
        if expr.type == "ERROR":
            return None
        handlers = self._handlers()
        results = self.results
        check, countdown = self.check, 4096
        errors = self.errors
        reuse, record, place = self.reuse, self.record, self._place
        # Errors reported before each open node was entered: a subtree that
        # reported any (or holds an ERROR) is never kept for reuse.
        marks = [len(errors)]
        # With ``record``: the ids of the kept subtrees nearest below each
        # open node (``self.top``: below the root).
        groups: list[list[int]] = [self.top, []]
        # A tree cursor, not ``Node.children``: py-tree-sitter caches a node's
        # children list on the node, so walking by ``children`` from a root
        # kept alive throughout would keep a Python object for every node of
        # the tree until the end (tens of megabytes for a large file).
        cursor = expr.walk()
        goto_first_child, goto_next_sibling = cursor.goto_first_child, cursor.goto_next_sibling
        depth = 0
        c: Node  # (the cursor is always on a node)
        # The previous lowering of the node under the cursor, when tree-sitter
        # kept its subtree (same id: same text): not descended into.
        kept = reuse.get(expr.id) if reuse is not None else None
        while True:
            # Down to the first child worth visiting (one with children or an
            # expression, not an ERROR: its text was reported, not lowered).
            if kept is None and goto_first_child():
                entered = False
                while True:
                    c = cursor.node  # type: ignore[assignment]
                    if (c.child_count or c.type in _EXPR_TYPES) and c.type != "ERROR":
                        entered = True
                        break
                    if not goto_next_sibling():
                        cursor.goto_parent()
                        break
                if entered:
                    depth += 1
                    marks.append(len(errors))
                    groups.append([])
                    kept = reuse.get(c.id) if reuse is not None else None
                    continue
            # The node is done (post-order): lower it, then on to its next
            # sibling worth visiting, or up to its parent, done in turn.
            while True:
                if check is not None:
                    countdown -= 1
                    if not countdown:
                        check()
                        countdown = 4096
                c = cursor.node  # type: ignore[assignment]
                inner = groups.pop()
                if kept is not None:
                    results[c.id] = place(c, kept)
                    groups[-1].append(c.id)
                    kept = None
                else:
                    h = handlers.get(c.type)
                    if h is None:
                        if inner:
                            groups[-1].extend(inner)
                    else:
                        node = results[c.id] = h(c)
                        if (
                            record is not None
                            and c.end_byte - c.start_byte >= KEEP_BYTES
                            and len(errors) == marks[-1]
                            and not c.has_error
                        ):
                            record[c.id] = (
                                node,
                                c.start_byte - node.span.start,
                                id(node) in self.concat,
                                tuple(inner),
                            )
                            groups[-1].append(c.id)
                        elif inner:
                            groups[-1].extend(inner)
                marks.pop()
                if not depth:
                    return results.get(expr.id)
                found = False
                while goto_next_sibling():
                    c = cursor.node  # type: ignore[assignment]
                    if (c.child_count or c.type in _EXPR_TYPES) and c.type != "ERROR":
                        found = True
                        break
                if found:
                    marks.append(len(errors))
                    groups.append([])
                    kept = reuse.get(c.id) if reuse is not None else None
                    break
                cursor.goto_parent()
                depth -= 1

    def _place(self, c: Node, entry: Kept) -> N.Node:
        """The kept lowering of ``c``'s subtree, moved to where ``c`` is now."""
        node, offset, concat = entry[0], entry[1], entry[2]
        delta = c.start_byte - offset - node.span.start
        if delta:
            shift_spans(node, delta)
        if concat:
            self.concat.add(id(node))
        # Nix names a lambda after the binding it is the value of: the
        # binding that holds it now names it again (``add_attr_def``).
        value = node
        while value.__class__ is N.Lambda:
            value.name = None  # type: ignore[attr-defined]
            value = value.body  # type: ignore[attr-defined]
        if self.record is not None:
            self.record[c.id] = (node, offset, concat, entry[3])
        return node

    def _handlers(self) -> dict[str, Callable[[Node], N.Node]]:
        return {
            "variable_expression": self.l_var,
            "integer_expression": self.l_int,
            "float_expression": self.l_float,
            "string_expression": self.l_string,
            "indented_string_expression": self.l_ind_string,
            "path_expression": self.l_path,
            "hpath_expression": self.l_path,
            "spath_expression": self.l_spath,
            "uri_expression": self.l_uri,
            "parenthesized_expression": self.l_paren,
            "attrset_expression": self.l_attrs,
            "rec_attrset_expression": self.l_attrs,
            "let_attrset_expression": self.l_legacy_let,
            "let_expression": self.l_let,
            "list_expression": self.l_list,
            "select_expression": self.l_select,
            "has_attr_expression": self.l_has_attr,
            "apply_expression": self.l_apply,
            "unary_expression": self.l_unary,
            "binary_expression": self.l_binary,
            "function_expression": self.l_lambda,
            "if_expression": self.l_if,
            "assert_expression": self.l_assert,
            "with_expression": self.l_with,
        }

    def _check_identifier(self, n: Node) -> str:
        raw = self.raw(n)
        name = self.names.get(raw)
        if name is None:
            # One string per name (a large file repeats a few thousand names
            # a hundred thousand times), shared with other versions' trees.
            name = self.names[raw] = sys.intern(_dec(raw))
        if name in KEYWORDS and not n.is_missing:
            self.error(
                f'keyword `{name}` cannot be used as a name here (quote it: "{name}")',
                n.start_byte,
                n.end_byte,
            )
        return name

    # -- simple expressions
    def l_var(self, n: Node) -> N.Node:
        ident = n.child_by_field_name("name")
        if ident is None:
            return self.placeholder(n)
        name = self._check_identifier(ident)
        if name == "__curPos":
            return N.CurPos(self.nspan(n))
        return N.Var(self.nspan(n), name)

    def l_int(self, n: Node) -> N.Node:
        text = _dec(self.raw(n))
        value = int(text)
        if value > MAX_INT:
            self.error(f"invalid integer '{text}'", n.start_byte, n.end_byte)
        return N.Int(self.nspan(n), value)

    def l_float(self, n: Node) -> N.Node:
        text = _dec(self.raw(n))
        try:
            value = float(text)
        except ValueError:
            value = 0.0
        if value in (float("inf"), float("-inf")) or value != value:
            self.error(f"invalid float '{text}'", n.start_byte, n.end_byte)
        return N.Float(self.nspan(n), value)

    def l_spath(self, n: Node) -> N.Node:
        return N.SearchPath(self.nspan(n), _dec(self.raw(n))[1:-1])

    def l_uri(self, n: Node) -> N.Node:
        return N.Uri(self.nspan(n), _dec(self.raw(n)))

    def l_paren(self, n: Node) -> N.Node:
        return self.get(n.child_by_field_name("expression"), n)

    def l_list(self, n: Node) -> N.Node:
        items = [self.get(c, n) for c in n.children_by_field_name("element")]
        return N.List(self.nspan(n), items)

    def l_apply(self, n: Node) -> N.Node:
        fn = self.get(n.child_by_field_name("function"), n)
        arg = self.get(n.child_by_field_name("argument"), n)
        return N.Apply(self.nspan(n), fn, arg)

    def l_unary(self, n: Node) -> N.Node:
        op = n.child_by_field_name("operator")
        arg = self.get(n.child_by_field_name("argument"), n)
        if op is not None and op.type == "!":
            return N.Not(self.nspan(n), arg)
        return N.Neg(self.nspan(n), arg)

    def l_binary(self, n: Node) -> N.Node:
        op = n.child_by_field_name("operator")
        left = self.get(n.child_by_field_name("left"), n)
        right = self.get(n.child_by_field_name("right"), n)
        op_text = op.type if op is not None else "?"
        op_span = self.nspan(op) if op is not None else None
        return N.BinOp(self.nspan(n), op_text, left, right, op_span)

    def l_if(self, n: Node) -> N.Node:
        return N.If(
            self.nspan(n),
            self.get(n.child_by_field_name("condition"), n),
            self.get(n.child_by_field_name("consequence"), n),
            self.get(n.child_by_field_name("alternative"), n),
        )

    def l_assert(self, n: Node) -> N.Node:
        return N.Assert(
            self.nspan(n),
            self.get(n.child_by_field_name("condition"), n),
            self.get(n.child_by_field_name("body"), n),
        )

    def l_with(self, n: Node) -> N.Node:
        return N.With(
            self.nspan(n),
            self.get(n.child_by_field_name("environment"), n),
            self.get(n.child_by_field_name("body"), n),
        )

    # -- strings
    def _interpolations(self, n: Node) -> dict[int, Node]:
        return {c.start_byte: c for c in n.children if c.type == "interpolation"}

    def _interp_expr(self, c: Node) -> N.Node:
        return self.get(c.child_by_field_name("expression"), c)

    def _check_nul(self, s: str, start: int, end: int) -> None:
        if "\0" in s:
            self.nul_reported = True
            shown = s.replace("\0", "␀")
            self.error(
                f"input string '{shown}' cannot be represented as Nix string "
                "because it contains null bytes",
                start,
                end,
            )

    def _delimited(self, n: Node, close: str) -> tuple[int, int]:
        """Byte range of a string's contents, between its delimiters."""
        kids = n.children
        start = kids[0].end_byte if kids else n.start_byte
        end = n.end_byte
        if len(kids) > 1 and kids[-1].type == close and not kids[-1].is_missing:
            end = kids[-1].start_byte
        return start, end

    def l_string(self, n: Node) -> N.Node:
        start, end = self._delimited(n, '"')
        interps = self._interpolations(n)
        text = self.text
        parts: list[str | N.Node] = []
        segments: list[N.Span] = []
        buf = bytearray()
        lit_start = start
        i = start

        def flush(at: int) -> None:
            if buf:
                s = _dec(bytes(buf))
                self._check_nul(s, lit_start, at)
                parts.append(s)
                buf.clear()

        while i < end:
            c = text[i]
            nxt = text[i + 1] if i + 1 < end else -1
            if c == 0x24 and nxt == 0x7B and i in interps:  # ${
                flush(i)
                inode = interps[i]
                parts.append(self._interp_expr(inode))
                segments.append(self.nspan(inode))
                i = lit_start = inode.end_byte
            elif c == 0x24 and nxt == 0x24:
                # `$$` is one lexer token, so `$${` stays literal.
                buf += b"$$"
                i += 2
            elif c == 0x5C and nxt >= 0:  # backslash escape
                buf += _unescape_char(nxt).encode("utf-8", "surrogateescape")
                i += 2
            elif c == 0x0D:  # an unescaped CR or CR LF becomes LF
                buf.append(0x0A)
                i += 2 if nxt == 0x0A else 1
            else:
                buf.append(c)
                i += 1
        flush(end)
        node = N.Str(self.nspan(n), _merge_literals(parts), segments)
        if any(not isinstance(p, str) for p in parts):
            self.concat.add(id(node))
        return node

    def l_ind_string(self, n: Node) -> N.Node:
        start, end = self._delimited(n, "''")
        text = self.text
        # The opening token swallows `(\ *\n)?`.
        m = _IND_OPEN_REST.match(text, start, end)
        if m:
            start = m.end()
        interps = self._interpolations(n)
        tokens: list[_IndTok] = []
        segments: list[N.Span] = []
        run = bytearray()
        run_start = start
        i = start

        def flush(at: int) -> None:
            if run:
                s = _dec(bytes(run))
                self._check_nul(s, run_start, at)
                tokens.append((s, True, run_start))
                run.clear()

        def single(s: str, at: int, width: int) -> int:
            # Escapes and lone `'`/`$` are tokens without indentation role.
            nonlocal run_start
            flush(at)
            tokens.append((s, False, at))
            run_start = at + width
            return at + width

        while i < end:
            c = text[i]
            nxt = text[i + 1] if i + 1 < end else -1
            if c == 0x24 and nxt == 0x7B and i in interps:
                flush(i)
                inode = interps[i]
                tokens.append(self._interp_expr(inode))
                segments.append(self.nspan(inode))
                i = run_start = inode.end_byte
            elif c == 0x27 and nxt == 0x27:  # ''
                d = text[i + 2] if i + 2 < end else -1
                if d == 0x27:
                    i = single("''", i, 3)
                elif d == 0x24:
                    i = single("$", i, 3)
                elif d == 0x5C and i + 3 < end:
                    i = single(_unescape_char(text[i + 3]), i, 4)
                else:
                    i = single("''", i, 2)
            elif c == 0x27 and (nxt == -1 or nxt == 0x24):
                i = single("'", i, 1)
            elif c == 0x24 and (nxt == -1 or nxt == 0x27):
                i = single("$", i, 1)
            elif c == 0x27 or c == 0x24:
                # `'x` and `$x` are two-byte pieces of the text run, so
                # `$${` stays literal.
                if not run:
                    run_start = i
                run += text[i : i + 2]
                i += 2
            else:
                if not run:
                    run_start = i
                run.append(c)
                i += 1
        flush(end)
        parts, concat = strip_indentation(tokens)
        node = N.Str(self.nspan(n), parts, segments)
        if concat:
            self.concat.add(id(node))
        return node

    # -- paths
    def l_path(self, n: Node) -> N.Node:
        text = self.text
        kids = [c for c in n.children if c.type in ("path_fragment", "interpolation")]
        parts: list[str | N.Node] = []
        for k, c in enumerate(kids):
            if c.type == "interpolation":
                parts.append(self._interp_expr(c))
                continue
            lit = _dec(self.raw(c))
            if k == 0:
                interpolated = len(kids) > 1
                if text[c.start_byte : c.start_byte + 1] == b"~":
                    # HPATH: home directory + the rest, not canonicalised (as Nix).
                    lit = _home_dir(self.home) + lit[1:]
                else:
                    trailing = lit.endswith("/") and len(lit) > 1
                    lit = abs_path(lit, self.base_dir)
                    if interpolated and trailing:
                        lit += "/"
            parts.append(lit)
        if kids and kids[-1].type == "path_fragment" and self.raw(kids[-1]).endswith(b"/"):
            end = n.end_byte
            self.error(
                "path has a trailing slash",
                end,
                min(end + 1, len(text)) if end < len(text) else end,
            )
        return N.Path(self.nspan(n), parts)

    # -- attribute names
    def attr_name(self, c: Node) -> N.AttrName | None:
        """A static name, a dynamic expression, or None if unparsable."""
        if c.type == "identifier":
            return self._check_identifier(c)
        if c.type == "string_expression":
            r = self.results.get(c.id)
        elif c.type == "interpolation":
            r = self._interp_expr(c)
        else:
            return None
        if r is None:
            return None
        if (
            isinstance(r, N.Str)
            and id(r) not in self.concat
            and all(isinstance(p, str) for p in r.parts)
        ):
            return "".join(r.parts)  # type: ignore[arg-type]
        return r

    def attrpath(self, ap: Node | None) -> tuple[list[N.AttrName], list[Span]]:
        names: list[N.AttrName] = []
        spans: list[Span] = []
        if ap is None:
            return names, spans
        for c in ap.children_by_field_name("attr"):
            name = self.attr_name(c)
            if name is None:
                name = ""
            names.append(name)
            spans.append(self.nspan(c))
        return names, spans

    def l_select(self, n: Node) -> N.Node:
        expr = self.get(n.child_by_field_name("expression"), n)
        names, spans = self.attrpath(n.child_by_field_name("attrpath"))
        d = n.child_by_field_name("default")
        default = self.get(d, n) if d is not None else None
        return N.Select(self.nspan(n), expr, names, default, spans)

    def l_has_attr(self, n: Node) -> N.Node:
        expr = self.get(n.child_by_field_name("expression"), n)
        names, spans = self.attrpath(n.child_by_field_name("attrpath"))
        return N.HasAttr(self.nspan(n), expr, names, spans)

    # -- functions
    def l_lambda(self, n: Node) -> N.Node:
        body = self.get(n.child_by_field_name("body"), n)
        arg_node = n.child_by_field_name("universal")
        arg = self._check_identifier(arg_node) if arg_node is not None else None
        arg_span = self.nspan(arg_node) if arg_node is not None else None
        fnode = n.child_by_field_name("formals")
        if fnode is None:
            return N.Lambda(self.nspan(n), arg, None, False, body, arg_span)
        formals: list[N.Formal] = []
        ellipsis = False
        seen: dict[str, N.Formal] = {}
        for c in fnode.children:
            if c.type == "ellipses":
                ellipsis = True
            elif c.type == "formal":
                ident = c.child_by_field_name("name")
                if ident is None or (ident.is_missing and ident.start_byte == ident.end_byte):
                    continue  # trailing comma (see _grammar_gaps) or reported as missing
                name = self._check_identifier(ident)
                dnode = c.child_by_field_name("default")
                default = self.get(dnode, c) if dnode is not None else None
                formal = N.Formal(name, default, self.nspan(ident))
                if name in seen:
                    self.error(
                        f"duplicate formal function argument '{name}'",
                        ident.start_byte,
                        ident.end_byte,
                    )
                    continue
                seen[name] = formal
                formals.append(formal)
        if arg is not None and arg in seen:
            self.error(
                f"duplicate formal function argument '{arg}'", n.start_byte, n.start_byte + 1
            )
        return N.Lambda(self.nspan(n), arg, formals, ellipsis, body, arg_span)

    # -- bindings
    def binds(self, bs: Node | None, owner: N.Node) -> _Binds:
        """Nix's ``binds`` rule: attribute definitions merged by ``addAttr``."""
        out = _Binds()
        if bs is None:
            return out
        # Only the paths of large sets are kept (``binding_path``): a small
        # one is as quick to lower again.
        keep = bs.named_child_count >= KEEP_PATHS
        for b in bs.children:
            if b.type == "binding":
                names, spans = (
                    self.binding_path(b)
                    if keep
                    else self.attrpath(b.child_by_field_name("attrpath"))
                )
                if not names:
                    continue
                value = self.get(b.child_by_field_name("expression"), b)
                self.add_attr(out, names, spans, value)
            elif b.type in ("inherit", "inherit_from"):
                self.inherit(out, b)
        return out

    def binding_path(self, b: Node) -> tuple[list[N.AttrName], list[Span]]:
        """The attribute path of binding ``b``; with ``paths`` (incremental
        lowering), that of a binding tree-sitter kept is not lowered again
        (only static paths that reported no error are kept)."""
        paths, out = self.paths, self.paths_out
        if paths is not None and out is not None:
            kept = paths.get(b.id)
            if kept is not None:
                names, spans, at = kept
                delta = b.start_byte - at
                if delta:
                    source = self.source
                    spans = [Span(source, sp.start + delta, sp.end + delta) for sp in spans]
                out[b.id] = (names, spans, b.start_byte)
                return list(names), spans
        mark = len(self.errors)
        names, spans = self.attrpath(b.child_by_field_name("attrpath"))
        if (
            out is not None
            and len(self.errors) == mark
            and not b.has_error
            and all(isinstance(n, str) for n in names)
        ):
            out[b.id] = (list(names), spans, b.start_byte)
        return names, spans

    def inherit(self, out: _Binds, b: Node) -> None:
        from_index = -1
        src: N.Node | None = None
        if b.type == "inherit_from":
            src = self.get(b.child_by_field_name("expression"), b)
            from_index = len(out.inherit_from)
            out.inherit_from.append(src)
        attrs = b.child_by_field_name("attrs")
        if attrs is None:
            return
        for c in attrs.children_by_field_name("attr"):
            if _empty_inherit(c):
                continue
            name = self.attr_name(c)
            if name is None:
                continue
            if not isinstance(name, str):
                self.error("dynamic attributes not allowed in inherit", c.start_byte, c.end_byte)
                continue
            sp = self.nspan(c)
            prev = out.attrs.get(name)
            if prev is not None:
                self.error(
                    f"attribute '{show_identifier(name)}' already defined at {prev.span}",
                    sp.start,
                    sp.end,
                )
                continue
            if src is None:
                out.attrs[name] = N.AttrDef(N.Var(sp, name), sp, "inherit")
            else:
                value = N.Select(sp, src, [name], None, [sp])
                out.attrs[name] = N.AttrDef(value, sp, "inherit_from", from_index)

    def add_attr(
        self, attrs: _Binds | N.Attrs, names: list[N.AttrName], spans: list[Span], value: N.Node
    ) -> None:
        """``ParserState::addAttr``: walk/create the nested sets, then insert."""
        start = spans[0].start
        cur: _Binds | N.Attrs = attrs
        for k in range(len(names) - 1):
            name = names[k]
            sp = self.span(start, spans[k].end)
            nested: N.Attrs
            if isinstance(name, str):
                j = cur.attrs.get(name)
                if j is not None:
                    if not isinstance(j.value, N.Attrs) or j.kind != "plain":
                        self.dup_attr(names[: k + 1], sp, j.span)
                        return
                    nested = j.value
                else:
                    nested = N.Attrs(sp, False, {})
                    cur.attrs[name] = N.AttrDef(nested, sp)
            else:
                nested = N.Attrs(sp, False, {})
                cur.dynamic.append(N.DynAttr(name, nested, sp))
            cur = nested
        last = names[-1]
        sp = self.span(start, spans[-1].end)
        if isinstance(last, str):
            self.add_attr_def(cur, list(names), last, N.AttrDef(value, sp))
        else:
            cur.dynamic.append(N.DynAttr(last, value, sp))

    def add_attr_def(
        self, attrs: _Binds | N.Attrs, path: list[N.AttrName], name: str, d: N.AttrDef
    ) -> None:
        """Insert one definition, merging two attribute-set literals like Nix."""
        j = attrs.attrs.get(name)
        if j is None:
            attrs.attrs[name] = d
            _set_name(d.value, name)
            return
        ae = d.value if isinstance(d.value, N.Attrs) and d.kind == "plain" else None
        je = j.value if isinstance(j.value, N.Attrs) and j.kind == "plain" else None
        if ae is None or je is None or ae is je:
            self.dup_attr(path, d.span, j.span)
            return
        # Both are attribute-set literals: move ae's contents into je.  As in
        # Nix, a `rec` on ae is dropped and je's `rec` applies (NixOS/nix#9020).
        self.mutated.update((id(ae), id(je)))
        offset = len(je.inherit_from)
        for k, ad in list(ae.attrs.items()):
            if ad.kind == "inherit_from":
                ad.from_index += offset
            self.add_attr_def(je, path + [k], k, ad)
        ae.attrs.clear()
        je.dynamic.extend(ae.dynamic)
        ae.dynamic.clear()
        je.inherit_from.extend(ae.inherit_from)
        ae.inherit_from.clear()

    def dup_attr(self, path: list[N.AttrName], span: Span, prev: Span) -> None:
        self.error(
            f"attribute '{show_attr_path(path)}' already defined at {prev}", span.start, span.end
        )

    def l_attrs(self, n: Node) -> N.Node:
        node = N.Attrs(self.nspan(n), n.type == "rec_attrset_expression", {})
        b = self.binds(n.child_by_field_name("binding") or _child_of_type(n, "binding_set"), node)
        node.attrs, node.dynamic, node.inherit_from = b.attrs, b.dynamic, b.inherit_from
        return node

    def l_legacy_let(self, n: Node) -> N.Node:
        node = N.Attrs(self.nspan(n), True, {})
        b = self.binds(_child_of_type(n, "binding_set"), node)
        node.attrs, node.dynamic, node.inherit_from = b.attrs, b.dynamic, b.inherit_from
        return N.LegacyLet(self.nspan(n), node)

    def l_let(self, n: Node) -> N.Node:
        body = self.get(n.child_by_field_name("body"), n)
        node = N.Let(self.nspan(n), {}, body)
        b = self.binds(_child_of_type(n, "binding_set"), node)
        if b.dynamic:
            self.error("dynamic attributes not allowed in let", n.start_byte, n.start_byte + 3)
        node.attrs, node.inherit_from = b.attrs, b.inherit_from
        return node


def _child_of_type(n: Node, type_: str) -> Node | None:
    for c in n.children:
        if c.type == type_:
            return c
    return None


def _set_name(value: N.Node, name: str) -> None:
    # Nix's setName: a lambda (and the lambdas directly in its body) take the
    # name of the attribute they are bound to, for stack traces.
    while isinstance(value, N.Lambda):
        value.name = name
        value = value.body


def show_attr_path(path: list[N.AttrName]) -> str:
    """Nix's ``showAttrPath``: names joined with dots, dynamic ones as ``"${e}"``."""
    from .astdump import dump

    out = []
    for p in path:
        out.append(show_identifier(p) if isinstance(p, str) else '"${' + dump(p) + '}"')
    return ".".join(out)
