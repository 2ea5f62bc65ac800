"""Documentation of values: RFC 145 doc comments, builtins' docs, derivations.

A value's doc comment is found as noogle finds it: the ``/** … */`` comment
right before the lambda (curried lambdas share one; a binding ``name =``
and ``#`` comments between are stepped over, so the comment of
``name = x: …`` is found from the lambda), else right before the attribute
that holds it (``Attrs.pos``), else through an alias: the same value held
under the same name by a set next to it (``lib.concatStringsSep`` is
``lib.strings.concatStringsSep``), else a builtin's own documentation.  Older
``#`` comments directly above the binding are the fallback.

Derivations are summarised from their attributes: name, version, and
``meta`` (description, homepage, license, position).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any

from ..errors import NixError
from ..values import Attrs, CtxStr, Lambda, PrimOp, PrimOpApp, Thunk


def _forced(v: Any) -> Any:
    if v.__class__ is Thunk:
        return v.v if v.c is None else None
    return v


def _skip_space_back(text: bytes, i: int) -> int:
    """Back over white space and whole ``#`` comment lines."""
    while True:
        while i > 0 and text[i - 1] in b" \t\r\n":
            i -= 1
        line_start = text.rfind(b"\n", 0, i) + 1
        if text[line_start:i].lstrip().startswith(b"#"):
            i = line_start
            continue
        return i


def _skip_binding_back(text: bytes, i: int) -> int:
    """Back over ``name =`` (or ``a.b.c =``) ending at ``i``; ``i`` if none."""
    if i == 0 or text[i - 1] != 0x3D or (i > 1 and text[i - 2] in b"=!<>"):
        return i
    j = i - 1
    while j > 0 and text[j - 1] in b" \t\r\n":
        j -= 1
    k = j
    while k > 0 and (chr(text[k - 1]).isalnum() or text[k - 1] in b"_'-.\""):
        k -= 1
    return k if k < j else i


def _skip_curried_back(text: bytes, i: int) -> int:
    """Back over outer lambdas' heads ``a:`` ending at ``i`` (curried functions)."""
    while i > 0 and text[i - 1] == 0x3A:  # ':'
        j = i - 1
        k = j
        while k > 0 and (chr(text[k - 1]).isalnum() or text[k - 1] in b"_'-"):
            k -= 1
        if k == j:
            return i
        i = _skip_space_back(text, k)
    return i


def doc_comment_before(text: bytes, offset: int) -> str | None:
    """The RFC 145 comment (``/** … */``, content only) documenting the
    expression or binding at ``offset``."""
    i = _skip_space_back(text, offset)
    i = _skip_curried_back(text, i)
    i = _skip_space_back(text, _skip_binding_back(text, i))
    if not text[:i].endswith(b"*/"):
        return None
    start = text.rfind(b"/**", 0, i - 2)
    if start < 0 or text.find(b"*/", start + 3, i - 2) >= 0:
        return None  # the comment that ends here is no doc comment
    body = text[start + 3 : i - 2].decode("utf-8", "replace")
    first, _, rest = body.partition("\n")
    return (first.strip() + "\n" + textwrap.dedent(rest)).strip() or None


def hash_comment_before(text: bytes, offset: int) -> str | None:
    """The ``#`` comment lines directly above the binding at ``offset`` (the
    older convention), joined."""
    i = offset
    while i > 0 and text[i - 1] in b" \t\r\n":
        i -= 1
    i = _skip_binding_back(text, i)
    line_start = text.rfind(b"\n", 0, i) + 1
    lines: list[str] = []
    pos = line_start
    while pos > 0:
        prev_start = text.rfind(b"\n", 0, pos - 1) + 1
        line = text[prev_start : pos - 1].strip()
        if not line.startswith(b"#"):
            break
        lines.append(line.lstrip(b"#").strip().decode("utf-8", "replace"))
        pos = prev_start
    lines.reverse()
    return "\n".join(lines).strip() or None


def _doc_at(span: Any) -> str | None:
    text = span.source.text
    return doc_comment_before(text, span.start)


def value_doc(v: Any, holder: Attrs | None = None, name: str | None = None) -> str | None:
    """The documentation of value ``v``, held as attribute ``name`` of
    ``holder`` when known (see the module doc for the order)."""
    if v.__class__ is PrimOpApp:
        v = v.prim
    if v.__class__ is Lambda:
        found = _doc_at(v.node.span)
        if found:
            return found
    if holder is not None and name is not None:
        pos = holder.pos.get(name) if holder.pos else None
        if pos is not None:
            found = _doc_at(pos)
            if found:
                return found
        for alias_holder in _neighbours(holder, name, v):
            apos = alias_holder.pos.get(name) if alias_holder.pos else None
            if apos is not None:
                found = _doc_at(apos)
                if found:
                    return found
    if v.__class__ is PrimOp and v.doc:
        return str(v.doc)
    if v.__class__ is Lambda:
        return hash_comment_before(v.node.span.source.text, v.node.span.start)
    return None


def _neighbours(holder: Attrs, name: str, v: Any) -> list[Attrs]:
    """Sets held (already evaluated) by ``holder`` that hold the same value
    under ``name``: where an alias such as ``inherit (strings) f`` points."""
    out = []
    for other in holder.values():
        other = _forced(other)
        if other.__class__ is Attrs and other is not holder and name in other:
            if _forced(other[name]) is v:
                out.append(other)
            if len(out) >= 3:
                break
    return out


# ------------------------------------------------------------- derivations


@dataclass(slots=True)
class PackageInfo:
    """A derivation's description; ``position`` is (file, line) of ``meta.position``."""

    name: str
    version: str | None = None
    description: str | None = None
    homepage: str | None = None
    license: str | None = None
    position: tuple[str, int] | None = None

    def markdown(self) -> str:
        """The hover text."""
        head = f"**package** `{self.name}`"
        if self.version:
            head += f" — version `{self.version}`"
        lines = [head]
        if self.description:
            lines.append(self.description)
        if self.homepage:
            lines.append(f"*Homepage:* <{self.homepage}>")
        if self.license:
            lines.append(f"*License:* {self.license}")
        if self.position:
            file, line = self.position
            base = file.rsplit("/", 1)[-1]
            lines.append(f"*Defined in:* [{base}:{line}](file://{file}#L{line})")
        return "\n\n".join(lines)


def _force(v: Any) -> Any:
    if v.__class__ is Thunk:
        v = v.v if v.c is None else (yield v)
    return v


def _string(ev: Any, v: Any) -> str | None:
    try:
        v = ev.run(_force(v))
    except NixError:
        return None
    return str(v) if isinstance(v, (str, CtxStr)) else None


def is_derivation(ev: Any, v: Any) -> bool:
    """Whether ``v`` (forced) is a derivation (``type = "derivation"``)."""
    return isinstance(v, Attrs) and "type" in v and _string(ev, v["type"]) == "derivation"


def package_info(ev: Any, v: Attrs) -> PackageInfo:
    """What a derivation says about itself (nothing is built)."""
    name = _string(ev, v["name"]) if "name" in v else None
    info = PackageInfo(name or "«derivation»")
    if "version" in v:
        info.version = _string(ev, v["version"])
    if "pname" in v and info.version is None and name:
        pname = _string(ev, v["pname"]) or ""
        if name.startswith(pname + "-"):
            info.version = name[len(pname) + 1 :]
    try:
        meta = ev.run(_force(v["meta"])) if "meta" in v else None
    except NixError:
        meta = None
    if isinstance(meta, Attrs):
        if "description" in meta:
            info.description = _string(ev, meta["description"])
        if "homepage" in meta:
            hp = ev.run(_force(meta["homepage"]))
            if isinstance(hp, list) and hp:
                hp = ev.run(_force(hp[0]))
            info.homepage = str(hp) if isinstance(hp, str) else None
        if "license" in meta:
            info.license = _license(ev, meta["license"])
        if "position" in meta:
            pos = _string(ev, meta["position"])
            if pos and ":" in pos:
                file, _, line = pos.rpartition(":")
                if line.isdigit():
                    info.position = (file, int(line))
    return info


def _license(ev: Any, v: Any) -> str | None:
    try:
        v = ev.run(_force(v))
    except NixError:
        return None
    items = v if isinstance(v, list) else [v]
    names = []
    for item in items[:5]:
        try:
            item = ev.run(_force(item))
        except NixError:
            continue
        if isinstance(item, str):
            names.append(item)
        elif isinstance(item, Attrs):
            for key in ("spdxId", "fullName", "shortName"):
                if key in item and (text := _string(ev, item[key])):
                    names.append(text)
                    break
    return ", ".join(names) or None
