"""Entry points of a project: which evaluations there are, found lazily, and how each is forced.

An entry is an attribute path into the project's root value (the flake, or
``default.nix``/``shell.nix`` called with their default arguments) and a
kind saying how much of it an evaluation forces:

* ``configuration`` -- a module-system result (``_type = "configuration"``,
  ``nixosConfigurations.*`` ...): NixOS' ``config.system.build.toplevel``
  derivation when there is one, else its ``config`` deeply;
* ``derivation`` -- ``packages.<system>.*``, ``devShells``, ``checks``: its ``drvPath``;
* ``flake`` -- the flake itself (for ``flake.nix``): each output to weak head normal form;
* ``attrs`` -- a set of at most ``MAX_WALKED_NAMES`` names: each member to weak head normal form;
* ``value`` -- anything else but a set: deeply, within the budget.

Discovery walks names a few levels deep and forces only small sets' members
to weak head normal form; a large set (nixpkgs' 100,000 packages) is never
walked, ``legacyPackages`` never below ``<system>``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import NixError
from ..values import Attrs, Lambda, Thunk
from ..vm import force
from .flake import MissingInput

# Outputs whose members are configurations, by name.
CONFIGURATION_SETS = ("nixosConfigurations", "homeConfigurations", "darwinConfigurations")
# Outputs keyed by system whose members are derivations.
PER_SYSTEM_DERIVATIONS = ("packages", "devShells", "checks")
# Never walked below the system level (a whole package set).
NOT_WALKED = ("legacyPackages",)
# A set with more names than this is not walked (its values are never forced).
MAX_WALKED_NAMES = 1000
MAX_DEPTH = 2
MAX_ENTRIES = 200


@dataclass(frozen=True)
class Entry:
    """One evaluation of a project: a path into its root value, and how to force it."""

    attr_path: tuple[str, ...]
    kind: str  # "configuration" | "derivation" | "flake" | "value"

    @property
    def label(self) -> str:
        """``configurations.demo`` (``«root»`` for the root value itself)."""
        return ".".join(_quote(a) for a in self.attr_path) or "«root»"


def _quote(name: str) -> str:
    if name.replace("-", "").replace("_", "").replace("'", "").isalnum() and not name[0].isdigit():
        return name
    return '"' + name.replace('"', '\\"') + '"'


def try_whnf(v: Any) -> Any:
    """Generator: ``v`` forced, or None when forcing it fails (discovery never fails)."""
    if v.__class__ is not Thunk:
        return v
    try:
        return (yield from force(v))
    except NixError:
        return None


def _is_configuration(v: Any) -> Any:
    if v.__class__ is not Attrs or "_type" not in v:
        return False
    t = yield from try_whnf(v["_type"])
    return t == "configuration"


def _is_derivation(v: Any) -> Any:
    if v.__class__ is not Attrs or "type" not in v:
        return False
    t = yield from try_whnf(v["type"])
    return t == "derivation"


def discover_flake_entries(flake: Attrs, system: str) -> Any:
    """Generator: the entries of a flake value (``outputs`` walked lazily by name)."""
    found: list[Entry] = []
    outputs = yield from try_whnf(flake.get("outputs", flake))
    if outputs.__class__ is not Attrs:
        return found
    for name in sorted(outputs):
        if len(found) >= MAX_ENTRIES:
            break
        if name in NOT_WALKED:
            continue
        value = yield from try_whnf(outputs[name])
        if value.__class__ is not Attrs:
            continue
        if name in CONFIGURATION_SETS:
            found.extend(Entry((name, k), "configuration") for k in sorted(value))
            continue
        if name in PER_SYSTEM_DERIVATIONS:
            per = yield from try_whnf(value.get(system))
            if per.__class__ is Attrs and len(per) <= MAX_WALKED_NAMES:
                found.extend(Entry((name, system, k), "derivation") for k in sorted(per))
            continue
        found.extend((yield from walk((name,), value, 1)))
    return found[:MAX_ENTRIES]


def walk(path: tuple[str, ...], value: Any, depth: int) -> Any:
    """Generator: configurations and derivations at or below ``value``."""
    if (yield from _is_configuration(value)):
        return [Entry(path, "configuration")]
    if (yield from _is_derivation(value)):
        return [Entry(path, "derivation")]
    if value.__class__ is not Attrs or depth >= MAX_DEPTH or len(value) > MAX_WALKED_NAMES:
        return []
    out: list[Entry] = []
    for k in sorted(value):
        child = yield from try_whnf(value[k])
        if child is not None:
            out.extend((yield from walk((*path, k), child, depth + 1)))
    return out


def call_with_defaults(v: Any) -> Any:
    """Generator: a ``default.nix`` value called with its default arguments, as
    ``nix-build`` does (a function whose arguments all have defaults); else as is."""
    v = yield from force(v)
    if v.__class__ is Lambda and v.node.formals is not None:
        if all(f.default is not None for f in v.node.formals):
            return (yield (v, Attrs(), None))
    return v


def select(root: Any, attr_path: tuple[str, ...]) -> Any:
    """Generator: ``root.a.b.c`` (an error naming the missing attribute)."""
    v = yield from force(root)
    for i, name in enumerate(attr_path):
        if v.__class__ is not Attrs:
            where = ".".join(attr_path[:i]) or "the project"
            raise NixError(f"entry '{'.'.join(attr_path)}': {where} is not an attribute set")
        if name not in v:
            raise NixError(f"entry '{'.'.join(attr_path)}': attribute '{name}' missing")
        v = yield from force(v[name])
    return v


def force_entry(v: Any, kind: str) -> Any:
    """Generator: force an entry's value as its kind says (see the module docstring)."""
    from ..builtins.core import deep_force

    v = yield from force(v)
    if kind == "configuration" and v.__class__ is Attrs:
        config = yield from force(v.get("config"))
        if config.__class__ is Attrs:
            toplevel = yield from _toplevel(config)
            if toplevel is not None:
                yield from force(toplevel.get("drvPath"))
                return v
            # ``_module`` holds the module arguments (``pkgs``, ``lib``): not the configuration.
            for k in sorted(config):
                if k != "_module":
                    yield from deep_force(config[k])
        return v
    if kind == "derivation" and v.__class__ is Attrs and "drvPath" in v:
        yield from force(v["drvPath"])
        return v
    if kind == "attrs" and v.__class__ is Attrs:
        for k in sorted(v):
            yield from force(v[k])
        return v
    if kind == "flake" and v.__class__ is Attrs:
        outputs = yield from force(v.get("outputs", v))
        if outputs.__class__ is Attrs:
            for k in sorted(outputs):
                try:
                    yield from force(outputs[k])
                except MissingInput:
                    continue  # explained once, on the input's line
        return v
    if v.__class__ is Lambda:
        return v
    yield from deep_force(v)
    return v


def _toplevel(config: Attrs) -> Any:
    """Generator: NixOS' ``config.system.build.toplevel`` when the configuration has one."""
    v: Any = config
    for name in ("system", "build", "toplevel"):
        if v.__class__ is not Attrs or name not in v:
            return None
        v = yield from try_whnf(v[name])
    return v if v.__class__ is Attrs else None
