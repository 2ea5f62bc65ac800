"""The nixlens language server (pygls 2): document sync, diagnostic layers,
hover, the table of every handler, ``main``.

The server process stays light (``server.core``): it keeps the documents,
reparses them incrementally and publishes syntax errors at once; lowering,
lints, evaluation, hover and navigation run in analysis helper processes
(``server.workers``, ``server.host``).  Handlers are module-level
``(ls, params)`` functions with one shape: fetch the document, ask the
helper (``ls.pool.call``), convert (``server.convert``).  ``FEATURES`` lists
them all, with those of ``server.navigation`` and ``server.highlight``.

Diagnostics come in two layers per document, merged when published:

* static -- syntax errors from the incremental tree, or lints when there are
  none; recomputed ``diagnostics.debounceMs`` after the last change;
* evaluation -- run after the static layer (and at once on open/save) in the
  document's helper, as the project entry that reaches the document when
  there is one (``server.project``: the project's own problems join this
  layer on ``flake.nix``); a new change cancels the run in flight, and a result for
  a version that is no longer current is dropped.  Until the next result, the
  previous one is shown with its ranges moved through the edits since (and
  any diagnostic inside an edited range dropped).

An edit of a document makes the values of the other open documents whose
last evaluation read it stale: their evaluations in flight stop, each is
evaluated again once the edited document's analysis is done, and a hover in
one waits for that evaluation (``values_changed``, ``rerun_stale``).

Each client gets diagnostics one way, never both (an editor that merges
pushed and pulled ones would show each twice).  A client that supports
``textDocument/diagnostic`` *and* ``workspace/diagnostic/refresh`` pulls them:
the server offers ``diagnosticProvider`` and, instead of pushing, asks it to
pull again whenever a document's diagnostics change (result id
``uri@version#publications``: "unchanged" when it matches; "~evaluating" while
the evaluation layer is not done).  Any other client (Neovim up to 0.10, which
pulls but cannot be told to pull again) gets no ``diagnosticProvider`` and has
them pushed.  A document's diagnostics change without a new version when the
settings change or its project is loaded again; each change is published.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams

from evaluator.diagnostics import Diagnostic, Severity
from evaluator.nodes import Source, Span

from . import convert, highlight, navigation, positions, project
from . import settings as settings_mod
from .analysis import syntax_diagnostics
from .core import VERSION, NixLensServer, document_path
from .documents import Document, EditLog
from .protocol import NixLensProtocol
from .workers import (
    GRACE_S,
    CallCancelled,
    HelperDied,
    HelperError,
    HelperTimeout,
    default_workers,
)

# Above this size a change is published twice: at once with the current
# syntax errors and the lints carried over, then with the new lints.
QUICK_PUBLISH_BYTES = 100_000

# Custom request (debugging/testing aid): the server's text of an open document.
DOCUMENT_TEXT = "nixlens/documentText"

__all__ = ["FEATURES", "NixLensServer", "VERSION", "create_server", "main"]

log = logging.getLogger("nixlens")


@dataclass
class Layers:
    """The diagnostic layers of one document."""

    static_version: int | None = -1
    static: list[Diagnostic] = field(default_factory=list)
    # Edits since ``static_version``: until the static layer is recomputed
    # (a second or more for a huge file), its lints are shown moved through
    # them, next to the current syntax errors.
    static_log: EditLog = field(default_factory=EditLog)
    # Evaluation diagnostics, computed for ``eval_version``; positions refer
    # to that version's text and are moved through ``Document.log``.
    eval_version: int | None = -1
    eval: list[Diagnostic] = field(default_factory=list)
    # The version whose syntax errors were published before its lints.
    quick_version: int | None = -1
    # The version whose evaluation ended its helper (not tried again).
    crashed_version: int | None = -1
    task: asyncio.Task[None] | None = None
    # Publications so far: part of the pull result id (``pull_diagnostics``).
    published: int = 0
    # The files its last evaluation read; an edit of one of them (another
    # open document) makes the values hover shows here stale until this
    # document is evaluated again (``values_changed``): ``fresh`` is clear
    # meanwhile, and hover waits for it.
    reads: frozenset[str] = frozenset()
    fresh: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.fresh.set()


# ----------------------------------------------------------------- settings


def apply_settings(ls: NixLensServer, raw: Any) -> None:
    """Use ``raw`` settings; report invalid values and use their defaults."""
    new, problems = settings_mod.load(raw)
    new = settings_mod.restrict(new, ls.trusted)
    if problems:
        text = "nixlens: invalid settings: " + "; ".join(problems)
        log.warning("%s", text)
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=text)
        )
    if new != ls.settings:
        old, ls.settings = ls.settings, new
        if ls.pool_started and (
            old.workers != new.workers or old.eval.max_memory_mb != new.eval.max_memory_mb
        ):
            ls.pool.reconfigure(new.workers or default_workers(), new.eval.max_memory_mb)
        for doc in ls.documents:
            layers = ls.layers.setdefault(doc.uri, Layers())
            layers.static_version = -1
            schedule(ls, doc, delay=0.0)
        navigation.settings_applied(ls)


async def fetch_configuration(ls: NixLensServer) -> None:
    """Read the ``nixlens`` section with ``workspace/configuration``."""
    try:
        items = await ls.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=settings_mod.SECTION)])
        )
    except Exception:
        log.exception("workspace/configuration failed")
        return
    raw = items[0] if items else None
    apply_settings(ls, raw if raw is not None else ls.init_settings)


# -------------------------------------------------------------- diagnostics


def lsp_diagnostics(ls: NixLensServer, doc: Document) -> list[types.Diagnostic]:
    """Both layers of ``doc`` as LSP diagnostics for its current text."""
    layers = ls.layers.setdefault(doc.uri, Layers())
    path = document_path(doc.uri)
    cfg = ls.settings.diagnostics
    here = convert.Target(doc.uri, path, doc.index, ls.encoding)
    if layers.static_version == doc.version:
        static = convert.diagnostics(layers.static, here, cfg)
    else:  # being recomputed (see ``analyse``): never block the event loop on it
        lints = [d for d in layers.static if d.code != "syntax_error"]
        carried = convert.Target(
            doc.uri, path, doc.index, ls.encoding, remap=layers.static_log.map_range
        )
        static = _merge(
            convert.diagnostics(syntax_diagnostics(doc, path), here, cfg),
            convert.diagnostics(lints, carried, cfg),
            cfg.max_per_file,
        )
    if not layers.eval:
        doc.take_edits()  # nothing to move through them
        return static
    moved = convert.Target(doc.uri, path, doc.index, ls.encoding, remap=doc.log.map_range)
    return _merge(static, convert.diagnostics(layers.eval, moved, cfg), cfg.max_per_file)


def _merge(
    a: list[types.Diagnostic], b: list[types.Diagnostic], limit: int
) -> list[types.Diagnostic]:
    both = sorted([*a, *b], key=lambda d: (d.range.start.line, d.range.start.character))
    return both[:limit] if limit else both


def pulls_diagnostics(capabilities: types.ClientCapabilities | None) -> bool:
    """Whether a client gets its diagnostics by pulling: it pulls and can be
    told to pull again (the evaluation layer arrives after the pull)."""
    text = capabilities.text_document if capabilities is not None else None
    workspace = capabilities.workspace if capabilities is not None else None
    diagnostics = workspace.diagnostics if workspace is not None else None
    return (
        text is not None
        and text.diagnostic is not None
        and diagnostics is not None
        and bool(diagnostics.refresh_support)
    )


def publish(ls: NixLensServer, doc: Document) -> None:
    """Publish the current diagnostics of ``doc``: push them, or ask a client
    that pulls to pull again."""
    ls.layers.setdefault(doc.uri, Layers()).published += 1
    if ls.pull_diagnostics:
        refresh_pulled(ls)
        return
    ls.text_document_publish_diagnostics(
        types.PublishDiagnosticsParams(
            uri=doc.uri, version=doc.version, diagnostics=lsp_diagnostics(ls, doc)
        )
    )


def is_current(ls: NixLensServer, doc: Document, version: int | None) -> bool:
    """Whether ``doc`` is still open and still at ``version``."""
    return ls.documents.get(doc.uri) is doc and doc.version == version


def schedule(ls: NixLensServer, doc: Document, *, delay: float | None = None) -> None:
    """(Re)start the diagnostics of ``doc`` after ``delay`` (default: the debounce)."""
    layers = ls.layers.setdefault(doc.uri, Layers())
    if layers.task is not None:
        layers.task.cancel()  # also cancels its helper calls (``Pool.call``)
    if delay is None:
        delay = ls.settings.diagnostics.debounce_ms / 1000
    layers.task = asyncio.get_running_loop().create_task(analyse(ls, doc, doc.version, delay))


async def analyse(ls: NixLensServer, doc: Document, version: int | None, delay: float) -> None:
    """Debounced work: static layer, publish; then evaluation layer, publish."""
    try:
        if delay > 0:
            await asyncio.sleep(delay)
        if not is_current(ls, doc, version):
            return
        layers = ls.layers[doc.uri]
        if layers.static_version != version:
            # Meanwhile a large file shows its current syntax errors and the
            # last lints moved through the edits (``lsp_diagnostics``), once
            # per version (``did_change`` publishes them at once).
            if len(doc.data) > QUICK_PUBLISH_BYTES and layers.quick_version != version:
                layers.quick_version = version
                publish(ls, doc)
            static = await ls.pool.call("lint", doc.uri, ls.context(doc))
            if not is_current(ls, doc, version):
                return
            layers.static, layers.static_version = static, version
            layers.static_log = EditLog()
            publish(ls, doc)
        if not ls.settings.eval.enable:
            if layers.eval:
                layers.eval = []
                publish(ls, doc)
            layers.eval_version = version
            layers.fresh.set()  # no values to show
            refresh_pulled(ls)  # a pull meanwhile said "evaluating"
            return
        if layers.static and any(d.code == "syntax_error" for d in layers.static):
            layers.eval_version = version  # settled: nothing to evaluate
            layers.fresh.set()  # hover has no tree to use the values with
            refresh_pulled(ls)
            rerun_stale(ls)  # documents that read this one see its new text
            return  # keep the last evaluation's findings (moved through the edits)
        found = await evaluate(ls, doc, version)
        if found is None or not is_current(ls, doc, version):
            return  # superseded by a newer text
        layers.eval = found
        layers.eval_version = version
        doc.take_edits()  # positions of the new layer refer to this text
        publish(ls, doc)
        refresh_pulled(ls)
        rerun_stale(ls)
    except asyncio.CancelledError:
        raise
    except (HelperDied, HelperError, CallCancelled) as err:
        log.warning("diagnostics of %s: %s", doc.uri, err)
        given_up(ls, doc)
    except Exception:
        log.exception("diagnostics of %s failed", doc.uri)
        given_up(ls, doc)


def given_up(ls: NixLensServer, doc: Document) -> None:
    """The analysis of ``doc`` failed: a hover there stops waiting for new
    values, and those that wait for this analysis go on."""
    layers = ls.layers.get(doc.uri)
    if layers is not None:
        layers.fresh.set()
    rerun_stale(ls)


def refresh_pulled(ls: NixLensServer) -> None:
    """Ask a client that pulls diagnostics to pull again (a document's
    diagnostics changed or settled: its last pull may have said "~evaluating").
    Requests made in one turn of the event loop go out as one."""
    if not ls.pull_diagnostics or ls.refresh_pending:
        return
    ls.refresh_pending = True

    def send() -> None:
        ls.refresh_pending = False
        ls.workspace_diagnostic_refresh(None)

    try:
        asyncio.get_running_loop().call_soon(send)
    except RuntimeError:  # no loop running (a unit test): at once
        send()


def values_changed(ls: NixLensServer, doc: Document) -> None:
    """``doc`` was edited: the other open documents whose last evaluation read
    it hold stale values; each is evaluated again once ``doc``'s own analysis
    is done (``rerun_stale``), and an evaluation of one in flight meanwhile
    (it reads the old text) is stopped."""
    path = document_path(doc.uri)
    if path is None:
        return
    for other in ls.documents:
        layers = ls.layers.get(other.uri)
        if other is doc or layers is None or path not in layers.reads:
            continue
        layers.fresh.clear()
        if layers.task is not None and not layers.task.done():
            layers.task.cancel()


def rerun_stale(ls: NixLensServer) -> None:
    """Evaluate again each open document whose values are stale (an edited
    document it reads has been analysed), unless it is being analysed."""
    for other in ls.documents:
        layers = ls.layers.get(other.uri)
        if layers is None or layers.fresh.is_set():
            continue
        if layers.task is None or layers.task.done():
            layers.eval_version = -1  # its text did not change, its inputs did
            schedule(ls, other, delay=0.0)


async def evaluate(
    ls: NixLensServer, doc: Document, version: int | None
) -> list[Diagnostic] | None:
    """The evaluation diagnostics of ``doc`` at ``version`` (None: cancelled).
    An evaluation that ends its helper (twice: the pool asks again once) or
    outlives its budget gets an ``eval_limit`` diagnostic saying so."""
    s = ls.settings
    layers = ls.layers[doc.uri]
    path = document_path(doc.uri)
    try:
        ref = await project.project_ref(ls, doc, path)
        if not is_current(ls, doc, version):
            return None
        timeout = s.eval.budget_ms / 1000 + GRACE_S
        result = await ls.pool.call("evaluate", doc.uri, ls.context(doc), ref, timeout=timeout)
        if result.needs_project and ref is not None:  # its helper was replaced meanwhile
            ref = ls.projects.with_context(ref)
            result = await ls.pool.call("evaluate", doc.uri, ls.context(doc), ref, timeout=timeout)
    except CallCancelled:
        return None
    except HelperTimeout:
        layers.crashed_version = version
        why = f"did not stop within its budget of {s.eval.budget_ms} ms (nixlens.eval.budgetMs)"
    except HelperDied as err:
        layers.crashed_version = version
        cap = s.eval.max_memory_mb
        limit = f"{cap} MB (nixlens.eval.maxMemoryMB)" if cap else "the available memory"
        why = f"ended its helper process ({err}); the memory cap is {limit}"
    else:
        if result.out_of_memory:
            layers.crashed_version = version
        layers.reads = result.files
        layers.fresh.set()
        return [*result.diagnostics, *ls.projects.problems_for(path, doc.data)]
    layers.fresh.set()  # no values: hover shows what it can without them
    src = Source(doc.data, document_path(doc.uri))
    message = f"evaluation limit: the evaluation {why}; the helper was restarted"
    return [Diagnostic("eval_limit", Severity.ERROR, message, Span(src, 0, 0))]


def project_loaded(ls: NixLensServer, root: str, waiting: set[str]) -> None:
    """A project's context is (re)loaded: its other open documents evaluate
    in it (those ``waiting`` for it do already)."""
    prefix = root.rstrip("/") + "/"
    for doc in ls.documents:
        path = document_path(doc.uri)
        if path and path.startswith(prefix) and doc.uri not in waiting:
            schedule(ls, doc, delay=0.0)


def helpers_restarted(ls: NixLensServer, uris: list[str]) -> None:
    """A helper was replaced: evaluate its documents again (their values,
    which hovers show, were lost with it), except one whose own evaluation
    ended the helper at this version."""
    for uri in uris:
        doc = ls.documents.get(uri)
        layers = ls.layers.get(uri)
        if doc is None or layers is None or layers.crashed_version == doc.version:
            continue
        if layers.task is not None and not layers.task.done():
            continue  # its calls are asked again of the new helper (``Pool.call``)
        layers.eval_version = -1
        schedule(ls, doc, delay=0.0)


# ----------------------------------------------------------------- handlers


def initialize(ls: NixLensServer, params: types.InitializeParams) -> None:
    options = params.initialization_options
    ls.trusted = settings_mod.trusted_from_initialization_options(options)
    ls.init_settings = settings_mod.from_initialization_options(options)
    new, problems = settings_mod.load(ls.init_settings)
    ls.settings = settings_mod.restrict(new, ls.trusted)
    # Decides ``diagnosticProvider`` too (``NixLensProtocol.lsp_initialize``).
    ls.pull_diagnostics = pulls_diagnostics(params.capabilities)
    if not ls.trusted:
        log.info("untrusted workspace: static features only, no evaluation")
    if problems:
        text = "nixlens: invalid settings: " + "; ".join(problems)
        log.warning("%s", text)
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=text)
        )
    navigation.initialize(ls)
    ls.pool  # noqa: B018 - start the helpers now: they are warm by the first request


async def initialized(ls: NixLensServer, params: types.InitializedParams) -> None:
    navigation.initialized(ls)
    if ls.client_supports("workspace.configuration"):
        await fetch_configuration(ls)


async def did_change_configuration(
    ls: NixLensServer, params: types.DidChangeConfigurationParams
) -> None:
    if ls.client_supports("workspace.configuration"):
        await fetch_configuration(ls)
    else:
        apply_settings(ls, settings_mod.from_initialization_options(params.settings))


def did_open(ls: NixLensServer, params: types.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    doc = ls.documents.open(item.uri, item.text, item.version)
    ls.pool.open(doc)
    ls.layers[item.uri] = Layers()
    schedule(ls, doc, delay=0.0)


def did_change(ls: NixLensServer, params: types.DidChangeTextDocumentParams) -> None:
    ident = params.text_document
    before = ls.documents.get(ident.uri)
    seen = len(before.log.edits) if before is not None else 0
    doc = ls.documents.change(ident.uri, ident.version, params.content_changes, ls.encoding)
    if doc is not None:
        ls.pool.change(doc)
        path = document_path(doc.uri)
        if path is not None and os.path.basename(path) in ("flake.nix", "flake.lock"):
            ls.projects.invalidate(path)  # its inputs or outputs may have changed
        layers = ls.layers.setdefault(doc.uri, Layers())
        if doc is before:  # the static layer's lints move through these edits too
            layers.static_log.edits.extend(doc.log.edits[seen:])
        values_changed(ls, doc)
        if len(doc.data) > QUICK_PUBLISH_BYTES:
            # A large file's lints take a while: its syntax errors (from the
            # incrementally reparsed tree) go out now, not after the debounce.
            layers.quick_version = doc.version
            publish(ls, doc)
        schedule(ls, doc)


def did_save(ls: NixLensServer, params: types.DidSaveTextDocumentParams) -> None:
    # Files on disk changed: every open document may import this one.
    ls.pool.invalidate()
    ls.projects.invalidate()
    for doc in ls.documents:
        schedule(ls, doc, delay=0.0)


def did_close(ls: NixLensServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    if (closed := ls.documents.get(uri)) is not None:
        values_changed(ls, closed)  # those that read it read the file on disk now
    layers = ls.layers.pop(uri, None)
    if layers is not None and layers.task is not None:
        layers.task.cancel()
    if uri in ls.documents:
        ls.pool.close_document(uri)
    ls.documents.close(uri)
    rerun_stale(ls)
    if not ls.pull_diagnostics:  # a client that pulls forgets them itself
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )


def pull_diagnostics(
    ls: NixLensServer, params: types.DocumentDiagnosticParams
) -> types.DocumentDiagnosticReport:
    doc = ls.documents.get(params.text_document.uri)
    if doc is None:
        return types.RelatedFullDocumentDiagnosticReport(items=[])
    layers = ls.layers.setdefault(doc.uri, Layers())
    settled = layers.eval_version == doc.version
    result_id = f"{doc.uri}@{doc.version}#{layers.published}" + ("" if settled else "~evaluating")
    if params.previous_result_id == result_id:
        return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
    return types.RelatedFullDocumentDiagnosticReport(
        items=lsp_diagnostics(ls, doc), result_id=result_id
    )


async def hover(ls: NixLensServer, params: types.HoverParams) -> types.Hover | None:
    doc = ls.documents.get(params.text_document.uri)
    if doc is None or not ls.trusted:
        return None  # hover values are evaluated: none in an untrusted workspace
    cfg = ls.settings.hover
    layers = ls.layers.get(doc.uri)
    if layers is not None and not layers.fresh.is_set():
        # A file its values came from was edited: wait (a while) for the
        # evaluation that replaces them, rather than show the old ones.
        with contextlib.suppress(TimeoutError):
            wait = ls.settings.eval.budget_ms / 1000 + GRACE_S
            await asyncio.wait_for(layers.fresh.wait(), wait)
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return None
    index, encoding = doc.index, ls.encoding
    offset = positions.to_offset(index, params.position, encoding)
    try:
        info = await ls.pool.call(
            "hover",
            doc.uri,
            ls.context(doc),
            offset,
            cfg.print_depth,
            cfg.budget_ms,
            timeout=cfg.budget_ms / 1000 + GRACE_S,
        )
    except (HelperDied, HelperError, CallCancelled) as err:
        log.warning("hover in %s: %s", doc.uri, err)
        return None
    if info is None:
        return None
    target = convert.Target(doc.uri, document_path(doc.uri), index, encoding)
    rng = target.here_range(info.span) if info.span is not None else None
    return convert.hover(info.markdown, rng, cfg.max_chars)


def document_text(ls: NixLensServer, params: Any) -> dict[str, Any] | None:
    """Debugging/testing aid: the server's copy of an open document.

    Params ``{"uri": ...}``; result ``{"uri", "version", "text"}`` (the text
    exactly as the server has it after all edits), or null if not open.
    """
    uri = params.get("uri") if isinstance(params, dict) else getattr(params, "uri", None)
    if not isinstance(uri, str):
        raise JsonRpcInvalidParams(f"{DOCUMENT_TEXT} expects params {{'uri': string}}")
    doc = ls.documents.get(uri)
    if doc is None:
        return None
    return {"uri": uri, "version": doc.version, "text": doc.text}


def shutdown(ls: NixLensServer, params: None) -> None:
    for layers in ls.layers.values():
        if layers.task is not None:
            layers.task.cancel()
    # Cancel the pending requests here, on a copy: pygls cancels them
    # while iterating the dict their callbacks remove them from
    # ("dictionary changed size during iteration").
    current = ls.protocol.msg_id  # this shutdown request: not cancelled
    for msg_id, future in list(ls.protocol._request_futures.items()):
        if msg_id != current and not future.done():
            future.cancel()
    ls.projects.shutdown()
    if ls.pool_started:
        ls.pool.close()


# ------------------------------------------------------------ registration

_DIAGNOSTIC_OPTIONS = types.DiagnosticOptions(
    identifier="nixlens", inter_file_dependencies=True, workspace_diagnostics=False
)

#: Every handler of the server: (method, options, handler).
FEATURES: list[tuple[str, Any, Callable[..., Any]]] = [
    (types.INITIALIZE, None, initialize),
    (types.INITIALIZED, None, initialized),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, None, did_change_configuration),
    (types.TEXT_DOCUMENT_DID_OPEN, None, did_open),
    (types.TEXT_DOCUMENT_DID_CHANGE, None, did_change),
    (types.TEXT_DOCUMENT_DID_SAVE, None, did_save),
    (types.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
    (types.TEXT_DOCUMENT_DIAGNOSTIC, _DIAGNOSTIC_OPTIONS, pull_diagnostics),
    (types.TEXT_DOCUMENT_HOVER, None, hover),
    (DOCUMENT_TEXT, None, document_text),
    (types.SHUTDOWN, None, shutdown),
    *navigation.FEATURES,
    *highlight.FEATURES,
]


def create_server() -> NixLensServer:
    """A server with all features registered (a fresh one per call, for tests)."""
    server = NixLensServer()
    server.on_helper_restart = lambda uris: helpers_restarted(server, uris)
    server.projects.on_loaded = lambda root, waiting: project_loaded(server, root, waiting)
    for method, options, handler in FEATURES:
        server.feature(method, options)(handler)
    return server


# --------------------------------------------------------------------- main


def _setup_logging(log_file: str | None, level: str) -> None:
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8")
        if log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(_DeliberateErrors())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper(), logging.INFO))
    # pygls logs every message body at INFO: only when debugging.
    logging.getLogger("pygls").setLevel(logging.DEBUG if level == "debug" else logging.WARNING)


class _DeliberateErrors(logging.Filter):
    """Drops pygls's traceback for an error answer a handler chose to give
    (invalid params, a refused rename): it is logged by ``report_server_error``
    in one line; real faults (internal errors) keep their traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not (isinstance(exc, JsonRpcException) and exc.code != JsonRpcInternalError.CODE)


def main(argv: list[str] | None = None) -> int:
    """``nixlens serve [--tcp HOST:PORT] [--log-file F] [--log-level L]``."""
    parser = argparse.ArgumentParser(
        prog="nixlens serve", description="Run the Nix language server."
    )
    parser.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead of stdio")
    parser.add_argument("--stdio", action="store_true", help="use stdio (the default)")
    parser.add_argument("--log-file", metavar="FILE", help="log here instead of stderr")
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    args = parser.parse_args(argv)
    _setup_logging(args.log_file, args.log_level)
    server = create_server()
    if args.tcp:
        host, sep, port = args.tcp.rpartition(":")
        if not sep or not port.isdigit():
            parser.error("--tcp expects HOST:PORT")
        server.start_tcp(host or "127.0.0.1", int(port))
        return 0
    # The protocol owns stdout; anything else printing there would corrupt it.
    stdout = sys.stdout.buffer
    sys.stdout = sys.stderr
    server.start_io(sys.stdin.buffer, stdout)
    # pygls swallows the SystemExit of ``exit``; LSP wants 1 without ``shutdown``.
    return server.protocol.exit_code if isinstance(server.protocol, NixLensProtocol) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
