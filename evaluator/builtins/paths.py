"""File-system and environment builtins, and the fetchers.

Reads go through the evaluator's read-only I/O interface (``ev.io``).  Path
arguments are realised as Nix does it: ``__toString`` and ``outPath`` are
peeled first, then the string must be absolute ("while realising the context
of a path").  The fetchers check their arguments with Nix's messages and then
stop: nixlens evaluates offline and never touches the network.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import MissingPath, NixError, Unavailable
from ..runtime import canon_path, coerce_to_string, type_error
from ..store import BadStorePathName, check_name, missing_feature_message
from ..values import Attrs, CtxStr, NixPath, Thunk, context_of, show_type
from ..vm import CONTEXT, force
from .core import force_attrs, force_string
from .lists import force_string_no_ctx, traced
from .registry import builtin
from .serial import force_attr

_REALISING = "while realising the context of a path"


def _arg(name: str, which: str = "first") -> str:
    return f"while evaluating the {which} argument passed to builtins.{name}"


def _attr_pos(attrs: Attrs, name: str) -> Any:
    return attrs.pos.get(name) if attrs.pos else None


def _with_trace(gen: Any, msg: str, span: Any) -> Any:
    """Generator: run ``gen``; an escaping error gets ``(msg, span)`` traced."""
    try:
        return (yield from gen)
    except NixError as err:
        err.add_trace(msg, span)
        raise


def _call_to_string(v: Attrs, span: Any) -> Any:
    fn = v["__toString"]
    if fn.__class__ is Thunk:
        fn = yield fn
    return (yield (fn, v, span))


def peel_string_value(v: Any) -> Any:
    """Generator: ``v`` with ``__toString``/``outPath`` peeled off, as Nix's
    string coercion does; returns ``(value, traces)`` where ``traces`` are the
    ``(message, span)`` frames errors about the value must carry (innermost
    first)."""
    traces: list[tuple[str, Any]] = []
    try:
        v = yield from force(v)
        while v.__class__ is Attrs:
            if "__toString" in v:
                span = _attr_pos(v, "__toString")
                v = yield from _with_trace(
                    _call_to_string(v, span), "while calling the `__toString` attribute", span
                )
                traces.insert(0, ("while using the result of the `__toString` attribute", span))
            elif "outPath" in v:
                span = _attr_pos(v, "outPath")
                v = yield from force_attr(
                    v, "outPath", "while evaluating the `outPath` attribute", span
                )
                traces.insert(0, ("while using the `outPath` attribute", span))
            else:
                break
    except NixError as err:
        for msg, span in traces:
            err.add_trace(msg, span)
        raise
    return v, traces


def _path_string(v: Any) -> Any:
    """Generator: the absolute path a peeled value names (the realising part)."""
    if v.__class__ is NixPath:
        return v.path
    s = yield from coerce_to_string(v, copy_to_store=False)
    if not str(s).startswith("/"):
        raise NixError(f"string '{s}' doesn't represent an absolute path")
    return canon_path(str(s))


def realise_path(v: Any) -> Any:
    """Generator: a path argument (path, absolute string, or a set with
    ``__toString``/``outPath``) as a canonical absolute path string."""
    v, traces = yield from peel_string_value(v)
    try:
        return (yield from _with_trace(_path_string(v), _REALISING, None))
    except NixError as err:
        for msg, span in traces:
            err.add_trace(msg, span)
        raise


def resolve_symlinks(io: Any, path: str) -> str:
    """``path`` with its final component followed while it is a symlink
    (the ancestors are left to the OS, so messages keep the given prefix)."""
    for _ in range(1024):
        if io.file_type(path, follow=False) != "symlink":
            return path
        target = io.read_link(path)
        path = canon_path(
            target if target.startswith("/") else os.path.dirname(path) + "/" + target
        )
    raise NixError(f"infinite symlink recursion in path '{path}'")


# ------------------------------------------------------------------ files
@builtin("readFile")
def _read_file(p: Any) -> Any:
    path = yield from realise_path(p)
    ev = yield CONTEXT
    ftype = ev.io.file_type(path)
    if ftype is None:
        raise MissingPath(path)
    if ftype == "directory":
        raise NixError(f"reading file '{path}': Is a directory")
    data = ev.io.read_bytes(path)
    if b"\0" in data:
        raise NixError(f"the contents of the file '{path}' cannot be represented as a Nix string")
    return data.decode("utf-8", "surrogateescape")


@builtin("readFileType")
def _read_file_type(p: Any) -> Any:
    path = yield from realise_path(p)
    ev = yield CONTEXT
    t = ev.io.file_type(path, follow=False)
    if t is None:
        raise MissingPath(path)
    return t


@builtin("readDir")
def _read_dir(p: Any) -> Any:
    path = yield from realise_path(p)
    ev = yield CONTEXT
    io = ev.io
    real = resolve_symlinks(io, path)
    t = io.file_type(real, follow=False)
    if t is None:
        raise MissingPath(path)
    if t != "directory":
        raise NixError(f"'{real}' is not a directory")
    out = Attrs()
    for name in io.list_dir(real):
        out[name] = io.file_type(os.path.join(real, name), follow=False) or "unknown"
    return out


@builtin("pathExists")
def _path_exists(p: Any) -> Any:
    v = yield from force(p)
    must_be_dir = (v.__class__ is str or v.__class__ is CtxStr) and (
        v.endswith("/") or v.endswith("/.")
    )
    path = yield from realise_path(v)
    ev = yield CONTEXT
    io = ev.io
    if path == ev.store_dir:
        # Nix opens its store before it evaluates, so the store directory
        # always exists there; nixlens has no store and stands it in.
        return True
    try:
        t = io.file_type(path, follow=must_be_dir)
    except NixError:  # outside the allowed roots
        return False
    if t is None:
        return False
    return t == "directory" or not must_be_dir


@builtin("toPath")
def _to_path(p: Any) -> Any:

    def gen() -> Any:
        v, traces = yield from peel_string_value(p)
        try:
            s = yield from _path_string(v)
        except NixError as err:
            for msg, span in traces:
                err.add_trace(msg, span)
            raise
        ctx = context_of(v) if v.__class__ is CtxStr else frozenset()
        return CtxStr(s, ctx) if ctx else s

    return (yield from traced(gen(), _arg("toPath")))


@builtin("baseNameOf")
def _base_name_of(p: Any) -> Any:
    s = yield from traced(coerce_to_string(p, copy_to_store=False), _arg("baseNameOf"))
    ctx = context_of(s)
    r = base_name(str(s))
    return CtxStr(r, ctx) if ctx else r


def base_name(path: str) -> str:
    """Nix's ``baseNameOf`` on a string: one trailing slash is ignored."""
    if not path:
        return ""
    last = len(path) - 1
    if path[last] == "/" and last > 0:
        last -= 1
    pos = path.rfind("/", 0, last + 1)
    pos = 0 if pos < 0 else pos + 1
    return path[pos : last + 1]


@builtin("dirOf")
def _dir_of(p: Any) -> Any:
    v = yield from force(p)
    if v.__class__ is NixPath:
        return NixPath(os.path.dirname(v.path) or "/")
    s = yield from traced(coerce_to_string(v, copy_to_store=False), _arg("dirOf"))
    ctx = context_of(s)
    s = str(s)
    pos = s.rfind("/")
    r = "." if pos < 0 else "/" if pos == 0 else s[:pos]
    return CtxStr(r, ctx) if ctx else r


@builtin("getEnv")
def _get_env(name: Any) -> Any:
    name = yield from traced(force_string_no_ctx(name), _arg("getEnv"))
    ev = yield CONTEXT
    return ev.env.get(str(name), "")


# --------------------------------------------------------------- fetchers
def offline(who: str, what: str) -> NixError:
    """The error every fetcher ends with once its arguments are valid."""
    return Unavailable(
        f"cannot fetch {what}: nixlens evaluates offline and never downloads "
        f"(builtins.{who} is not available)"
    )


def _fetch_url(who: str, arg: Any, unpack: bool) -> Any:
    """Generator: ``fetchurl``/``fetchTarball`` argument checks."""
    v = yield from force(arg)
    url: str | None = None
    name = "source" if unpack else ""
    name_passed = False
    is_attrs = v.__class__ is Attrs
    if is_attrs:
        for k in sorted(v):
            span = _attr_pos(v, k)
            if k == "url":
                url = str(
                    (
                        yield from _with_trace(
                            force_string_no_ctx(v[k]),
                            "while evaluating the url we should fetch",
                            span,
                        )
                    )
                )
            elif k == "sha256":
                yield from _with_trace(
                    force_string_no_ctx(v[k]),
                    "while evaluating the sha256 of the content we should fetch",
                    span,
                )
            elif k == "name":
                name_passed = True
                name = str(
                    (
                        yield from _with_trace(
                            force_string_no_ctx(v[k]),
                            "while evaluating the name of the content we should fetch",
                            span,
                        )
                    )
                )
            else:
                raise NixError(f"unsupported argument '{k}' to '{who}'")
        if url is None:
            raise NixError("'url' argument required")
    else:
        url = str(
            (yield from traced(force_string_no_ctx(v), "while evaluating the url we should fetch"))
        )
    if who == "fetchTarball" and url.startswith("channel:"):
        url = f"https://channels.nixos.org/{url[8:]}/nixexprs.tar.xz"
    if not name:
        name = base_name(url)
    try:
        check_name(name)
    except BadStorePathName as e:
        if name_passed:
            hint = (
                f"Please change the value for the 'name' attribute passed to '{who}', "
                "so that it can create a valid store path."
            )
        elif is_attrs:
            hint = (
                f"Please add a valid 'name' attribute to the argument for '{who}', "
                "so that it can create a valid store path."
            )
        else:
            hint = (
                f"Please pass an attribute set with 'url' and 'name' attributes to '{who}',  "
                "so that it can create a valid store path."
            )
        raise NixError(
            f"invalid store path name when fetching URL '{url}': {e.msg}. {hint}"
        ) from None
    raise offline(who, f"'{url}'")


@builtin("fetchurl")
def _fetchurl(arg: Any) -> Any:
    return (yield from _fetch_url("fetchurl", arg, False))


@builtin("fetchTarball")
def _fetch_tarball(arg: Any) -> Any:
    return (yield from _fetch_url("fetchTarball", arg, True))


def _check_file_url(url: str) -> None:
    for scheme in ("file:", "tarball+file:", "file+file:"):
        if url.startswith(scheme):
            rest = url[len(scheme) :]
            if rest.startswith("//"):
                rest = rest[2:]
                rest = rest[rest.find("/") :] if "/" in rest else ""
            if not rest.startswith("/"):
                raise NixError(
                    f"tarball '{url}' must use an absolute path. "
                    "The 'file' scheme does not support relative paths."
                )


def _fetch_tree(who: str, arg: Any, is_git: bool) -> Any:
    """Generator: ``fetchTree``/``fetchGit`` argument checks."""
    v = yield from force(arg)
    if v.__class__ is Attrs:
        typ = "git" if is_git else None
        if "type" in v:
            if typ is not None:
                raise NixError("unexpected argument 'type'")
            typ = str(
                (
                    yield from _with_trace(
                        force_string_no_ctx(v["type"]),
                        f"while evaluating the `type` argument passed to '{who}'",
                        _attr_pos(v, "type"),
                    )
                )
            )
        elif typ is None:
            raise NixError(f"argument 'type' is missing in call to '{who}'")
        url = ""
        for k in sorted(v):
            if k == "type":
                continue
            x = yield from force(v[k])
            if x.__class__ in (str, CtxStr, NixPath):
                s = yield from coerce_to_string(x, copy_to_store=False)
                if k == "url":
                    url = str(s)
            elif x.__class__ is bool:
                pass
            elif x.__class__ is int:
                if x < 0:
                    raise NixError(f"negative value given for '{who}' argument '{k}': {x}")
            elif k == "publicKeys":
                pass
            else:
                raise NixError(
                    f"fetchTree argument '{k}' is {show_type(x)} while a string, Boolean or "
                    "integer is expected"
                )
        if not is_git and "name" in v:
            raise NixError(f"argument 'name' isn\u2019t supported in call to '{who}'")
        if typ in ("file", "tarball") and url:
            _check_file_url(url)
        desc = f"'{url}'" if url else f"a '{typ}' input"
        raise offline(who, desc)
    s = yield from traced(
        coerce_to_string(v, copy_to_store=False),
        f"while evaluating the first argument passed to '{who}'",
    )
    url = str(s)
    if not is_git:
        try:
            _check_file_url(url)
        except NixError as err:
            err.add_trace(f"while fetching the input '{url}'", None)
            raise
    raise offline(who, f"'{url}'")


@builtin("fetchTree")
def _fetch_tree_builtin(arg: Any) -> Any:
    return (yield from _fetch_tree("fetchTree", arg, False))


@builtin("fetchGit")
def _fetch_git(arg: Any) -> Any:
    return (yield from _fetch_tree("fetchGit", arg, True))


@builtin("fetchMercurial")
def _fetch_mercurial(arg: Any) -> Any:
    v = yield from force(arg)
    if v.__class__ is Attrs:
        url = None
        for k in sorted(v):
            if k in ("url", "rev", "name"):
                s = yield from coerce_to_string(v[k], copy_to_store=False)
                if k == "url":
                    url = str(s)
            else:
                raise NixError(f"unsupported argument '{k}' to 'fetchMercurial'")
        if url is None:
            raise NixError("'url' argument required")
    else:
        url = str((yield from coerce_to_string(v, copy_to_store=False)))
    raise offline("fetchMercurial", f"'{url}'")


def _require_feature(ev: Any, feature: str) -> None:
    if feature not in getattr(ev, "experimental_features", ()):
        raise NixError(missing_feature_message(feature))


@builtin("fetchClosure")
def _fetch_closure(arg: Any) -> Any:
    ev = yield CONTEXT
    _require_feature(ev, "fetch-closure")
    v = yield from traced(
        force_attrs(arg), "while evaluating the argument passed to builtins.fetchClosure"
    )
    allowed = ("fromPath", "toPath", "fromStore", "inputAddressed")
    for k in sorted(v):
        if k not in allowed:
            raise NixError(f"attribute '{k}' isn't supported in call to 'fetchClosure'")
    for k in ("fromPath", "fromStore"):
        if k not in v:
            raise NixError(f"attribute '{k}' is missing in call to 'fetchClosure'")
    store = yield from force_string(v["fromStore"])
    raise offline("fetchClosure", f"from '{store}'")


@builtin("getFlake")
def _get_flake(arg: Any) -> Any:
    ev = yield CONTEXT
    _require_feature(ev, "flakes")
    ref = yield from traced(
        force_string(arg), "while evaluating the argument passed to builtins.getFlake"
    )
    if ref.__class__ is not str and ref.__class__ is not CtxStr:
        raise type_error("a string", ref)
    # Paths and references locked by narHash evaluate from the store (offline).
    from ..project.flake import FlakeLoader

    loader = ev.flake_loader
    if loader is None:
        loader = ev.flake_loader = FlakeLoader(ev, ev.store_dir)
    return (yield from loader.get_flake(str(ref)))


__all__ = ["base_name", "peel_string_value", "realise_path", "resolve_symlinks"]
