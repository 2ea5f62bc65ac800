"""The server object and what every feature module needs of it.

``NixLensServer`` holds the thin state of the server process: the open
documents (``DocumentStore``), the settings, the diagnostic layers, the
project contexts (plain data, ``server.project``) and the pool of analysis
helpers (``server.workers``), which own all analysis state.
Feature modules (``server.lsp``, ``server.navigation``, ``server.highlight``)
import this module, never each other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from pygls.exceptions import JsonRpcException, JsonRpcInternalError
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from evaluator.eval import search_path_entries

from . import positions
from .documents import Document, DocumentStore
from .highlight import Highlighter
from .project import Projects
from .protocol import NixLensProtocol
from .settings import Settings
from .wire import Context
from .workers import Pool, default_workers

VERSION = "0.1.0"

log = logging.getLogger("nixlens")


@dataclass
class FormattingState:
    """Whether formatting is registered with the client (``server.navigation``)."""

    initialized: bool = False
    registered: bool = False
    lock: asyncio.Lock | None = None


class NixLensServer(LanguageServer):
    """The server state: documents, settings, diagnostic layers, helpers."""

    def __init__(self) -> None:
        from lsprotocol import types

        super().__init__(
            "nixlens",
            VERSION,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=NixLensProtocol,
        )
        self.documents = DocumentStore()
        self.settings = Settings()
        self.init_settings: Any = None
        # False when the client says the workspace is untrusted (initialize only).
        self.trusted = True
        # Whether the client pulls diagnostics (``server.lsp.pulls_diagnostics``):
        # then they are never pushed to it.
        self.pull_diagnostics = False
        # A ``workspace/diagnostic/refresh`` is about to be sent (``server.lsp``).
        self.refresh_pending = False
        # uri -> diagnostic layers (``server.lsp.Layers``)
        self.layers: dict[str, Any] = {}
        self._pool: Pool | None = None
        self.formatting = FormattingState()
        # Tasks started in the background (kept referenced until done).
        self.background: set[Any] = set()
        # The semantic token cache (``server.highlight``).
        self.highlighter = Highlighter()
        # The loaded project contexts (``server.project``).
        self.projects = Projects(VERSION)
        # Called with the URIs whose helper was replaced (``server.lsp``).
        self.on_helper_restart: Any = lambda uris: None

    @property
    def pool(self) -> Pool:
        """The analysis helpers (started on first use, inside the event loop)."""
        if self._pool is None:
            s = self.settings
            self._pool = Pool(
                s.workers or default_workers(),
                s.eval.max_memory_mb,
                lambda: list(self.documents),
                document_path,
                lambda uris: self.on_helper_restart(uris),
            )
            self._pool.start()
        return self._pool

    @property
    def pool_started(self) -> bool:
        """Whether the helpers were started."""
        return self._pool is not None

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

    def workspace_roots(self) -> list[str]:
        """The workspace folders (else the root path), absolute."""
        roots = [p for f in self.workspace.folders.values() if (p := to_fs_path(f.uri))]
        if not roots and self.workspace.root_path:
            roots = [self.workspace.root_path]
        return [os.path.abspath(r) for r in roots]

    def context(self, doc: Document | None) -> Context:
        """What a helper request about ``doc`` depends on besides its text."""
        s = self.settings
        path = document_path(doc.uri) if doc is not None else None
        return Context(
            allowed_roots=sandbox_roots(self, path) if s.sandbox.enable else None,
            search_path=tuple(search_path_entries(s.search_path)),
            entry=s.eval.entry,
            budget_ms=s.eval.budget_ms,
            max_steps=s.eval.max_steps,
            max_values=s.eval.max_values,
            max_depth=s.eval.max_depth,
        )


def document_path(uri: str) -> str | None:
    """The file system path of a document (None for untitled buffers)."""
    return to_fs_path(uri) if uri.startswith("file:") else None


def sandbox_roots(ls: NixLensServer, path: str | None) -> tuple[str, ...]:
    """Where an evaluation may read: workspace folders (else the document's
    directory), search path entries (settings and ``NIX_PATH``), the Nix store
    and ``sandbox.allowedPaths``."""
    s = ls.settings
    folders = ls.workspace_roots()
    if path is not None and not any(_inside(path, f) for f in folders):
        folders.append(os.path.dirname(path))
    search = [e.split("=", 1)[-1] for e in search_path_entries(s.search_path)]
    search = [e for e in search if not e.startswith(("http://", "https://", "channel:", "flake:"))]
    store = os.environ.get("NIX_STORE_DIR", "/nix/store")
    return tuple(
        dict.fromkeys(p for p in [*folders, *search, store, *s.sandbox.allowed_paths] if p)
    )


def _inside(path: str, root: str) -> bool:
    root = os.path.abspath(root).rstrip("/") + "/"
    return os.path.abspath(path).startswith(root)
