"""Store paths computed without a store.

Everything Nix derives from content, by hashing alone: the hash encodings
(Nix base-32, base-16, base-64, SRI), hash parsing with Nix's error
messages, store path names and their validation, the NAR serialisation of a
file tree, ``builtins.toFile`` / ``builtins.path`` / ``"${./file}"`` store
paths, and derivations (the ATerm text, the hash modulo, output paths and the
``.drv`` path). Nothing is ever written: the evaluator only needs the names.

Pure Python on ``hashing`` (the interpreter's hashes; OpenSSL's for large
data); file access goes through the small ``StoreIO`` protocol so the
evaluator can supply its own (sandboxed, overlaid) I/O. The algorithms
follow Nix's ``hash.cc``, ``base-n.cc``, ``path.cc``, ``store-dir-config.cc``,
``archive.cc``, ``derivations.cc`` and ``primops.cc``
(``derivationStrictInternal``), Nix 2.36.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Mapping
from typing import NamedTuple, Protocol

from . import hashing
from .errors import NixError

STORE_DIR = "/nix/store"

# Nix's base-32 alphabet: the digits and letters without e, o, u, t.
NIX32_CHARS = "0123456789abcdfghijklmnpqrsvwxyz"
_NIX32_REVERSE = {c: i for i, c in enumerate(NIX32_CHARS)}
_BASE64_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_BASE64_REVERSE = {c: i for i, c in enumerate(_BASE64_CHARS)}

HASH_SIZES = {"blake3": 32, "md5": 16, "sha1": 20, "sha256": 32, "sha512": 64}
HASH_FORMATS = ("base16", "nix32", "base64", "sri")

# Longest store path name (the part after "<hash>-").
MAX_NAME_LEN = 211
# Length of the hash part of a store path (20 bytes in base-32).
HASH_PART_LEN = 32
DRV_EXTENSION = ".drv"


class BadHash(NixError):
    """A hash string Nix would reject."""


class BadStorePathName(NixError):
    """A store path name Nix would reject."""


class BadStorePath(NixError):
    """A store path Nix would reject."""


class StoreError(NixError):
    """Any other failure while computing a store path (unreadable file, ...)."""


# --------------------------------------------------------------------------
# Encodings


def nix32_len(size: int) -> int:
    """Length of the Nix base-32 encoding of ``size`` bytes."""
    return (size * 8 - 1) // 5 + 1 if size else 0


def base64_len(size: int) -> int:
    """Length of the padded base-64 encoding of ``size`` bytes."""
    return ((4 * size // 3) + 3) & ~3


def nix32_encode(data: bytes) -> str:
    """Encode bytes in Nix's base-32 (least significant bits last)."""
    if not data:
        return ""
    n = int.from_bytes(data, "little")
    out = []
    for i in range(nix32_len(len(data)) - 1, -1, -1):
        out.append(NIX32_CHARS[(n >> (i * 5)) & 0x1F])
    return "".join(out)


def nix32_decode(s: str) -> bytes:
    """Decode Nix base-32; like Nix, the result keeps every byte a digit touched."""
    n = 0
    used = 0
    for k, c in enumerate(reversed(s)):
        digit = _NIX32_REVERSE.get(c)
        if digit is None:
            raise BadHash(f"invalid character in Nix32 (Nix's Base32 variation) string: '{c}'")
        b = k * 5
        n |= digit << b
        # Nix grows the output to the byte holding the digit's low bits, and
        # to the next one only when some high bit spills into it.
        used = max(used, b // 8 + 1)
        if digit >> (8 - b % 8):
            used = max(used, b // 8 + 2)
    return n.to_bytes(used, "little")


def base16_encode(data: bytes) -> str:
    """Lower-case hex."""
    return data.hex()


def base16_decode(s: str) -> bytes:
    """Decode hex (either case), with Nix's error for a bad digit."""
    for c in s:
        if c not in "0123456789abcdefABCDEF":
            raise BadHash(f"invalid character in Base16 string: '{c}'")
    return bytes.fromhex(s)


def base64_encode(data: bytes) -> str:
    """Standard padded base-64."""
    import base64

    return base64.b64encode(data).decode("ascii")


def base64_decode(s: str) -> bytes:
    """Decode base-64 the way Nix does: stop at '=', skip newlines."""
    out = bytearray()
    acc = 0
    bits = 0
    for c in s:
        if c == "=":
            break
        if c == "\n":
            continue
        digit = _BASE64_REVERSE.get(c)
        if digit is None:
            raise BadHash(f"invalid character in Base64 string: '{c}'")
        acc = (acc << 6 | digit) & 0xFFFF
        bits += 6
        if bits >= 8:
            bits -= 8
            out.append(acc >> bits & 0xFF)
    return bytes(out)


def compress_hash(digest: bytes, size: int) -> bytes:
    """Fold ``digest`` to ``size`` bytes by XOR (Nix's ``compressHash``)."""
    out = bytearray(size)
    for i, b in enumerate(digest):
        out[i % size] ^= b
    return bytes(out)


# --------------------------------------------------------------------------
# Hashes


class Hash:
    """A digest together with its algorithm (immutable; a plain class, not
    a dataclass: making one costs every start-up a millisecond)."""

    __slots__ = ("algo", "digest")
    algo: str
    digest: bytes

    def __init__(self, algo: str, digest: bytes) -> None:
        object.__setattr__(self, "algo", algo)
        object.__setattr__(self, "digest", digest)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"cannot assign to field '{name}'")

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Hash:
            return NotImplemented
        return self.algo == other.algo and self.digest == other.digest  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((self.algo, self.digest))

    def __repr__(self) -> str:
        return f"Hash(algo={self.algo!r}, digest={self.digest!r})"

    def to_string(self, fmt: str = "nix32", include_algo: bool = False) -> str:
        """Render in ``base16``/``nix32``/``base64``/``sri`` (Nix's ``to_string``)."""
        prefix = ""
        if fmt == "sri" or include_algo:
            prefix = self.algo + ("-" if fmt == "sri" else ":")
        if fmt == "base16":
            body = base16_encode(self.digest)
        elif fmt == "nix32":
            body = nix32_encode(self.digest)
        elif fmt in ("base64", "sri"):
            body = base64_encode(self.digest)
        else:
            raise ValueError(f"unknown hash format {fmt!r}")
        return prefix + body

    @property
    def hex(self) -> str:
        """Base-16 without the algorithm."""
        return self.digest.hex()

    @property
    def sri(self) -> str:
        """``algo-base64``."""
        return self.to_string("sri")


def missing_feature_message(feature: str, reason: str = "") -> str:
    """Nix's wording for a disabled experimental feature."""
    extra = f" ({reason})" if reason else ""
    return (
        f"experimental Nix feature '{feature}' is disabled{extra}; "
        f"add '--extra-experimental-features {feature}' to enable it"
    )


def parse_hash_algo(s: str, allow_blake3: bool = False) -> str:
    """Validate a hash algorithm name (``parseHashAlgo``)."""
    if s == "blake3" and not allow_blake3:
        raise BadHash(missing_feature_message("blake3-hashes"))
    if s in HASH_SIZES:
        return s
    raise BadHash(
        f"unknown hash algorithm '{s}', expect 'blake3', 'md5', 'sha1', 'sha256', or 'sha512'"
    )


def parse_hash_algo_opt(s: str, allow_blake3: bool = False) -> str | None:
    """Like ``parse_hash_algo`` but None for an unknown name (``parseHashAlgoOpt``)."""
    if s not in HASH_SIZES:
        return None
    return parse_hash_algo(s, allow_blake3)


def parse_hash_format(name: str, warn: Callable[[str], None] | None = None) -> str:
    """Validate a hash format name; "base32" is a deprecated alias of "nix32"."""
    if name == "base32":
        if warn is not None:
            warn('"base32" is a deprecated alias for hash format "nix32".')
        return "nix32"
    if name in HASH_FORMATS:
        return name
    raise BadHash(f"unknown hash format '{name}', expect 'base16', 'base32', 'base64', or 'sri'")


def _decode_body(rest: str, algo: str, fmt: str) -> Hash:
    """``parseLowLevel``: decode, then insist on the algorithm's size."""
    size = HASH_SIZES[algo]
    decoders = {
        "base16": (base16_decode, "base16"),
        "nix32": (nix32_decode, "nix32"),
        "base64": (base64_decode, "Base64"),
        "sri": (base64_decode, "SRI"),
    }
    decode, display = decoders[fmt]
    try:
        d = decode(rest)
    except BadHash:
        # Nix adds a trace to the decoding error and then drops it, so a
        # bad character surfaces as a length mismatch of an empty result.
        d = b""
    if len(d) != size:
        raise BadHash(f"invalid {display} hash '{rest}', length {len(d)} != expected length {size}")
    return Hash(algo, d)


def _format_from_size(rest: str, algo: str) -> str:
    size = HASH_SIZES[algo]
    if len(rest) == size * 2:
        return "base16"
    if len(rest) == nix32_len(size):
        return "nix32"
    if len(rest) == base64_len(size):
        return "base64"
    raise BadHash(f"hash '{rest}' has wrong length for hash algorithm '{algo}'")


def parse_hash(s: str, algo: str | None = None, allow_blake3: bool = False) -> Hash:
    """Parse any hash Nix accepts (``Hash::parseAny``).

    ``algo:body`` (body in base-16, Nix base-32 or base-64, told apart by
    length), ``algo-base64`` (SRI), or a bare body when ``algo`` is known.
    """
    rest = s
    parsed: str | None = None
    is_sri = False
    if ":" in rest:
        head, rest = rest.split(":", 1)
        parsed = parse_hash_algo(head, allow_blake3)
    elif "-" in rest:
        head, rest = rest.split("-", 1)
        parsed = parse_hash_algo(head, allow_blake3)
        is_sri = True
    if parsed is None and algo is None:
        raise BadHash(
            f"hash '{s}' does not include a type, nor is the type otherwise known from context"
        )
    if parsed is not None and algo is not None and parsed != algo:
        raise BadHash(f"hash '{s}' should have type '{algo}'")
    chosen = parsed if parsed is not None else algo
    assert chosen is not None
    fmt = "sri" if is_sri else _format_from_size(rest, chosen)
    return _decode_body(rest, chosen, fmt)


def parse_hash_prefixed(s: str, allow_blake3: bool = False) -> Hash:
    """Parse a hash that must name its algorithm (``Hash::parseAnyPrefixed``)."""
    if ":" not in s and "-" not in s:
        raise BadHash(f"hash '{s}' does not include a type")
    return parse_hash(s, None, allow_blake3)


def parse_sri(s: str, allow_blake3: bool = False) -> Hash:
    """Parse an SRI hash ``algo-base64`` only (``Hash::parseSRI``)."""
    if "-" not in s:
        raise BadHash(f"hash '{s}' is not SRI")
    head, rest = s.split("-", 1)
    return _decode_body(rest, parse_hash_algo(head, allow_blake3), "sri")


def parse_hash_allow_empty(
    s: str, algo: str | None, warn: Callable[[str], None] | None = None
) -> Hash:
    """``newHashAllowEmpty``: "" means the all-zero hash (with a warning)."""
    if s == "":
        if algo is None:
            raise BadHash("empty hash requires explicit hash algorithm")
        h = Hash(algo, bytes(HASH_SIZES[algo]))
        if warn is not None:
            warn(f"found empty hash, assuming '{h.sri}'")
        return h
    return parse_hash(s, algo)


def _hasher(algo: str):  # type: ignore[no-untyped-def]
    if algo == "blake3":
        try:
            import blake3  # type: ignore[import-not-found]
        except ImportError:
            raise StoreError("BLAKE3 hashing needs the 'blake3' Python package") from None
        return blake3.blake3()
    return hashing.Incremental(algo)


def hash_bytes(algo: str, data: bytes) -> Hash:
    """Hash ``data`` with ``algo`` (``hashString``)."""
    if algo == "blake3":
        h = _hasher(algo)
        h.update(data)
        return Hash(algo, h.digest())
    return Hash(algo, hashing.new(algo, data).digest())


def hash_placeholder(output_name: str) -> str:
    """``builtins.placeholder``: ``/`` + base-32 sha256 of ``nix-output:<name>``."""
    return "/" + nix32_encode(hashing.sha256(b"nix-output:" + output_name.encode()).digest())


# --------------------------------------------------------------------------
# Store paths


def _is_name_char(c: str) -> bool:
    return ("a" <= c <= "z") or ("A" <= c <= "Z") or ("0" <= c <= "9") or c in "+-._?="


def check_name(name: str) -> None:
    """Raise ``BadStorePathName`` unless ``name`` is a valid store path name."""
    if not name:
        raise BadStorePathName("name must not be empty")
    # Nix measures bytes, not characters.
    if len(name.encode("utf-8", "surrogateescape")) > MAX_NAME_LEN:
        raise BadStorePathName(f"name '{name}' must be no longer than {MAX_NAME_LEN} characters")
    if name[0] == ".":
        if name in (".", ".."):
            raise BadStorePathName(f"name '{name}' is not valid")
        for dots in ("..", "."):
            if name.startswith(dots + "-"):
                raise BadStorePathName(
                    f"name '{name}' is not valid: first dash-separated component must not be '{dots}'"
                )
    for c in name:
        if not _is_name_char(c):
            # Nix reports the offending byte; for a non-ASCII character that
            # is its first UTF-8 byte, kept raw as a surrogate escape.
            raw = c.encode("utf-8", "surrogateescape")[:1]
            shown = raw.decode("utf-8", "surrogateescape")
            raise BadStorePathName(f"name '{name}' contains illegal character '{shown}'")


def check_derivation_name(name: str) -> None:
    """``checkDerivationName``: the name check with primops' wording."""
    try:
        check_name(name)
    except BadStorePathName as e:
        raise BadStorePathName(
            f"invalid derivation name: {e.msg}. Please pass a different 'name'."
        ) from None


def _store_path_from_digest(digest20: bytes, name: str, store_dir: str) -> str:
    base = nix32_encode(digest20) + "-" + name
    try:
        check_name(name)
    except BadStorePathName as e:
        raise BadStorePath(f"path '{base}' is not a valid store path: {e.msg}") from None
    return f"{store_dir}/{base}"


def make_store_path(type_: str, inner_hash_hex: str, name: str, store_dir: str = STORE_DIR) -> str:
    """Store path from the fingerprint ``type:sha256:<hex>:<store_dir>:name``."""
    fingerprint = f"{type_}:sha256:{inner_hash_hex}:{store_dir}:{name}"
    digest = hashing.sha256(fingerprint.encode("utf-8", "surrogateescape")).digest()
    return _store_path_from_digest(compress_hash(digest, 20), name, store_dir)


def _make_type(type_: str, references: Iterable[str], self_ref: bool = False) -> str:
    # References are folded into the type, sorted like Nix's StorePathSet.
    parts = [type_, *sorted(set(references))]
    if self_ref:
        parts.append("self")
    return ":".join(parts)


def make_text_path(
    name: str,
    content: bytes | str,
    references: Iterable[str] = (),
    store_dir: str = STORE_DIR,
) -> str:
    """Path of a text file added to the store (``builtins.toFile``, ``.drv`` files)."""
    data = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
    inner = hashing.sha256(data).hexdigest()
    return make_store_path(_make_type("text", references), inner, name, store_dir)


def _method_prefix(method: str) -> str:
    """``ContentAddressMethod::renderPrefix`` for the output hash algo field."""
    if method == "flat":
        return ""
    if method in ("recursive", "nar"):
        return "r:"
    if method == "text":
        return "text:"
    if method == "git":
        return "git:"
    raise StoreError(f"unknown content-address method '{method}'")


def make_fixed_output_path(
    name: str,
    method: str,
    hash_algo: str,
    digest: bytes,
    references: Iterable[str] = (),
    store_dir: str = STORE_DIR,
) -> str:
    """Content-addressed store path (``makeFixedOutputPathFromCA``).

    ``method`` is "flat", "recursive" (or "nar"), "text" or "git". NAR
    ingestion with sha256 is the "source" type; text is the "text" type;
    everything else hashes ``fixed:out:<prefix><algo>:<hex>:`` again.
    """
    refs = list(references)
    if method == "text":
        if hash_algo != "sha256":
            raise StoreError("text-hashed store paths must use sha256")
        return make_store_path(_make_type("text", refs), digest.hex(), name, store_dir)
    if method == "git" and hash_algo not in ("sha1", "sha256"):
        raise StoreError(
            f"Git file ingestion must use SHA-1 or SHA-256 hash, but instead using: {hash_algo}"
        )
    if method in ("recursive", "nar") and hash_algo == "sha256":
        return make_store_path(_make_type("source", refs), digest.hex(), name, store_dir)
    if refs:
        raise StoreError(
            f"fixed output derivation '{name}' is not allowed to refer to other store paths.\n"
            "You may need to use the 'unsafeDiscardReferences' derivation attribute, "
            "see the manual for more details."
        )
    payload = f"fixed:out:{_method_prefix(method)}{hash_algo}:{digest.hex()}:"
    inner = hashing.sha256(payload.encode()).hexdigest()
    return make_store_path("output:out", inner, name, store_dir)


def output_path_name(drv_name: str, output_name: str) -> str:
    """Name of an output's path: the derivation name, plus ``-<output>`` unless "out"."""
    return drv_name if output_name == "out" else f"{drv_name}-{output_name}"


def make_output_path(
    drv_hash_hex: str, output_name: str, drv_name: str, store_dir: str = STORE_DIR
) -> str:
    """Input-addressed output path from the derivation's (masked) hash modulo."""
    return make_store_path(
        f"output:{output_name}", drv_hash_hex, output_path_name(drv_name, output_name), store_dir
    )


def split_store_path(path: str, store_dir: str = STORE_DIR) -> tuple[str, str]:
    """Split ``<store_dir>/<hash>-<name>`` into (hash part, name), validating both."""
    prefix = store_dir.rstrip("/") + "/"
    if not path.startswith(prefix):
        raise BadStorePath(f"path '{path}' is not in the Nix store")
    base = path[len(prefix) :]
    if "/" in base:
        raise BadStorePath(f"path '{path}' is not a store path")
    if len(base) < HASH_PART_LEN + 1:
        raise BadStorePath(f"'{base}' is too short to be a valid store path")
    hash_part, name = base[:HASH_PART_LEN], base[HASH_PART_LEN + 1 :]
    for c in hash_part:
        if c not in _NIX32_REVERSE:
            raise BadStorePath(f"store path '{base}' contains illegal base-32 character '{c}'")
    try:
        check_name(name)
    except BadStorePathName as e:
        raise BadStorePath(f"path '{base}' is not a valid store path: {e.msg}") from None
    return hash_part, name


def is_store_path(path: str, store_dir: str = STORE_DIR) -> bool:
    """True when ``path`` is exactly a store path (no subpath)."""
    try:
        split_store_path(path, store_dir)
    except BadStorePath:
        return False
    return True


def to_store_path(path: str, store_dir: str = STORE_DIR) -> str | None:
    """The store path containing ``path`` (``toStorePath``), or None if outside."""
    prefix = store_dir.rstrip("/") + "/"
    if not path.startswith(prefix):
        return None
    base = path[len(prefix) :].split("/", 1)[0]
    candidate = prefix + base
    return candidate if is_store_path(candidate, store_dir) else None


def is_derivation_path(path: str) -> bool:
    """True when the name ends in ``.drv``."""
    return path.endswith(DRV_EXTENSION)


# --------------------------------------------------------------------------
# NAR serialisation


class StoreIO(Protocol):
    """The file access the NAR serialiser needs; paths are absolute strings.

    ``file_type`` must not follow a final symlink (lstat semantics).
    """

    def read_bytes(self, path: str) -> bytes: ...

    def file_type(self, path: str) -> str: ...

    def is_executable(self, path: str) -> bool: ...

    def list_dir(self, path: str) -> list[str]: ...

    def read_link(self, path: str) -> str: ...


class RealFS:
    """``StoreIO`` on the real file system through ``os``."""

    def read_bytes(self, path: str) -> bytes:
        """Whole file contents."""
        try:
            with open(path, "rb") as f:
                return f.read()
        except OSError as e:
            raise StoreError(f"reading file '{path}': {e.strerror}") from None

    def file_type(self, path: str) -> str:
        """lstat type: "regular", "directory", "symlink" or "unknown"."""
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            raise StoreError(f"path '{path}' does not exist") from None
        except OSError as e:
            raise StoreError(f"getting status of '{path}': {e.strerror}") from None
        if stat.S_ISREG(mode):
            return "regular"
        if stat.S_ISDIR(mode):
            return "directory"
        if stat.S_ISLNK(mode):
            return "symlink"
        return "unknown"

    def is_executable(self, path: str) -> bool:
        """Owner-executable bit, which is what NAR records."""
        return bool(os.lstat(path).st_mode & stat.S_IXUSR)

    def list_dir(self, path: str) -> list[str]:
        """Entry names (unsorted)."""
        try:
            return os.listdir(path)
        except OSError as e:
            raise StoreError(f"reading directory '{path}': {e.strerror}") from None

    def read_link(self, path: str) -> str:
        """Symlink target, verbatim."""
        try:
            return os.readlink(path)
        except OSError as e:
            raise StoreError(f"reading symbolic link '{path}': {e.strerror}") from None


PathFilter = Callable[[str, str], bool]


def _b(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


def _nar_str(data: bytes) -> bytes:
    """A NAR string: 64-bit little-endian length, bytes, zero padding to 8."""
    pad = (-len(data)) % 8
    return len(data).to_bytes(8, "little") + data + b"\0" * pad


def _join(parent: str, name: str) -> str:
    return parent + name if parent.endswith("/") else parent + "/" + name


def dump_nar(
    path: str,
    io: StoreIO,
    sink: Callable[[bytes], object],
    filter: PathFilter | None = None,
) -> None:
    """Write the NAR of ``path`` to ``sink`` in pieces (``dumpPath``).

    ``filter(path, type)`` is asked about every entry below the root, in
    the order Nix asks: sorted, depth first, each entry just before it is
    serialised. A rejected entry (and everything under it) is left out.
    Work is kept on an explicit stack so deep trees cannot exhaust Python's.
    """
    sink(_nar_str(b"nix-archive-1"))
    # Stack items: raw bytes to emit, ("node", path) to serialise a node, or
    # ("entry", path, name) for a directory entry still to be filtered.
    stack: list[bytes | tuple[str, ...]] = [("node", path)]
    while stack:
        item = stack.pop()
        if isinstance(item, bytes):
            sink(item)
            continue
        if item[0] == "entry":
            _, child, name = item
            if filter is not None and not filter(child, io.file_type(child)):
                continue
            sink(_nar_str(b"entry") + _nar_str(b"(") + _nar_str(b"name") + _nar_str(_b(name)))
            sink(_nar_str(b"node"))
            stack.append(_nar_str(b")"))
            stack.append(("node", child))
            continue
        p = item[1]
        kind = io.file_type(p)
        if kind == "regular":
            head = _nar_str(b"(") + _nar_str(b"type") + _nar_str(b"regular")
            if io.is_executable(p):
                head += _nar_str(b"executable") + _nar_str(b"")
            sink(head + _nar_str(b"contents"))
            sink(_nar_str(io.read_bytes(p)))
            sink(_nar_str(b")"))
        elif kind == "symlink":
            sink(
                _nar_str(b"(")
                + _nar_str(b"type")
                + _nar_str(b"symlink")
                + _nar_str(b"target")
                + _nar_str(_b(io.read_link(p)))
                + _nar_str(b")")
            )
        elif kind == "directory":
            sink(_nar_str(b"(") + _nar_str(b"type") + _nar_str(b"directory"))
            stack.append(_nar_str(b")"))
            names = sorted(io.list_dir(p), key=_b)
            stack.extend(("entry", _join(p, name), name) for name in reversed(names))
        else:
            raise StoreError(f"file '{p}' has an unsupported type")


def nar_bytes(path: str, io: StoreIO, filter: PathFilter | None = None) -> bytes:
    """The whole NAR of ``path`` in memory (tests, small trees)."""
    parts: list[bytes] = []
    dump_nar(path, io, parts.append, filter)
    return b"".join(parts)


def nar_hash_path(
    path: str, io: StoreIO, filter: PathFilter | None = None, algo: str = "sha256"
) -> bytes:
    """Digest of the NAR of ``path``, streamed."""
    h = _hasher(algo)
    dump_nar(path, io, h.update, filter)
    return h.digest()


def hash_path(
    path: str,
    io: StoreIO,
    filter: PathFilter | None = None,
    method: str = "recursive",
    algo: str = "sha256",
) -> bytes:
    """Content digest of ``path`` for ``method`` "recursive"/"nar" or "flat"."""
    if method in ("recursive", "nar"):
        return nar_hash_path(path, io, filter, algo)
    if method == "flat":
        if io.file_type(path) != "regular":
            raise StoreError(f"file '{path}' is not a regular file")
        return hash_bytes(algo, io.read_bytes(path)).digest
    raise StoreError(f"unsupported ingestion method '{method}' for a path")


def path_to_store(
    path: str,
    name: str,
    io: StoreIO,
    filter: PathFilter | None = None,
    method: str = "recursive",
    store_dir: str = STORE_DIR,
) -> str:
    """Store path that ``builtins.path`` / ``filterSource`` / ``"${./p}"`` yield.

    ``path`` should already have its symlinks resolved, as Nix resolves
    them before copying. The name is usually the path's base name.
    """
    digest = hash_path(path, io, filter, method, "sha256")
    return make_fixed_output_path(name, method, "sha256", digest, (), store_dir)


# --------------------------------------------------------------------------
# Derivations


def _aterm_string(s: str) -> str:
    """Quote ``s`` the way derivations.cc ``printString`` does."""
    out = ['"']
    for c in s:
        if c == '"' or c == "\\":
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        else:
            out.append(c)
    out.append('"')
    return "".join(out)


def _unquoted(s: str) -> str:
    # Nix prints store paths, output names, hashes and the platform without
    # escaping anything.
    return '"' + s + '"'


def _sort_key(s: str) -> bytes:
    return s.encode("utf-8", "surrogateescape")


class Derivation:
    """A store derivation, as the ATerm holds it.

    ``outputs`` maps output name to (path, hash algo field, hash): the
    algo field is ``<method prefix><algo>`` (e.g. "r:sha256") and the hash
    is base-16, both empty for input-addressed outputs. Structured attrs
    live in ``env["__json"]``.
    """

    __slots__ = (
        "name",
        "outputs",
        "input_srcs",
        "input_drvs",
        "platform",
        "builder",
        "args",
        "env",
    )

    def __init__(
        self,
        name: str,
        outputs: dict[str, tuple[str, str, str]] | None = None,
        input_srcs: set[str] | None = None,
        input_drvs: dict[str, set[str]] | None = None,
        platform: str = "",
        builder: str = "",
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.outputs = {} if outputs is None else outputs
        self.input_srcs = set() if input_srcs is None else input_srcs
        self.input_drvs = {} if input_drvs is None else input_drvs
        self.platform = platform
        self.builder = builder
        self.args = [] if args is None else args
        self.env = {} if env is None else env

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not Derivation:
            return NotImplemented
        return all(getattr(self, k) == getattr(other, k) for k in self.__slots__)

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"Derivation({fields})"

    def is_fixed_output(self) -> bool:
        """True for a fixed-output derivation (its "out" carries a hash)."""
        return list(self.outputs) == ["out"] and self.outputs["out"][2] != ""


def unparse(
    drv: Derivation,
    mask_outputs: bool = False,
    input_drvs_override: Mapping[str, Iterable[str]] | None = None,
) -> str:
    """Nix's ATerm text of ``drv`` (``Derivation::unparse``).

    ``mask_outputs`` blanks output paths and the matching env vars (for the
    hash that determines them); ``input_drvs_override`` replaces the input
    derivation map (keys are then hash-modulo hex strings).
    """
    parts: list[str] = ["Derive(["]
    outs = []
    for out_name in sorted(drv.outputs, key=_sort_key):
        path, algo, hash_ = drv.outputs[out_name]
        if mask_outputs:
            path, algo, hash_ = "", "", ""
        outs.append("(" + ",".join(_unquoted(x) for x in (out_name, path, algo, hash_)) + ")")
    parts.append(",".join(outs))
    parts.append("],[")
    inputs = drv.input_drvs if input_drvs_override is None else input_drvs_override
    ins = []
    for key in sorted(inputs, key=_sort_key):
        names = sorted(set(inputs[key]), key=_sort_key)
        ins.append("(" + _unquoted(key) + ",[" + ",".join(_unquoted(n) for n in names) + "])")
    parts.append(",".join(ins))
    parts.append("],[")
    parts.append(",".join(_unquoted(p) for p in sorted(drv.input_srcs, key=_sort_key)))
    parts.append("],")
    parts.append(_unquoted(drv.platform))
    parts.append(",")
    parts.append(_aterm_string(drv.builder))
    parts.append(",[")
    parts.append(",".join(_aterm_string(a) for a in drv.args))
    parts.append("],[")
    env = dict(drv.env)
    if mask_outputs:
        for out_name in drv.outputs:
            if out_name in env:
                env[out_name] = ""
    parts.append(
        ",".join(
            "(" + _aterm_string(k) + "," + _aterm_string(env[k]) + ")"
            for k in sorted(env, key=_sort_key)
        )
    )
    parts.append("])")
    return "".join(parts)


def fixed_output_modulo_hash(drv: Derivation) -> str:
    """Hash modulo of a fixed-output derivation: depends on its output only."""
    path, algo, hash_ = drv.outputs["out"]
    return hashing.sha256(f"fixed:out:{algo}:{hash_}:{path}".encode()).hexdigest()


def hash_derivation_modulo(
    drv: Derivation,
    resolve_input_drv_hash: Callable[[str], str],
    mask_outputs: bool = False,
) -> str:
    """The derivation's hash modulo fixed-output inputs, as sha256 hex.

    A fixed-output derivation hashes as ``fixed:out:<algo>:<hash>:<path>``
    so that how it fetches does not leak into dependents. Otherwise the ATerm
    is hashed with each input derivation path replaced by
    ``resolve_input_drv_hash(drv_path)`` (that derivation's own hash modulo).
    """
    if drv.is_fixed_output():
        return fixed_output_modulo_hash(drv)
    replaced: dict[str, set[str]] = {}
    for drv_path, outs in drv.input_drvs.items():
        replaced.setdefault(resolve_input_drv_hash(drv_path), set()).update(outs)
    aterm = unparse(drv, mask_outputs=mask_outputs, input_drvs_override=replaced)
    return hashing.sha256(aterm.encode("utf-8", "surrogateescape")).hexdigest()


def derivation_store_path(drv: Derivation, store_dir: str = STORE_DIR) -> tuple[str, str]:
    """(drv path, ATerm): the ``.drv`` text file referencing all inputs."""
    aterm = unparse(drv)
    refs = set(drv.input_srcs) | set(drv.input_drvs)
    return make_text_path(drv.name + DRV_EXTENSION, aterm, refs, store_dir), aterm


class DerivationResult(NamedTuple):
    """What ``compute_derivation_paths`` found."""

    drv_path: str
    output_paths: dict[str, str]
    aterm: str
    # Hash modulo of the finished derivation: cache it under drv_path and
    # hand it out from ``modulo_hash_of`` when something depends on it.
    modulo_hash: str
    derivation: Derivation


def compute_derivation_paths(
    name: str,
    outputs: Iterable[str],
    env: Mapping[str, str],
    input_srcs: Iterable[str],
    input_drvs: Mapping[str, Iterable[str]],
    platform: str,
    builder: str,
    args: Iterable[str],
    fixed_output: tuple[str, bytes | str | Hash, str] | None = None,
    structured_attrs_json: str | None = None,
    modulo_hash_of: Callable[[str], str] | None = None,
    store_dir: str = STORE_DIR,
) -> DerivationResult:
    """Fill in output paths and compute the ``.drv`` path, as derivationStrict does.

    ``env`` holds the attributes already coerced to strings (empty when
    structured attrs are used; ``structured_attrs_json`` then becomes
    ``__json``). ``fixed_output`` is (hash algo, hash, method) with the hash
    as digest bytes, a ``Hash``, or a string ``parse_hash`` accepts.
    ``modulo_hash_of(drv_path)`` must return the hash modulo (hex) of each
    input derivation, e.g. from a cache of earlier ``modulo_hash`` results.
    """
    out_names = list(dict.fromkeys(outputs))
    if not out_names:
        raise StoreError("derivation cannot have an empty set of outputs")
    drv = Derivation(
        name=name,
        input_srcs=set(input_srcs),
        input_drvs={p: set(o) for p, o in input_drvs.items()},
        platform=platform,
        builder=builder,
        args=list(args),
        env=dict(env),
    )
    if structured_attrs_json is not None:
        drv.env["__json"] = structured_attrs_json

    method = fixed_output[2] if fixed_output is not None else None
    if name.endswith(DRV_EXTENSION) and not (method == "text" and out_names == ["out"]):
        raise StoreError(
            "derivation names are allowed to end in '.drv' only if they produce "
            "a single derivation file"
        )

    def resolve(path: str) -> str:
        if modulo_hash_of is None:
            raise StoreError(f"no hash modulo known for input derivation '{path}'")
        return modulo_hash_of(path)

    output_paths: dict[str, str] = {}
    if fixed_output is not None:
        if out_names != ["out"]:
            raise StoreError("multiple outputs are not supported in fixed-output derivations")
        algo, raw_hash, method = fixed_output
        if isinstance(raw_hash, Hash):
            digest = raw_hash.digest
        elif isinstance(raw_hash, str):
            digest = parse_hash(raw_hash, algo).digest
        else:
            digest = raw_hash
        if method == "nar":
            method = "recursive"
        path = make_fixed_output_path(name, method, algo, digest, (), store_dir)
        drv.outputs["out"] = (path, _method_prefix(method) + algo, digest.hex())
        drv.env["out"] = path
        output_paths["out"] = path
    else:
        # The masked derivation: empty output paths and empty output env
        # vars, so the output names (but not their paths) shape the hash.
        for out in out_names:
            drv.outputs[out] = ("", "", "")
            drv.env[out] = ""
        masked_hash = hash_derivation_modulo(drv, resolve, mask_outputs=True)
        for out in out_names:
            path = make_output_path(masked_hash, out, name, store_dir)
            drv.outputs[out] = (path, "", "")
            drv.env[out] = path
            output_paths[out] = path

    drv_path, aterm = derivation_store_path(drv, store_dir)
    modulo = hash_derivation_modulo(drv, resolve)
    return DerivationResult(drv_path, output_paths, aterm, modulo, drv)
