"""Incremental lowering: one document's versions lowered by reusing the
lowered subtrees tree-sitter kept.

After an edit, tree-sitter's incremental reparse shares every subtree the
edit did not touch with the previous tree: the same subtree, the same
``Node.id`` (the subtree's address).  ``Lowering`` keeps each lowered
expression of the last tree by the id of its tree-sitter node (and that
tree alive, so no other subtree can get one of those ids); the next lowering takes a kept expression instead of descending into a subtree
that has one, so only the nodes on the path to the edit are lowered again.
The result is the same tree, span for span, as a lowering from scratch
(``tests/test_incremental.py`` checks that after random edits).

What makes a kept expression valid at its new place:

* its spans: all offsets move by how much the text before it changed
  length (``nodes.shift_spans``, in place); the ``Source`` is one object
  per document whose text is replaced at each version, so unmoved spans need
  no change at all;
* what its parent did to it: a lambda's name comes from the binding holding
  it (cleared on reuse, set again by the parent), and literal sets merged by
  ``a = { … }; a = { … };`` are changed in place (never kept);
* errors: a subtree that reported a lowering error, or holds an ERROR node,
  is never kept (its errors are reported again by lowering it again).

Only the lowerings of the last tree's subtrees are kept (each lists the
kept ones nearest inside it, so those inside a moved subtree stay), and
only that tree: older ones are released.

The lowered nodes are shared between versions and changed in place, so an
older version's tree is not valid any more once a newer one is lowered: the
owner (``server.host``) keeps one version's analysis of a large document.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from tree_sitter import Tree

from . import nodes as N
from .nodes import ParseResult, Source
from .parse import Kept, KeptPath, lower


class Lowering:
    """The incremental lowering of one document (its versions in order)."""

    def __init__(self, path: str | None, name: str | None = None, home: str | None = None):
        self.path, self.name, self.home = path, name, home
        self.source: Source | None = None
        # The tree of the last lowering: alive, so that the subtree ids of
        # ``kept`` and ``paths`` (addresses) are never those of other subtrees.
        self.tree: Tree | None = None
        self.kept: dict[int, Kept] = {}
        self.paths: dict[int, KeptPath] = {}
        self.names: dict[bytes, str] = {}

    def lower(
        self, tree: Tree, data: bytes, *, check: Callable[[], None] | None = None
    ) -> ParseResult:
        """Lower ``tree`` (of ``prepare_text(data)``), reusing what the previous
        lowering kept of subtrees ``tree`` shares with the previous tree."""
        fresh = self.source is None or b"\0" in data  # (NUL errors come after lowering)
        if self.source is None:
            self.source = Source(data, self.path, self.name)
        else:
            # One Source for every version: spans that did not move stay valid.
            self.source.replace_text(data)
        kept = {} if fresh else self.kept
        paths = {} if fresh else self.paths
        if fresh or len(self.names) > 100_000:
            self.names = {}  # (every name typed since would be kept)
        # Empty until this lowering is done (on failure: start over); the
        # previous tree stays alive meanwhile (``kept`` has its ids).
        previous = self.tree
        self.kept, self.paths, self.tree = {}, {}, None
        record: dict[int, Kept] = {}
        paths_out: dict[int, KeptPath] = {}
        expr = tree.root_node.child_by_field_name("expression")
        whole = expr is not None and expr.id in kept
        result = lower(
            tree,
            self.source,
            home=self.home,
            check=check,
            reuse=kept,
            record=record,
            paths=paths,
            paths_out=paths_out,
            names=self.names,
        )
        if whole and result.partial is not None:
            # The whole expression was kept: a new root object all the same,
            # so that caches keyed on the root (tree indexes) see a new tree.
            result = _with_root(result, result.partial)
        self.kept, self.paths, self.tree = record, paths_out, tree
        del previous
        return result


def _with_root(result: ParseResult, root: N.Node) -> ParseResult:
    new_root = copy.copy(root)
    return ParseResult(
        result.source,
        new_root if result.root is not None else None,
        result.errors,
        new_root,
    )
