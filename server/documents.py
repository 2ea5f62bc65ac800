"""Open buffers: text as the client sees it, plus an incrementally reparsed tree.

Each ``Document`` keeps UTF-8 bytes (``positions.encode_text`` of the client's
text), their ``LineIndex`` and one tree-sitter tree of
``evaluator.parse.prepare_text(bytes)``.  ``apply_change`` turns one LSP
content change into a byte edit, applies it, tells tree-sitter (``tree.edit``)
and reparses with the old tree.

Tree-sitter's ``changed_ranges`` misses edits that replace text with text of
the same shape, so the byte ranges edited since the last ``take_edits`` are
tracked here (``EditLog``); they let older results (evaluation diagnostics)
be moved to the current text or dropped where it changed.

A UTF-16 client may put a range boundary between the two halves of a
surrogate pair; the half that remains is kept as a lone surrogate, exactly as
the client now has it, and two halves that meet again are joined.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from tree_sitter import Parser, Point, Tree

from evaluator.parse import make_parser, prepare_text

from . import positions
from .positions import LineIndex

if TYPE_CHECKING:  # not at run time: the analysis helpers use this module too
    from lsprotocol import types

# A byte of the prepared text depends on the raw bytes up to 3 after it
# (``~/${`` -> ``./${``; a CR depends on the byte after it).
_PREPARE_LOOKAHEAD = 3


@dataclass(frozen=True, slots=True)
class Edit:
    """One byte edit: ``[start, old_end)`` of the old text became ``[start, new_end)``."""

    start: int
    old_end: int
    new_end: int


@dataclass(slots=True)
class EditLog:
    """Edits applied since some earlier version, in order."""

    edits: list[Edit] = field(default_factory=list)

    def map_range(self, start: int, end: int) -> tuple[int, int] | None:
        """Where ``[start, end)`` of the earlier text is now; None if it was edited."""
        for e in self.edits:
            if end <= e.start:
                continue  # before the edit (or touching its start)
            if start >= e.old_end:
                delta = e.new_end - e.old_end
                start, end = start + delta, end + delta
                continue
            return None
        return start, end

    def changed(self) -> list[tuple[int, int]]:
        """The byte ranges of the current text that edits produced, merged."""
        ranges: list[tuple[int, int]] = []
        for e in self.edits:
            delta = e.new_end - e.old_end
            moved: list[tuple[int, int]] = []
            for s, t in ranges:
                if t < e.start:
                    moved.append((s, t))
                elif s > e.old_end:
                    moved.append((s + delta, t + delta))
                else:  # overlaps or touches the edit: absorbed into it
                    e = Edit(min(s, e.start), e.old_end, max(e.new_end, t + delta))
            moved.append((e.start, e.new_end))
            ranges = sorted(moved)
        return ranges


class Document:
    """One open buffer."""

    def __init__(
        self, uri: str, text: str, version: int | None, parser: Parser, data: bytes | None = None
    ) -> None:
        self.uri = uri
        self.version = version
        self._parser = parser
        self.log = EditLog()
        # Byte edits not yet sent to the analysis helpers: (start, old end,
        # new bytes), in order (``server.workers`` drains it).
        self.outbox: list[tuple[int, int, bytes]] = []
        if data is None:
            data = positions.encode_text(positions.normalize_text(text))
        self._set_bytes(data)
        self.tree: Tree = parser.parse(self.prepared)

    @classmethod
    def from_bytes(cls, uri: str, data: bytes, version: int | None, parser: Parser) -> Document:
        """A document of bytes already encoded (a helper's mirror of the server's)."""
        return cls(uri, "", version, parser, data)

    def _set_bytes(self, data: bytes) -> None:
        self.data = data
        self.prepared = prepare_text(data)
        self.index = LineIndex(data)

    @property
    def text(self) -> str:
        """The text exactly as the client has it."""
        return positions.decode_bytes(self.data)

    def take_edits(self) -> EditLog:
        """The edits since the last call (and start a new log)."""
        log, self.log = self.log, EditLog()
        return log

    def apply_change(self, change: types.TextDocumentContentChangeEvent, encoding: str) -> None:
        """Apply one ``contentChanges`` entry (ranged or whole text)."""
        from lsprotocol.types import TextDocumentContentChangePartial

        if isinstance(change, TextDocumentContentChangePartial):
            self.replace(change.range, change.text, encoding)
        else:
            self.replace_all(change.text)

    def replace_all(self, text: str) -> None:
        """Replace the whole text (a full-sync change) and parse from scratch."""
        old_len = len(self.data)
        self._set_bytes(positions.encode_text(positions.normalize_text(text)))
        self.log.edits.append(Edit(0, old_len, len(self.data)))
        self.outbox.append((0, old_len, self.data))
        self.tree = self._parser.parse(self.prepared)

    def replace(self, range_: types.Range, text: str, encoding: str) -> None:
        """Replace ``range_`` (in the client's ``encoding``) by ``text``."""
        index, data = self.index, self.data
        start = index.locate(range_.start.line, range_.start.character, encoding)
        end = index.locate(range_.end.line, range_.end.character, encoding)
        if end < start:  # a reversed range: treat as empty at its start
            end = start
        (s, s_split), (e, e_split) = start, end
        left = ""
        right = ""
        old_end = e
        if s_split:  # keep the high half of the pair the range starts inside
            left = (
                positions.decode_bytes(data[s : s + 4])[0]
                .encode("utf-16-le", "surrogatepass")[:2]
                .decode("utf-16-le", "surrogatepass")
            )
        if e_split:  # keep the low half of the pair the range ends inside
            pair = positions.decode_bytes(data[e : e + 4])[0].encode("utf-16-le", "surrogatepass")
            right = pair[2:].decode("utf-16-le", "surrogatepass")
            old_end = e + 4
        # Widen by a lone surrogate on either side: it may join the new text.
        if s >= 3 and _is_lone_surrogate(data, s - 3, high=True):
            left = data[s - 3 : s].decode("utf-8", "surrogatepass") + left
            s -= 3
        if _is_lone_surrogate(data, old_end, high=False):
            right += data[old_end : old_end + 3].decode("utf-8", "surrogatepass")
            old_end += 3
        middle = positions.encode_text(positions.normalize_text(left + text + right))
        self.edit_bytes(s, old_end, middle)
        self.outbox.append((s, old_end, middle))

    def edit_bytes(self, start: int, old_end: int, new: bytes) -> None:
        """Replace bytes ``[start, old_end)`` by ``new``, edit the tree, reparse."""
        old_index = self.index
        new_end = start + len(new)
        data = self.data[:start] + new + self.data[old_end:]
        self.data = data
        self.prepared = prepare_text(data)
        self.index = old_index.edited(data, start, old_end, new_end)
        self.log.edits.append(Edit(start, old_end, new_end))
        # Prepared bytes just before the edit may have changed too (see above).
        ts_start = max(0, start - _PREPARE_LOOKAHEAD)
        self.tree.edit(
            start_byte=ts_start,
            old_end_byte=old_end,
            new_end_byte=new_end,
            start_point=Point(*old_index.point(ts_start)),
            old_end_point=Point(*old_index.point(old_end)),
            new_end_point=Point(*self.index.point(new_end)),
        )
        self.tree = self._parser.parse(self.prepared, self.tree)


def _is_lone_surrogate(data: bytes, at: int, *, high: bool) -> bool:
    """Whether ``data[at:at+3]`` is a surrogatepass-encoded high (or low) surrogate."""
    if at + 3 > len(data) or data[at] != 0xED:
        return False
    second = data[at + 1]
    return 0xA0 <= second <= 0xAF if high else 0xB0 <= second <= 0xBF


class DocumentStore:
    """The open documents, by URI (one parser, used on the event loop only)."""

    def __init__(self) -> None:
        self._docs: dict[str, Document] = {}
        self._parser = make_parser()

    def open(self, uri: str, text: str, version: int | None) -> Document:
        """Start tracking a document (replacing any earlier one with that URI)."""
        doc = Document(uri, text, version, self._parser)
        self._docs[uri] = doc
        return doc

    def change(
        self,
        uri: str,
        version: int | None,
        changes: Sequence[types.TextDocumentContentChangeEvent],
        encoding: str,
    ) -> Document | None:
        """Apply a ``didChange``; None when the document is not open."""
        doc = self._docs.get(uri)
        if doc is None:
            return None
        for change in changes:
            doc.apply_change(change, encoding)
        doc.version = version
        return doc

    def close(self, uri: str) -> None:
        """Forget a document."""
        self._docs.pop(uri, None)

    def get(self, uri: str) -> Document | None:
        """The open document with this URI, if any."""
        return self._docs.get(uri)

    def __contains__(self, uri: str) -> bool:
        return uri in self._docs

    def __iter__(self) -> Iterator[Document]:
        return iter(list(self._docs.values()))
