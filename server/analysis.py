"""The static diagnostic layers of a document: syntax (from its incremental tree) and lint.

Both are functions of one ``Snapshot`` of a document (its bytes and a copy of
its tree).  The server computes the syntax layer itself, at once after each
edit; the lints (lowering and linting take milliseconds for a usual file,
seconds for a 40,000-line one) are computed in the document's analysis
helper (``server.host``).  Evaluation lives there too.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from tree_sitter import Tree

from evaluator.diagnostics import Diagnostic, Severity
from evaluator.ide._doc import Doc, forget_source, remember, shared_analysis
from evaluator.incremental import Lowering
from evaluator.incremental_lint import IncrementalLint
from evaluator.lint import lint
from evaluator.nodes import ParseResult, Source
from evaluator.parse import lower, tree_syntax_errors

from .documents import Document

log = logging.getLogger(__name__)


# Lints that assert an absence ("never used", "refers to none of") are only
# trustworthy on a broken buffer when the text tree-sitter could not parse
# cannot contain the missing use.
_ABSENCE_BY_NAME = {"unused_binding", "unused_argument", "unused_formal"}
_ABSENCE_OF_CONSTRUCT = {"unused_with", "useless_rec", "useless_inherit"}
_WORD = re.compile(rb"[A-Za-z_][A-Za-z0-9_'-]*")
_QUOTED = re.compile(r"'([^']*)'")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A document's text and tree at one version (the tree a private copy)."""

    data: bytes
    tree: Tree
    version: int | None


def snapshot(doc: Document) -> Snapshot:
    """Freeze ``doc``: ``Tree.copy`` is cheap, and edits to the document's
    tree (``tree.edit`` mutates in place) leave the copy as it was."""
    return Snapshot(doc.data, doc.tree.copy(), doc.version)


def syntax_diagnostics(doc: Document | Snapshot, path: str | None) -> list[Diagnostic]:
    """Only the syntax errors tree-sitter's (incrementally updated) tree shows:
    fast enough to publish at once after an edit of a large file, while
    ``static_diagnostics`` runs."""
    source = Source(doc.data, path, None if path else "«buffer»")
    return [
        Diagnostic(e.code, Severity.ERROR, e.message, e.span)
        for e in tree_syntax_errors(doc.tree, source)
    ]


class Incremental:
    """A large document's analysis state across versions: its lowering and
    its lints, each reusing what the previous version's kept."""

    __slots__ = ("lowering", "lints")

    def __init__(self, path: str | None) -> None:
        self.lowering = Lowering(path, None if path else "«buffer»")
        self.lints = IncrementalLint()


def static_diagnostics(
    doc: Document | Snapshot, path: str | None, incremental: Incremental | None = None
) -> list[Diagnostic]:
    """Syntax errors (every ERROR/MISSING node) and lints.

    On a buffer with syntax errors the lints run on the partially lowered tree
    (each unparsable part a placeholder) and are filtered so that nothing is
    claimed that the unparsed text might contradict.

    With ``incremental`` (the document's state, ``doc.tree`` incrementally
    reparsed from the tree it saw last), subtrees unchanged since then are
    not lowered nor linted again: the same result, sooner.
    """
    # The editor analyses (server.navigation) and this share one parse and
    # resolution per text: whichever comes first makes it, and the other
    # waits for it (a completion right after an edit of a large file does
    # not lower the file a second time meanwhile).
    source = Source(doc.data, path, None if path else "«buffer»")
    lowered: list[ParseResult] = []

    def make() -> Doc:
        if incremental is not None:
            # The previous version's analysis is about to change in place.
            if incremental.lowering.source is not None:
                forget_source(incremental.lowering.source)
            result = incremental.lowering.lower(doc.tree, doc.data)
        else:
            result = lower(doc.tree, source)
        lowered.append(result)
        return Doc(result.source, None if result.errors else result.root, list(result.errors), path)

    if path:
        parsed = shared_analysis(doc.data, path, make)
        if not lowered and parsed.root is not None:
            return lint(parsed.root, parsed.source, parsed.res)
    if not lowered:  # an untitled buffer, or a parse with errors made elsewhere
        parsed = remember(make())
    result = lowered[0]
    source = result.source
    syntax = [Diagnostic(e.code, Severity.ERROR, e.message, e.span) for e in result.errors]
    root = result.root if not result.errors else result.partial
    if root is None:
        return syntax
    if incremental is not None:
        lints = incremental.lints.lint(root, source)
    else:
        lints = lint(root, source, parsed.res if parsed.root is not None else None)
    if not result.errors:
        return lints
    return syntax + _trustworthy(lints, doc, result.errors)


def _trustworthy(
    lints: list[Diagnostic], doc: Document | Snapshot, errors: list
) -> list[Diagnostic]:
    words: set[bytes] = set()
    for start, end in _error_ranges(doc):
        words.update(_WORD.findall(doc.data[start:end]))
    error_spans = [(e.span.start, e.span.end) for e in errors]
    out = []
    for d in lints:
        if d.code in _ABSENCE_OF_CONSTRUCT:
            continue
        if d.code == "undefined_variable" and d.message == "undefined variable ''":
            continue  # a placeholder
        if d.code in _ABSENCE_BY_NAME:
            m = _QUOTED.search(d.message)
            if m is None or m.group(1).encode() in words:
                continue
        if d.span is not None and any(s < d.span.end and d.span.start < e for s, e in error_spans):
            continue
        out.append(d)
    return out


def _error_ranges(doc: Document | Snapshot) -> list[tuple[int, int]]:
    """Byte ranges of the ERROR nodes (the text tree-sitter skipped)."""
    out: list[tuple[int, int]] = []
    stack = [doc.tree.root_node]
    while stack:
        n = stack.pop()
        if n.type == "ERROR":
            out.append((n.start_byte, n.end_byte))
            continue
        stack.extend(c for c in n.children if c.has_error)
    return out
