"""The private parts of pygls that ``server.protocol`` and ``server.lsp`` rely
on, one test each: a pygls upgrade that changes one fails here, by name,
instead of somewhere in the protocol tests.  pygls is pinned exactly in
pyproject.toml; this also checks the installed version is that one."""

from __future__ import annotations

import inspect
import re
from importlib import metadata
from pathlib import Path

import pytest
from pygls.protocol import JsonRPCProtocol, LanguageServerProtocol

from server.lsp import create_server
from server.protocol import NixLensProtocol

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def protocol() -> NixLensProtocol:
    proto = create_server().protocol
    assert isinstance(proto, NixLensProtocol)
    return proto


def _params(fn: object) -> list[str]:
    return list(inspect.signature(fn).parameters)  # type: ignore[arg-type]


def test_pygls_is_the_pinned_version() -> None:
    text = (ROOT / "pyproject.toml").read_text()
    pinned = re.search(r'"pygls==([^"]+)"', text)
    assert pinned is not None, "pygls must be pinned exactly"
    assert metadata.version("pygls") == pinned.group(1)


def test_lsp_method_decorator() -> None:
    from pygls.protocol.language_server import lsp_method

    assert callable(lsp_method)
    # Our did_open/did_change/did_close replace pygls' own (found by method name).
    for name in ("lsp_text_document__did_open", "lsp_text_document__did_change"):
        assert hasattr(LanguageServerProtocol, name), name


def test_lsp_initialize_is_a_generator_with_the_server(protocol: NixLensProtocol) -> None:
    # Our lsp_initialize wraps pygls' (``yield from``) and reads ``_server``.
    assert inspect.isgeneratorfunction(LanguageServerProtocol.lsp_initialize)
    assert _params(LanguageServerProtocol.lsp_initialize) == ["self", "params"]
    assert protocol._server is not None


def test_feature_manager_features(protocol: NixLensProtocol) -> None:
    assert isinstance(protocol.fm.features, dict)
    assert "textDocument/hover" in protocol.fm.features


def test_request_futures_and_result_types(protocol: NixLensProtocol) -> None:
    assert isinstance(protocol._request_futures, dict)
    assert isinstance(protocol._result_types, dict)


def test_execute_handler_signature() -> None:
    assert _params(JsonRPCProtocol._execute_handler) == [
        "self",
        "msg_id",
        "handler",
        "callback",
        "args",
        "kwargs",
    ]


def test_send_handler_result_signature() -> None:
    assert _params(JsonRPCProtocol._send_handler_result) == ["self", "future", "msg_id"]


def test_send_response_signature() -> None:
    assert _params(JsonRPCProtocol._send_response) == ["self", "msg_id", "result", "error"]


def test_send_data_signature() -> None:
    assert _params(JsonRPCProtocol._send_data) == ["self", "data"]


def test_structure_and_handle_message() -> None:
    assert _params(JsonRPCProtocol.structure_message) == ["self", "data"]
    assert _params(JsonRPCProtocol.handle_message) == ["self", "message"]


def test_transport_state(protocol: NixLensProtocol) -> None:
    assert protocol._shutdown is False
    assert protocol._include_headers is False  # set when a transport connects
    assert protocol.writer is None
    assert isinstance(protocol.VERSION, str)
    assert isinstance(protocol.CONTENT_TYPE, str) and isinstance(protocol.CHARSET, str)


def test_msg_id_of_the_current_request(protocol: NixLensProtocol) -> None:
    # ``server.lsp.shutdown`` leaves its own request out when cancelling.
    assert protocol.msg_id is None
