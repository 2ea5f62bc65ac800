"""Serialisation builtins: ``toJSON``, ``fromJSON``, ``fromTOML``, ``toXML``.

Every walk over a value uses an explicit work list and forces elements by
yielding them to the VM, and the JSON reader is an iterative state machine,
so a million-deep list serialises and parses without host recursion.

Output follows Nix 2.36 byte for byte: JSON as nlohmann::json dumps it
(shortest round-trip floats, ``1.0`` for integral floats), XML as Nix's
``XMLWriter`` indents it.  Errors carry Nix's trace lines ("while evaluating
attribute 'a'", "while using the `outPath` attribute").
"""

from __future__ import annotations

import math
import re
from typing import Any

from ..errors import NixError
from ..printer import format_float_g, show_value_for_error
from ..values import (
    INT_MAX,
    INT_MIN,
    Attrs,
    CtxStr,
    Lambda,
    NixPath,
    PrimOp,
    PrimOpApp,
    Thunk,
    show_type,
)
from ..vm import CONTEXT, INLINE_DEPTH, call_in, force_at, force_in
from .core import null_bytes_error
from .lists import force_string_no_ctx, traced
from .registry import builtin

# A trace chain: ``(message, span, parent)`` or None.  Errors raised while
# handling one work item get the whole chain added, innermost first.
Trace = tuple[str, Any, Any] | None


def _add_traces(err: NixError, node: Trace) -> None:
    while node is not None:
        err.add_trace(node[0], node[1])
        node = node[2]


def _pos(attrs: Attrs, name: str, default: Any = None) -> Any:
    pos = attrs.pos
    if pos is None:
        return default
    return pos.get(name, default)


# --------------------------------------------------------------- JSON out
_JSON_ESCAPES = {i: f"\\u{i:04x}" for i in range(0x20)}
_JSON_ESCAPES.update(
    {
        ord('"'): '\\"',
        ord("\\"): "\\\\",
        ord("\b"): "\\b",
        ord("\f"): "\\f",
        ord("\n"): "\\n",
        ord("\r"): "\\r",
        ord("\t"): "\\t",
    }
)


def json_string(s: str) -> str:
    """A JSON string literal as nlohmann::json dumps it (raw UTF-8)."""
    if not s.isascii():
        _check_utf8(s)
    return '"' + s.translate(_JSON_ESCAPES) + '"'


def _check_utf8(s: str) -> None:
    try:
        data = s.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        data = s.encode("utf-8", "surrogatepass")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.reason == "unexpected end of data":
            msg = f"incomplete UTF-8 string; last byte: 0x{data[-1]:02X}"
        else:
            # nlohmann names the byte its decoder rejected: the first one
            # for a bad start byte, the one after the accepted prefix else.
            i = e.start if e.reason == "invalid start byte" else e.end
            msg = f"invalid UTF-8 byte at index {i}: 0x{data[i]:02X}"
        raise NixError(f"JSON serialization error: [json.exception.type_error.316] {msg}") from None


def json_float(f: float) -> str:
    """A float as nlohmann::json dumps it: shortest digits, ``1.0``, ``1e+16``."""
    if math.isnan(f) or math.isinf(f):
        return "null"
    if f == 0.0:
        return "-0.0" if math.copysign(1.0, f) < 0 else "0.0"
    from decimal import Decimal  # here: few evaluations print floats as JSON

    sign, digits_t, exp = Decimal(repr(f)).as_tuple()
    digits = "".join(map(str, digits_t)).rstrip("0") or "0"
    exp += len(digits_t) - len(digits)  # type: ignore[operator]
    k = len(digits)
    n = k + exp  # position of the decimal point
    out = "-" if sign else ""
    if k <= n <= 15:
        return out + digits + "0" * (n - k) + ".0"
    if 0 < n <= 15:
        return out + digits[:n] + "." + digits[n:]
    if -4 < n <= 0:
        return out + "0." + "0" * (-n) + digits
    e = n - 1
    mant = digits if k == 1 else digits[0] + "." + digits[1:]
    es = "-" if e < 0 else "+"
    e = abs(e)
    return out + mant + "e" + es + (f"{e:02d}" if e < 100 else str(e))


class _Text:
    """Work-list item: literal output text."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


def to_json(v: Any, d: int = INLINE_DEPTH) -> Any:
    """Generator: ``builtins.toJSON v`` as a string with the values' context
    (its thunks forced and ``__toString`` called ``d`` calls deep, as
    ``vm.force_at``)."""
    out: list[str] = []
    ctx: set[str] = set()
    ev = None
    # Items: _Text, or (value, trace chain, position) tuples.
    work: list[Any] = [(v, None, None)]
    while work:
        item = work.pop()
        if item.__class__ is _Text:
            out.append(item.text)
            continue
        x, node, pos = item
        try:
            if x.__class__ is Thunk:
                if x.c is None:
                    x = x.v
                elif d < INLINE_DEPTH:
                    x = yield from force_in(x, d, INLINE_DEPTH)
                else:
                    x = yield x
            cls = x.__class__
            if cls is str:
                out.append(json_string(x))
            elif cls is CtxStr:
                ctx |= x.ctx
                out.append(json_string(x))
            elif cls is bool:
                out.append("true" if x else "false")
            elif cls is int:
                out.append(str(x))
            elif x is None:
                out.append("null")
            elif cls is float:
                out.append(json_float(x))
            elif cls is list:
                if not x:
                    out.append("[]")
                    continue
                out.append("[")
                work.append(_Text("]"))
                for i in range(len(x) - 1, -1, -1):
                    sub = (f"while evaluating list element at index {i}", pos, node)
                    work.append((x[i], sub, pos))
                    if i:
                        work.append(_Text(","))
            elif cls is Attrs:
                if "__toString" in x or "outPath" in x:
                    work.append((yield from _json_peel(x, node, d)))
                    continue
                if not x:
                    out.append("{}")
                    continue
                out.append("{")
                work.append(_Text("}"))
                keys = sorted(x)
                for j in range(len(keys) - 1, -1, -1):
                    k = keys[j]
                    kpos = _pos(x, k, pos)
                    work.append((x[k], (f"while evaluating attribute '{k}'", kpos, node), kpos))
                    work.append(_Text(("," if j else "") + json_string(k) + ":"))
            elif cls is NixPath:
                if ev is None:
                    ev = yield CONTEXT
                sp = ev.copy_path_to_store(x.path, pos)
                if sp.__class__ is CtxStr:
                    ctx |= sp.ctx
                out.append(json_string(str(sp)))
            else:
                raise NixError(f"cannot convert {show_type(x)} to JSON", pos)
        except NixError as err:
            _add_traces(err, node)
            raise
    text = "".join(out)
    return CtxStr(text, frozenset(ctx)) if ctx else text


def _json_peel(x: Attrs, node: Trace, d: int) -> Any:
    """Generator: what toJSON writes for a set with ``__toString``/``outPath``.

    Returns ``(value, trace chain, position)`` of the value to serialise
    instead (a string, or anything ``outPath`` holds)."""
    while True:
        if "__toString" in x:
            tpos = _pos(x, "__toString")
            r = yield from _call_to_string(x, tpos, d)
            node = ("while using the result of the `__toString` attribute", tpos, node)
            if r.__class__ is str or r.__class__ is CtxStr:
                return r, node, tpos
            if r.__class__ is Attrs and ("__toString" in r or "outPath" in r):
                x = r
                continue
            try:
                what = "must" if r.__class__ is Attrs else "should"
                raise NixError(
                    f"`__toString` {what} return a string, but got {show_type(r)}: "
                    f"{show_value_for_error(r)}",
                    tpos,
                )
            except NixError as err:
                _add_traces(err, node)
                raise
        opos = _pos(x, "outPath")
        r = yield from force_attr(x, "outPath", "while evaluating the `outPath` attribute", opos, d)
        node = ("while using the `outPath` attribute", opos, node)
        if r.__class__ is Attrs and ("__toString" in r or "outPath" in r):
            x = r
            continue
        return r, node, opos


def _call_to_string(x: Attrs, tpos: Any, d: int = INLINE_DEPTH) -> Any:
    """Generator: ``x.__toString x``, traced as Nix traces it (called ``d``
    calls deep, as ``vm.call_in``)."""
    try:
        fn = yield from force_at(x["__toString"], d)
        return (yield from call_in(fn, x, tpos, d))
    except NixError as err:
        err.add_trace("while calling the `__toString` attribute", tpos)
        raise


def force_attr(attrs: Attrs, name: str, msg: str, span: Any, d: int = INLINE_DEPTH) -> Any:
    """Generator: force ``attrs[name]`` (``d`` calls deep, as
    ``vm.force_at``); errors get ``(msg, span)`` traced."""
    v = attrs[name]
    try:
        return (yield from force_at(v, d))
    except NixError as err:
        err.add_trace(msg, span)
        raise


@builtin("toJSON")
def _to_json(v: Any, d: int, span: Any) -> Any:
    # No frame of its own (measured: most values serialised are small, and
    # the round trip cost more than the calls it saved).
    return (yield from to_json(v, d))


# ---------------------------------------------------------------- JSON in
_WS = re.compile(r"[ \t\n\r]*")


def _skip_ws(text: str, i: int) -> int:
    m = _WS.match(text, i)
    return m.end() if m is not None else i


_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?")
_PLAIN_STR = re.compile(r'"([^"\\\x00-\x1f]*)"')
_BAD_CHARS = re.compile(r"[\x00\ud800-\udfff]")
_LITERALS = {"true": True, "false": False, "null": None}


class _Obj:
    """An object being parsed: its attributes and the key awaiting a value."""

    __slots__ = ("attrs", "key")

    def __init__(self, key: str) -> None:
        self.attrs = Attrs()
        self.key = key


def _token_name(text: str, i: int) -> str:
    if i >= len(text):
        return "end of input"
    c = text[i]
    if c in "[]{}:,":
        return f"'{c}'"
    if c == '"':
        return "string literal"
    if c == "-" or c.isdigit():
        return "number literal"
    for lit in _LITERALS:
        if text.startswith(lit, i):
            return f"{lit} literal"
    return "invalid literal"


def _syntax(text: str, i: int, where: str, expected: str) -> NixError:
    line = text.count("\n", 0, i) + 1
    col = i - (text.rfind("\n", 0, i) + 1) + 1
    got = _token_name(text, i)
    exp = f"; expected {expected}" if expected else ""
    return NixError(
        f"[json.exception.parse_error.101] parse error at line {line}, column {col}: "
        f"syntax error while parsing {where} - unexpected {got}{exp}"
    )


def _json_str(text: str, i: int) -> tuple[str, int]:
    """The string literal starting at ``text[i] == '"'`` and the index after it."""
    m = _PLAIN_STR.match(text, i)
    if m is not None:
        s = m.group(1)
        end = m.end()
    else:
        try:
            # Here: importing ``json`` costs every start-up otherwise.
            from json.decoder import scanstring  # type: ignore[attr-defined]

            s, end = scanstring(text, i + 1, True)
        except ValueError as e:
            msg = str(e).split(":")[0]
            raise NixError(
                f"[json.exception.parse_error.101] parse error: syntax error while parsing "
                f"value - invalid string: {msg.lower()}"
            ) from None
    if _BAD_CHARS.search(s):
        if "\x00" in s:
            raise null_bytes_error(s)
        raise NixError(
            "[json.exception.parse_error.101] parse error: syntax error while parsing value - "
            "invalid string: ill-formed UTF-8 byte or unpaired surrogate"
        )
    return s, end


def _json_number(text: str, i: int) -> tuple[Any, int]:
    m = _NUMBER.match(text, i)
    if m is None:
        raise _syntax(text, i, "value", "'[', '{', or a literal")
    lit = m.group(0)
    if m.group(1) is None and m.group(2) is None:
        n = int(lit)
        if INT_MIN <= n <= INT_MAX:
            return n, m.end()
        if 0 < n < 2**64:
            raise NixError(f"unsigned json number {n} outside of Nix integer range")
        return float(lit), m.end()
    f = float(lit)
    if math.isinf(f):
        raise NixError(f"[json.exception.out_of_range.406] number overflow parsing '{lit}'")
    return f, m.end()


def from_json(text: str) -> Any:
    """Parse JSON text into Nix values, iteratively (any nesting depth)."""
    n = len(text)
    ws = _skip_ws
    # Containers being filled: lists and _Obj.
    stack: list[Any] = []
    i = ws(text, 0)
    while True:
        # ---- parse one value at i ----
        if i >= n:
            raise _syntax(text, i, "value", "'[', '{', or a literal")
        c = text[i]
        value: Any
        if c == "{":
            i = ws(text, i + 1)
            if i < n and text[i] == "}":
                value = Attrs()
                i += 1
            else:
                if i >= n or text[i] != '"':
                    raise _syntax(text, i, "object key", "string literal")
                key, i = _json_str(text, i)
                i = ws(text, i)
                if i >= n or text[i] != ":":
                    raise _syntax(text, i, "object separator", "':'")
                i = ws(text, i + 1)
                stack.append(_Obj(key))
                continue
        elif c == "[":
            i = ws(text, i + 1)
            if i < n and text[i] == "]":
                value = []
                i += 1
            else:
                stack.append([])
                continue
        elif c == '"':
            value, i = _json_str(text, i)
        elif c == "-" or "0" <= c <= "9":
            value, i = _json_number(text, i)
        else:
            for lit, lv in _LITERALS.items():
                if text.startswith(lit, i):
                    value = lv
                    i += len(lit)
                    break
            else:
                raise _syntax(text, i, "value", "'[', '{', or a literal")
        # ---- store the value; close finished containers ----
        while True:
            i = ws(text, i)
            if not stack:
                if i != n:
                    raise _syntax(text, i, "value", "end of input")
                return value
            top = stack[-1]
            if top.__class__ is list:
                top.append(value)
                if i < n and text[i] == ",":
                    i = ws(text, i + 1)
                    break
                if i < n and text[i] == "]":
                    i += 1
                    value = stack.pop()
                    continue
                raise _syntax(text, i, "array", "']'")
            top.attrs[top.key] = value
            if i < n and text[i] == ",":
                i = ws(text, i + 1)
                if i >= n or text[i] != '"':
                    raise _syntax(text, i, "object key", "string literal")
                top.key, i = _json_str(text, i)
                i = ws(text, i)
                if i >= n or text[i] != ":":
                    raise _syntax(text, i, "object separator", "':'")
                i = ws(text, i + 1)
                break
            if i < n and text[i] == "}":
                i += 1
                value = stack.pop().attrs
                continue
            raise _syntax(text, i, "object", "'}'")


@builtin("fromJSON")
def _from_json(s: Any) -> Any:
    s = yield from traced(
        force_string_no_ctx(s), "while evaluating the first argument passed to builtins.fromJSON"
    )
    return from_json(str(s))


# ------------------------------------------------------------------- TOML
@builtin("fromTOML")
def _from_toml(s: Any) -> Any:
    s = yield from traced(
        force_string_no_ctx(s), "while evaluating the first argument passed to builtins.fromTOML"
    )
    ev = yield CONTEXT
    features = getattr(ev, "experimental_features", ())
    from .toml import from_toml

    return from_toml(str(s), "parse-toml-timestamps" in features)


# -------------------------------------------------------------------- XML
_XML_ESC = str.maketrans({'"': "&quot;", "<": "&lt;", ">": "&gt;", "&": "&amp;", "\n": "&#xA;"})


def _xml_attrs(attrs: dict[str, str]) -> str:
    return "".join(f' {k}="{attrs[k].translate(_XML_ESC)}"' for k in sorted(attrs))


def _xml_pos(attrs: dict[str, str], span: Any) -> None:
    if span is None:
        return
    line, col = span.line_col()
    attrs["path"] = str(span.source.name)
    attrs["line"] = str(line)
    attrs["column"] = str(col)


def to_xml(v: Any, location: bool = True) -> Any:
    """Generator: Nix's XML rendering of a value (``--xml``, ``toXML``).

    Returns a ``str`` (with the context of the strings it contains)."""
    out: list[str] = ["<?xml version='1.0' encoding='utf-8'?>\n<expr>\n"]
    ctx: set[str] = set()
    drvs_seen: set[str] = set()
    # Items: str (literal text) or (value, depth, trace chain).
    work: list[Any] = ["</expr>\n", (v, 1, None)]
    while work:
        item = work.pop()
        if item.__class__ is str:
            out.append(item)
            continue
        x, depth, node = item
        ind = "  " * depth
        try:
            if x.__class__ is Thunk:
                x = x.v if x.c is None else (yield x)
            cls = x.__class__
            if cls is int:
                out.append(f'{ind}<int value="{x}" />\n')
            elif cls is bool:
                out.append(f'{ind}<bool value="{"true" if x else "false"}" />\n')
            elif cls is str or cls is CtxStr:
                if cls is CtxStr:
                    ctx |= x.ctx
                out.append(f"{ind}<string{_xml_attrs({'value': x})} />\n")
            elif cls is NixPath:
                out.append(f"{ind}<path{_xml_attrs({'value': x.path})} />\n")
            elif x is None:
                out.append(f"{ind}<null />\n")
            elif cls is float:
                out.append(f'{ind}<float value="{format_float_g(x)}" />\n')
            elif cls is list:
                out.append(f"{ind}<list>\n")
                work.append(f"{ind}</list>\n")
                for e in reversed(x):
                    work.append((e, depth + 1, node))
            elif cls is Attrs:
                yield from _xml_attrset(x, depth, location, out, work, drvs_seen, node)
            elif cls is Lambda:
                _xml_function(x, ind, location, out)
            elif cls is PrimOp or cls is PrimOpApp:
                out.append(f"{ind}<unevaluated />\n")
            else:
                out.append(f"{ind}<unevaluated />\n")
        except NixError as err:
            _add_traces(err, node)
            raise
    text = "".join(out)
    return CtxStr(text, frozenset(ctx)) if ctx else text


def _xml_attrset(
    x: Attrs,
    depth: int,
    location: bool,
    out: list[str],
    work: list[Any],
    drvs_seen: set[str],
    node: Trace,
) -> Any:
    ind = "  " * depth
    is_drv = False
    if "type" in x:
        t = x["type"]
        if t.__class__ is Thunk:
            t = t.v if t.c is None else (yield t)
        is_drv = (t.__class__ is str or t.__class__ is CtxStr) and t == "derivation"
    if is_drv:
        attrs: dict[str, str] = {}
        drv_path = ""
        for name in ("drvPath", "outPath"):
            if name in x:
                a = x[name]
                if a.__class__ is Thunk:
                    a = a.v if a.c is None else (yield a)
                if a.__class__ is str or a.__class__ is CtxStr:
                    attrs[name] = str(a)
                    if name == "drvPath":
                        drv_path = str(a)
        out.append(f"{ind}<derivation{_xml_attrs(attrs)}>\n")
        work.append(f"{ind}</derivation>\n")
        if drv_path and drv_path not in drvs_seen:
            drvs_seen.add(drv_path)
        else:
            work.append(f"{ind}  <repeated />\n")
            return
    else:
        out.append(f"{ind}<attrs>\n")
        work.append(f"{ind}</attrs>\n")
    inner = "  " * (depth + 1)
    for k in sorted(x, reverse=True):
        attrs = {"name": k}
        span = _pos(x, k)
        if location:
            _xml_pos(attrs, span)
        work.append(f"{inner}</attr>\n")
        work.append((x[k], depth + 2, node))
        work.append(f"{inner}<attr{_xml_attrs(attrs)}>\n")


def _xml_function(f: Lambda, ind: str, location: bool, out: list[str]) -> None:
    node = f.node
    attrs: dict[str, str] = {}
    if location:
        _xml_pos(attrs, node.span)
    out.append(f"{ind}<function{_xml_attrs(attrs)}>\n")
    if node.formals is not None:
        pat: dict[str, str] = {}
        if node.arg:
            pat["name"] = node.arg
        if node.ellipsis:
            pat["ellipsis"] = "1"
        out.append(f"{ind}  <attrspat{_xml_attrs(pat)}>\n")
        for name in sorted(fm.name for fm in node.formals):
            out.append(f"{ind}    <attr{_xml_attrs({'name': name})} />\n")
        out.append(f"{ind}  </attrspat>\n")
    else:
        out.append(f"{ind}  <varpat{_xml_attrs({'name': node.arg or ''})} />\n")
    out.append(f"{ind}</function>\n")


@builtin("toXML")
def _to_xml(v: Any) -> Any:
    return (yield from to_xml(v, location=False))


__all__ = [
    "force_attr",
    "from_json",
    "json_float",
    "json_string",
    "to_json",
    "to_xml",
]
