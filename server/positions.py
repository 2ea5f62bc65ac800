"""All position arithmetic of the server: LSP positions, byte offsets, tree-sitter points.

This is the only module that counts UTF-16 code units, UTF-8 bytes or code
points.  A document is held as UTF-8 bytes (lone surrogates, which a UTF-16
client can create by splitting a pair, are kept with ``surrogatepass``); the
evaluator speaks in byte offsets, LSP in (line, character) in the negotiated
encoding, tree-sitter in (row, byte column).

Lines end at ``\\r\\n``, ``\\r`` or ``\\n`` (as LSP says, and as Nix treats a
lone CR).  Tree-sitter sees ``evaluator.parse.prepare_text`` of the bytes, in
which a lone CR is an LF, so its rows are exactly these lines.

Out-of-range input is clamped, never an error: a character past the end of
its line means the end of the line (before the terminator), a line past the
end of the document means the end of the document.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Iterable
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from lsprotocol import types

# lsprotocol is imported where its types are made, not here: the analysis
# helpers use this module and never build LSP types (the import takes a
# second of their start-up).
UTF8: Final = "utf-8"  # types.PositionEncodingKind.Utf8
UTF16: Final = "utf-16"
UTF32: Final = "utf-32"
ENCODINGS: Final = (UTF8, UTF16, UTF32)

T = TypeVar("T")

_LINE_BREAK = re.compile(rb"\r\n|\r|\n")


def normalize_encoding(encoding: object) -> str:
    """The encoding name as a plain string (UTF-16, the LSP default, when unknown).

    pygls negotiates it at ``initialize``: the client's first preference among
    UTF-8, UTF-16 and UTF-32 (all supported here), UTF-16 if it offers none."""
    value = getattr(encoding, "value", encoding)
    return value if value in ENCODINGS else UTF16


def encode_text(text: str) -> bytes:
    """The UTF-8 bytes of a client's text (lone surrogates kept, see module doc)."""
    return text.encode("utf-8", "surrogatepass")


def decode_bytes(data: bytes) -> str:
    """Inverse of ``encode_text``; bytes that are not UTF-8 become U+FFFD."""
    try:
        return data.decode("utf-8", "surrogatepass")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def normalize_text(text: str) -> str:
    """Join adjacent high/low surrogates into one code point (the client's view)."""
    if not any("\ud800" <= ch <= "\udfff" for ch in text):
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "surrogatepass")


def unit_length(text: str, encoding: str) -> int:
    """Length of ``text`` in the units of ``encoding``."""
    if encoding == UTF8:
        return len(encode_text(text))
    if encoding == UTF16:
        return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)
    return len(text)


def _char_start(data: bytes, offset: int, floor: int) -> int:
    """``offset`` moved back to the first byte of the UTF-8 sequence it is in."""
    back = 0
    if offset >= len(data):
        return len(data)
    while offset > floor and back < 3 and (data[offset] & 0xC0) == 0x80:
        offset -= 1
        back += 1
    return offset


class LineIndex:
    """Line starts of one text, and conversions between its coordinate systems."""

    __slots__ = ("data", "starts")

    def __init__(self, data: bytes) -> None:
        self.data = data
        # An array, not a list: a large file has tens of thousands of lines.
        self.starts = array("q", [0])
        self.starts.extend(m.end() for m in _LINE_BREAK.finditer(data))

    def edited(self, data: bytes, start: int, old_end: int, new_end: int) -> LineIndex:
        """The index of ``data``: this index's text with ``[start, old_end)``
        replaced by ``data[start:new_end]``.  Only the lines around the edit
        are scanned again (a large file has tens of thousands)."""
        old = self.starts
        delta = new_end - old_end
        lo = max(0, start - 2)  # bytes before ``lo + 1`` are unchanged: so are breaks ending there
        hi = min(len(data), new_end + 2)
        if 0 < hi < len(data) and data[hi - 1 : hi + 1] == b"\r\n":
            hi += 1  # never cut a CRLF in two
        out = LineIndex.__new__(LineIndex)
        out.data = data
        starts = old[: bisect.bisect_right(old, lo)]
        starts.extend(e for m in _LINE_BREAK.finditer(data, lo, hi) if lo < (e := m.end()) <= hi)
        tail = old[bisect.bisect_right(old, hi - delta) :]
        if delta:
            tail = array("q", (s + delta for s in tail))
        starts.extend(tail)
        out.starts = starts
        return out

    @property
    def line_count(self) -> int:
        """Number of lines (a text ending in a line break has an empty last line)."""
        return len(self.starts)

    def line_bounds(self, line: int) -> tuple[int, int]:
        """Byte offsets of the start and content end (before the terminator) of ``line``."""
        start = self.starts[line]
        if line + 1 < len(self.starts):
            end = self.starts[line + 1] - 1
            if self.data[end - 1 : end + 1] == b"\r\n":
                end -= 1
        else:
            end = len(self.data)
        return start, end

    def line_of(self, offset: int) -> int:
        """The line containing byte ``offset`` (clamped)."""
        return max(0, bisect.bisect_right(self.starts, offset) - 1)

    def locate(self, line: int, character: int, encoding: str) -> tuple[int, bool]:
        """Byte offset of a position, and whether it falls inside a surrogate pair.

        Inside a pair (a UTF-16 column between the two halves of one code point)
        the offset is that of the code point's first byte."""
        if line < 0:
            return 0, False
        if line >= len(self.starts):
            return len(self.data), False
        start, end = self.line_bounds(line)
        character = max(0, character)
        content = self.data[start:end]
        if content.isascii():
            return start + min(character, len(content)), False
        if encoding == UTF8:
            if character >= len(content):
                return end, False
            return _char_start(self.data, start + character, start), False
        text = decode_bytes(content)
        units = 0
        for i, ch in enumerate(text):
            if units >= character:
                return start + len(encode_text(text[:i])), False
            width = 2 if encoding == UTF16 and ord(ch) > 0xFFFF else 1
            if units + width > character:  # between the halves of a pair
                return start + len(encode_text(text[:i])), True
            units += width
        return end, False

    def offset(self, line: int, character: int, encoding: str) -> int:
        """Byte offset of a position (clamped; inside a pair: the pair's start)."""
        return self.locate(line, character, encoding)[0]

    def position(self, offset: int, encoding: str) -> tuple[int, int]:
        """(line, character) of a byte offset (clamped to the text)."""
        offset = min(max(0, offset), len(self.data))
        line = self.line_of(offset)
        start, end = self.line_bounds(line)
        offset = min(offset, end)
        segment = self.data[start:offset]
        if segment.isascii():
            return line, len(segment)
        if encoding == UTF8:
            return line, _char_start(self.data, offset, start) - start
        return line, unit_length(decode_bytes(segment), encoding)

    def point(self, offset: int) -> tuple[int, int]:
        """Tree-sitter point (row, byte column) of a byte offset."""
        offset = min(max(0, offset), len(self.data))
        line = self.line_of(offset)
        return line, offset - self.starts[line]


def to_offset(index: LineIndex, position: types.Position, encoding: str) -> int:
    """Byte offset of an LSP position."""
    return index.offset(position.line, position.character, encoding)


def to_position(index: LineIndex, offset: int, encoding: str) -> types.Position:
    """LSP position of a byte offset."""
    from lsprotocol.types import Position

    line, character = index.position(offset, encoding)
    return Position(line=line, character=character)


def to_range(index: LineIndex, start: int, end: int, encoding: str) -> types.Range:
    """LSP range of the byte range ``[start, end)`` (a Span's offsets)."""
    from lsprotocol.types import Range

    return Range(
        start=to_position(index, start, encoding),
        end=to_position(index, max(start, end), encoding),
    )


def line_pieces(
    index: LineIndex, spans: Iterable[tuple[int, int, T]], encoding: str
) -> list[tuple[int, int, int, T]]:
    """Cut byte ranges at line ends: ``(line, character, length, payload)`` per piece.

    ``spans`` are ``(start, end, payload)`` in document order, not overlapping.
    Columns and lengths are in ``encoding``; line terminators and empty pieces
    are left out (a token never spans lines)."""
    data, starts = index.data, index.starts
    last = len(starts) - 1
    out: list[tuple[int, int, int, T]] = []
    line = -1
    line_start = line_end = next_start = 0
    ascii_line = True

    def column(offset: int) -> int:
        return unit_length(decode_bytes(data[line_start:offset]), encoding)

    for start, end, payload in spans:
        if line < 0 or start >= next_start or start < line_start:
            line = index.line_of(start)
            line_start, line_end = index.line_bounds(line)
            next_start = starts[line + 1] if line < last else len(data) + 1
            ascii_line = data[line_start:line_end].isascii()
        while True:
            piece_start = max(start, line_start)
            piece_end = min(end, line_end)
            if piece_end > piece_start:
                if ascii_line or encoding == UTF8:
                    col = piece_start - line_start
                    out.append((line, col, piece_end - piece_start, payload))
                else:
                    col = column(piece_start)
                    out.append((line, col, column(piece_end) - col, payload))
            if end <= next_start or line >= last:
                break
            line += 1
            line_start, line_end = index.line_bounds(line)
            next_start = starts[line + 1] if line < last else len(data) + 1
            ascii_line = data[line_start:line_end].isascii()
    return out


def line_prefix(index: LineIndex, offset: int) -> bytes:
    """The bytes of ``offset``'s line before ``offset``."""
    offset = min(max(0, offset), len(index.data))
    return index.data[index.starts[index.line_of(offset)] : offset]
