"""Sandbox: what an evaluation may read, that it never writes, never connects.

The evaluator reads files only through its I/O interface (``evaluator.io``);
with allowed roots set (the server sets them: workspace, search path, store)
anything else is refused with a clear error.  Nothing is ever written, and
fetchers fail offline without touching the network.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from evaluator import api
from evaluator.io import OverlayIO, RealIO


def run(text: str, path: Path, roots: list[str] | None, **kw: object) -> api.EvalResult:
    return api.evaluate(text, str(path), io=OverlayIO({}, roots), **kw)  # type: ignore[arg-type]


def errors(result: api.EvalResult) -> list[str]:
    return [d.message for d in result.diagnostics if d.severity.name == "ERROR"]


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    (ws / "lib").mkdir(parents=True)
    (ws / "lib" / "default.nix").write_text("{ answer = 42; }")
    (ws / "data.txt").write_text("inside\n")
    (ws / "empty").mkdir()
    (ws / "binary.nix").write_bytes(b"\x00\xff\xfe\x00 binary")
    (tmp_path / "secret.txt").write_text("outside\n")
    os.symlink(tmp_path / "secret.txt", ws / "link.txt")
    return ws


def test_reads_inside_the_roots_work(workspace: Path) -> None:
    main = workspace / "main.nix"
    text = "(import ./lib).answer + builtins.stringLength (builtins.readFile ./data.txt)"
    result = run(text, main, [str(workspace)])
    assert errors(result) == []
    assert result.value_text == "49"


@pytest.mark.parametrize(
    "expr",
    [
        "builtins.readFile ../secret.txt",
        "import ../secret.txt",
        "builtins.readDir ../.",
        "builtins.readFileType ../secret.txt",
        'builtins.hashFile "sha256" ../secret.txt',
        "builtins.path { path = ../secret.txt; }",
        # A symlink inside the workspace to a file outside it.
        "builtins.readFile ./link.txt",
    ],
)
def test_reads_outside_the_roots_are_refused(workspace: Path, expr: str) -> None:
    result = run(expr, workspace / "main.nix", [str(workspace)])
    msgs = errors(result)
    assert len(msgs) == 1, msgs
    assert "is forbidden: it is outside the workspace and search path" in msgs[0]
    assert "outside\n" not in (result.value_text or "")


def test_without_roots_any_file_is_readable(workspace: Path) -> None:
    result = run("builtins.readFile ../secret.txt", workspace / "main.nix", None)
    assert errors(result) == []
    assert result.value_text == '"outside\\n"'


def test_import_of_a_directory_without_default_nix(workspace: Path) -> None:
    result = run("import ./empty", workspace / "main.nix", [str(workspace)])
    assert errors(result) == [f"path '{workspace}/empty/default.nix' does not exist"]


def test_import_of_a_binary_file_is_a_parse_error(workspace: Path) -> None:
    result = run("import ./binary.nix", workspace / "main.nix", [str(workspace)])
    assert result.value_text is None
    [err] = [d for d in result.diagnostics if d.severity.name == "ERROR"]
    assert err.code == "syntax_error"
    assert err.span is not None and err.span.source.path == str(workspace / "binary.nix")


def test_a_file_changing_during_evaluation_is_read_once(workspace: Path) -> None:
    """Imports are cached for the whole evaluation: a file edited between two
    imports of it is seen once, as Nix's import cache does."""
    target = workspace / "changing.nix"
    target.write_text("1")

    class Changing(RealIO):
        reads = 0

        def read_bytes(self, path: str) -> bytes:
            data = super().read_bytes(path)
            if path == str(target):
                Changing.reads += 1
                target.write_text("2")  # the file changes after the first read
            return data

    result = api.evaluate(
        "[ (import ./changing.nix) (import ./changing.nix) ]",
        str(workspace / "main.nix"),
        io=Changing([str(workspace)]),
    )
    assert errors(result) == []
    assert result.value_text == "[ 1 1 ]"
    assert Changing.reads == 1


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            out[p] = (st.st_size, st.st_mtime_ns)
    return out


def test_nothing_is_ever_written(workspace: Path, tmp_path: Path) -> None:
    store = tmp_path / "store-that-must-not-appear"
    before = _snapshot(tmp_path)
    text = """
      let
        file = builtins.toFile "hello.txt" "hello";
        copied = builtins.path { path = ./lib; name = "lib"; };
        filtered = builtins.filterSource (p: t: true) ./lib;
        drv = derivation { name = "x"; system = "x86_64-linux"; builder = "/bin/sh";
                           src = ./data.txt; args = [ file ]; };
      in [ file "${copied}" "${filtered}" drv.outPath drv.drvPath "${./data.txt}" ]
    """
    result = api.evaluate(text, str(workspace / "main.nix"), io=RealIO([str(workspace)]))
    assert errors(result) == []
    assert result.value_text is not None and "/nix/store/" in result.value_text
    assert _snapshot(tmp_path) == before
    assert not store.exists()


def test_fetchers_never_open_a_socket(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    for expr, needle in [
        ('builtins.fetchurl "https://example.org/x"', "offline"),
        ('builtins.fetchTarball "https://example.org/x.tar.gz"', "offline"),
        ('builtins.fetchGit "https://example.org/x.git"', "offline"),
        ('builtins.fetchTree { type = "github"; owner = "a"; repo = "b"; }', ""),
        ('builtins.getFlake "github:a/b"', ""),
    ]:
        result = run(expr, workspace / "main.nix", [str(workspace)])
        msgs = errors(result)
        assert len(msgs) == 1, (expr, msgs)
        assert needle in msgs[0], (expr, msgs)
    # <nix/fetchurl.nix> only describes a fixed-output derivation: no fetch.
    result = run(
        '(import <nix/fetchurl.nix> { url = "https://example.org/y"; sha256 = ""; }).outPath',
        workspace / "main.nix",
        [str(workspace)],
    )
    assert errors(result) == []
    assert result.value_text == '"/nix/store/zwg5yf3aqgvnhwwipd5qxmirp5gjqjka-y"'
    assert attempts == []
