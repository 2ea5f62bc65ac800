"""Diagnostics of a configuration, at the definition in a module file that caused them.

The module system reports what is wrong in a definition ("The option `x'
does not exist", "is not of type", "conflicting definition values") naming
the option and the files whose definitions are at fault, never a position.
``check_module`` evaluates what one module file defines in a configuration:
the configuration's own check of undeclared options (forcing ``config``), the
value of every option the file defines, and the file's definitions of the
configuration's ``assertions`` and ``warnings`` (when it declares them), and
places each finding on the file's definition of that option
(``modules.definitions_of``).  Findings that name only other files'
definitions are left to those files; other errors (a module that fails to
import, a ``throw`` elsewhere) are reported as any evaluation error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from ..diagnostics import Diagnostic, Note, Severity
from ..errors import EvalLimit, NixError
from ..literals import split_attr_path
from ..report import error_to_diagnostic
from ..values import Attrs
from ._doc import HOLE, Doc, analyse
from .modules import definitions_of, module_shape
from .options import Configuration, force_deep, force_whnf, host_path, strip_ansi

_OPTION = re.compile(r"option [`‘]((?:[^`'’\"]|\"[^\"]*\")+)['’`]")
_FILES = re.compile(r"^\s*- In [`‘]([^'’`]+)['’`]", re.M)


def option_path(text: str) -> tuple[str, ...]:
    """``a.b."c.d"`` as ``("a", "b", "c.d")``."""
    return tuple(split_attr_path(text))


def _code_of(message: str) -> str:
    if "does not exist" in message:
        return "option_undefined"
    if "is not of type" in message:
        return "option_type"
    if "conflicting definition" in message or "defined multiple times" in message:
        return "option_conflict"
    return "option_error"


def check_module(
    ev: Any, conf: Configuration, text: bytes, path: str, origin: str = ""
) -> list[Diagnostic]:
    """The findings of configuration ``conf`` about module file ``path``
    (whose text is ``text``).  A budget running out (``EvalLimit``) is raised."""
    doc = analyse(text, path)
    if doc.root is None:
        return []
    out: list[Diagnostic] = []
    seen: set[tuple[Any, ...]] = set()

    def add(diags: list[Diagnostic]) -> None:
        for d in diags:
            key = (d.code, d.message, d.span.start if d.span else None)
            if key not in seen:
                seen.add(key)
                out.append(d)

    with conf.lock:
        try:
            ev.run(force_whnf(conf.value["config"]))
        except EvalLimit:
            raise
        except NixError as err:
            add(_blame(err, doc, origin, host=lambda f: host_path(ev, f)))
        done: set[tuple[str, ...]] = set()
        for d in module_shape(doc).definitions:
            if d.path in done or HOLE in d.path:
                continue
            done.add(d.path)
            try:
                node = conf.node(ev, d.path)
                is_option = node is not None and conf.is_option(ev, node)
                # A set on the way (``sites.a`` in ``sites.a.root = …``) is
                # read too: a submodule checks its definitions when it is.
                v = conf.value_of(ev, node if is_option else Attrs(), d.path)
            except EvalLimit:
                raise
            except NixError as err:
                add(_blame(err, doc, origin, d.path, lambda f: host_path(ev, f)))
                continue
            if not is_option:
                continue
            try:
                ev.run(force_deep(v, 2))  # element types are checked when forced
            except EvalLimit:
                raise
            except NixError as err:
                # Inside a submodule, an option nobody defined fails when
                # forced, though nothing the configuration builds reads it.
                if "has no value defined" not in err.msg:
                    add(_blame(err, doc, origin, d.path, lambda f: host_path(ev, f)))
        add(_assertions(ev, conf, doc))
        _prepare(ev, conf, doc)
    return out


#: At most this many of a file's option paths are prepared for its requests.
PREPARED = 200


def _prepare(ev: Any, conf: Configuration, doc: Doc) -> None:
    """Read now, in the evaluation's worker, what hover and completion will
    ask about this file (the options it defines and their siblings), so that
    they answer from ``conf``'s memory."""
    paths = list(dict.fromkeys(d.path for d in module_shape(doc).definitions))[:PREPARED]
    for path in paths:
        if HOLE in path:
            continue
        try:
            conf.children(ev, path[:-1])
            conf.info(ev, path)
        except EvalLimit:
            return  # only a head start: requests read the rest themselves
        except NixError:
            continue


def _blame(
    err: NixError,
    doc: Doc,
    origin: str,
    option: tuple[str, ...] | None = None,
    host: Callable[[str], str] = lambda f: f,
) -> list[Diagnostic]:
    """Diagnostics in ``doc`` for ``err`` (raised while evaluating ``option``;
    ``host`` maps the files the message names to the user's files)."""
    path = doc.path
    message = strip_ansi(err.msg)
    span = err.span
    if span is not None and span.source.path == path:
        d = error_to_diagnostic(err)
        d.message = message
        return [d]
    m = _OPTION.search(message)
    files = [host(f) for f in _FILES.findall(message)]
    if m is not None and files:
        if path not in files:
            return []  # it names the definitions at fault: those of other files
        option = option_path(m.group(1))
    if option is not None:
        code = _code_of(message)
        notes = [Note(f"while evaluating the configuration `{origin}`")] if origin else []
        found = [
            Diagnostic(code, Severity.ERROR, message, d.name, list(notes))
            for d in definitions_of(doc, option)
        ]
        if found:
            return found
    # Nothing to place it on here (an error in another module, an import
    # that fails): as any evaluation error, anchored by its trace.
    d = error_to_diagnostic(err)
    d.message = message
    return [d]


def _assertions(ev: Any, conf: Configuration, doc: Doc) -> list[Diagnostic]:
    """This file's failed ``assertions`` and its ``warnings``."""
    out: list[Diagnostic] = []
    for name, code, severity in (
        ("assertions", "config_assertion", Severity.ERROR),
        ("warnings", "config_warning", Severity.WARNING),
    ):
        node = conf.node(ev, (name,))
        if node is None or not conf.is_option(ev, node):
            continue
        where = definitions_of(doc, (name,))
        if not where or "definitionsWithLocations" not in node:
            continue
        try:
            defs = ev.run(force_whnf(node["definitionsWithLocations"]))
            for item in defs:
                item = ev.run(force_whnf(item))
                if host_path(ev, conf.text_of(ev, item.get("file"))) != doc.path:
                    continue
                for msg in _messages(ev, conf, ev.run(force_whnf(item["value"])), name):
                    out.append(Diagnostic(code, severity, strip_ansi(msg), where[0].name))
        except EvalLimit:
            raise
        except NixError as err:
            out.append(
                Diagnostic("option_error", Severity.ERROR, strip_ansi(err.msg), where[0].name)
            )
    return out


def _messages(ev: Any, conf: Configuration, value: Any, name: str) -> list[str]:
    """The failed assertions' messages, or the warnings."""
    if not isinstance(value, list):
        return []
    out = []
    for item in value:
        item = ev.run(force_whnf(item))
        if name == "warnings":
            text = conf.text_of(ev, item)
            if text:
                out.append(text)
        elif isinstance(item, Attrs) and "assertion" in item:
            if ev.run(force_whnf(item["assertion"])) is False:
                out.append(conf.text_of(ev, item.get("message")) or "assertion failed")
    return out


__all__ = ["check_module", "option_path"]
