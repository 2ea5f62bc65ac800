"""String builtins: replacement, POSIX regular expressions, versions and
hashes.

Nix strings are byte strings; ours are ``str`` whose bytes are the UTF-8
encoding (invalid bytes as surrogate escapes).  Where byte and code point
semantics differ (regular expressions, empty replacement patterns) the work is
done on the UTF-8 bytes.

Regular expressions are POSIX extended ones as libstdc++'s ``std::regex``
reads them (what Nix uses): they are translated to a Python pattern over
bytes.  ``match`` takes the first full match in backtracking order, as
libstdc++ does (the standard ``re``); ``split`` takes the leftmost-longest
match at each step (the ``regex`` package's ``regex.POSIX``).
"""

from __future__ import annotations

import base64
import binascii
import re as std_re
from collections.abc import Callable
from typing import Any

from .. import hashing
from ..diagnostics import Diagnostic, Note, Severity
from ..errors import NixError
from ..runtime import SIZE_CHECK_FROM, cat_strings, check_len, type_error
from ..values import Attrs, CtxStr, context_of
from ..vm import CALL_SPAN, CONTEXT, Emit
from .core import force_attrs, force_list, force_string
from .lists import force_string_no_ctx, traced
from .registry import builtin


def _arg(n: int, name: str) -> str:
    which = ("first", "second", "third")[n]
    return f"while evaluating the {which} argument passed to builtins.{name}"


def _to_bytes(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _from_bytes(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


# ----------------------------------------------------------- replaceStrings
_ALTERNATIONS: dict[tuple[str, ...], Any] = {}


@builtin("replaceStrings")
def _replace_strings(from_: Any, to: Any, s: Any, d: int, span: Any) -> Any:
    from_ = yield from traced(force_list(from_, d), _arg(0, "replaceStrings"))
    to = yield from traced(force_list(to, d), _arg(1, "replaceStrings"))
    if len(from_) != len(to):
        raise NixError(
            "'from' and 'to' arguments passed to builtins.replaceStrings have different lengths"
        )
    pats: list[str] = []
    for p in from_:
        p = yield from traced(
            force_string(p, d),
            "while evaluating one of the strings to replace passed to builtins.replaceStrings",
        )
        pats.append(str(p))
    s = yield from traced(force_string(s, d), _arg(2, "replaceStrings"))
    ctx = context_of(s)
    s = str(s)
    # The replacements are forced only when their pattern is used.
    done: dict[int, str] = {}

    def replacement(i: int) -> Any:
        nonlocal ctx
        r = done.get(i)
        if r is None:
            v = yield from traced(
                force_string(to[i], d),
                "while evaluating one of the replacement strings passed to builtins.replaceStrings",
            )
            if v.__class__ is CtxStr:
                ctx = ctx | v.ctx
            r = done[i] = str(v)
        return r

    if not pats:
        return CtxStr(s, ctx)
    out: list[str] = []
    if len(pats) == 1 and pats[0]:
        if pats[0] not in s:
            return CtxStr(s, ctx)
        r = yield from replacement(0)
        result = s.replace(pats[0], r)
        if len(result) > SIZE_CHECK_FROM:
            check_len(len(result), "string")
        return CtxStr(result, ctx)
    if "" not in pats:
        # Ordered alternation: at each position the first pattern in list
        # order that matches wins, exactly Nix's scan.
        key = tuple(pats)
        rx = _ALTERNATIONS.get(key)
        if rx is None:
            # ``re``: an alternation of literals needs nothing of ``regex``.
            rx = std_re.compile("|".join(f"({std_re.escape(p)})" for p in pats))
            if len(_ALTERNATIONS) > 1024:
                _ALTERNATIONS.clear()
            _ALTERNATIONS[key] = rx
        pos = 0
        for m in rx.finditer(s):
            out.append(s[pos : m.start()])
            r = yield from replacement(m.lastindex - 1)
            out.append(r)
            pos = m.end()
        out.append(s[pos:])
        joined = "".join(out)
        if len(joined) > SIZE_CHECK_FROM:
            check_len(len(joined), "string")
        return CtxStr(joined, ctx)
    # An empty pattern matches before every byte: scan bytes like Nix.
    b = _to_bytes(s)
    bpats = [_to_bytes(p) for p in pats]
    chunks: list[bytes] = []
    p = 0
    n = len(b)
    while p <= n:
        for i, pat in enumerate(bpats):
            if b.startswith(pat, p):
                r = yield from replacement(i)
                chunks.append(_to_bytes(r))
                if pat:
                    p += len(pat)
                else:
                    chunks.append(b[p : p + 1])
                    p += 1
                break
        else:
            chunks.append(b[p : p + 1])
            p += 1
    joined = _from_bytes(b"".join(chunks))
    if len(joined) > SIZE_CHECK_FROM:
        check_len(len(joined), "string")
    return CtxStr(joined, ctx)


# ------------------------------------------------------- regular expressions
class BadRegex(Exception):
    """The pattern is not a valid POSIX extended regular expression."""


def _byte_set(spec: str) -> frozenset[int]:
    out: set[int] = set()
    i = 0
    while i < len(spec):
        if i + 2 < len(spec) and spec[i + 1] == "-":
            out.update(range(ord(spec[i]), ord(spec[i + 2]) + 1))
            i += 3
        else:
            out.add(ord(spec[i]))
            i += 1
    return frozenset(out)


# The C locale's character classes (what libstdc++'s regex_traits uses).
_CLASSES: dict[str, frozenset[int]] = {
    "alpha": _byte_set("A-Za-z"),
    "digit": _byte_set("0-9"),
    "d": _byte_set("0-9"),
    "alnum": _byte_set("0-9A-Za-z"),
    "upper": _byte_set("A-Z"),
    "lower": _byte_set("a-z"),
    "space": _byte_set(" \t\n\r\f\v"),
    "s": _byte_set(" \t\n\r\f\v"),
    "blank": _byte_set(" \t"),
    "punct": _byte_set("!-/:-@[-`{-~"),
    "print": _byte_set(" -~"),
    "graph": _byte_set("!-~"),
    "cntrl": frozenset(range(0, 0x20)) | {0x7F},
    "xdigit": _byte_set("0-9A-Fa-f"),
    "w": _byte_set("0-9A-Za-z_"),
}


def _lit(c: int) -> str:
    ch = chr(c)
    if ch.isalnum() and c < 0x80:
        return ch
    return f"\\x{c:02x}"


def _class_text(members: set[int]) -> str:
    if not members:
        return "(?!)"
    if len(members) == 256:
        return "(?s:.)"
    parts: list[str] = []
    cs = sorted(members)
    i = 0
    while i < len(cs):
        j = i
        while j + 1 < len(cs) and cs[j + 1] == cs[j] + 1:
            j += 1
        parts.append(_lit(cs[i]) if i == j else f"{_lit(cs[i])}-{_lit(cs[j])}")
        i = j + 1
    return "[" + "".join(parts) + "]"


def _bracket(p: bytes, i: int) -> tuple[str, int]:
    """Translate the bracket expression starting after ``[`` at ``i``."""
    n = len(p)
    negate = False
    if i < n and p[i] == ord("^"):
        negate = True
        i += 1
    members: set[int] = set()
    first = True
    prev: int | None = None  # a single byte that may start a range
    while True:
        if i >= n:
            raise BadRegex("unterminated bracket")
        c = p[i]
        if c == ord("]") and not first:
            i += 1
            break
        at_start, first = first, False
        if c == ord("[") and i + 1 < n and p[i + 1] in b":=.":
            kind = p[i + 1]
            end = p.find(bytes([kind, ord("]")]), i + 2)
            if end < 0:
                raise BadRegex("unterminated class")
            name = p[i + 2 : end]
            i = end + 2
            if kind == ord(":"):
                cls = _CLASSES.get(name.decode("latin-1"))
                if cls is None:
                    raise BadRegex("unknown class")
                members |= cls
                prev = None
                continue
            if len(name) != 1:
                raise BadRegex("unknown collating element")
            members.add(name[0])
            # A collating symbol may start a range (not end one).
            prev = name[0] if kind == ord(".") else None
            continue
        if c == ord("-") and not at_start:
            if i + 1 < n and p[i + 1] == ord("]"):
                members.add(c)
                i += 1
                continue
            if prev is None:
                # libstdc++: a dash after a class or a range is an error.
                raise BadRegex("invalid dash")
            if i + 1 >= n:
                raise BadRegex("unterminated bracket")
            hi = p[i + 1]
            i += 2
            if hi == ord("[") and i < n and p[i] in b".=:":
                raise BadRegex("bad range end")
            if hi < prev:
                raise BadRegex("bad range")
            members.update(range(prev, hi + 1))
            prev = None
            continue
        members.add(c)
        prev = c
        i += 1
    if negate:
        members = set(range(256)) - members
    return _class_text(members), i


def translate_ere(pattern: bytes) -> str:
    """A POSIX extended regular expression as a ``regex`` (or ``re``)
    pattern (bytes semantics, all literals escaped); raises ``BadRegex``."""
    out: list[str] = []
    # Per open group: (index of its "(" in out,) ; and per level the start
    # of the last atom (None when a quantifier would have nothing to repeat).
    groups: list[int] = []
    atom: int | None = None
    quantified = False
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        i += 1
        if c == ord("\\"):
            if i >= n or pattern[i] not in _ESCAPABLE:
                # libstdc++ (built strictly, as Nix is) rejects escaping an
                # ordinary character and a trailing backslash.
                raise BadRegex("bad escape")
            atom, quantified = len(out), False
            out.append(_lit(pattern[i]))
            i += 1
        elif c == ord("["):
            text, i = _bracket(pattern, i)
            atom, quantified = len(out), False
            out.append(text)
        elif c == ord("."):
            atom, quantified = len(out), False
            out.append("(?s:.)")
        elif c == ord("("):
            groups.append(len(out))
            out.append("(")
            atom = None
        elif c == ord(")"):
            if not groups:
                raise BadRegex("unmatched )")
            atom, quantified = groups.pop(), False
            out.append(")")
        elif c == ord("|"):
            out.append("|")
            atom = None
        elif c == ord("^"):
            out.append("^")
            atom = None
        elif c == ord("$"):
            out.append("\\Z")
            atom = None
        elif c in b"*+?{":
            if atom is None:
                raise BadRegex("nothing to repeat")
            if c == ord("{"):
                end = pattern.find(b"}", i)
                if end < 0:
                    raise BadRegex("unterminated brace")
                body = pattern[i:end].decode("latin-1")
                i = end + 1
                lo, sep, hi = body.partition(",")
                if not lo.isdigit() or (hi and not hi.isdigit()) or not lo.isascii():
                    raise BadRegex("bad brace")
                if hi and int(hi) < int(lo):
                    raise BadRegex("bad brace")
                quant = "{" + lo + sep + hi + "}"
            else:
                quant = chr(c)
            if quantified:
                # ``a*?`` is ``(a*)?`` in POSIX, not a lazy star.
                out[atom:] = ["(?:", *out[atom:], ")"]
            out.append(quant)
            quantified = True
        else:
            atom, quantified = len(out), False
            out.append(_lit(c))
    if groups:
        raise BadRegex("unmatched (")
    return "".join(out)


_ESCAPABLE = frozenset(b".[\\()*+?{|^$")
_CACHE: dict[tuple[str, bool], Any] = {}


def compile_regex(pattern: str, posix: bool) -> Any:
    """The compiled (cached) form of a Nix regular expression."""
    key = (pattern, posix)
    rx = _CACHE.get(key)
    if rx is None:
        try:
            text = translate_ere(_to_bytes(pattern)).encode("latin-1")
            if posix:
                # Leftmost-longest matching: only ``regex`` has it.  Imported
                # here, as it costs every start-up 7 ms and 2 MB otherwise.
                import regex

                try:
                    rx = regex.compile(text, flags=regex.POSIX)
                except regex.error:
                    raise BadRegex("invalid") from None
            else:
                # Backtracking (as ``match``): the translated pattern uses
                # only syntax that ``re`` and ``regex`` read alike.
                rx = std_re.compile(text)
        except (BadRegex, std_re.error, OverflowError, RecursionError):
            raise NixError(f"invalid regular expression '{pattern}'") from None
        if len(_CACHE) > 2048:
            _CACHE.clear()
        _CACHE[key] = rx
    return rx


def _groups(m: Any) -> list[Any]:
    return [None if g is None else _from_bytes(g) for g in m.groups()]


@builtin("match")
def _match(re: Any, s: Any, d: int, span: Any) -> Any:
    re = yield from traced(force_string_no_ctx(re, d), _arg(0, "match"))
    rx = compile_regex(str(re), posix=False)
    s = yield from traced(force_string(s, d), _arg(1, "match"))
    m = rx.fullmatch(_to_bytes(s))
    if m is None:
        return None
    return _groups(m)


@builtin("split")
def _split(re: Any, s: Any, d: int, span: Any) -> Any:
    re = yield from traced(force_string_no_ctx(re, d), _arg(0, "split"))
    rx = compile_regex(str(re), posix=True)
    s = yield from traced(force_string(s, d), _arg(1, "split"))
    b = _to_bytes(s)
    out: list[Any] = []
    pos = 0
    for m in rx.finditer(b):
        out.append(_from_bytes(b[pos : m.start()]))
        out.append(_groups(m))
        pos = m.end()
    if not out:
        return [s]
    out.append(_from_bytes(b[pos:]))
    return out


# ------------------------------------------------------------------ versions
def _is_digit(c: str) -> bool:
    return "0" <= c <= "9"


def next_component(s: str, p: int) -> tuple[str, int]:
    """Nix's ``nextComponent``: the version component at ``p`` and the end."""
    n = len(s)
    while p < n and (s[p] == "." or s[p] == "-"):
        p += 1
    if p == n:
        return "", p
    start = p
    if _is_digit(s[p]):
        while p < n and _is_digit(s[p]):
            p += 1
    else:
        while p < n and not _is_digit(s[p]) and s[p] != "." and s[p] != "-":
            p += 1
    return s[start:p], p


def _as_int(c: str) -> int | None:
    # ``string2Int<int>``: digits only here, and it must fit a C int.
    if c and c.isascii() and c.isdigit():
        v = int(c)
        if v <= 2**31 - 1:
            return v
    return None


def _component_lt(c1: str, c2: str) -> bool:
    n1 = _as_int(c1)
    n2 = _as_int(c2)
    if n1 is not None and n2 is not None:
        return n1 < n2
    if c1 == "" and n2 is not None:
        return True
    if c1 == "pre" and c2 != "pre":
        return True
    if c2 == "pre":
        return False
    if n2 is not None:
        return True
    if n1 is not None:
        return False
    return _to_bytes(c1) < _to_bytes(c2)


def compare_versions(v1: str, v2: str) -> int:
    """-1, 0 or 1 as ``builtins.compareVersions``."""
    p1 = p2 = 0
    while p1 < len(v1) or p2 < len(v2):
        c1, p1 = next_component(v1, p1)
        c2, p2 = next_component(v2, p2)
        if _component_lt(c1, c2):
            return -1
        if _component_lt(c2, c1):
            return 1
    return 0


@builtin("compareVersions")
def _compare_versions(a: Any, b: Any, d: int, span: Any) -> Any:
    a = yield from traced(force_string_no_ctx(a, d), _arg(0, "compareVersions"))
    b = yield from traced(force_string_no_ctx(b, d), _arg(1, "compareVersions"))
    return compare_versions(str(a), str(b))


@builtin("splitVersion")
def _split_version(v: Any, d: int, span: Any) -> Any:
    v = yield from traced(force_string_no_ctx(v, d), _arg(0, "splitVersion"))
    v = str(v)
    out = []
    p = 0
    while p < len(v):
        c, p = next_component(v, p)
        if not c:
            break
        out.append(c)
    return out


@builtin("parseDrvName")
def _parse_drv_name(s: Any, d: int, span: Any) -> Any:
    s = yield from traced(force_string_no_ctx(s, d), _arg(0, "parseDrvName"))
    s = str(s)
    name, version = s, ""
    for i in range(len(s) - 1):
        if s[i] == "-":
            c = s[i + 1]
            if not ("a" <= c <= "z" or "A" <= c <= "Z"):
                name, version = s[:i], s[i + 1 :]
                break
    return Attrs({"name": name, "version": version})


# -------------------------------------------------------------------- hashes
_HASH_SIZES = {"md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}
_NIX32 = "0123456789abcdfghijklmnpqrsvwxyz"


def parse_hash_algo(name: str) -> str:
    """A hash algorithm name, or Nix's error for an unknown one."""
    if name in _HASH_SIZES:
        return name
    if name == "blake3":
        raise NixError(
            "experimental Nix feature 'blake3-hashes' is disabled; add "
            "'--extra-experimental-features blake3-hashes' to enable it"
        )
    raise NixError(
        f"unknown hash algorithm '{name}', expect 'blake3', 'md5', 'sha1', 'sha256', or 'sha512'"
    )


def nix32_encode(digest: bytes) -> str:
    """Nix's base-32 encoding of a digest."""
    from ..store import nix32_encode as encode

    return encode(digest)


def _nix32_decode(s: str) -> bytes:
    size = len(s) * 5 // 8
    res = bytearray(size)
    for n in range(len(s)):
        digit = _NIX32.find(s[len(s) - n - 1])
        if digit < 0:
            raise ValueError("invalid character")
        b = n * 5
        i, j = divmod(b, 8)
        if i >= size:
            if digit:
                raise ValueError("invalid string")
            continue
        res[i] |= (digit << j) & 0xFF
        if i < size - 1:
            res[i + 1] |= digit >> (8 - j)
        elif digit >> (8 - j):
            raise ValueError("invalid string")
    return bytes(res)


def _b16_decode(s: str) -> bytes:
    if len(s) % 2 or any(c not in _HEX for c in s):
        raise ValueError("invalid character in Base16 string")
    return bytes.fromhex(s)


_HEX = frozenset("0123456789abcdefABCDEF")


def _b64_decode(s: str) -> bytes:
    body = s.split("=", 1)[0].replace("\n", "")
    body += "=" * (-len(body) % 4)
    return base64.b64decode(body, validate=True)


def parse_hash(text: str, algo: str | None) -> tuple[str, bytes]:
    """Nix's ``Hash::parseAny``: ``(algorithm, digest)`` from any encoding."""
    rest = text
    is_sri = False
    parsed: str | None = None
    sep = rest.find(":")
    if sep < 0:
        sep = rest.find("-")
        is_sri = sep >= 0
    if sep >= 0:
        parsed = parse_hash_algo(rest[:sep])
        rest = rest[sep + 1 :]
    if parsed is None and algo is None:
        raise NixError(
            f"hash '{text}' does not include a type, nor is the type otherwise known from context"
        )
    if parsed is not None and algo is not None and parsed != algo:
        raise NixError(f"hash '{text}' should have type '{algo}'")
    algo = parsed or algo
    assert algo is not None
    size = _HASH_SIZES[algo]
    decode: Callable[[str], bytes]
    if is_sri:
        name, decode = "SRI", _b64_decode
    elif len(rest) == 2 * size:
        name, decode = "base16", _b16_decode
    elif len(rest) == (size * 8 - 1) // 5 + 1:
        name, decode = "nix32", _nix32_decode
    elif len(rest) == (size + 2) // 3 * 4:
        name, decode = "Base64", _b64_decode
    else:
        raise NixError(f"hash '{rest}' has wrong length for hash algorithm '{algo}'")
    try:
        digest = decode(rest)
    except (ValueError, binascii.Error):
        digest = b""  # Nix drops the decoding error and reports the length
    if len(digest) != size:
        raise NixError(
            f"invalid {name} hash '{rest}', length {len(digest)} != expected length {size}"
        )
    return algo, digest


def format_hash(algo: str, digest: bytes, fmt: str) -> str:
    """A digest in one of Nix's formats: base16, nix32, base64 or sri."""
    if fmt == "base16":
        return digest.hex()
    if fmt == "nix32":
        return nix32_encode(digest)
    b64 = base64.b64encode(digest).decode("ascii")
    if fmt == "sri":
        return f"{algo}-{b64}"
    return b64


def _digest(algo: str, data: bytes) -> bytes:
    return hashing.new(algo, data).digest()  # type: ignore[no-any-return]


@builtin("hashString")
def _hash_string(algo: Any, s: Any) -> Any:
    # Its string forced by the driver, from 0 deep (measured: hashing the
    # whole result, as optionDocs-600 does, made 33% more driver iterations
    # when that string's evaluation started 1-2 calls deep).
    algo = yield from traced(force_string_no_ctx(algo), _arg(0, "hashString"))
    algo = parse_hash_algo(str(algo))
    s = yield from traced(force_string(s), _arg(1, "hashString"))
    return _digest(algo, _to_bytes(s)).hex()


@builtin("hashFile")
def _hash_file(algo: Any, p: Any) -> Any:
    algo = yield from traced(force_string_no_ctx(algo), _arg(0, "hashFile"))
    algo = parse_hash_algo(str(algo))
    ev = yield CONTEXT
    path = yield from traced(ev.realise_path_arg(p), _arg(1, "hashFile"))
    data = ev.io.read_bytes(path)
    return _digest(algo, data).hex()


@builtin("convertHash")
def _convert_hash(args: Any) -> Any:
    args = yield from traced(force_attrs(args), _arg(0, "convertHash"))
    if "hash" not in args:
        err = NixError("attribute 'hash' missing")
        err.add_trace("while locating the attribute 'hash'", None)
        raise err
    text = yield from traced(
        force_string_no_ctx(args["hash"]), "while evaluating the attribute 'hash'"
    )
    algo = None
    if "hashAlgo" in args:
        name = yield from traced(
            force_string_no_ctx(args["hashAlgo"]), "while evaluating the attribute 'hashAlgo'"
        )
        algo = parse_hash_algo(str(name))
    if "toHashFormat" not in args:
        err = NixError("attribute 'toHashFormat' missing")
        err.add_trace("while locating the attribute 'toHashFormat'", None)
        raise err
    fmt = yield from traced(
        force_string_no_ctx(args["toHashFormat"]),
        "while evaluating the attribute 'toHashFormat'",
    )
    fmt = str(fmt)
    if fmt == "base32":
        # Nix prints this warning without a position; the call site is
        # kept as a note for editors.
        span = yield CALL_SPAN
        yield Emit(
            Diagnostic(
                "deprecated",
                Severity.WARNING,
                '"base32" is a deprecated alias for hash format "nix32".',
                None,
                [Note("the deprecated hash format is requested here", span)],
            )
        )
        fmt = "nix32"
    elif fmt not in ("base16", "nix32", "base64", "sri"):
        raise NixError(
            f"unknown hash format '{fmt}', expect 'base16', 'base32', 'base64', or 'sri'"
        )
    algo, digest = parse_hash(str(text), algo)
    return format_hash(algo, digest, fmt)


__all__ = [
    "compare_versions",
    "compile_regex",
    "format_hash",
    "parse_hash",
    "translate_ere",
]
_ = (cat_strings, type_error)
