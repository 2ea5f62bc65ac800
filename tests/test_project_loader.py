"""Loading a project's context holds up no other work (``Pool.call_loader``):
it runs in the server's project loader process, so another file's lints,
evaluation and hover are answered while it runs, even with one helper."""

from __future__ import annotations

import os
from typing import Any

from lsprotocol import types
from projects import ProjectFactory
from test_project_lsp import hover_text, open_file, server, wait_for

OTHER = 'let\n  unused = 1;\n  double = x: x * 2;\nin\ndouble 21 + "x"\n'


def _progress(client: Any, kind: str) -> bool:
    return any(
        getattr(v, "kind", None) == kind for vs in client.progress_reports.values() for v in vs
    )


async def test_another_file_is_answered_while_a_context_loads(
    projects: ProjectFactory, tmp_path: Any
) -> None:
    # Thousands of options: its load takes seconds (the entry, then the
    # options read for the disk snapshot).
    project = projects.generated(4000)
    other = os.path.join(projects.tmp, "other.nix")  # outside the project's folder
    with open(other, "w", encoding="utf-8") as f:
        f.write(OTHER)
    options = {"workers": 1, "diagnostics": {"debounceMs": 0}}
    async with server(projects.tmp, project.env(), str(tmp_path), options=options) as client:
        open_file(client, os.path.join(project.root, "m0.nix"))
        await wait_for_progress(client, "begin")
        uri = open_file(client, other)
        # Its lints (static layer) and its evaluation error (evaluated layer),
        # from the one helper, while the load is still running.
        diags = await wait_for(
            client,
            uri,
            lambda d: {"unused_binding", "eval_error"} <= {x.code for x in d},
        )
        assert not _progress(client, "end"), "the load ended first: nothing was shown"
        assert any("cannot add a string to an integer" in x.message for x in diags), diags
        line = OTHER.splitlines().index('double 21 + "x"')
        text = await hover_text(client, uri, line, 1)
        assert text.startswith("function `double`"), text
        assert not _progress(client, "end")
        # The load goes on to its end, unharmed.
        await wait_for_progress(client, "end", 300)


async def wait_for_progress(client: Any, kind: str, timeout: float = 60) -> None:
    import asyncio

    async def loop() -> None:
        while not _progress(client, kind):
            await client.wait_for_notification(types.PROGRESS)

    await asyncio.wait_for(loop(), timeout)
