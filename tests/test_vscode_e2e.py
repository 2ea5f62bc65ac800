"""End to end: the nixlens extension (.vsix) in a real VS Code (code-server).

Headless chromium drives the workbench through selenium, as a user would:
open ``.nix`` files from Quick Open, read the Problems panel, hover, ask for
completions, apply a quick fix with Ctrl+., change a setting in the user
settings file, run **nixlens: Restart Server**.  A second VS Code opens the
same files in an untrusted folder: lints, no evaluation.

Needs what ``tests/vscode/install.sh`` installs (node 24 and code-server in a
cache folder, chromium + chromium-driver); the fixture runs it (a no-op when
cached) and skips only when it cannot install them.  ``NIXLENS_SCREENSHOTS=1``
also writes the README's picture, ``docs/vscode.png``.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.vscode

selenium = pytest.importorskip(
    "selenium", reason="selenium is not installed (pip install '.[test]')"
)

from vscode_workbench import (  # noqa: E402 - after the selenium check
    ROOT,
    CodeServer,
    Workbench,
    build_vsix,
    chrome,
    install,
    server_wrapper,
)

SCREENSHOT = ROOT / "docs" / "vscode.png"

MAIN = """\
let
  unused = 1;
  count = builtins.trace "counting" (1 + 2);
in
assert count == 4;
{ inherit count; }
"""
BROKEN = "let a = 1 in a\n"
COMPLETE = "let alpha = 1; beta = 2; in [ alpha beta al ]"

BASE_SETTINGS: dict[str, Any] = {
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.enableExperiments": False,
    "telemetry.telemetryLevel": "off",
    "extensions.autoCheckUpdates": False,
    "extensions.autoUpdate": False,
    "update.mode": "none",
    "editor.hover.delay": 100,
    "editor.quickSuggestions": {"other": False, "comments": False, "strings": False},
    "editor.minimap.enabled": False,
    "editor.suggestOnTriggerCharacters": False,
    # Typed text comes out as typed (settings are typed into settings.json).
    "editor.autoClosingBrackets": "never",
    "editor.autoClosingQuotes": "never",
    "editor.autoSurround": "never",
    "window.commandCenter": False,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "chat.disableAIFeatures": True,
}


@pytest.fixture(scope="module")
def vscode_tools(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """code-server, node 24 and the fresh .vsix; skip only when they cannot be installed."""
    if shutil.which("npm") is None:
        pytest.skip("npm is not installed: cannot install code-server or build the .vsix")
    try:
        code_server, node = install()
    except (RuntimeError, OSError) as err:
        pytest.skip(f"cannot install code-server/chromium: {err}")
    if shutil.which("chromedriver") is None:
        pytest.skip("chromium-driver is not installed")
    vsix = build_vsix()
    home = tmp_path_factory.mktemp("vscode-bin")
    wrapper = server_wrapper(home, sys.executable)
    return {"code_server": code_server, "node": node, "vsix": vsix, "wrapper": wrapper}


def workspace(root: Path) -> Path:
    folder = root / "project"
    folder.mkdir()
    (folder / "main.nix").write_text(MAIN)
    (folder / "broken.nix").write_text(BROKEN)
    (folder / "complete.nix").write_text(COMPLETE)
    return folder


@pytest.fixture
def vscode(
    vscode_tools: dict[str, Path], tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[tuple[Workbench, CodeServer, dict[str, Any]]]:
    """A running VS Code on a fresh project; ``trusted`` via indirect parametrization."""
    trusted = getattr(request, "param", True)
    server = CodeServer(vscode_tools["code_server"], vscode_tools["node"], tmp_path / "vscode")
    settings = dict(BASE_SETTINGS)
    # Machine-scoped: read from the remote (code-server) side's settings.
    server.write_settings({"nixlens.server.path": str(vscode_tools["wrapper"])}, scope="Machine")
    settings["security.workspace.trust.enabled"] = not trusted
    if not trusted:
        # Open the folder in restricted mode without asking.
        settings["security.workspace.trust.startupPrompt"] = "never"
        settings["security.workspace.trust.untrustedFiles"] = "open"
    server.write_settings(settings)
    server.install_extension(vscode_tools["vsix"])
    folder = workspace(tmp_path)
    driver = None
    try:
        url = server.start(folder)
        driver = chrome()
        bench = Workbench(driver, failure_shot=tmp_path / "failure.png")
        bench.load(url)
        yield bench, server, settings
    finally:
        if driver is not None:
            driver.quit()
        server.stop()


def starts(tools: dict[str, Path]) -> list[str]:
    log = tools["wrapper"].parent / "starts.log"
    return log.read_text().splitlines() if log.exists() else []


def test_extension_in_vscode(
    vscode: tuple[Workbench, CodeServer, dict[str, Any]], vscode_tools: dict[str, Path]
) -> None:
    bench, server, settings = vscode
    before = len(starts(vscode_tools))

    # Activation on a .nix file: the status bar item appears and goes ready.
    bench.open_file("main.nix")
    bench.wait("the nixlens status item", bench.nixlens_status)
    bench.wait("the server to be ready", lambda: "ready" in status_label(bench))
    assert "nixlens 0.1.0" in status_label(bench)  # serverInfo from initialize
    assert len(starts(vscode_tools)) == before + 1

    # Diagnostics of the three layers, with their codes, in the Problems panel.
    bench.open_file("broken.nix")
    bench.show_problems()
    text = bench.wait_problems(
        "syntax, lint and evaluation diagnostics",
        lambda t: all(c in t for c in ("syntax_error", "unused_binding", "trace", "assertion")),
    )
    assert "counting" in text  # the trace's message

    # Hover shows the evaluated value of `count` (its binding, line 3) and its type.
    bench.open_file("main.nix")
    bench.go_to(3, 4)
    hover = bench.hover_text()
    assert "3" in hover.splitlines() and "int" in hover.splitlines(), hover
    if os.environ.get("NIXLENS_SCREENSHOTS"):
        bench.screenshot(SCREENSHOT)
    bench.dismiss()

    # Completion of a let binding in scope.
    bench.open_file("complete.nix")
    bench.go_to(1, COMPLETE.index("al ]") + 3)  # after `al`
    labels = bench.completions()
    assert any(label.startswith("alpha") for label in labels), labels
    bench.dismiss()

    # A quick fix from Ctrl+. removes the unused binding.
    bench.open_file("main.nix")
    bench.go_to(2, 4)
    bench.quick_fix("Remove unused binding")
    bench.wait("the binding to go", lambda: "unused" not in bench.editor_text())
    bench.wait_problems("the lint to go", lambda t: "unused_binding" not in t and "trace" in t)

    # A settings change applies without a restart.
    user_settings = server.user_data / "User" / "settings.json"
    open_user_settings = "Preferences: Open User Settings (JSON)"
    bench.edit_settings(open_user_settings, user_settings, "nixlens.diagnostics.ignore", ["trace"])
    bench.close_settings_editor(user_settings)
    bench.wait_problems(
        "ignored trace diagnostics to go, the others to stay",
        lambda t: "trace" not in t and "assertion_failed" in t,
    )
    assert len(starts(vscode_tools)) == before + 1  # same server

    # nixlens: Restart Server starts a new server, which publishes again.
    bench.command("nixlens: Restart Server")
    bench.wait("a new server", lambda: len(starts(vscode_tools)) == before + 2)
    bench.wait("the new server to be ready", lambda: "ready" in status_label(bench))
    bench.wait_problems("diagnostics from the new server", lambda t: "assertion" in t)

    # A server path that does not exist: a message with the fix and a button
    # to the setting, and the status item turns to an error.
    missing = str(server.home / "nowhere" / "nixlens")
    machine_settings = server.user_data / "Machine" / "settings.json"
    open_remote_settings = "Preferences: Open Remote Settings (JSON)"
    bench.edit_settings(
        open_remote_settings, machine_settings, "nixlens.server.path", missing, replace=True
    )
    message = bench.wait(
        "the not-found message with its button",
        lambda: next(
            (n for n in bench.notifications() if "not found" in n and "Open Settings" in n), None
        ),
    )
    assert "pip install nixlens" in message and "nixlens.server.path" in message, message
    bench.wait("the error status", lambda: "not running" in status_label(bench))
    assert len(starts(vscode_tools)) == before + 2


@pytest.mark.parametrize("vscode", [False], indirect=True)
def test_untrusted_folder_runs_static_features_only(
    vscode: tuple[Workbench, CodeServer, dict[str, Any]],
) -> None:
    bench, _server, _settings = vscode
    bench.open_file("main.nix")
    bench.wait("the restricted status", lambda: "(restricted)" in status_text(bench))
    bench.wait("the server to be ready", lambda: "ready" in status_label(bench))
    bench.show_problems()
    bench.wait_problems("lint diagnostics", lambda t: "unused_binding" in t)
    # A second file meanwhile (a trusted main.nix has its evaluation findings by then).
    bench.open_file("broken.nix")
    text = bench.wait_problems("its syntax error", lambda t: "syntax_error" in t)
    assert "ready" in status_label(bench)  # settled, not evaluating
    assert "unused_binding" in text
    assert "trace" not in text and "assertion" not in text, text


def status_text(bench: Workbench) -> str:
    item = bench.nixlens_status()
    return item.text if item is not None else ""


def status_label(bench: Workbench) -> str:
    """The nixlens status item's text and screen-reader label (name, version, state)."""
    item = bench.nixlens_status()
    if item is None:
        return ""
    return " ".join(
        filter(None, [item.text, item.get_attribute("aria-label"), item.get_attribute("title")])
    )
