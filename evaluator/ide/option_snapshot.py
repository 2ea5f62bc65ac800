"""A configuration's options read once into plain data, and answered from it.

``read_option_tree`` walks a live ``options.Configuration`` whole (every
option's path, type, description, default, example, read-only flag and
declaration positions; the sub-options of ``submodule`` options; those of
``attrsOf (submodule …)`` under the name ``<name>``) into an ``OptionTree``:
picklable, kept on disk by ``evaluator.project.snapshot``.  Values are not
kept: they are the evaluation's.

``CachedConfiguration`` answers from an ``OptionTree`` with the methods the
option features call on a live ``Configuration`` (``children``, ``info``,
``declarations``, ``has_children``), and ``CachedModules`` stands for
``options.ModuleContext`` (``for_file``: the configurations whose entry read
the file), so completion, hover and go to definition work from a snapshot
while the real evaluation runs.
"""

from __future__ import annotations

import time
from typing import Any

from ..errors import EvalLimit, NixError
from .options import Configuration, Declaration, OptionChild, OptionInfo, declarations_of

#: Stands for the free name of an ``attrsOf (submodule …)`` option in a path.
ANY_NAME = "<name>"
#: Most options kept of one configuration (NixOS has about 20,000).
MAX_OPTIONS = 200_000
#: Deepest option path read (submodules may nest themselves without end).
MAX_DEPTH = 12

# children: path -> [(name, is_option, type, description)]
# infos: path -> (type, description, default, example, read_only, [(file, line, column)])
Children = dict[tuple[str, ...], list[tuple[str, bool, str, str]]]
Infos = dict[
    tuple[str, ...], tuple[str, str, str | None, str | None, bool, list[tuple[str, int, int]]]
]


class OptionTree:
    """One configuration's options as plain data (see the module docstring)."""

    __slots__ = ("origin", "children", "infos")

    def __init__(self, origin: str, children: Children, infos: Infos) -> None:
        self.origin = origin
        self.children = children
        self.infos = infos

    def __getstate__(self) -> tuple[str, Children, Infos]:
        return (self.origin, self.children, self.infos)

    def __setstate__(self, state: tuple[str, Children, Infos]) -> None:
        self.origin, self.children, self.infos = state


def read_option_tree(
    ev: Any, value: Any, origin: str, deadline: float | None = None
) -> OptionTree | None:
    """Every option of the configuration ``value`` (None when ``deadline``,
    a ``time.monotonic()`` value, passes first or there are too many)."""
    conf = Configuration(value, origin)
    children: Children = {}
    infos: Infos = {}
    stack: list[tuple[tuple[str, ...], tuple[str, ...]]] = [((), ())]
    try:
        while stack:
            path, key = stack.pop()
            if deadline is not None and time.monotonic() > deadline:
                return None
            kids = conf.children(ev, path)
            if not conf.has_children(path):
                return None  # cut by the evaluator's budget
            if kids or not path:
                children[key] = [(k.name, k.is_option, k.type, k.description) for k in kids]
            for kid in kids:
                sub, sub_key = (*path, kid.name), (*key, kid.name)
                if kid.is_option:
                    info = conf.info(ev, sub, with_value=False)
                    if info is not None:
                        infos[sub_key] = _info_row(info)
                    if len(infos) > MAX_OPTIONS:
                        return None
                    if len(sub) < MAX_DEPTH and _free_name(conf, ev, sub):
                        stack.append(((*sub, ANY_NAME), (*sub_key, ANY_NAME)))
                        continue
                if len(sub) < MAX_DEPTH:
                    stack.append((sub, sub_key))
    except EvalLimit:
        return None
    except NixError:
        return None  # the options themselves fail: nothing worth keeping
    return OptionTree(origin, children, infos)


def _free_name(conf: Configuration, ev: Any, path: tuple[str, ...]) -> bool:
    """Whether option ``path`` takes a free name before its sub-options (``attrsOf``)."""
    from .options import _Named

    node = conf.node(ev, path)
    return node is not None and isinstance(conf._sub_options(ev, node, path), _Named)


def _info_row(info: OptionInfo) -> Any:
    decls = [(d.file, d.line, d.column) for d in info.declarations]
    return (info.type, info.description, info.default, info.example, info.read_only, decls)


class CachedConfiguration:
    """Answers of a ``Configuration`` from an ``OptionTree`` (no evaluation)."""

    def __init__(self, tree: OptionTree, origin: str = "") -> None:
        self.tree = tree
        self.origin = origin or tree.origin

    def _key(self, table: dict[tuple[str, ...], Any], path: tuple[str, ...]) -> Any:
        """``path`` as ``table`` holds it: free names of ``attrsOf`` options as ``ANY_NAME``."""
        if path in table:
            return path
        key: tuple[str, ...] = ()
        for name in path:
            if (*key, name) in self.tree.children or (*key, name) in self.tree.infos:
                key = (*key, name)
            elif (*key, ANY_NAME) in self.tree.children:
                key = (*key, ANY_NAME)
            else:
                return None
        return key if key in table else None

    def children(self, ev: Any, path: tuple[str, ...]) -> list[OptionChild]:
        """The names under ``path`` (as ``Configuration.children``)."""
        key = self._key(self.tree.children, path)
        if key is None:
            return []
        return [OptionChild(n, o, t, d) for n, o, t, d in self.tree.children[key]]

    def has_children(self, path: tuple[str, ...]) -> bool:
        """Always: the tree was read whole."""
        return True

    def info(self, ev: Any, path: tuple[str, ...], with_value: bool = True) -> OptionInfo | None:
        """What is known about option ``path`` (no value: that is the evaluation's)."""
        key = self._key(self.tree.infos, path)
        if key is None:
            return None
        typ, text, default, example, read_only, decls = self.tree.infos[key]
        return OptionInfo(
            path,
            typ,
            text,
            default,
            example,
            read_only=read_only,
            declarations=[Declaration(f, line, col) for f, line, col in decls],
        )

    def declarations(self, ev: Any, path: tuple[str, ...]) -> list[Declaration]:
        """Where option ``path`` is declared (as ``Configuration.declarations``)."""
        return declarations_of(self, ev, path, self.info(ev, path))


class CachedModules:
    """Stands for ``options.ModuleContext`` with snapshot configurations,
    each with the files its entry read."""

    def __init__(self, configurations: list[tuple[CachedConfiguration, frozenset[str]]]) -> None:
        self.configurations = configurations
        self.from_cache = True

    def for_file(self, ev: Any, path: str | None, observed: Any) -> list[CachedConfiguration]:
        """The configurations whose entry read the module file ``path``."""
        if path is None:
            return []
        return [conf for conf, files in self.configurations if path in files]
