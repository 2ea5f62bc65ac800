"""Flake references: ``parseFlakeRef`` and ``flakeRefToString``.

Parsing and printing only; nothing is fetched.  Covers the reference forms
of Nix 2.36: ``github:``/``gitlab:``/``sourcehut:`` (``owner/repo[/ref-or-rev]``),
indirect (``nixpkgs``, ``flake:nixpkgs/ref``), ``path:`` and absolute paths,
``git+…``/``hg+…``, ``tarball+…``/``file+…`` and plain ``http(s)://`` URLs,
each with ``?key=value`` parameters.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import NixError
from ..runtime import type_error
from ..values import Attrs, CtxStr, Thunk
from .core import force_attrs, force_string
from .registry import builtin

_REV = re.compile(r"[0-9a-f]{40}\Z")
_INT_ATTRS = {"revCount", "lastModified"}
_BOOL_ATTRS = {"shallow", "submodules", "exportIgnore", "allRefs", "lfs", "verifyCommit"}
_GIT_FORGES = ("github", "gitlab", "sourcehut")


def _params(query: str) -> dict[str, Any]:
    import urllib.parse  # here: few evaluations parse flake references

    out: dict[str, Any] = {}
    for key, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if key in _INT_ATTRS and value.isdigit():
            out[key] = int(value)
        elif key in _BOOL_ATTRS and value in ("0", "1"):
            out[key] = value == "1"
        else:
            out[key] = value
    return out


def parse_flake_ref(ref: str) -> Attrs:
    """The attribute set ``builtins.parseFlakeRef`` returns."""
    base, _, query = ref.partition("?")
    params = _params(query)
    attrs: dict[str, Any] = {}
    scheme, sep, rest = base.partition(":")
    if sep and scheme in _GIT_FORGES:
        parts = [p for p in rest.split("/") if p]
        if len(parts) < 2:
            raise NixError(f"'{ref}' is not a valid URL-like flake reference")
        attrs = {"type": scheme, "owner": parts[0], "repo": parts[1]}
        if len(parts) > 2:
            extra = "/".join(parts[2:])
            attrs["rev" if _REV.match(extra) else "ref"] = extra
    elif base.startswith("/") or (sep and scheme == "path"):
        attrs = {"type": "path", "path": rest if sep else base}
    elif sep and (scheme.startswith("git+") or scheme.startswith("hg+")):
        kind, _, proto = scheme.partition("+")
        attrs = {"type": kind, "url": f"{proto}:{rest}"}
    elif sep and (scheme.startswith("tarball+") or scheme.startswith("file+")):
        kind, _, proto = scheme.partition("+")
        attrs = {"type": kind, "url": f"{proto}:{rest}"}
    elif sep and scheme in ("http", "https", "file"):
        kind = "tarball" if re.search(r"\.(zip|tar|tgz|tar\.\w+)$", rest) else "file"
        attrs = {"type": kind, "url": base}
    elif sep and scheme == "flake":
        parts = rest.split("/")
        attrs = {"type": "indirect", "id": parts[0]}
        if len(parts) > 1:
            attrs["rev" if _REV.match(parts[1]) else "ref"] = parts[1]
    elif not sep and re.fullmatch(r"[a-zA-Z][a-zA-Z0-9_-]*(/[^/]+)?", base):
        parts = base.split("/")
        attrs = {"type": "indirect", "id": parts[0]}
        if len(parts) > 1:
            attrs["rev" if _REV.match(parts[1]) else "ref"] = parts[1]
    else:
        raise NixError(f"'{ref}' is not a valid URL-like flake reference")
    attrs.update(params)
    return Attrs(attrs)


def flake_ref_to_string(attrs: dict[str, Any]) -> str:
    """The URL form of a flake reference given as attributes (all forced)."""
    t = attrs.get("type")
    rest = {k: v for k, v in attrs.items() if k != "type"}

    def query(keys: dict[str, Any]) -> str:
        import urllib.parse

        items = []
        for k in sorted(keys):
            v = keys[k]
            if v is True or v is False:
                v = "1" if v else "0"
            items.append(f"{k}={urllib.parse.quote(str(v), safe='/')}")
        return ("?" + "&".join(items)) if items else ""

    if t in _GIT_FORGES:
        for k in ("owner", "repo"):
            if k not in rest:
                raise NixError(f"attribute '{k}' missing in flake reference")
        path = f"{rest.pop('owner')}/{rest.pop('repo')}"
        if "rev" in rest:
            path += "/" + str(rest.pop("rev"))
        elif "ref" in rest:
            path += "/" + str(rest.pop("ref"))
        return f"{t}:{path}{query(rest)}"
    if t == "indirect":
        out = str(rest.pop("id", ""))
        if "rev" in rest:
            out += "/" + str(rest.pop("rev"))
        elif "ref" in rest:
            out += "/" + str(rest.pop("ref"))
        return f"flake:{out}{query(rest)}"
    if t == "path":
        return f"path:{rest.pop('path', '')}{query(rest)}"
    if t in ("git", "hg", "tarball", "file"):
        url = str(rest.pop("url", ""))
        return f"{t}+{url}{query(rest)}"
    raise NixError(f"unsupported flake reference type '{t}'")


@builtin("parseFlakeRef")
def _parse_flake_ref(ref: Any) -> Any:
    ref = yield from force_string(ref)
    return parse_flake_ref(str(ref))


@builtin("flakeRefToString")
def _flake_ref_to_string(attrs: Any) -> Any:
    attrs = yield from force_attrs(attrs)
    forced: dict[str, Any] = {}
    for k in sorted(attrs):
        v = attrs[k]
        if v.__class__ is Thunk:
            v = yield v
        if v.__class__ is int:
            if v < 0:
                raise NixError(f"negative value given for flake ref attr {k}: {v}")
        elif v.__class__ not in (str, CtxStr, bool):
            raise type_error("a string, integer or Boolean", v)
        forced[k] = v
    return flake_ref_to_string(forced)
