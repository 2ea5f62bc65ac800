"""The evaluator side of issue 11, without a server: module files' option
paths, documentation of values, packages, and completion of large sets."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from evaluator import api
from evaluator.errors import EvalLimit
from evaluator.ide import CompletionItem, completion, definition, resolve_completion
from evaluator.ide._doc import analyse
from evaluator.ide.docs import doc_comment_before, hash_comment_before
from evaluator.ide.modules import completion_context, module_shape, option_at
from evaluator.ide.option_checks import option_path

LIB = (Path(__file__).resolve().parent.parent.parent / "shared" / "nixpkgs-lib").resolve()
needs_lib = pytest.mark.skipif(not (LIB / "lib" / "default.nix").exists(), reason="no lib")


def test_definitions_of_a_module() -> None:
    text = (
        b"{ lib, ... }:\n{\n  imports = [ ];\n  config = lib.mkMerge [\n"
        b"    { a.b = 1; }\n    (lib.mkIf true { c = { d = lib.mkDefault 2; }; })\n  ];\n}\n"
    )
    paths = {d.path for d in module_shape(analyse(text, "/m.nix")).definitions}
    assert {("a",), ("a", "b"), ("c",), ("c", "d")} <= paths
    assert not any(p[0] == "imports" for p in paths)


def test_option_at_every_component() -> None:
    text = b"{\n  x = 1;\n  services.web.port = 1;\n}\n"
    doc = analyse(text, "/m.nix")
    on = {w: option_at(doc, text.index(w.encode()) + 1) for w in ("services", "web", "port")}
    assert on["services"] is not None and on["services"].path == ("services",)
    assert on["web"] is not None and on["web"].path == ("services", "web")
    assert on["port"] is not None and on["port"].path == ("services", "web", "port")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{\n  services.web.|\n  services.web.port = 1;\n}\n", ("services", "web")),
        ("{\n  services.web.po|\n}\n", ("services", "web")),
        ("{ lib, ... }: {\n  config.services.|\n}\n", ("services",)),
        (
            "{ lib, ... }: {\n  config = lib.mkIf true { services.web = { | }; };\n}\n",
            ("services", "web"),
        ),
        ("{\n  x = services.web.|;\n}\n", None),  # a value, not a definition
    ],
)
def test_completion_context_on_unfinished_text(text: str, expected: tuple[str, ...] | None) -> None:
    offset = text.index("|")
    found = completion_context(text.replace("|", "").encode(), "/m.nix", offset)
    assert (found[0] if found else None) == expected


def test_option_path_of_a_message() -> None:
    assert option_path('users.users."a.b".home') == ("users", "users", "a.b", "home")


def test_doc_comments() -> None:
    text = b"{\n  /**\n    Adds one.\n  */\n  inc =\n    # the number\n    x: x + 1;\n  # Old style.\n  # Two lines.\n  dec = x: x - 1;\n}\n"
    assert doc_comment_before(text, text.index(b"x: x + 1")) == "Adds one."
    assert doc_comment_before(text, text.index(b"x: x - 1")) is None
    assert hash_comment_before(text, text.index(b"x: x - 1")) == "Old style.\nTwo lines."


@needs_lib
def test_doc_through_an_alias_and_a_builtin() -> None:
    text = f'let lib = import {LIB}/lib; in lib.concatStringsSep "," [ ]'.encode()
    info = api.hover(
        text, "/t.nix", text.index(b"concatStringsSep") + 2, budget=api.Budget(timeout_s=5)
    )
    assert info is not None
    assert "Concatenate a list of strings with a separator" in info.markdown
    assert "lib.strings.concatStringsSep" in info.markdown


def test_package_hover_and_definition(tmp_path: Path) -> None:
    pkgs = tmp_path / "packages.nix"
    pkgs.write_text(
        '{\n  hello = derivation { name = "hello-2.12"; version = "2.12"; system = "x";\n'
        '    builder = "/bin/sh"; } // { meta = { description = "Says hello";\n'
        '    homepage = "https://example.org/hello"; license = { spdxId = "MIT"; };\n'
        f'    position = "{pkgs}:2"; }}; }};\n}}\n'
    )
    user = tmp_path / "user.nix"
    text = f"let pkgs = import {pkgs}; in [ pkgs.hello ]\n"
    user.write_text(text)
    offset = text.index("hello") + 1
    info = api.hover(text, str(user), offset, budget=api.Budget(timeout_s=5))
    assert info is not None
    for part in ("hello-2.12", "`2.12`", "Says hello", "https://example.org/hello", "MIT"):
        assert part in info.markdown
    assert f"packages.nix:2](file://{pkgs}#L2)" in info.markdown
    locs = definition(text, str(user), offset)
    assert [(loc.path, loc.span.line_col()[0]) for loc in locs] == [(str(pkgs), 2)]


def test_a_hundred_thousand_names_complete_by_name(tmp_path: Path) -> None:
    user = tmp_path / "user.nix"
    text = "{ pkgs }: pkgs.pkg9999"
    user.write_text(text)
    entry = (
        'let pkgs = builtins.listToAttrs (builtins.genList (i: { name = "pkg${toString i}"; '
        f"value = i; }}) 100000); in import {user} {{ inherit pkgs; }}"
    )
    result = api.evaluate(text, str(user), entry=entry, budget=api.Budget(timeout_s=120))
    assert not result.diagnostics
    items = completion(text, str(user), len(text), observed=result.observed)
    assert items[0].label == "pkg9999"
    assert all("pkg9999" in i.label for i in items)
    assert getattr(items, "incomplete", False)  # names were matched whole, not as subsequences
    items = completion(text, str(user), text.index("pkg9999"), observed=result.observed)
    assert len(items) == 200  # cut: the server marks the answer incomplete


@needs_lib
def test_docs_of_bindings_values_and_completion_items(tmp_path: Path) -> None:
    path = tmp_path / "t.nix"
    text = f"let\n  /** The answer. */\n  answer = 42;\n  lib = import {LIB}/lib;\nin [ answer lib.version lib.id ]\n"
    path.write_text(text)
    info = api.hover(text, str(path), text.index("answer =") + 1)
    assert info is not None and "42" in info.markdown and "The answer." in info.markdown
    info = api.hover(text, str(path), text.index("lib.version") + 5, budget=api.Budget(timeout_s=5))
    assert info is not None and "Returns the current full nixpkgs version number" in info.markdown
    local = tmp_path / "local.nix"
    text = "let s = {\n  /** Adds two numbers. */\n  add = a: b: a + b;\n}; in s.ad"
    local.write_text(text)
    items = completion(text, str(local), len(text))
    item = next(i for i in items if i.label == "add")
    assert item.documentation is None and item.data is not None  # looked up on resolve
    bare = CompletionItem(item.label, item.kind, item.edit_span, item.sort_text, data=item.data)
    assert resolve_completion(bare).documentation == "Adds two numbers."


@needs_lib
def test_a_configuration_that_fails_to_load_is_reported(tmp_path: Path) -> None:
    module = tmp_path / "config.nix"
    text = "{ lib, ... }:\n{\n  imports = [ ./missing.nix ];\n}\n"
    module.write_text(text)
    entry = f"[ ((import {LIB}/lib).evalModules {{ modules = [ {module} ]; }}) ]"
    result = api.evaluate(text, str(module), entry=entry, budget=api.Budget(timeout_s=20))
    assert result.context is not None and len(result.context.configurations) == 1
    assert [d.code for d in result.diagnostics] == ["eval_error"]
    assert "missing.nix' does not exist" in result.diagnostics[0].message


@needs_lib
def test_options_inside_submodules(tmp_path: Path) -> None:
    decl = tmp_path / "decl.nix"
    decl.write_text(
        "{ lib, ... }:\n{\n  options.sites = lib.mkOption {\n"
        "    type = lib.types.attrsOf (lib.types.submodule {\n"
        '      options.root = lib.mkOption { type = lib.types.str; description = "Root."; };\n'
        "      options.secret = lib.mkOption { type = lib.types.str; internal = true; };\n"
        "    });\n    default = { };\n  };\n}\n"
    )
    cfg = tmp_path / "cfg.nix"
    text = '{ ... }:\n{\n  sites.foo.root = "/srv";\n}\n'
    cfg.write_text(text)
    entry = f"(import {LIB}/lib).evalModules {{ modules = [ {decl} {cfg} ]; }}"
    result = api.evaluate(text, str(cfg), entry=entry, budget=api.Budget(timeout_s=20))
    assert not result.diagnostics
    typing = text.replace("sites.foo.root", "sites.foo.")
    offset = typing.index("foo.") + 4
    items = completion(typing, str(cfg), offset, observed=result.observed, context=result.context)
    assert [(i.label, i.detail, i.documentation) for i in items] == [("root", "string", "Root.")]
    info = api.hover(
        text,
        str(cfg),
        text.index("root") + 1,
        observed=result.observed,
        context=result.context,
        budget=api.Budget(timeout_s=5),
    )
    assert info is not None
    assert "sites.foo.root" in info.markdown and '`"/srv"`' in info.markdown


@needs_lib
def test_errors_inside_submodules_at_their_definitions(tmp_path: Path) -> None:
    decl = tmp_path / "decl.nix"
    decl.write_text(
        "{ lib, ... }:\n{\n  options.sites = lib.mkOption {\n"
        "    type = lib.types.attrsOf (lib.types.submodule {\n"
        "      options.root = lib.mkOption { type = lib.types.str; };\n"
        "    });\n  };\n}\n"
    )
    cfg = tmp_path / "cfg.nix"
    text = '{ ... }:\n{\n  sites.a.rot = "/srv";\n  sites.b.root = 1;\n}\n'
    cfg.write_text(text)
    entry = f"(import {LIB}/lib).evalModules {{ modules = [ {decl} {cfg} ]; }}"
    result = api.evaluate(text, str(cfg), entry=entry, budget=api.Budget(timeout_s=20))
    found = {(d.code, d.span.line_col()[0] if d.span else None) for d in result.diagnostics}
    assert found == {("option_undefined", 3), ("option_type", 4)}
    undefined = next(d for d in result.diagnostics if d.code == "option_undefined")
    assert "Did you mean `sites.a.root'" in undefined.message


@needs_lib
def test_option_names_cut_by_a_budget_are_not_remembered(tmp_path: Path) -> None:
    from evaluator.ide._doc import make_evaluator
    from evaluator.ide.options import Configuration, find_configurations

    module = tmp_path / "many.nix"
    options = "\n".join(
        f'    o{i} = lib.mkOption {{ type = lib.types.int; description = "Number {i}."; }};'
        for i in range(300)
    )
    module.write_text(f"{{ lib, ... }}:\n{{\n  options.many = {{\n{options}\n  }};\n}}\n")
    entry = f"(import {LIB}/lib).evalModules {{ modules = [ {module} ]; }}"
    ev = make_evaluator(None, steps=50_000_000, timeout_s=60)
    conf = Configuration(
        find_configurations(ev, ev.eval_text(entry, str(tmp_path / "e.nix")))[0][1]
    )
    conf.options(ev)
    partial = conf.children(_RunsOut(ev, 200), ("many",))
    assert len(partial) < 300 and not conf.has_children(("many",))
    whole = conf.children(ev, ("many",))
    assert len(whole) == 300 and conf.has_children(("many",))
    assert all(c.type == "signed integer" and c.description.startswith("Number") for c in whole)


class _RunsOut:
    """An evaluator whose budget runs out after ``runs`` more runs."""

    def __init__(self, ev: Any, runs: int) -> None:
        self.ev = ev
        self.runs = runs

    def run(self, gen: Any) -> Any:
        if self.runs <= 0:
            gen.close()
            raise EvalLimit("evaluation limit: test budget", "steps")
        self.runs -= 1
        return self.ev.run(gen)
