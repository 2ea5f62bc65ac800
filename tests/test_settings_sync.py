"""Every server setting is contributed by the VS Code extension (same default
and type), listed in the Neovim help and in README's settings reference."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest

from evaluator.diagnostics import CODES
from server.settings import Settings, camel, load, restrict

ROOT = Path(__file__).resolve().parent.parent
# Settings of the editor integrations themselves, not of the server.
CLIENT_ONLY = {"server.path", "server.args"}
_JSON_TYPE = {bool: "boolean", int: "number", str: "string", list: "array"}


def leaves(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Dotted camelCase key -> default value, for every leaf of ``obj``."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        key = prefix + camel(f.name)
        value = getattr(obj, f.name)
        if dataclasses.is_dataclass(value):
            out.update(leaves(value, key + "."))
        else:
            out[key] = value
    return out


SERVER = leaves(Settings())


def test_leaves_cover_nested_settings() -> None:
    assert SERVER["eval.budgetMs"] == 2000
    assert SERVER["diagnostics.maxPerFile"] == 200
    assert SERVER["sandbox.enable"] is True
    assert SERVER["inlayHints.maxLines"] == 5000


def test_vscode_contributes_every_setting_with_its_default() -> None:
    manifest = json.loads((ROOT / "editors/vscode/package.json").read_text())
    props = manifest["contributes"]["configuration"]["properties"]
    contributed = {k.removeprefix("nixlens."): v for k, v in props.items()}
    assert set(contributed) - CLIENT_ONLY == set(SERVER)
    for key, default in SERVER.items():
        prop = contributed[key]
        assert prop["default"] == default, key
        assert prop["type"] == _JSON_TYPE[type(default)], key
        assert prop.get("description") or prop.get("markdownDescription"), key


def test_neovim_help_lists_every_setting() -> None:
    text = (ROOT / "editors/nvim/doc/nixlens.txt").read_text()
    section = text[text.index("*nixlens-settings*") : text.index("*nixlens-queries*")]
    listed = set(re.findall(r"^  ([A-Za-z.]+) ", section, re.M))
    assert listed - CLIENT_ONLY == set(SERVER)


@pytest.mark.parametrize("readme", ["README.md", "editors/vscode/README.md"])
def test_readme_documents_every_setting(readme: str) -> None:
    text = (ROOT / readme).read_text()
    section = text[text.index("## Settings" if "vscode" in readme else "### Settings") :]
    rows = dict(re.findall(r"^\| `nixlens\.([A-Za-z.]+)` \| `([^`]*)` \|", section, re.M))
    assert set(rows) - CLIENT_ONLY == set(SERVER)
    for key, default in SERVER.items():
        assert json.loads(rows[key]) == default, key


def test_readme_lists_every_diagnostic_code() -> None:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Diagnostic codes") :]
    listed = re.findall(r"^\| `([a-z_]+)` \| ", section, re.M)
    assert listed == list(CODES)


# Settings that name a program or widen what evaluation may read.
RESTRICTED = {"formatting.command", "sandbox.enable", "sandbox.allowedPaths"}
RESTRICTED |= {"searchPath", "eval.entry"} | CLIENT_ONLY


def test_vscode_restricts_the_settings_the_server_resets_when_untrusted() -> None:
    manifest = json.loads((ROOT / "editors/vscode/package.json").read_text())
    trust = manifest["capabilities"]["untrustedWorkspaces"]
    assert trust["supported"] == "limited"
    listed = {k.removeprefix("nixlens.") for k in trust["restrictedConfigurations"]}
    assert listed == RESTRICTED
    # The server gives each restricted server setting its default when untrusted.
    changed = {
        "formatting": {"command": ["fmt"]},
        "sandbox": {"enable": False, "allowedPaths": ["/"]},
        "searchPath": ["x=/x"],
        "eval": {"entry": "import ./. { }"},
    }
    loaded, problems = load(changed)
    assert problems == []
    untrusted = leaves(restrict(loaded, False))
    for key in RESTRICTED - CLIENT_ONLY:
        assert leaves(loaded)[key] != SERVER[key], key
        assert untrusted[key] == SERVER[key], key
