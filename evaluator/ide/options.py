"""The options of an evaluated module-system configuration, read lazily.

A configuration is any ``lib.evalModules`` result (NixOS, home-manager,
flake-parts, one's own): a set with ``_type = "configuration"``, ``options``
and ``config``.  ``Configuration`` walks its ``options`` tree only along the
paths asked for (NixOS has ~20,000 options; forcing them all takes long), and
keeps what it read: children per path, and per option its type and
description (cheap), default, example, value and declarations (on demand).
Options of submodules (``attrsOf (submodule …)``) are reached through the
type's ``getSubOptions``.

Values belong to the evaluation that made them, so every read goes through
an ``Evaluator`` passed in (its budget bounds the work) and one lock: two
threads forcing the same thunk would see each other's black hole.  Results
are plain, picklable data (``OptionInfo``, ``OptionChild``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import EvalLimit, NixError
from ..printer import PrintOptions, show_value
from ..values import Attrs, CtxStr, Lambda, NixPath, PrimOp, PrimOpApp, Thunk

_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """``text`` without terminal colour codes (lib's messages carry some)."""
    return _ANSI.sub("", text)


@dataclass(slots=True, frozen=True)
class Declaration:
    """Where an option is declared: a file and, when known, line and column (1-based)."""

    file: str
    line: int = 0
    column: int = 0


@dataclass(slots=True)
class OptionChild:
    """One name under an option path: an option (with its type and
    description) or a set of further options."""

    name: str
    is_option: bool
    type: str = ""
    description: str = ""


@dataclass(slots=True)
class OptionInfo:
    """Everything hover shows about one option (text only)."""

    path: tuple[str, ...]
    type: str = ""
    description: str = ""
    default: str | None = None
    example: str | None = None
    value: str | None = None
    value_error: str | None = None
    read_only: bool = False
    declarations: list[Declaration] = field(default_factory=list)

    def markdown(self, origin: str | None = None) -> str:
        """The hover text (Markdown)."""
        lines = [f"**option** `{'.'.join(self.path)}`"]
        if self.type:
            lines.append(f"*Type:* {self.type}" + (" (read-only)" if self.read_only else ""))
        if self.description:
            lines.append(self.description)
        facts = []
        if self.default is not None:
            facts.append(f"*Default:* {_code(self.default)}")
        if self.example is not None:
            facts.append(f"*Example:* {_code(self.example)}")
        if self.value is not None:
            facts.append(f"*Value:* {_code(self.value)}")
        elif self.value_error is not None:
            facts.append(f"*Value:* error: {self.value_error}")
        if facts:
            lines.append("\n\n".join(facts))
        if self.declarations:
            where = ", ".join(_declaration_link(d) for d in self.declarations)
            lines.append(f"*Declared in:* {where}")
        if origin:
            lines.append(f"*Values from* `{origin}`")
        return "\n\n".join(lines)


def _code(text: str) -> str:
    if "\n" in text:
        return f"\n```nix\n{text}\n```"
    return f"`{text}`" if "`" not in text else f"``{text}``"


def declarations_of(cfg: Any, ev: Any, path: tuple[str, ...], info: Any) -> list[Declaration]:
    """Where option ``path`` of ``cfg`` (a live or cached configuration) is
    declared: ``info``'s declarations, or for a set of options those of the
    first few options in it."""
    if info is not None:
        return list(info.declarations)
    out: list[Declaration] = []
    for child in cfg.children(ev, path)[:5]:
        for d in cfg.declarations(ev, (*path, child.name)):
            if d not in out:
                out.append(d)
    return out[:3]


def _declaration_link(d: Declaration) -> str:
    name = d.file.rsplit("/", 1)[-1]
    if d.line:
        return f"[{name}:{d.line}](file://{d.file}#L{d.line})"
    return f"[{name}](file://{d.file})"


def force_whnf(v: Any) -> Any:
    """Generator: ``v`` forced to weak head normal form."""
    if v.__class__ is Thunk:
        v = v.v if v.c is None else (yield v)
    return v


def _call(f: Any, arg: Any) -> Any:
    """Generator: ``f arg``."""
    f = yield from force_whnf(f)
    result = yield (f, arg, None)
    return (yield from force_whnf(result))


def _forced(v: Any) -> Any:
    """``v`` if no work is needed to see it (else None)."""
    if v.__class__ is Thunk:
        return v.v if v.c is None else None
    return v


def is_configuration(ev: Any, v: Any) -> bool:
    """Whether ``v`` is a module-system configuration (``_type = "configuration"``)."""
    try:
        v = ev.run(force_whnf(v))
        if not isinstance(v, Attrs) or "_type" not in v:
            return False
        return bool(ev.run(force_whnf(v["_type"])) == "configuration")
    except NixError:
        return False


def find_configurations(ev: Any, value: Any, depth: int = 2) -> list[tuple[str, Any]]:
    """The configurations in ``value`` (itself, or attributes and list
    items down to ``depth`` levels), as (attribute path, value); sets are
    entered only when they are no derivation, and at most 200 attributes of each."""
    out: list[tuple[str, Any]] = []
    stack: list[tuple[str, Any, int]] = [("", value, 0)]
    while stack:
        name, v, d = stack.pop()
        if is_configuration(ev, v):
            out.append((name, ev.run(force_whnf(v))))
            continue
        if d >= depth:
            continue
        try:
            v = ev.run(force_whnf(v))
        except NixError:
            continue
        if isinstance(v, list):  # several entries
            for i, item in enumerate(v[:200]):
                stack.append((f"{name}[{i}]", item, d + 1))
            continue
        if not isinstance(v, Attrs) or _is_derivation(ev, v):
            continue
        for k in sorted(v)[:200]:
            if k not in _NOT_CONFIGURATIONS:
                stack.append((f"{name}.{k}" if name else k, v[k], d + 1))
    out.sort()
    return out


# Flake outputs (and attributes of flake inputs) that hold packages, not
# configurations: forcing their members to look would build package sets.
_NOT_CONFIGURATIONS = frozenset(
    {
        "packages",
        "legacyPackages",
        "checks",
        "devShells",
        "apps",
        "formatter",
        "overlays",
        "lib",
        "hydraJobs",
        "templates",
        "inputs",
        "sourceInfo",
    }
)


def _is_derivation(ev: Any, v: Attrs) -> bool:
    if "type" not in v:
        return False
    try:
        return bool(ev.run(force_whnf(v["type"])) == "derivation")
    except NixError:
        return False


_SHOW = PrintOptions(max_depth=3, max_attrs=20, max_items=20, max_string=300)


class Configuration:
    """One configuration's options, read lazily and remembered (see module doc)."""

    def __init__(self, value: Attrs, origin: str = "") -> None:
        self.value = value
        self.origin = origin
        # The options as the modules see them, when the configuration's own
        # ``options`` fails its check (a definition of an undeclared option):
        # completion and hover keep working on the rest.
        self.unchecked_options: Attrs | None = None
        self.lock = threading.RLock()
        self._nodes: dict[tuple[str, ...], Any] = {}
        self._children: dict[tuple[str, ...], list[OptionChild]] = {}
        self._infos: dict[tuple[str, ...], OptionInfo] = {}

    # ------------------------------------------------------------ reading
    def options(self, ev: Any) -> Any:
        """The ``options`` set (forced)."""
        try:
            return ev.run(force_whnf(self.value["options"]))
        except EvalLimit:
            raise
        except NixError:
            if self.unchecked_options is None:
                raise
            return self.unchecked_options

    def is_option(self, ev: Any, v: Any) -> bool:
        """Whether ``v`` (forced) is an option (``_type = "option"``)."""
        if not isinstance(v, Attrs) or "_type" not in v:
            return False
        return bool(ev.run(force_whnf(v["_type"])) == "option")

    def node(self, ev: Any, path: tuple[str, ...]) -> Any:
        """The options tree at ``path``: an option, a set of options, or None.
        Below an option whose type has sub-options (submodules) the path goes
        on in those (``attrsOf``: after one component for the name)."""
        with self.lock:
            if path in self._nodes:
                return self._nodes[path]
            if not path:
                found = self.options(ev)
            else:
                parent = self.node(ev, path[:-1])
                found = self._step(ev, parent, path)
            self._nodes[path] = found
            return found

    def _step(self, ev: Any, parent: Any, path: tuple[str, ...]) -> Any:
        name = path[-1]
        if parent is None:
            return None
        if self.is_option(ev, parent):
            sub = self._sub_options(ev, parent, path[:-1])
            if sub is None:
                return None
            if isinstance(sub, _Named):  # ``attrsOf``: this component is a name
                return sub.sub
            parent = sub
        if not isinstance(parent, Attrs) or name not in parent:
            return None
        return ev.run(force_whnf(parent[name]))

    def _sub_options(self, ev: Any, opt: Attrs, loc: tuple[str, ...]) -> Any:
        """The sub-options of option ``opt`` (a set), ``_Named`` when a
        name comes first (``attrsOf``), None when it has none."""
        try:
            typ = ev.run(force_whnf(opt["type"])) if "type" in opt else None
            if not isinstance(typ, Attrs) or "getSubOptions" not in typ:
                return None
            tname = ev.run(force_whnf(typ["name"])) if "name" in typ else ""
            sub = ev.run(_call(typ["getSubOptions"], [Thunk.done(x) for x in loc]))
        except EvalLimit:
            raise  # a budget, not the value: nothing is remembered
        except NixError:
            return None
        if not isinstance(sub, Attrs) or not sub:
            return None
        if tname in ("attrsOf", "lazyAttrsOf"):
            return _Named(sub)
        return sub

    def children(self, ev: Any, path: tuple[str, ...]) -> list[OptionChild]:
        """The names under ``path`` (sorted; ``_``-prefixed last), with type
        and description for options."""
        with self.lock:
            cached = self._children.get(path)
            if cached is not None:
                return cached
            node = self.node(ev, path)
            if node is not None and self.is_option(ev, node):
                node = self._sub_options(ev, node, path)
            if isinstance(node, _Named) or not isinstance(node, Attrs):
                out: list[OptionChild] = []
            else:
                out = []
                try:
                    for name in sorted(node, key=lambda n: (n.startswith("_"), n)):
                        if name == "_module":  # the module system's own, internal
                            continue
                        try:
                            child = ev.run(force_whnf(node[name]))
                        except EvalLimit:
                            raise
                        except NixError:
                            continue
                        if self.is_option(ev, child):
                            if self._hidden(ev, child):
                                continue
                            typ, text = self._type_text(ev, child), self._description(ev, child)
                            out.append(OptionChild(name, True, typ, text))
                        elif isinstance(child, Attrs):
                            out.append(OptionChild(name, False))
                except EvalLimit:
                    # What the budget allowed; the next call goes on from
                    # there (the values read so far stay evaluated).
                    return out
            self._children[path] = out
            return out

    def has_children(self, path: tuple[str, ...]) -> bool:
        """Whether ``children(path)`` has been read whole (not cut by a budget)."""
        return path in self._children

    def info(self, ev: Any, path: tuple[str, ...], with_value: bool = True) -> OptionInfo | None:
        """What is known about option ``path`` (None: no such option)."""
        with self.lock:
            cached = self._infos.get(path)
            if cached is not None and (cached.value is not None or not with_value):
                return cached
            node = self.node(ev, path)
            if node is None or not self.is_option(ev, node):
                return None
            info = OptionInfo(path, self._type_text(ev, node), self._description(ev, node))
            info.default = self._literal(ev, node, "defaultText", "default")
            info.example = self._literal(ev, node, "example", None)
            info.read_only = self.text_of(ev, node.get("readOnly")) == "true"
            info.declarations = self._declarations(ev, node)
            if with_value:
                try:
                    v = self.value_of(ev, node, path)
                    if v is not _NONE:
                        ev.run(force_deep(v, 3))
                        info.value = show_value(v, _SHOW)
                except EvalLimit:
                    raise
                except NixError as err:
                    info.value_error = strip_ansi(err.msg).split("\n", 1)[0]
            self._infos[path] = info
            return info

    def value_of(self, ev: Any, opt: Attrs, path: tuple[str, ...]) -> Any:
        """The option's value: ``config`` at ``path`` (which also reaches
        options inside submodules, whose own ``value`` knows no
        definitions), else the option's ``value`` (``config`` fails its
        check while a definition has no option); ``_NONE`` when it has none."""
        try:
            v = ev.run(force_whnf(self.value["config"]))
        except EvalLimit:
            raise
        except NixError:
            return ev.run(force_whnf(opt["value"])) if "value" in opt else _NONE
        for name in path:
            if not isinstance(v, Attrs) or name not in v:
                return _NONE
            v = ev.run(force_whnf(v[name]))
        return v

    def _hidden(self, ev: Any, opt: Attrs) -> bool:
        """Whether an option is internal or invisible (left out of completion)."""
        if self.text_of(ev, opt.get("internal")) == "true":
            return True
        return self.text_of(ev, opt.get("visible")) == "false"

    def declarations(self, ev: Any, path: tuple[str, ...]) -> list[Declaration]:
        """Where option ``path`` is declared (for a set of options, the
        declarations of the first few options in it)."""
        return declarations_of(self, ev, path, self.info(ev, path, with_value=False))

    def walk(self, ev: Any, limit: int | None = None) -> Iterator[OptionChild]:
        """Every option (depth first, sorted), with type and description; the
        whole tree is read: for indexes and benchmarks, never for a request."""
        stack: list[tuple[str, ...]] = [()]
        count = 0
        while stack:
            path = stack.pop()
            kids = self.children(ev, path)
            for child in kids:
                if child.is_option:
                    count += 1
                    name = ".".join((*path, child.name))
                    yield OptionChild(name, True, child.type, child.description)
                    if limit is not None and count >= limit:
                        return
            stack.extend((*path, c.name) for c in reversed(kids) if not c.is_option)

    # ------------------------------------------------------------- fields
    def text_of(self, ev: Any, v: Any) -> str:
        """A string, boolean or ``{ text }`` value as text ("" otherwise or on error)."""
        if v is None:
            return ""
        try:
            v = ev.run(force_whnf(v))
        except EvalLimit:
            raise  # a budget, not the value: nothing is remembered
        except NixError:
            return ""
        if isinstance(v, (str, CtxStr)):
            return str(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, Attrs) and "text" in v:  # mdDoc, literalMD
            return self.text_of(ev, v["text"])
        return ""

    def _type_text(self, ev: Any, opt: Attrs) -> str:
        try:
            typ = ev.run(force_whnf(opt["type"])) if "type" in opt else None
        except EvalLimit:
            raise  # a budget, not the value: nothing is remembered
        except NixError:
            return ""
        if not isinstance(typ, Attrs):
            return ""
        return strip_ansi(self.text_of(ev, typ.get("description")))

    def _description(self, ev: Any, opt: Attrs) -> str:
        return strip_ansi(self.text_of(ev, opt.get("description"))).strip()

    def _literal(self, ev: Any, opt: Attrs, text_name: str, value_name: str | None) -> str | None:
        """``defaultText``/``example``: literal expressions as written, else the value printed."""
        for name in (text_name, value_name):
            if name is None or name not in opt:
                continue
            try:
                v = ev.run(force_whnf(opt[name]))
                if isinstance(v, Attrs) and "_type" in v:
                    kind = ev.run(force_whnf(v["_type"]))
                    if kind in ("literalExpression", "literalMD", "literalExample"):
                        return self.text_of(ev, v)
                ev.run(force_deep(v, 3))
                return show_value(v, _SHOW)
            except EvalLimit:
                raise  # a budget, not the value: nothing is remembered
            except NixError as err:
                return f"«error: {strip_ansi(err.msg).splitlines()[0]}»"
        return None

    def _declarations(self, ev: Any, opt: Attrs) -> list[Declaration]:
        out: list[Declaration] = []
        try:
            if "declarationPositions" in opt:
                for p in ev.run(force_whnf(opt["declarationPositions"])):
                    p = ev.run(force_whnf(p))
                    file = self.text_of(ev, p.get("file"))
                    line = ev.run(force_whnf(p["line"])) if "line" in p else 0
                    col = ev.run(force_whnf(p["column"])) if "column" in p else 0
                    if file:
                        out.append(Declaration(file, int(line), int(col)))
            if not out and "declarations" in opt:
                for f in ev.run(force_whnf(opt["declarations"])):
                    f = ev.run(force_whnf(f))
                    file = f.path if isinstance(f, NixPath) else str(f)
                    out.append(Declaration(host_path(ev, file)))
        except EvalLimit:
            raise  # a budget, not the value: nothing is remembered
        except (NixError, TypeError, ValueError):
            pass
        return out


_NONE = object()


def host_path(ev: Any, path: str) -> str:
    """The user's file behind ``path`` (a file of a workspace flake is named
    by its store copy in the module system's ``_file``s, as in Nix)."""
    io = getattr(ev, "io", None)
    mapper = getattr(io, "host_path", None)
    return mapper(path) if mapper is not None else path


class _Named:
    """Sub-options reached after one free name (``attrsOf (submodule …)``)."""

    __slots__ = ("sub",)

    def __init__(self, sub: Attrs) -> None:
        self.sub = sub


def force_deep(v: Any, depth: int) -> Any:
    """Generator: force ``v`` down to ``depth`` levels (for display)."""
    stack = [(v, 0)]
    while stack:
        x, d = stack.pop()
        if x.__class__ is Thunk:
            x = x.v if x.c is None else (yield x)
        if d >= depth or x.__class__ in (Lambda, PrimOp, PrimOpApp):
            continue
        if x.__class__ is list:
            stack.extend((item, d + 1) for item in x[:20])
        elif x.__class__ is Attrs:
            if "type" in x and _forced(x["type"]) == "derivation":
                continue  # a package: its name is enough
            stack.extend((x[k], d + 1) for k in sorted(x)[:20])
    return None


class ModuleContext:
    """The configurations an entry's evaluation produced, and which of them
    reach a file: those whose modules in the file were called with their
    ``options`` (``observed`` arguments), else all, for a file the
    evaluation read (a module that is a plain set is never called)."""

    def __init__(self, configurations: list[Configuration], files: set[str]) -> None:
        self.configurations = configurations
        self.files = files

    def load(self, ev: Any, observed: dict[Any, list[Any]]) -> None:
        """Evaluate each configuration's ``options`` (which calls its modules,
        so that ``observed`` records their arguments); one whose check fails
        gets the options its modules were called with (``unchecked_options``;
        with several failing configurations, the first one found)."""
        failing = []
        for conf in self.configurations:
            try:
                ev.run(force_whnf(conf.value["options"]))
            except EvalLimit:
                raise
            except NixError:
                failing.append(conf)
        if not failing:
            return
        for args in observed.values():
            for arg in args:
                arg = _forced(arg)
                # A top-level module's arguments (a submodule's have ``name``).
                if not isinstance(arg, Attrs) or "options" not in arg or "name" in arg:
                    continue
                if "config" not in arg or "lib" not in arg:
                    continue
                try:
                    opts = ev.run(force_whnf(arg["options"]))
                except NixError:
                    continue
                if isinstance(opts, Attrs):
                    for conf in failing:
                        conf.unchecked_options = opts
                    return

    def for_file(
        self, ev: Any, path: str | None, observed: dict[Any, list[Any]]
    ) -> list[Configuration]:
        """The configurations that import the module file ``path``."""
        if path is None or not self.configurations:
            return []
        called: list[Configuration] = []
        any_call = False
        for (name, _offset), args in observed.items():
            if name != path:
                continue
            for arg in args:
                arg = _forced(arg)
                if not isinstance(arg, Attrs) or "options" not in arg:
                    continue
                any_call = True
                try:
                    opts = ev.run(force_whnf(arg["options"]))
                except NixError:
                    continue
                for conf in self.configurations:
                    with conf.lock:
                        mine = conf.options(ev)
                    if opts is mine and conf not in called:
                        called.append(conf)
        if called or any_call:
            return called
        return list(self.configurations) if path in self.files else []
