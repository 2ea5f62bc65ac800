"""``builtins.fromTOML``'s reader: TOML text to Nix values, as Nix reads it.

Its own module, imported by the builtin on first use: ``tomllib``,
``datetime`` and its patterns cost every evaluation's start-up otherwise,
and few evaluations read TOML.
"""

from __future__ import annotations

import datetime
import re
import tomllib
from typing import Any

from ..errors import NixError
from ..values import INT_MAX, INT_MIN, Attrs
from .core import null_bytes_error

# Comments and strings (skipped), or a time with a fractional second.
_TOML_SKIP_OR_FRAC = re.compile(
    r"#[^\n]*|\"\"\"(?:\\.|[^\\])*?\"\"\"|'''.*?'''|\"(?:\\.|[^\"\\\n])*\"|'[^'\n]*'"
    r"|(\d{2}:\d{2}:\d{2})\.(\d+)",
    re.S,
)
_TOML_INT = re.compile(r"(?<![\w.:+-])([+-]?[0-9][0-9_]*)(?![\w.:-])")


def _toml_error(msg: str) -> NixError:
    return NixError(f"while parsing TOML: {msg}")


def _toml_overflow(text: str) -> NixError | None:
    """toml11's message for a decimal integer outside 64 bits, if any."""
    for lineno, line in enumerate(text.split("\n"), 1):
        for m in _TOML_INT.finditer(line):
            lit = m.group(1)
            if "__" in lit or lit.endswith("_"):
                continue
            n = int(lit.replace("_", ""))
            if INT_MIN <= n <= INT_MAX:
                continue
            w = len(str(lineno))
            return _toml_error(
                "[error] toml::parse_dec_integer: too large integer: current max digits = 2^63\n"
                " --> fromTOML\n"
                f" {' ' * w} |\n"
                f" {lineno} | {line}\n"
                f" {' ' * w} | {' ' * m.end()}^-- must be < 2^63\n"
            )
    return None


def _tag_fractions(text: str) -> tuple[str, dict[int, str]]:
    """The text with each fractional second replaced by a tag (its number,
    as microseconds), and the raw digits per tag: tomllib keeps only
    microseconds, Nix shows up to nanoseconds."""
    raw: dict[int, str] = {}

    def tag(m: re.Match[str]) -> str:
        if m.group(1) is None or len(raw) >= 999_999:
            return m.group(0)
        n = len(raw) + 1
        raw[n] = m.group(2)
        return f"{m.group(1)}.{n:06d}"

    return _TOML_SKIP_OR_FRAC.sub(tag, text), raw


def _fmt_time(t: datetime.time | datetime.datetime, fracs: dict[int, str]) -> str:
    hms = f"{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
    digits = fracs.get(t.microsecond, "")[:9].ljust(9, "0")
    if digits[6:] != "000":
        return hms + "." + digits
    if digits[3:6] != "000":
        return hms + "." + digits[:6]
    if digits[:3] != "000":
        return hms + "." + digits[:3]
    return hms


def _timestamp(v: Any, fracs: dict[int, str]) -> str:
    if isinstance(v, datetime.datetime):
        s = v.date().isoformat() + "T" + _fmt_time(v, fracs)
        off = v.utcoffset()
        if off is not None:
            if not off:
                s += "Z"
            else:
                mins = int(off.total_seconds()) // 60
                sign = "-" if mins < 0 else "+"
                mins = abs(mins)
                s += f"{sign}{mins // 60:02d}:{mins % 60:02d}"
        return s
    if isinstance(v, datetime.date):
        return v.isoformat()
    return _fmt_time(v, fracs)


def from_toml(text: str, timestamps: bool = False) -> Any:
    """Parse TOML text into Nix values (iteratively over the parsed tree)."""
    fracs: dict[int, str] = {}
    try:
        if timestamps:
            tagged, fracs = _tag_fractions(text)
            data = tomllib.loads(tagged)
        else:
            data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise _toml_error(f"[error] {e}") from None
    root = Attrs()
    work: list[tuple[Any, Any, Any]] = [(data, root, None)]
    while work:
        src, dst, _ = work.pop()
        items = src.items() if isinstance(src, dict) else enumerate(src)
        for k, v in items:
            if isinstance(k, str) and "\x00" in k:
                raise _toml_error(f"error: {null_bytes_error(k).msg}")
            if isinstance(v, dict):
                out: Any = Attrs()
                work.append((v, out, None))
            elif isinstance(v, list):
                out = [None] * len(v)
                work.append((v, out, None))
            elif isinstance(v, str):
                if "\x00" in v:
                    raise _toml_error(f"error: {null_bytes_error(v).msg}")
                out = v
            elif isinstance(v, bool | float):
                out = v
            elif isinstance(v, int):
                if not INT_MIN <= v <= INT_MAX:
                    raise _toml_overflow(text) or _toml_error("too large integer")
                out = v
            elif isinstance(v, datetime.date | datetime.time):
                if not timestamps:
                    raise _toml_error("Dates and times are not supported")
                out = Attrs({"_type": "timestamp", "value": _timestamp(v, fracs)})
            else:  # pragma: no cover - tomllib yields no other types
                raise _toml_error(f"unsupported value {v!r}")
            dst[k] = out
    return root
