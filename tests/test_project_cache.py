"""The projects' disk snapshot (``evaluator.project.snapshot``): a loaded
context and its configurations' options, reused by the next server while
its own evaluation runs; never stale (every file the load read is checked),
corrupt files ignored.  In process, then end to end over LSP (pytest-lsp)."""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

import pytest
from lsprotocol import types
from projects import Project, ProjectFactory
from pytest_lsp import LanguageClient
from test_project_lsp import hover_text, line_of, open_file, server, uri_of

from evaluator.ide.option_snapshot import CachedConfiguration
from evaluator.io import OverlayIO, RealIO
from evaluator.project.context import ProjectSpec, load_context
from evaluator.project.snapshot import ProjectCache, RecordingIO, cache_enabled, replay
from evaluator.project.source import describe_tree

CACHED = "(options from the disk cache)"


@pytest.fixture
def demo(projects: ProjectFactory) -> Project:
    return projects.demo()


def _spec(p: Project) -> ProjectSpec:
    return ProjectSpec(p.root, "flake", p.store_dir)


def _load(p: Project, cache: ProjectCache, io: Any = None) -> Any:
    old = os.environ.get("NIX_STORE_DIR")
    os.environ["NIX_STORE_DIR"] = p.store_dir
    try:
        return load_context(_spec(p), io=io, snapshots=cache)
    finally:
        if old is None:
            os.environ.pop("NIX_STORE_DIR", None)
        else:
            os.environ["NIX_STORE_DIR"] = old


def _cached(p: Project, cache: ProjectCache, io: Any = None) -> Any:
    return cache.load_context(_spec(p), (), io or RealIO(), describe_tree(p.root))


# ------------------------------------------------------------- in process


def test_snapshot_holds_the_context_and_every_option(demo: Project, tmp_path: Any) -> None:
    cache = ProjectCache(str(tmp_path / "cache"), "test")
    ctx = _load(demo, cache)
    assert ctx.cache_key and ctx.cache_file and os.path.isfile(ctx.cache_file)
    again = _cached(demo, cache)
    assert again is not None and again.cache_key == ctx.cache_key
    assert again.entries == ctx.entries and again.inputs == ctx.inputs
    options = ProjectCache.load_options(ctx.cache_file, ctx.cache_key)
    assert options is not None
    conf = CachedConfiguration(options[("configurations", "demo")])
    names = {c.name: c for c in conf.children(None, ("services", "web"))}
    assert set(names) == {"enable", "port", "url"}
    assert names["port"].type == "16 bit unsigned integer; between 0 and 65535 (both inclusive)"
    info = conf.info(None, ("services", "web", "port"))
    assert info is not None
    assert info.description == "Port the web service listens on."
    assert info.default == "80" and info.value is None
    assert [d.file for d in info.declarations] == [demo.path("services.nix")]
    assert info.declarations[0].line == line_of(demo.path("services.nix"), "port =")[0] + 1
    url = conf.info(None, ("services", "web", "url"))
    assert url is not None and url.read_only
    # Another module system option: `_module.args` is a free-name attrsOf.
    assert conf.info(None, ("services", "web", "nope")) is None


def test_any_change_the_load_could_see_makes_it_stale(demo: Project, tmp_path: Any) -> None:
    cache = ProjectCache(str(tmp_path / "cache"), "test")
    ctx = _load(demo, cache)
    services = demo.path("services.nix")
    with open(services, "rb") as f:
        text = f.read()
    # An editor buffer that differs from the file.
    assert _cached(demo, cache, OverlayIO({services: text + b"\n"})) is None
    assert _cached(demo, cache, OverlayIO({services: text})) is not None
    # The file on disk.
    with open(services, "ab") as f:
        f.write(b"# edited\n")
    assert _cached(demo, cache) is None
    # Another version of nixlens.
    ctx = _load(demo, cache)
    assert ctx.cache_key is not None
    assert (
        ProjectCache(cache.directory, "other").load_context(
            _spec(demo), (), RealIO(), describe_tree(demo.root)
        )
        is None
    )
    # Another search path.
    assert cache.load_context(_spec(demo), ("x=/y",), RealIO(), describe_tree(demo.root)) is None
    # A new default.nix next to flake.nix (an answer the load got: "missing").
    assert _cached(demo, cache) is not None
    with open(demo.path("default.nix"), "w") as f:
        f.write("{ }\n")
    assert _cached(demo, cache) is None


def test_recorded_directory_listings_and_existence_are_replayed(tmp_path: Any) -> None:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "a.nix").write_text("1")
    rec = RecordingIO(RealIO(), str(tmp_path / "store"))
    rec.list_dir(str(tmp_path / "mods"))
    rec.file_type(str(tmp_path / "absent.nix"))
    assert all(replay(RealIO(), c, str(tmp_path / "store")) == a for c, a in rec.checks.items())
    (tmp_path / "mods" / "b.nix").write_text("2")
    (tmp_path / "absent.nix").write_text("3")
    assert all(replay(RealIO(), c, str(tmp_path / "store")) != a for c, a in rec.checks.items())


def test_a_corrupt_snapshot_is_a_logged_miss(
    demo: Project, tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cache = ProjectCache(str(tmp_path / "cache"), "test")
    ctx = _load(demo, cache)
    with open(ctx.cache_file, "r+b") as f:
        f.seek(40)
        f.write(b"\xff" * 64)
    with caplog.at_level(logging.WARNING):
        assert _cached(demo, cache) is None
    assert "ignoring the unreadable project snapshot" in caplog.text
    assert not os.path.exists(ctx.cache_file)  # removed: the next load writes a good one
    with open(ctx.cache_file, "wb") as f:
        f.write(b"NIXLENS-PROJECT-2\n\x05")  # truncated
    assert _cached(demo, cache) is None
    assert ProjectCache.load_options(ctx.cache_file, ctx.cache_key) is None


def test_the_cache_can_be_turned_off(demo: Project, tmp_path: Any) -> None:
    assert not cache_enabled({"NIXLENS_PROJECT_CACHE": "0"})
    assert cache_enabled({})
    ctx = _load(demo, ProjectCache(None, "test"))
    assert ctx.cache_key is None and ctx.cache_file is None


# ------------------------------------------------------------- over LSP


def _reports(client: LanguageClient) -> list[Any]:
    return [v for vs in client.progress_reports.values() for v in vs]


def _evaluated_entries(client: LanguageClient) -> bool:
    """Whether a load evaluated entries (a context from the cache evaluates none)."""
    return any(str(getattr(v, "message", "")).startswith("evaluating") for v in _reports(client))


async def _hover_until(
    client: LanguageClient, uri: str, line: int, col: int, want: str, tries: int = 150
) -> str:
    text = ""
    for _ in range(tries):
        text = await hover_text(client, uri, line, col)
        if want in text:
            return text
        await asyncio.sleep(0.2)
    raise AssertionError(f"{want!r} never in the hover: {text}")


async def _first_session(demo: Project, tmp: str) -> None:
    """A server that loads the demo flake (writing its snapshot) and ends."""
    config = demo.path("config.nix")
    async with server(demo.root, demo.env(), tmp) as client:
        uri = open_file(client, config)
        line, col = line_of(config, "services.web.port")
        # The real evaluation: the option's value is shown.
        await _hover_until(client, uri, line, col + len("services.web.p"), "*Value:* `9090`")
        assert _evaluated_entries(client)
    snapshots = os.listdir(os.path.join(tmp, "cache", "nixlens", "projects"))
    assert any(n.startswith("project-") for n in snapshots), snapshots


# Evaluations stop at once: option features can only come from the snapshot.
NO_EVALUATION = {"eval": {"budgetMs": 1}}


async def test_a_second_server_answers_options_from_the_cache(demo: Project, tmp_path: Any) -> None:
    tmp = str(tmp_path)
    await _first_session(demo, tmp)
    config = demo.path("config.nix")
    line, col = line_of(config, "services.web.port")
    async with server(demo.root, demo.env(), tmp, options=NO_EVALUATION) as client:
        uri = open_file(client, config)
        text = await _hover_until(client, uri, line, col + len("services.web.p"), CACHED)
        assert "Port the web service listens on." in text and "*Default:* `80`" in text
        assert not _evaluated_entries(client)  # the context came from the cache too
        # Go to definition of the option: its declaration in services.nix.
        locs = await client.text_document_definition_async(
            types.DefinitionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line, col + len("services.web.p")),
            )
        )
        assert locs, locs
        first = locs[0] if isinstance(locs, list) else locs
        assert isinstance(first, types.Location) and first.uri == uri_of(demo.path("services.nix"))
        # Completion of option paths, from the snapshot.
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
                content_changes=[
                    types.TextDocumentContentChangePartial(
                        range=types.Range(
                            start=types.Position(line + 1, 0), end=types.Position(line + 1, 0)
                        ),
                        text="  services.web.\n",
                    )
                ],
            )
        )
        found = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line + 1, len("  services.web.")),
            )
        )
        assert found is not None
        items = found.items if isinstance(found, types.CompletionList) else found
        labels = {i.label: i for i in items}
        assert {"enable", "port", "url"} <= set(labels), sorted(labels)
        assert labels["url"].detail == "string"
        # `cfg.` (cfg = config.services.web) in the module declaring them:
        # no value was evaluated, the names come from the snapshot.
        services = demo.path("services.nix")
        suri = open_file(client, services)
        sline, scol = line_of(services, "cfg.port > 1024")
        await _hover_until(client, suri, *line_of(services, "port = lib.mkOption"), CACHED)
        found = await client.text_document_completion_async(
            types.CompletionParams(
                text_document=types.TextDocumentIdentifier(uri=suri),
                position=types.Position(sline, scol + len("cfg.")),
            )
        )
        assert found is not None
        items = found.items if isinstance(found, types.CompletionList) else found
        labels = {i.label: i for i in items}
        assert {"enable", "port", "url"} <= set(labels), sorted(labels)
        doc = labels["port"].documentation
        assert isinstance(doc, types.MarkupContent)
        assert doc.value == "Port the web service listens on."


async def test_the_real_evaluation_replaces_the_cached_options(
    demo: Project, tmp_path: Any
) -> None:
    tmp = str(tmp_path)
    await _first_session(demo, tmp)
    config = demo.path("config.nix")
    line, col = line_of(config, "services.web.port")
    async with server(demo.root, demo.env(), tmp) as client:
        uri = open_file(client, config)
        # Whatever came first, the evaluation's answer (with the value) stays.
        text = await _hover_until(client, uri, line, col + len("services.web.p"), "*Value:* `9090`")
        assert CACHED not in text
        assert not _evaluated_entries(client)


async def test_an_edited_file_makes_the_cache_stale(demo: Project, tmp_path: Any) -> None:
    tmp = str(tmp_path)
    await _first_session(demo, tmp)
    services = demo.path("services.nix")
    with open(services, encoding="utf-8") as f:
        text = f.read()
    with open(services, "w", encoding="utf-8") as f:
        f.write(text.replace("Port the web service listens on.", "The port, edited."))
    config = demo.path("config.nix")
    line, col = line_of(config, "services.web.port")
    async with server(demo.root, demo.env(), tmp, options=NO_EVALUATION) as client:
        uri = open_file(client, config)
        # Loaded again (the snapshot read services.nix), and written again.
        got = await _hover_until(
            client, uri, line, col + len("services.web.p"), "The port, edited."
        )
        assert "listens on" not in got
        assert _evaluated_entries(client)


async def test_a_corrupt_cache_file_is_ignored_with_a_log_line(
    demo: Project, tmp_path: Any, capfd: pytest.CaptureFixture[str]
) -> None:
    tmp = str(tmp_path)
    await _first_session(demo, tmp)
    folder = os.path.join(tmp, "cache", "nixlens", "projects")
    for name in os.listdir(folder):
        if name.startswith("project-"):
            with open(os.path.join(folder, name), "wb") as f:
                f.write(b"NIXLENS-PROJECT-2\n" + os.urandom(300))
    capfd.readouterr()
    config = demo.path("config.nix")
    line, col = line_of(config, "services.web.port")
    async with server(demo.root, demo.env(), tmp) as client:
        uri = open_file(client, config)
        await _hover_until(client, uri, line, col + len("services.web.p"), "*Value:* `9090`")
        assert _evaluated_entries(client)
    assert "ignoring the unreadable project snapshot" in capfd.readouterr().err


def test_store_paths_are_checked_for_presence_not_read_again(tmp_path: Any) -> None:
    store = tmp_path / "store"
    (store / "abc-source").mkdir(parents=True)
    (store / "abc-source" / "default.nix").write_text("1")
    rec = RecordingIO(RealIO(), str(store))
    rec.read_bytes(str(store / "abc-source" / "default.nix"))
    rec.list_dir(str(store / "abc-source"))
    assert set(rec.checks.values()) == {"store"}

    class NoReads(RealIO):
        def read_bytes(self, path: str) -> bytes:
            raise AssertionError(f"read {path}")

        def list_dir(self, path: str) -> list[str]:
            raise AssertionError(f"listed {path}")

    assert all(replay(NoReads(), c, str(store)) == a for c, a in rec.checks.items())
    (store / "abc-source" / "default.nix").unlink()
    (store / "abc-source").rmdir()
    assert all(replay(NoReads(), c, str(store)) != a for c, a in rec.checks.items())


def test_a_failing_configuration_keeps_its_options(demo: Project, tmp_path: Any) -> None:
    config = demo.path("config.nix")
    with open(config, encoding="utf-8") as f:
        text = f.read()
    with open(config, "w", encoding="utf-8") as f:
        f.write(text.replace("port = 9090;", 'port = "x";'))  # not a port: `config` throws
    cache = ProjectCache(str(tmp_path / "cache"), "test")
    ctx = _load(demo, cache)
    report = next(r for r in ctx.entries if r.entry.label == "configurations.demo")
    assert report.error is not None and "is not of type" in report.error
    assert ctx.cache_file is not None and ctx.cache_key is not None
    options = ProjectCache.load_options(ctx.cache_file, ctx.cache_key)
    assert options is not None
    conf = CachedConfiguration(options[("configurations", "demo")])
    assert {c.name for c in conf.children(None, ("services", "web"))} == {"enable", "port", "url"}
