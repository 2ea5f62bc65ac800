"""The nixlens language server (pygls 2): features, diagnostic layers, ``main``.

Handlers are thin: fetch the document, call one analysis function
(``server.analysis``, ``server.evaluation``), convert (``server.convert``).

Diagnostics come in two layers per document, merged when published:

* static -- syntax errors from the incremental tree, or lints when there are
  none; recomputed ``diagnostics.debounceMs`` after the last change;
* evaluation -- run after the static layer (and at once on open/save) in a
  worker thread; a new change cancels the run in flight, and a result for a
  version that is no longer current is dropped.  Until the next result, the
  previous one is shown with its ranges moved through the edits since (and
  any diagnostic inside an edited range dropped).

Diagnostics are always pushed; clients that support ``textDocument/diagnostic``
may also pull them (result id ``uri@version``; "unchanged" when it matches).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import json
import logging
import os
import sys
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError, JsonRpcInvalidParams
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method
from pygls.uris import to_fs_path

from evaluator.diagnostics import Diagnostic
from evaluator.errors import EvalLimit

from . import convert, navigation, positions
from . import settings as settings_mod
from .analysis import snapshot, static_diagnostics, syntax_diagnostics
from .convert import RawJSON
from .documents import Document, DocumentStore, EditLog
from .evaluation import Evaluations, Job
from .settings import Settings

VERSION = "0.1.0"
# Custom request (debugging/testing aid): the server's text of an open document.
DOCUMENT_TEXT = "nixlens/documentText"

__all__ = ["NixLensServer", "create_server", "main"]

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
    task: asyncio.Task[None] | None = None


class _Answered:
    """Stands for a request already answered with an error while decoding it."""

    jsonrpc = "answered"


class NixLensProtocol(LanguageServerProtocol):
    """pygls' protocol, closer to JSON-RPC/LSP where pygls drops messages silently.

    * requests whose params do not decode: InvalidParams (-32602);
    * a body that is valid JSON but no message (array, number, no ``jsonrpc``):
      InvalidRequest (-32600), id null unless it has one;
    * requests before ``initialize``: ServerNotInitialized (-32002), other
      notifications than ``exit`` dropped;
    * requests after ``shutdown``: InvalidRequest (-32600);
    * ``exit`` records the exit code: 0 after ``shutdown``, else 1.

    Bodies that are not JSON get ParseError (-32700) from
    ``NixLensServer.report_server_error`` (pygls decodes them before us).
    """

    initialized = False
    exit_code = 0

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if isinstance(data, dict) and "id" in data and "method" in data:
                cause = exc.__cause__ or exc
                err = JsonRpcInvalidParams(f"invalid params for {data['method']}: {cause}")
                self._send_response(data["id"], None, err.to_response_error())
                return _Answered()
            raise

    # pygls keeps its own copy of every document (``workspace``) and updates it
    # before our handlers run; its position conversion *mutates* the params
    # (a character past its idea of the line end becomes ``len - 1``), so our
    # ``DocumentStore`` would apply some edits at the wrong place.  The server
    # never reads pygls' copies: the sync notifications go to our handlers only.

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_OPEN)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CHANGE)) is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams) -> Any:
        if (handler := self.fm.features.get(types.TEXT_DOCUMENT_DID_CLOSE)) is not None:
            yield handler, (params,), None

    def _execute_handler(
        self,
        msg_id: Any,
        handler: Any,
        callback: Any,
        args: tuple[Any, ...] | None = None,
        kwargs: dict[str, Any] | None = None,
    ) -> None:
        # pygls files the future of every async/generator handler under its id
        # in ``_request_futures`` but removes only those of client requests when
        # answering them: each notification (every didChange!) leaked one.
        super()._execute_handler(msg_id, handler, callback, args, kwargs)
        is_request = isinstance(callback, partial) and callback.func == self._send_handler_result
        future = self._request_futures.get(msg_id)
        if future is not None and not is_request:
            futures = self._request_futures
            future.add_done_callback(
                lambda done: futures.pop(msg_id, None) if futures.get(msg_id) is done else None
            )

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        # A result serialised by us (``convert.RawJSON``: the outline of a
        # large file) goes out as it is: the converter would take a second.
        if error is None and isinstance(result, RawJSON):
            self._result_types.pop(msg_id, None)
            head = json.dumps({"jsonrpc": self.VERSION, "id": msg_id})
            self._send_pieces([head[:-1].encode() + b', "result": ', result.data, b"}"])
            return
        super()._send_response(msg_id, result, error)

    def _send_pieces(self, pieces: list[bytes]) -> None:
        """Write one JSON-RPC message whose UTF-8 body is ``pieces`` joined (as
        pygls' ``_send_data`` does, without copying a large piece)."""
        if self.writer is None:
            log.error("unable to send data, no transport")
            return
        if self._include_headers:
            header = (
                f"Content-Length: {sum(len(p) for p in pieces)}\r\n"
                f"Content-Type: {self.CONTENT_TYPE}; charset={self.CHARSET}\r\n\r\n"
            )
            pieces = [header.encode("ascii"), *pieces]
        for piece in pieces:
            res = self.writer.write(piece)
            if inspect.isawaitable(res):
                asyncio.ensure_future(res)

    def send_error(self, msg_id: Any, code: int, message: str) -> None:
        """An error response (``msg_id`` may be None: sent as ``"id": null``)."""
        error = {"code": code, "message": message}
        self._send_data({"jsonrpc": self.VERSION, "id": msg_id, "error": error})

    def handle_message(self, message: Any) -> None:
        if isinstance(message, _Answered):
            return
        if not isinstance(getattr(message, "jsonrpc", None), str):
            msg_id = message.get("id") if isinstance(message, dict) else None
            if not isinstance(msg_id, (int, str)):
                msg_id = None
            log.warning("invalid JSON-RPC message: %.200r", message)
            self.send_error(msg_id, -32600, "Invalid Request: not a JSON-RPC 2.0 message")
            return
        method = getattr(message, "method", None)
        is_request = method is not None and hasattr(message, "id")
        if method == types.EXIT:
            self.exit_code = 0 if self._shutdown else 1
        elif method == types.INITIALIZE:
            self.initialized = True
        elif method is not None and not self.initialized:
            if is_request:
                self.send_error(message.id, -32002, f"Server not initialized: {method}")
            return
        elif is_request and self._shutdown:
            self.send_error(message.id, -32600, f"Invalid Request: {method} after shutdown")
            return
        super().handle_message(message)


class NixLensServer(LanguageServer):
    """The server state: documents, settings, diagnostic layers, evaluations."""

    def __init__(self) -> None:
        super().__init__(
            "nixlens",
            VERSION,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=NixLensProtocol,
        )
        self.documents = DocumentStore()
        self.settings = Settings()
        self.init_settings: Any = None
        self.evaluations = Evaluations()
        self.layers: dict[str, Layers] = {}

    @property
    def encoding(self) -> str:
        """The negotiated position encoding."""
        return positions.normalize_encoding(self.workspace.position_encoding)

    def report_server_error(self, error: Exception, source: Any) -> None:
        if isinstance(error, (json.JSONDecodeError, UnicodeDecodeError)):
            # A message body that is not JSON: the id is unknown, hence null.
            assert isinstance(self.protocol, NixLensProtocol)
            self.protocol.send_error(None, -32700, f"Parse error: {error}")
        elif isinstance(error, JsonRpcException) and error.code != JsonRpcInternalError.CODE:
            # A deliberate error answer (invalid params, a refused rename):
            # the client has it; no traceback, it is not a fault.
            log.info("request answered with an error: %s", error)
            return
        log.error(
            "server error (%s): %s", getattr(source, "__name__", source), error, exc_info=error
        )
        super().report_server_error(error, source)

    def client_supports(self, path: str) -> bool:
        """Whether a dotted client capability (e.g. ``workspace.configuration``) is set."""
        node: Any = self.client_capabilities
        for part in path.split("."):
            node = getattr(node, part, None)
            if node is None:
                return False
        return bool(node)


# ----------------------------------------------------------------- settings


def apply_settings(ls: NixLensServer, raw: Any) -> None:
    """Use ``raw`` settings; report invalid values and use their defaults."""
    new, problems = settings_mod.load(raw)
    if problems:
        text = "nixlens: invalid settings: " + "; ".join(problems)
        log.warning("%s", text)
        ls.window_show_message(
            types.ShowMessageParams(type=types.MessageType.Warning, message=text)
        )
    if new != ls.settings:
        ls.settings = new
        ls.evaluations.invalidate()
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


def document_path(uri: str) -> str | None:
    """The file system path of a document (None for untitled buffers)."""
    return to_fs_path(uri) if uri.startswith("file:") else None


def make_job(ls: NixLensServer, doc: Document) -> Job:
    """The evaluation job for the current version of ``doc``."""
    path = document_path(doc.uri)
    s = ls.settings
    overlays = {}
    for other in ls.documents:
        other_path = document_path(other.uri)
        # With an entry, the document is read through it like any other file.
        if other_path and (other is not doc or s.eval.entry):
            overlays[other_path] = other.data
    roots = sandbox_roots(ls, path) if s.sandbox.enable else None
    return Job(
        uri=doc.uri,
        version=doc.version,
        path=path,
        data=doc.data,
        overlays=overlays,
        allowed_roots=roots,
        search_path=tuple(s.search_path),
        entry=s.eval.entry or None,
        budget_ms=s.eval.budget_ms,
        max_steps=s.eval.max_steps or None,
        max_values=s.eval.max_values or None,
        max_depth=s.eval.max_depth or None,
    )


def sandbox_roots(ls: NixLensServer, path: str | None) -> tuple[str, ...]:
    """Where an evaluation may read: workspace folders (else the document's
    directory), search path entries (settings and ``NIX_PATH``), the Nix store
    and ``sandbox.allowedPaths``."""
    s = ls.settings
    folders: list[str] = [p for f in ls.workspace.folders.values() if (p := to_fs_path(f.uri))]
    if not folders and ls.workspace.root_path:
        folders = [ls.workspace.root_path]
    if path is not None and not any(_inside(path, f) for f in folders):
        folders.append(os.path.dirname(path))
    search = [e.split("=", 1)[-1] for e in s.search_path]
    search += [e.split("=", 1)[-1] for e in os.environ.get("NIX_PATH", "").split(":") if e]
    search = [e for e in search if not e.startswith(("http://", "https://", "channel:", "flake:"))]
    store = os.environ.get("NIX_STORE_DIR", "/nix/store")
    return tuple(
        dict.fromkeys(p for p in [*folders, *search, store, *s.sandbox.allowed_paths] if p)
    )


def _inside(path: str, root: str) -> bool:
    root = os.path.abspath(root).rstrip("/") + "/"
    return os.path.abspath(path).startswith(root)


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


# Above this size a change is published twice: at once with the current
# syntax errors and the lints carried over, then with the new lints.
_QUICK_PUBLISH_BYTES = 100_000


def _merge(
    a: list[types.Diagnostic], b: list[types.Diagnostic], limit: int
) -> list[types.Diagnostic]:
    both = sorted([*a, *b], key=lambda d: (d.range.start.line, d.range.start.character))
    return both[:limit] if limit else both


def publish(ls: NixLensServer, doc: Document) -> None:
    """Push the current diagnostics of ``doc``."""
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
        layers.task.cancel()  # also cancels its evaluation, via Evaluations._wait
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
            # Lowering and linting a large file take a while: in a worker, on
            # a snapshot (an edit meanwhile mutates the document's tree).
            # Meanwhile a large file shows its current syntax errors and the
            # last lints moved through the edits (``lsp_diagnostics``).
            if len(doc.data) > _QUICK_PUBLISH_BYTES:
                publish(ls, doc)
            snap = snapshot(doc)
            static = await asyncio.to_thread(static_diagnostics, snap, document_path(doc.uri))
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
            return
        if layers.static and any(d.code == "syntax_error" for d in layers.static):
            layers.eval_version = version  # settled: nothing to evaluate
            return  # keep the last evaluation's findings (moved through the edits)
        result = await ls.evaluations.evaluate(make_job(ls, doc))
        if result is None or not is_current(ls, doc, version):
            return  # superseded by a newer text
        layers.eval = result.diagnostics
        layers.eval_version = version
        doc.take_edits()  # positions of the new layer refer to this text
        publish(ls, doc)
        if ls.client_supports("workspace.diagnostics.refresh_support"):
            ls.workspace_diagnostic_refresh(None)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("diagnostics of %s failed", doc.uri)


# ----------------------------------------------------------------- features


def create_server() -> NixLensServer:
    """A server with all features registered (a fresh one per call, for tests)."""
    server = NixLensServer()

    @server.feature(types.INITIALIZE)
    def initialize(ls: NixLensServer, params: types.InitializeParams) -> None:
        ls.init_settings = settings_mod.from_initialization_options(params.initialization_options)
        new, problems = settings_mod.load(ls.init_settings)
        ls.settings = new
        if problems:
            text = "nixlens: invalid settings: " + "; ".join(problems)
            log.warning("%s", text)
            ls.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Warning, message=text)
            )
        navigation.initialize(ls)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: NixLensServer, params: types.InitializedParams) -> None:
        navigation.initialized(ls)
        if ls.client_supports("workspace.configuration"):
            await fetch_configuration(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(
        ls: NixLensServer, params: types.DidChangeConfigurationParams
    ) -> None:
        if ls.client_supports("workspace.configuration"):
            await fetch_configuration(ls)
        else:
            apply_settings(ls, settings_mod.from_initialization_options(params.settings))

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: NixLensServer, params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        doc = ls.documents.open(item.uri, item.text, item.version)
        ls.layers[item.uri] = Layers()
        schedule(ls, doc, delay=0.0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: NixLensServer, params: types.DidChangeTextDocumentParams) -> None:
        ident = params.text_document
        before = ls.documents.get(ident.uri)
        seen = len(before.log.edits) if before is not None else 0
        doc = ls.documents.change(ident.uri, ident.version, params.content_changes, ls.encoding)
        if doc is not None:
            if doc is before:  # the static layer's lints move through these edits too
                layers = ls.layers.setdefault(doc.uri, Layers())
                layers.static_log.edits.extend(doc.log.edits[seen:])
            ls.evaluations.cancel(doc.uri)
            schedule(ls, doc)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: NixLensServer, params: types.DidSaveTextDocumentParams) -> None:
        # Files on disk changed: every open document may import this one.
        ls.evaluations.invalidate()
        for doc in ls.documents:
            schedule(ls, doc, delay=0.0)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: NixLensServer, params: types.DidCloseTextDocumentParams) -> None:
        uri = params.text_document.uri
        layers = ls.layers.pop(uri, None)
        if layers is not None and layers.task is not None:
            layers.task.cancel()
        ls.evaluations.forget(uri)
        ls.documents.close(uri)
        ls.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
        )

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(
            identifier="nixlens", inter_file_dependencies=True, workspace_diagnostics=False
        ),
    )
    def pull_diagnostics(
        ls: NixLensServer, params: types.DocumentDiagnosticParams
    ) -> types.DocumentDiagnosticReport:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return types.RelatedFullDocumentDiagnosticReport(items=[])
        layers = ls.layers.setdefault(doc.uri, Layers())
        settled = layers.eval_version == doc.version
        result_id = f"{doc.uri}@{doc.version}" + ("" if settled else "~evaluating")
        if params.previous_result_id == result_id:
            return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
        return types.RelatedFullDocumentDiagnosticReport(
            items=lsp_diagnostics(ls, doc), result_id=result_id
        )

    @server.feature(types.TEXT_DOCUMENT_HOVER)
    async def hover(ls: NixLensServer, params: types.HoverParams) -> types.Hover | None:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return None
        index, encoding = doc.index, ls.encoding
        offset = positions.to_offset(index, params.position, encoding)
        cfg = ls.settings.hover
        try:
            info = await ls.evaluations.hover(
                make_job(ls, doc), offset, print_depth=cfg.print_depth, budget_ms=cfg.budget_ms
            )
        except EvalLimit as err:
            # The budget ran out before the value was evaluated (parsing a large
            # file counts too): say so, as for a value that takes too long.
            return convert.hover(f"*stopped after {cfg.budget_ms} ms* ({err.msg})", None)
        if info is None:
            return None
        target = convert.Target(doc.uri, document_path(doc.uri), index, encoding)
        return convert.hover(info.markdown, target.here_range(info.span), cfg.max_chars)

    @server.feature(DOCUMENT_TEXT)
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

    @server.feature(types.SHUTDOWN)
    def shutdown(ls: NixLensServer, params: None) -> None:
        for layers in ls.layers.values():
            if layers.task is not None:
                layers.task.cancel()
        ls.evaluations.shutdown()
        # Cancel the pending requests here, on a copy: pygls cancels them
        # while iterating the dict their callbacks remove them from
        # ("dictionary changed size during iteration").
        current = ls.protocol.msg_id  # this shutdown request: not cancelled
        for msg_id, future in list(ls.protocol._request_futures.items()):
            if msg_id != current and not future.done():
                future.cancel()

    # Feature groups kept in their own modules (each: ``register(server)``).
    from . import highlight

    navigation.register(server)
    highlight.register(server)
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
