"""Real-code benchmark programs built from ``../shared/nixpkgs-lib`` (by path).

Each builder writes what it needs (generated modules, package files) into a
temporary directory and returns the arguments of ``--eval`` for both
evaluators: a file to evaluate and whether the result is printed as JSON.
The programs are what a language server evaluates for project context: a
module system, the option list of its options, a package set with
``callPackage`` and overlays, and lib's own test file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

# Resolved: Nix refuses paths through a symlink (``../shared`` is one).
LIB = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", "..", "shared", "nixpkgs-lib"))


@dataclass
class Program:
    """A file to evaluate strictly; ``json``: print the result as JSON."""

    file: str
    json: bool = False


def lib_dir() -> str:
    """The nixpkgs checkout's ``lib`` directory (``../shared/nixpkgs-lib/lib``)."""
    return os.path.join(LIB, "lib")


def misc_tests(tmp: str) -> Program:
    """``lib/tests/misc.nix``: lib's unit tests, evaluating to ``[ ]``."""
    return Program(os.path.join(lib_dir(), "tests", "misc.nix"))


def _module(i: int, n: int) -> str:
    """Module ``i`` of ``n``: five typed options of its own, definitions of
    its own and of its neighbour's options (mkIf, mkMerge, mkDefault)."""
    j = (i + 1) % n
    enable = "true" if i % 3 == 0 else "false"
    return f"""{{ lib, config, ... }}:
let
  inherit (lib) mkOption mkIf mkMerge mkDefault types;
  cfg = config.m{i};
in
{{
  options.m{i} = {{
    enable = mkOption {{
      type = types.bool;
      default = false;
      description = "Whether to enable module {i}.";
    }};
    name = mkOption {{
      type = types.str;
      default = "m{i}";
      description = "The name of module {i}.";
    }};
    count = mkOption {{
      type = types.int;
      default = {i};
      description = "A number.";
    }};
    tags = mkOption {{
      type = types.listOf types.str;
      default = [ ];
      description = "Tags, merged from every module.";
    }};
    settings = mkOption {{
      type = types.attrsOf (types.either types.int types.str);
      default = {{ }};
      description = "Free-form settings.";
    }};
    mode = mkOption {{
      type = types.enum [ "a" "b" "c" ];
      default = "a";
      description = "A choice.";
    }};
    extra = mkOption {{
      type = types.nullOr (types.submodule {{
        options.level = mkOption {{ type = types.int; default = 1; }};
      }});
      default = null;
      description = "An optional submodule.";
    }};
  }};
  config = mkMerge [
    {{ m{i}.tags = [ "own{i}" ]; m{j}.tags = [ "from{i}" ]; }}
    {{ m{j}.enable = {enable}; }}
    (mkIf cfg.enable {{
      m{i}.count = mkDefault ({i} * 2);
      m{i}.settings = {{ "k{i}" = {i}; name = cfg.name; }};
      m{i}.mode = "b";
      m{i}.extra = {{ level = {i % 7}; }};
    }})
    (mkIf (!cfg.enable) {{ m{i}.name = mkDefault "off{i}"; }})
  ];
}}
"""


def _modules_dir(tmp: str, n: int = 600) -> str:
    d = os.path.join(tmp, "modules")
    if not os.path.isdir(d):
        os.makedirs(d)
        for i in range(n):
            with open(os.path.join(d, f"m{i}.nix"), "w") as f:
                f.write(_module(i, n))
        names = " ".join(f"./m{i}.nix" for i in range(n))
        with open(os.path.join(d, "eval.nix"), "w") as f:
            f.write(
                f"let lib = import {lib_dir()}; in\nlib.evalModules {{ modules = [ {names} ]; }}\n"
            )
    return d


def eval_modules(tmp: str) -> Program:
    """``lib.evalModules`` over 600 generated modules, ``config`` as JSON."""
    d = _modules_dir(tmp)
    path = os.path.join(tmp, "modules-config.nix")
    with open(path, "w") as f:
        f.write(f"(import {d}/eval.nix).config\n")
    return Program(path, json=True)


def option_docs(tmp: str) -> Program:
    """The option list of those modules (``lib.optionAttrSetToDocList``),
    as JSON and hashed (the declarations name the temporary files)."""
    d = _modules_dir(tmp)
    path = os.path.join(tmp, "modules-options.nix")
    with open(path, "w") as f:
        f.write(
            f"let lib = import {lib_dir()}; r = import {d}/eval.nix;\n"
            "  docs = lib.optionAttrSetToDocList r.options;\n"
            'in { n = builtins.length docs; sha256 = builtins.hashString "sha256" '
            "(builtins.toJSON docs); }\n"
        )
    return Program(path, json=True)


def package_set(tmp: str, n: int = 3000) -> Program:
    """A ``makeScope``/``callPackage`` set of ``n`` packages in their own
    files (each depending on two earlier ones), an overlay overriding every
    tenth package, and every ``drvPath`` forced."""
    d = os.path.join(tmp, "pkgs")
    os.makedirs(d, exist_ok=True)
    for i in range(n):
        deps = sorted({f"p{i // 2}", f"p{i // 3}"} - {f"p{i}"}) if i else []
        args = ", ".join(["mkDerivation", "lib", *deps])
        with open(os.path.join(d, f"p{i}.nix"), "w") as f:
            f.write(
                f"{{ {args} }}:\n"
                "mkDerivation {\n"
                f'  pname = "p{i}";\n'
                f'  version = "1.{i % 10}";\n'
                f"  buildInputs = [ {' '.join(deps)} ];\n"
                f'  meta.description = lib.toUpper "package {i}";\n'
                "}\n"
            )
    entries = "\n".join(f"  p{i} = self.callPackage ./pkgs/p{i}.nix {{ }};" for i in range(n))
    with open(os.path.join(tmp, "all-packages.nix"), "w") as f:
        f.write(f"self:\n{{\n{entries}\n}}\n")
    overrides = "\n".join(
        f"  p{i} = prev.p{i}.override {{ mkDerivation = a: prev.mkDerivation "
        f'(a // {{ version = "2.0"; }}); }};'
        for i in range(0, n, 10)
    )
    with open(os.path.join(tmp, "overlay.nix"), "w") as f:
        f.write(f"final: prev:\n{{\n{overrides}\n}}\n")
    path = os.path.join(tmp, "pkgset.nix")
    with open(path, "w") as f:
        f.write(
            f"""let
  lib = import {lib_dir()};
  mkDerivation = {{ pname, version, buildInputs ? [ ], meta ? {{ }} }}:
    derivation {{
      name = "${{pname}}-${{version}}";
      system = "x86_64-linux";
      builder = "/bin/sh";
      args = [ "-c" "echo > $out" ];
      inherit buildInputs;
    }} // {{ inherit meta; }};
  base = lib.makeScope lib.callPackageWith (
    self: {{ inherit lib mkDerivation; }} // import ./all-packages.nix self
  );
  scope = base.overrideScope (import ./overlay.nix);
  names = builtins.filter (n: builtins.match "p[0-9]+" n != null) (builtins.attrNames scope);
  drvs = map (n: scope.${{n}}.drvPath) names;
in
{{
  n = builtins.length drvs;
  sha256 = builtins.hashString "sha256" (builtins.concatStringsSep "" drvs);
}}
"""
        )
    return Program(path, json=True)


REAL_PROGRAMS = {
    "lib-tests-misc": misc_tests,
    "evalModules-600": eval_modules,
    "optionDocs-600": option_docs,
    "pkgset-3000": package_set,
}
