"""server.documents: incremental sync keeps the text (and tree) equal to the client's."""

from __future__ import annotations

import random

import pytest
from lsprotocol import types

from evaluator.parse import make_parser, prepare_text
from server.documents import DocumentStore, Edit, EditLog
from server.positions import UTF8, UTF16, UTF32

# Pieces of random text: ASCII, line breaks of all kinds, astral/CJK/combining
# characters and the sequences ``prepare_text`` rewrites (lone CR, ``~/${``).
ALPHABET = "a b ;= { } $ ~/${ \t \n \r\n \r 😀 中 é e\u0301".split(" ") + [" "]


class ClientBuffer:
    """The client's view: a list of code units in its encoding, edited by position."""

    def __init__(self, text: str, encoding: str) -> None:
        self.encoding = encoding
        self.units = self._encode(text)

    def _encode(self, text: str) -> list[int]:
        if self.encoding == UTF16:
            raw = text.encode("utf-16-le", "surrogatepass")
            return [int.from_bytes(raw[i : i + 2], "little") for i in range(0, len(raw), 2)]
        if self.encoding == UTF8:
            return list(text.encode("utf-8", "surrogatepass"))
        return [ord(c) for c in text]

    @property
    def text(self) -> str:
        if self.encoding == UTF16:
            raw = b"".join(u.to_bytes(2, "little") for u in self.units)
            return raw.decode("utf-16-le", "surrogatepass")
        if self.encoding == UTF8:
            return bytes(self.units).decode("utf-8", "surrogatepass")
        return "".join(map(chr, self.units))

    def lines(self) -> list[tuple[int, int]]:
        """(start, content end) of each line, in units."""
        out, start, i, n = [], 0, 0, len(self.units)
        while i < n:
            u = self.units[i]
            if u == 13 and i + 1 < n and self.units[i + 1] == 10:
                out.append((start, i))
                i += 2
                start = i
            elif u in (10, 13):
                out.append((start, i))
                i += 1
                start = i
            else:
                i += 1
        out.append((start, n))
        return out

    def position(self, unit: int) -> types.Position:
        for line, (start, end) in enumerate(self.lines()):
            if unit <= end:
                return types.Position(line=line, character=unit - start)
        raise AssertionError

    def boundaries(self) -> list[int]:
        """Unit offsets a client can put a cursor at (never inside a CRLF)."""
        ok = []
        for i in range(len(self.units) + 1):
            if 0 < i < len(self.units) and self.units[i - 1] == 13 and self.units[i] == 10:
                continue
            if self.encoding == UTF8 and i < len(self.units) and (self.units[i] & 0xC0) == 0x80:
                continue  # inside a UTF-8 sequence
            ok.append(i)
        return ok

    def replace(self, start: int, end: int, text: str) -> None:
        self.units[start:end] = self._encode(text)


def random_text(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(ALPHABET) for _ in range(n))


def check_tree(doc) -> None:  # type: ignore[no-untyped-def]
    fresh = make_parser().parse(prepare_text(doc.data))
    assert str(doc.tree.root_node) == str(fresh.root_node)
    assert doc.prepared == prepare_text(doc.data)


@pytest.mark.parametrize("encoding", [UTF16, UTF8, UTF32])
@pytest.mark.parametrize("seed", range(6))
def test_random_incremental_edits(encoding: str, seed: int) -> None:
    rng = random.Random(seed)
    initial = random_text(rng, 30)
    client = ClientBuffer(initial, encoding)
    store = DocumentStore()
    doc = store.open("file:///t.nix", initial, 1)
    for version in range(2, 120):
        bounds = client.boundaries()
        a, b = sorted((rng.choice(bounds), rng.choice(bounds)))
        if encoding == UTF16 and rng.random() < 0.2:
            # Any unit offset, also between the halves of a surrogate pair.
            a, b = sorted(
                (rng.randrange(len(client.units) + 1), rng.randrange(len(client.units) + 1))
            )
            if 0 < a < len(client.units) and client.units[a - 1] == 13 and client.units[a] == 10:
                a -= 1
            if 0 < b < len(client.units) and client.units[b - 1] == 13 and client.units[b] == 10:
                b += 1
        insert = random_text(rng, rng.randrange(0, 4))
        if encoding == UTF16 and rng.random() < 0.1:
            insert += rng.choice(["\ud83d", "\ude00"])  # a lone half, as a client may send
        rng_ = types.Range(start=client.position(a), end=client.position(b))
        client.replace(a, b, insert)
        change = types.TextDocumentContentChangePartial(range=rng_, text=insert)
        store.change(doc.uri, version, [change], encoding)
        assert doc.text == client.text, (version, rng_, insert)
        assert doc.version == version
    check_tree(doc)


def test_several_changes_in_one_notification() -> None:
    store = DocumentStore()
    doc = store.open("file:///t.nix", "let a = 1;\nin a", 1)
    changes: list[types.TextDocumentContentChangeEvent] = [
        types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(0, 4), end=types.Position(0, 5)), text="😀"
        ),
        types.TextDocumentContentChangePartial(
            range=types.Range(start=types.Position(1, 3), end=types.Position(1, 4)), text="😀"
        ),
    ]
    store.change(doc.uri, 2, changes, UTF16)
    assert doc.text == "let 😀 = 1;\nin 😀"
    check_tree(doc)


def test_full_text_change() -> None:
    store = DocumentStore()
    doc = store.open("file:///t.nix", "1 +", 1)
    assert doc.tree.root_node.has_error
    store.change(doc.uri, 2, [types.TextDocumentContentChangeWholeDocument(text="1 + 2")], UTF16)
    assert doc.text == "1 + 2"
    assert not doc.tree.root_node.has_error


def test_same_length_edit_is_tracked() -> None:
    store = DocumentStore()
    doc = store.open("file:///t.nix", "{ a = 1; b = 2; }", 1)
    doc.take_edits()
    edit = types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(0, 6), end=types.Position(0, 7)), text="3"
    )
    store.change(doc.uri, 2, [edit], UTF16)
    log = doc.take_edits()
    assert log.changed() == [(6, 7)]
    assert log.map_range(13, 14) == (13, 14)
    assert log.map_range(6, 7) is None


def test_crlf_completed_by_an_edit() -> None:
    store = DocumentStore()
    doc = store.open("file:///t.nix", "# c\rx", 1)
    # Insert LF after the lone CR: the CR becomes part of a CRLF.
    edit = types.TextDocumentContentChangePartial(
        range=types.Range(start=types.Position(1, 0), end=types.Position(1, 0)), text="\n"
    )
    store.change(doc.uri, 2, [edit], UTF16)
    assert doc.text == "# c\r\nx"
    assert doc.index.line_count == 2
    check_tree(doc)


def test_edit_log_mapping() -> None:
    log = EditLog([Edit(5, 7, 10), Edit(0, 0, 2)])
    assert log.map_range(0, 3) == (2, 5)
    assert log.map_range(8, 9) == (13, 14)
    assert log.map_range(4, 6) is None
    assert log.changed() == [(0, 2), (7, 12)]


def test_close_and_unknown() -> None:
    store = DocumentStore()
    store.open("file:///t.nix", "1", 1)
    store.close("file:///t.nix")
    assert store.get("file:///t.nix") is None
    assert store.change("file:///t.nix", 2, [], UTF16) is None
