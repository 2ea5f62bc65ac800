"""A real VS Code (code-server) driven by headless chromium through selenium.

Used by ``tests/test_vscode_e2e.py``.  ``tests/vscode/install.sh`` installs
node 24 and code-server into a cache folder outside the repository (the same
folder is found here), chromium and chromium-driver from Debian.

``CodeServer`` runs ``code-server`` in its own process group with a fresh
user-data-dir and extensions-dir, the .vsix installed and the user settings
given; ``Workbench`` wraps a selenium session with the few workbench actions
the test needs (command palette, quick open, Problems panel, hover,
completion, quick fix, status bar).  Every wait is a ``WebDriverWait`` on a DOM
condition; nothing sleeps for a fixed time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.wait import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
INSTALL = ROOT / "tests" / "vscode" / "install.sh"
EXTENSION = ROOT / "editors" / "vscode"
T = TypeVar("T")


def install() -> tuple[Path, Path]:
    """Run the (idempotent) install script; the code-server and node paths.

    Raises ``RuntimeError`` with the script's message when it cannot install.
    """
    proc = subprocess.run(
        ["bash", str(INSTALL)], capture_output=True, text=True, timeout=1800, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip() or f"{INSTALL} exited {proc.returncode}")
    # <cache>/code-server-X/node_modules/.bin/code-server; node in <cache>/node24.
    code_server = Path(proc.stdout.strip().splitlines()[-1])
    node = code_server.parents[3] / "node24" / "node_modules" / "node" / "bin"
    if not (node / "node").exists():
        raise RuntimeError(f"node 24 is missing from {node}")
    return code_server, node


def build_vsix() -> Path:
    """The extension's .vsix, (re)built with ``build.sh`` when older than its sources."""
    manifest = json.loads((EXTENSION / "package.json").read_text())
    vsix = EXTENSION / f"nixlens-{manifest['version']}.vsix"
    sources = [EXTENSION / "package.json", *(EXTENSION / "src").rglob("*.ts")]
    newest = max(p.stat().st_mtime for p in sources)
    if not vsix.exists() or vsix.stat().st_mtime < newest:
        subprocess.run(
            [str(EXTENSION / "build.sh")], capture_output=True, text=True, timeout=900, check=True
        )
    return vsix


def server_wrapper(directory: Path, python: str) -> Path:
    """A ``nixlens`` stand-in running the server of this checkout; it logs each start."""
    script = directory / "nixlens"
    starts = directory / "starts.log"
    script.write_text(
        "#!/bin/sh\n"
        "# Runs `nixlens serve` from the checkout under test.\n"
        f'echo "$$ $*" >> "{starts}"\n'
        f'export PYTHONPATH="{ROOT}${{PYTHONPATH:+:$PYTHONPATH}}"\n'
        f'exec "{python}" -m server.cli "$@"\n'
    )
    script.chmod(0o755)
    return script


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class CodeServer:
    """``code-server`` for one folder, in its own process group."""

    def __init__(self, code_server: Path, node_bin: Path, home: Path) -> None:
        self.code_server = code_server
        self.home = home
        self.user_data = home / "user-data"
        self.extensions = home / "extensions"
        self.env = dict(os.environ, PATH=f"{node_bin}{os.pathsep}{os.environ.get('PATH', '')}")
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.log = home / "code-server.log"

    def install_extension(self, vsix: Path) -> None:
        """``code-server --install-extension`` into this instance's extensions-dir."""
        subprocess.run(
            [str(self.code_server), *self._dirs(), "--install-extension", str(vsix)],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )

    def write_settings(self, settings: dict[str, Any], *, scope: str = "User") -> None:
        """Replace the ``User`` settings (the browser's) or the ``Machine`` ones
        (code-server's, where machine-scoped settings such as
        ``nixlens.server.path`` apply).  VS Code applies a change without a restart."""
        path = self.user_data / scope / "settings.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(settings, indent=2))
        tmp.replace(path)

    def _dirs(self) -> list[str]:
        return ["--user-data-dir", str(self.user_data), "--extensions-dir", str(self.extensions)]

    def start(self, folder: Path, timeout: float = 120) -> str:
        """Start serving ``folder``; the URL once it answers."""
        self.port = _free_port()
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [str(self.code_server), "--auth", "none", "--bind-addr", f"127.0.0.1:{self.port}"]
                + self._dirs()
                + ["--disable-telemetry", "--disable-update-check", str(folder)],
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group, ended as one
            )
        url = f"http://127.0.0.1:{self.port}/"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"code-server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(url + "healthz", timeout=5) as response:
                    if response.status == 200:
                        return url
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)  # poll interval while the port opens
        raise RuntimeError(f"code-server did not answer on {url}: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """End code-server and everything it started (extension host, language server)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=15)
        except ProcessLookupError:
            pass
        self.proc = None


def chrome() -> webdriver.Chrome:
    """Headless chromium through Debian's chromedriver."""
    options = webdriver.ChromeOptions()
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary:
        options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,760",
        "--force-device-scale-factor=1",
    ):
        options.add_argument(arg)
    driver_path = shutil.which("chromedriver")
    service = Service(executable_path=driver_path) if driver_path else Service()
    return webdriver.Chrome(options=options, service=service)


class Workbench:
    """The VS Code workbench in a browser tab."""

    def __init__(
        self, driver: webdriver.Chrome, timeout: float = 60, failure_shot: Path | None = None
    ) -> None:
        self.driver = driver
        self.timeout = timeout
        # Where a timed-out wait saves the page, to see what went wrong.
        self.failure_shot = failure_shot

    # ------------------------------------------------------------- waiting

    def wait(self, what: str, condition: Callable[[], T | None], timeout: float | None = None) -> T:
        """Wait until ``condition()`` is truthy; fail naming ``what`` and showing the page state."""

        def check(_driver: Any) -> T | None:
            try:
                return condition()
            except (StaleElementReferenceException, WebDriverException):
                return None  # the workbench re-rendered meanwhile

        try:
            return WebDriverWait(self.driver, timeout or self.timeout, poll_frequency=0.2).until(
                check
            )
        except Exception as exc:
            if self.failure_shot is not None:
                self.screenshot(self.failure_shot)
            raise AssertionError(
                f"timed out waiting for {what} (screenshot: {self.failure_shot}); status bar: {self.status_bar_text()!r}; "
                f"problems: {self.problems_text()!r}; notifications: {self.notifications()!r}"
            ) from exc

    def find(self, css: str) -> list[WebElement]:
        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def visible(self, css: str) -> list[WebElement]:
        return [e for e in self.find(css) if e.is_displayed()]

    # ------------------------------------------------------------ workbench

    def load(self, url: str) -> None:
        """Open the workbench and wait until it is interactive."""
        self.driver.get(url)
        self.wait("the workbench", lambda: self.visible(".monaco-workbench .part.statusbar"), 120)
        self.wait("the explorer", lambda: self.visible(".explorer-folders-view .monaco-list-row"))

    def keys(self, *keys: str) -> None:
        """Send keys to whatever has the focus."""
        ActionChains(self.driver).send_keys(*keys).perform()

    def dismiss(self) -> None:
        """Escape: close a hover, a suggestion list or a menu."""
        self.keys(Keys.ESCAPE)

    def chord(self, modifier: str, key: str) -> None:
        ActionChains(self.driver).key_down(modifier).send_keys(key).key_up(modifier).perform()

    def quick_input(self, text: str) -> WebElement:
        """Open the quick input (F1) with ``text`` in its box (``>`` for commands,
        ``:`` for a line, nothing for a file); the box."""
        self.keys(Keys.F1)
        box = self.wait("the quick input", lambda: self.visible(".quick-input-widget input"))[0]
        box.send_keys(Keys.CONTROL, "a")
        box.send_keys(text)
        return box

    def _pick(self, box: WebElement, what: str, label: str) -> None:
        """Wait for a row whose label contains ``label``, press Enter, wait for the close."""

        def row() -> bool:
            rows = self.visible(".quick-input-list .monaco-list-row")
            return any(label.lower() in (r.get_attribute("aria-label") or "").lower() for r in rows)

        self.wait(what, row)
        box.send_keys(Keys.ENTER)
        self.wait("the quick input to close", lambda: not self.visible(".quick-input-widget input"))

    def command(self, title: str) -> None:
        """Run a command from the command palette by its title."""
        box = self.quick_input(">" + title)
        self._pick(box, f"command {title!r} in the palette", title)

    def open_file(self, name: str) -> None:
        """Open a workspace file with Quick Open and wait for its editor."""
        box = self.quick_input(name)
        self._pick(box, f"{name} in quick open", name)
        self.wait(f"the editor of {name}", lambda: self.active_tab() == name)
        self.wait("the editor text", lambda: self.visible(".editor-instance .view-line"))

    def active_tab(self) -> str:
        tabs = self.visible(".tabs-container .tab.active")
        return tabs[0].get_attribute("data-resource-name") or tabs[0].text if tabs else ""

    def editor_text(self) -> str:
        """The visible lines of the active editor (VS Code renders spaces as U+00A0)."""
        lines = self.visible(".editor-instance .view-lines .view-line")
        lines.sort(key=lambda e: float(e.value_of_css_property("top").removesuffix("px") or 0))
        return "\n".join(e.text.replace("\u00a0", " ") for e in lines)

    def go_to(self, line: int, column: int) -> None:
        """Put the cursor at ``line:column`` (1-based) with Go to Line."""
        box = self.quick_input(f":{line}:{column}")
        box.send_keys(Keys.ENTER)
        self.wait("the quick input to close", lambda: not self.visible(".quick-input-widget input"))

    # ------------------------------------------------------------- problems

    def problems_text(self) -> list[str]:
        """The rows of the Problems panel (message, source, code, position)."""
        try:
            rows = self.visible(".markers-panel .monaco-list-row")
            # The text shows "source(code)"; the label, the severity and message.
            return [f"{r.text} | {r.get_attribute('aria-label')}" for r in rows]
        except WebDriverException:
            return []

    def show_problems(self) -> None:
        self.command("View: Focus Problems")
        self.wait("the Problems panel", lambda: self.visible(".markers-panel"))

    def wait_problems(
        self, what: str, predicate: Callable[[str], bool], timeout: float | None = None
    ) -> str:
        """Wait until the Problems panel text satisfies ``predicate``; that text."""

        def check() -> tuple[str] | None:
            # A tuple: an empty panel is an answer too (the wait wants truth).
            text = "\n".join(self.problems_text())
            return (text,) if predicate(text) else None

        return self.wait(what, check, timeout)[0]

    # ---------------------------------------------------------- status bar

    def status_bar_text(self) -> str:
        try:
            return " | ".join(e.text for e in self.visible(".part.statusbar .statusbar-item"))
        except WebDriverException:
            return ""

    def nixlens_status(self) -> WebElement | None:
        for item in self.visible(".part.statusbar .statusbar-item"):
            if "nixlens" in (item.get_attribute("id") or "") or "nixlens" in item.text:
                return item
        return None

    def notifications(self) -> list[str]:
        try:
            return [e.text for e in self.visible(".notification-toast .notification-list-item")]
        except WebDriverException:
            return []

    # --------------------------------------------------------------- editor

    def hover_text(self) -> str:
        """Show the hover at the cursor and return its text."""
        self.command("Show or Focus Hover")
        return self.wait(
            "the hover",
            lambda: "\n".join(
                e.text for e in self.visible(".monaco-hover-content") if e.text.strip()
            ),
        )

    def completions(self) -> list[str]:
        """Trigger suggestions at the cursor; the labels shown."""
        self.chord(Keys.CONTROL, Keys.SPACE)
        rows = self.wait(
            "the suggest widget", lambda: self.visible(".suggest-widget .monaco-list-row")
        )
        return [r.get_attribute("aria-label") or r.text for r in rows]

    def quick_fix(self, title: str) -> None:
        """Open the quick fix menu (Ctrl+.) at the cursor and apply ``title``."""
        self.chord(Keys.CONTROL, ".")

        def item() -> WebElement | None:
            for row in self.visible(".action-widget .monaco-list-row"):
                if title in row.text:
                    return row
            return None

        self.wait(f"quick fix {title!r}", item).click()
        self.wait("the quick fix menu to close", lambda: not self.visible(".action-widget"))

    def edit_settings(
        self, command: str, settings_file: Path, key: str, value: Any, *, replace: bool = False
    ) -> None:
        """Change a setting as a user does: open the settings JSON with ``command``
        (user or remote settings), type the setting (after the others, or as the
        whole file with ``replace``) and save.  The editor stays open, as a modal
        editor: ``close_settings_editor`` closes it."""
        self.command(command)
        editor = f'.monaco-editor.focused[data-uri$="/{settings_file.parent.name}/settings.json"]'
        self.wait("the settings editor", lambda: self.visible(editor))
        setting = f"{json.dumps(key)}: {json.dumps(value)}"
        if replace:
            self.chord(Keys.CONTROL, "a")
            self.keys(Keys.DELETE, "{" + setting + "}")
        else:
            self.chord(Keys.CONTROL, Keys.END)
            self.keys(Keys.HOME)  # on the closing brace
            self.keys("," + setting)
        self.chord(Keys.CONTROL, "s")

        def saved() -> bool:
            try:
                return bool(json.loads(settings_file.read_text()).get(key) == value)
            except ValueError:
                return False

        self.wait("the settings to be saved", saved)

    def close_settings_editor(self, settings_file: Path) -> None:
        """Close the settings JSON editor (a modal editor) that has the focus."""
        editor = f'.monaco-editor[data-uri$="/{settings_file.parent.name}/settings.json"]'
        self.keys(Keys.ESCAPE)
        self.wait("the settings editor to close", lambda: not self.visible(editor))

    def screenshot(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.driver.save_screenshot(str(path))
