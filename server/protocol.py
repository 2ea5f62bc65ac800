"""The JSON-RPC protocol of the server: pygls' ``LanguageServerProtocol``,
closer to JSON-RPC/LSP where pygls drops messages silently.

It relies on these private parts of pygls (pinned exactly in pyproject.toml;
``tests/test_server_protocol_pins.py`` checks each one): ``fm.features``,
``_send_handler_result``, ``_request_futures``, ``_execute_handler``,
``_send_response``, ``_send_data``, ``_result_types``, ``_include_headers``,
``_shutdown``, ``writer``, ``lsp_method``, ``_server`` and
``lsp_initialize`` (a generator).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from functools import partial
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInvalidParams
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .convert import RawJSON

log = logging.getLogger("nixlens")

__all__ = ["NixLensProtocol"]


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

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams) -> Any:
        result = yield from super().lsp_initialize(params)
        # Pulled diagnostics only for a client that gets them so (the
        # ``initialize`` handler decides): it is never pushed them; any other
        # is pushed them and must not pull too (Neovim 0.10 would show both).
        if not getattr(self._server, "pull_diagnostics", False):
            result.capabilities.diagnostic_provider = None
        return result

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
