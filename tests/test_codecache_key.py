"""The code cache's fingerprint of the evaluator's sources, remembered under
their sizes and modification times: the same hash as computing it afresh,
and a new one whenever a source changes (a development checkout)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from evaluator.codecache import CodeCache, fingerprint, remembered_fingerprint


def _tree(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "a.py").write_text("A = 1\n")
    (root / "sub" / "b.py").write_text("B = 2\n")
    (root / "notes.txt").write_text("not a source\n")


def test_remembered_equals_computed_and_is_reused(tmp_path: Path) -> None:
    root, memo = tmp_path / "src", tmp_path / "memo"
    _tree(root)
    fp = fingerprint(str(root))
    assert remembered_fingerprint(str(memo), str(root)) == fp
    (memo_file,) = os.listdir(memo)
    # Reused: a memo claiming another hash for the same stamp is believed
    # (which shows that the second call read it instead of hashing).
    data = (memo / memo_file).read_bytes()
    (memo / memo_file).write_bytes(data[:32] + b"\1" * 32)
    assert remembered_fingerprint(str(memo), str(root)) == b"\1" * 32


def test_edited_source_changes_the_fingerprint(tmp_path: Path) -> None:
    root, memo = tmp_path / "src", tmp_path / "memo"
    _tree(root)
    before = remembered_fingerprint(str(memo), str(root))
    b = root / "sub" / "b.py"
    st = b.stat()
    b.write_text("B = 3\n")  # same size
    os.utime(b, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    after = remembered_fingerprint(str(memo), str(root))
    assert after != before
    assert after == fingerprint(str(root))
    assert len(os.listdir(memo)) == 1  # replaced, not added


def test_new_and_removed_sources_change_the_fingerprint(tmp_path: Path) -> None:
    root, memo = tmp_path / "src", tmp_path / "memo"
    _tree(root)
    first = remembered_fingerprint(str(memo), str(root))
    (root / "c.py").write_text("")
    second = remembered_fingerprint(str(memo), str(root))
    assert second not in (first,) and second == fingerprint(str(root))
    (root / "c.py").unlink()
    assert remembered_fingerprint(str(memo), str(root)) == first
    # Files other than sources do not count.
    (root / "notes.txt").write_text("edited\n")
    assert remembered_fingerprint(str(memo), str(root)) == first


def test_damaged_or_unwritable_memo_is_recomputed(tmp_path: Path) -> None:
    root, memo = tmp_path / "src", tmp_path / "memo"
    _tree(root)
    fp = fingerprint(str(root))
    remembered_fingerprint(str(memo), str(root))
    (memo_file,) = os.listdir(memo)
    (memo / memo_file).write_bytes(b"short")
    assert remembered_fingerprint(str(memo), str(root)) == fp
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert remembered_fingerprint(str(blocked / "memo"), str(root)) == fp


def test_cache_keys_use_the_evaluator_fingerprint(tmp_path: Path) -> None:
    plain = CodeCache(str(tmp_path / "plain"))
    key = plain.key("/x.nix", b"1", ("a",))
    assert plain._fp == fingerprint()
    assert not (tmp_path / "plain").exists()
    remembering = CodeCache(str(tmp_path / "cache"), fingerprint_memo=str(tmp_path / "cache"))
    assert remembering.key("/x.nix", b"1", ("a",)) == key
    assert [p.name.startswith("fingerprint-") for p in (tmp_path / "cache").iterdir()] == [True]
    assert plain.key("/x.nix", b"2", ("a",)) != key
    assert plain.key("/y.nix", b"1", ("a",)) != key


def test_default_cache_remembers_the_fingerprint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NIXLENS_CODE_CACHE", raising=False)
    cache = CodeCache.default()
    assert cache is not None and cache.fingerprint_memo == str(tmp_path / "nixlens")
    cache.key("/x.nix", b"1")
    assert cache._fp == fingerprint()
    assert any(p.name.startswith("fingerprint-") for p in (tmp_path / "nixlens").iterdir())
