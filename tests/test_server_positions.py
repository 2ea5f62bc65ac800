"""server.positions: LSP positions <-> byte offsets <-> tree-sitter points, all encodings."""

from __future__ import annotations

import pytest
from lsprotocol import types

from server.positions import (
    UTF8,
    UTF16,
    UTF32,
    LineIndex,
    normalize_text,
    to_offset,
    to_range,
    unit_length,
)

TEXT = "a😀b\r\n中文é\ne\u0301x\rlast"
DATA = TEXT.encode("utf-8")


def expected_offset(line: int, character: int, encoding: str) -> int:
    """Reference: walk the text char by char (slow, obviously right)."""
    lines = TEXT.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    breaks = ["\r\n", "\n", "\r"]
    if line >= len(lines):
        return len(DATA)
    prefix = sum(len((lines[i] + breaks[i]).encode()) for i in range(line))
    units = 0
    for j, ch in enumerate(lines[line]):
        if units >= character:
            return prefix + len(lines[line][:j].encode())
        units += unit_length(ch, encoding)
    return prefix + len(lines[line].encode())


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
def test_offset_matches_reference(encoding: str) -> None:
    index = LineIndex(DATA)
    for line in range(5):
        for character in range(0, 14):
            got = index.offset(line, character, encoding)
            if encoding == UTF8 and index.locate(line, character, encoding)[0] != got:
                continue
            ref = expected_offset(line, character, encoding)
            if encoding == UTF16 and index.locate(line, character, encoding)[1]:
                assert got == ref - 4  # inside the emoji's pair: its start
            elif encoding == UTF8:
                assert got <= ref  # mid-sequence columns snap back to the char start
            else:
                assert got == ref, (line, character)


@pytest.mark.parametrize("encoding", [UTF8, UTF16, UTF32])
def test_roundtrip_every_char_boundary(encoding: str) -> None:
    index = LineIndex(DATA)
    offset = 0
    for ch in TEXT:
        if DATA[offset - 1 : offset + 1] != b"\r\n":  # between CR and LF: clamps back
            line, character = index.position(offset, encoding)
            assert index.offset(line, character, encoding) == offset
        offset += len(ch.encode())


def test_columns_after_non_ascii() -> None:
    index = LineIndex(DATA)
    b_offset = DATA.index(b"b")
    assert index.position(b_offset, UTF16) == (0, 3)  # a + surrogate pair
    assert index.position(b_offset, UTF8) == (0, 5)
    assert index.position(b_offset, UTF32) == (0, 2)
    e_offset = DATA.index("é".encode())
    assert index.position(e_offset, UTF16) == (1, 2)
    assert index.position(e_offset, UTF8) == (1, 6)
    x = DATA.index(b"x")  # after e + combining acute: two code points
    assert index.position(x, UTF16) == (2, 2)
    assert index.position(x, UTF8) == (2, 3)


def test_line_breaks_crlf_cr_lf() -> None:
    index = LineIndex(DATA)
    assert index.line_count == 4
    assert index.position(DATA.index(b"last"), UTF16) == (3, 0)
    # The CR of a CRLF is not part of the line's content.
    assert index.offset(0, 99, UTF16) == DATA.index(b"\r\n")
    assert index.position(DATA.index(b"\r\n") + 1, UTF16) == (0, 4)


def test_clamping() -> None:
    index = LineIndex(DATA)
    assert index.offset(0, 10_000, UTF16) == DATA.index(b"\r")
    assert index.offset(99, 0, UTF16) == len(DATA)
    assert index.offset(3, 99, UTF8) == len(DATA)
    assert index.position(10_000, UTF16) == (3, 4)
    assert index.position(-5, UTF16) == (0, 0)
    tail = LineIndex("x 中".encode())
    assert tail.position(5, UTF8) == (0, 5)
    assert tail.position(5, UTF16) == (0, 3)


def test_surrogate_split_is_reported() -> None:
    index = LineIndex(DATA)
    assert index.locate(0, 2, UTF16) == (1, True)
    assert index.locate(0, 3, UTF16) == (5, False)
    assert index.locate(0, 2, UTF8) == (1, False)  # mid-sequence byte: snapped


def test_points_are_rows_and_byte_columns() -> None:
    index = LineIndex(DATA)
    assert index.point(DATA.index("文".encode())) == (1, 3)
    assert index.point(DATA.index(b"last")) == (3, 0)


def test_range_and_to_offset() -> None:
    index = LineIndex(DATA)
    start = DATA.index("中".encode())
    rng = to_range(index, start, start + 6, UTF16)
    assert rng == types.Range(start=types.Position(1, 0), end=types.Position(1, 2))
    assert to_offset(index, types.Position(1, 1), UTF16) == start + 3


def test_empty_text_and_trailing_newline() -> None:
    assert LineIndex(b"").position(0, UTF16) == (0, 0)
    index = LineIndex(b"x\n")
    assert index.line_count == 2
    assert index.position(2, UTF16) == (1, 0)


def test_lone_surrogates_count_one_utf16_unit() -> None:
    data = "a\ud83db".encode("utf-8", "surrogatepass")
    index = LineIndex(data)
    assert index.position(len(data) - 1, UTF16) == (0, 2)
    assert normalize_text("\ud83d\ude00") == "😀"


def test_line_index_edited_equals_a_fresh_index() -> None:
    """``LineIndex.edited`` rescans only around the edit: it must give the
    line starts a fresh index gives, also for CR, LF, CRLF made or split by
    the edit and multi-byte characters."""
    import random

    rnd = random.Random(1)
    pieces = [b"a", b"\n", b"\r", b"\r\n", b"xy", "😀".encode(), b""]
    for _ in range(5000):
        data = b"".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 30)))
        start = rnd.randrange(0, len(data) + 1)
        end = rnd.randrange(start, len(data) + 1)
        new = b"".join(rnd.choice(pieces) for _ in range(rnd.randrange(0, 5)))
        edited = data[:start] + new + data[end:]
        got = LineIndex(data).edited(edited, start, end, start + len(new))
        assert list(got.starts) == list(LineIndex(edited).starts), (data, start, end, new)
        assert got.data is edited
