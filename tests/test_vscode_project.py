"""End to end: a flake project in a real VS Code (code-server), no settings (issue 15).

The demo flake (``tests/fixtures/projects/demo``) is copied into a temporary
folder with its ``nixpkgs`` input in a temporary store; the server runs
through a wrapper that exports ``NIX_STORE_DIR`` (and an empty
``XDG_CACHE_HOME``, so the project context is really loaded, not read from
the disk cache).  Opening ``config.nix`` loads the project with ``$/progress``:
vscode-languageclient shows it as window progress, the status bar entry
``#status.progress`` ("nixlens: loading ws-demo: …").  The entry shows only
while loading lasts (VS Code adds it 150 ms after the start), so a
``MutationObserver`` installed before the file is opened records every text
it ever had.  Then ``services.web.`` typed on a new line offers ``port`` in
the suggest widget, and ``services.web.prot`` shows ``option_undefined`` in
the Problems panel.  Same machinery as ``tests/test_vscode_e2e.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from projects import Project, ProjectFactory

pytestmark = pytest.mark.vscode

selenium = pytest.importorskip(
    "selenium", reason="selenium is not installed (pip install '.[test]')"
)

from selenium.webdriver.common.action_chains import ActionChains  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from test_vscode_e2e import BASE_SETTINGS, status_label, vscode_tools  # noqa: E402, F401
from vscode_workbench import CodeServer, Workbench, chrome  # noqa: E402

# Records every text the window progress entry of the status bar shows.
WATCH_PROGRESS = """
window.nixlensProgress = [];
const seen = () => {
  const item = document.querySelector('[id="status.progress"]');
  const text = item && item.textContent.trim();
  const list = window.nixlensProgress;
  if (text && list[list.length - 1] !== text) list.push(text);
};
new MutationObserver(seen).observe(document.body, {
  childList: true, subtree: true, characterData: true, attributes: true,
});
seen();
"""

# config.nix of the demo flake; line 4 (1-based) is the port's definition.
PORT_LINE = 4
PORT_DEFINITION = "  services.web.port = 9090;"


def project_wrapper(directory: Path, base: Path, demo: Project, cache: Path) -> Path:
    """A ``nixlens`` running ``base`` with the project's store and an empty cache."""
    script = directory / "nixlens-project"
    env = {**demo.env(), "XDG_CACHE_HOME": str(cache)}
    exports = "".join(f'export {k}="{v}"\n' for k, v in env.items())
    script.write_text(f'#!/bin/sh\n{exports}exec "{base}" "$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture
def demo_vscode(
    vscode_tools: dict[str, Path],  # noqa: F811 - the fixture imported above
    projects: ProjectFactory,
    tmp_path: Path,
) -> Iterator[Workbench]:
    """A running VS Code on the demo flake, its server seeing the fixture's store."""
    demo = projects.demo()
    server = CodeServer(vscode_tools["code_server"], vscode_tools["node"], tmp_path / "vscode")
    wrapper = project_wrapper(tmp_path, vscode_tools["wrapper"], demo, tmp_path / "cache")
    server.write_settings({"nixlens.server.path": str(wrapper)}, scope="Machine")
    server.write_settings({**BASE_SETTINGS, "security.workspace.trust.enabled": False})
    server.install_extension(vscode_tools["vsix"])
    driver = None
    try:
        url = server.start(Path(demo.root))
        driver = chrome()
        bench = Workbench(driver, failure_shot=tmp_path / "failure.png")
        bench.load(url)
        yield bench
    finally:
        if driver is not None:
            driver.quit()
        server.stop()


def open_and_load(bench: Workbench) -> list[str]:
    """Open config.nix, wait until its project is loaded; the progress texts shown."""
    bench.driver.execute_script(WATCH_PROGRESS)
    bench.open_file("config.nix")
    bench.wait("the server to be ready", lambda: "ready" in status_label(bench))
    bench.wait(
        "the project's progress in the status bar",
        lambda: bench.driver.execute_script("return window.nixlensProgress"),
    )
    bench.wait("the progress to end", lambda: not bench.visible('[id="status.progress"]'))
    # config.nix is evaluated in configurations.demo: `port` hovers as an option.
    bench.go_to(PORT_LINE, len("  services.web.po"))
    hover = bench.wait(
        "the option hover",
        lambda: (text := bench.hover_text()) and "services.web.port" in text and text,
    )
    assert "16 bit unsigned integer" in hover, hover
    bench.dismiss()
    return list(bench.driver.execute_script("return window.nixlensProgress"))


def test_project_progress_and_option_completion(demo_vscode: Workbench) -> None:
    bench = demo_vscode
    shown = open_and_load(bench)
    print(f"window progress shown: {shown}")  # shown with -s
    # The window progress entry: the server's title, then its messages (VS Code's
    # own, such as "Activating Extensions...", may show in it too).
    loading = [s for s in shown if s.startswith("nixlens: loading ws-demo")]
    assert "nixlens: loading ws-demo: evaluating configurations.demo" in loading, shown
    # Typing a definition on a new line after the port's: `services.web.|`.
    bench.go_to(PORT_LINE, len(PORT_DEFINITION) + 1)
    bench.keys(Keys.ENTER, "services.web.")
    bench.wait("the typed line", lambda: "  services.web.\n" in bench.editor_text() + "\n")
    labels = bench.completions()
    assert any(label.startswith("port") for label in labels), labels
    assert any(label.startswith("enable") for label in labels), labels
    bench.dismiss()


def test_option_error_in_the_problems_panel(demo_vscode: Workbench) -> None:
    bench = demo_vscode
    open_and_load(bench)
    bench.show_problems()
    bench.open_file("config.nix")
    # `port` -> `prot`: select the word and type over it.
    bench.go_to(PORT_LINE, len("  services.web.") + 1)
    actions = ActionChains(bench.driver).key_down(Keys.CONTROL).key_down(Keys.SHIFT)
    actions.send_keys(Keys.ARROW_RIGHT).key_up(Keys.SHIFT).key_up(Keys.CONTROL).perform()
    bench.keys("prot")
    bench.wait("the edit", lambda: "services.web.prot = 9090;" in bench.editor_text())
    text = bench.wait_problems(
        "the option error", lambda t: "option_undefined" in t and "does not exist" in t, 30
    )
    assert "services.web.prot" in text, text
    assert "[Ln 4," in text, text
    # The fix makes it go.
    bench.go_to(PORT_LINE, len("  services.web.") + 1)
    actions = ActionChains(bench.driver).key_down(Keys.CONTROL).key_down(Keys.SHIFT)
    actions.send_keys(Keys.ARROW_RIGHT).key_up(Keys.SHIFT).key_up(Keys.CONTROL).perform()
    bench.keys("port")
    bench.wait_problems("the option error to go", lambda t: "option_undefined" not in t, 30)
