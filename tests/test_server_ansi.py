"""Terminal escape sequences (nixpkgs lib colours words of its messages) never
reach the editor: diagnostics, their trace and hovers carry clean text."""

from __future__ import annotations

import test_server_lsp
from pytest_lsp import LanguageClient
from test_server_lsp import URI, codes, hover_at, open_doc, wait_for

# The real server over stdio, with Neovim's and VS Code's capabilities.
client = test_server_lsp.client

DOC = (
    "let e = builtins.fromJSON ''\"\\u001b\"''; s = \"${e}[1;31mred${e}[0m\"; in\n"
    'builtins.warn "w ${s}" (builtins.addErrorContext "ctx ${s}" (throw "boom ${s}"))\n'
)


async def test_escapes_are_stripped_for_the_editor(client: LanguageClient) -> None:
    open_doc(client, DOC)
    diags = await wait_for(client, URI, lambda d: {"throw", "warn"} <= codes(d))
    texts: list[str] = []
    for d in diags:
        texts.append(d.message)
        texts.extend(r.message for r in d.related_information or [])
    assert not [t for t in texts if "\x1b" in t], texts
    throw = next(d for d in diags if d.code == "throw")
    assert throw.message.split("\n")[0] == "boom red"
    assert "ctx red" in [throw.message.split("\n")[-1]] + [
        r.message for r in throw.related_information or []
    ]
    warn = next(d for d in diags if d.code == "warn")
    assert warn.message == "w red"
    hover = await hover_at(client, 1, 19)
    assert "\x1b" not in hover
    assert '"red"' in hover
