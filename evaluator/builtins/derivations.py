"""Derivations and store paths: ``derivationStrict``, ``derivation``,
``toFile``, ``path``, ``filterSource`` and ``storePath``.

Nothing is ever written to a store: like ``nix-instantiate`` against a dummy
store, the builtins only compute the paths (with ``evaluator.store``).  What
later derivations need to know about earlier ones (the hash modulo of each
``.drv``, its output names, the references of every path made here) is kept
per evaluator in a ``StoreState``.

``derivation`` itself is Nix code, as in Nix: a small wrapper around
``derivationStrict`` compiled once per evaluator from ``DERIVATION_NIX``,
whose layout matches Nix's ``derivation-internal.nix`` so error traces name
the same lines.
"""

from __future__ import annotations

import os
from typing import Any

from .. import store
from ..diagnostics import Diagnostic, Note, Severity
from ..errors import MissingPath, NixError
from ..runtime import DERIVATION_SOURCE_NAME, canon_path, coerce_to_string, type_error
from ..values import Attrs, CtxStr, NixPath, Thunk, context_of
from ..vm import CONTEXT, Emit, force_at
from .core import force_attrs, force_bool, force_fn, force_list, force_string
from .lists import force_string_no_ctx, traced
from .registry import builtin, constant
from .serial import json_string, to_json

# The text of ``derivation``.  Line numbers matter: Nix's traces point into
# its own copy of this file (the ``strict = ...`` line is line 36, the
# ``outPath = ...`` line is line 49), and so must ours.
DERIVATION_NIX = """\
# The `derivation` builtin of nixlens.
#
# Like Nix's own `derivation`, this is Nix code rather than a primop: a thin
# wrapper around the `derivationStrict` builtin, which computes the store
# derivation and its output paths.
#
# The wrapper returns one attribute set per output. Each of them holds all
# the attributes passed in, plus:
#
#   - `outPath`: the path of that output
#   - `drvPath`: the path of the store derivation
#   - `type`: the string "derivation"
#   - `outputName`: the name of that output
#   - `drvAttrs`: the attributes passed in
#   - `all`: the attribute sets of every output
#   - one attribute per output name, holding that output's set
#
# The result is the set of the first output.
#
# Everything is lazy: nothing is computed until an attribute other than
# the ones passed in is needed, and then `derivationStrict` runs once for
# all outputs.
#
# The layout of this file follows Nix's derivation-internal.nix line for
# line from here on, so that error traces point at the same positions.
#
#
#
drvAttrs@{
  outputs ? [ "out" ],
  ...
}:

let

  strict = derivationStrict drvAttrs;

  commonAttrs =
    drvAttrs
    // (builtins.listToAttrs outputsList)
    // {
      all = map (x: x.value) outputsList;
      inherit drvAttrs;
    };

  outputToAttrListElement = outputName: {
    name = outputName;
    value = commonAttrs // {
      outPath = strict.${outputName};
      drvPath = strict.drvPath;
      type = "derivation";
      inherit outputName;
    };
  };

  outputsList = map outputToAttrListElement outputs;

in
(builtins.head outputsList).value
"""

# Attributes that structured attrs make meaningless (Nix warns about them).
_LEGACY_CHECKS = (
    "allowedReferences",
    "allowedRequisites",
    "disallowedReferences",
    "disallowedRequisites",
    "maxSize",
    "maxClosureSize",
)
_HASH_MODES = {"flat": "flat", "recursive": "recursive", "nar": "recursive", "text": "text"}


class StoreState:
    """What one evaluator knows about the store paths it has computed."""

    __slots__ = ("modulo", "outputs", "refs")

    def __init__(self) -> None:
        # .drv path -> hash modulo (hex) and output names.
        self.modulo: dict[str, str] = {}
        self.outputs: dict[str, list[str]] = {}
        # store path -> the store paths it references (drv files, toFile texts).
        self.refs: dict[str, frozenset[str]] = {}

    def closure(self, path: str) -> set[str]:
        """``computeFSClosure``: ``path`` and everything it references."""
        seen = {path}
        todo = [path]
        while todo:
            for r in self.refs.get(todo.pop(), ()):
                if r not in seen:
                    seen.add(r)
                    todo.append(r)
        return seen


def store_state(ev: Any) -> StoreState:
    """The evaluator's ``StoreState`` (created on first use)."""
    st = getattr(ev, "derivation_state", None)
    if st is None:
        st = StoreState()
        ev.derivation_state = st
    return st


# ------------------------------------------------------------- derivation
@constant("derivation")
def _derivation(ev: Any) -> Any:
    return Thunk(_derivation_code, ev)


def _derivation_code(ev: Any) -> Any:
    entry = ev.compile(DERIVATION_NIX, None, DERIVATION_SOURCE_NAME)
    return (yield entry([None]))


# ------------------------------------------------------- derivationStrict
def _attr_pos(attrs: Attrs, name: str) -> Any:
    return attrs.pos.get(name) if attrs.pos else None


def _force_value(attrs: Attrs, key: str, d: int) -> Any:
    """Generator: force ``attrs[key]`` as a builtin does (no attribute trace),
    ``d`` calls deep (as ``vm.force_at``)."""
    v = attrs[key]
    if v.__class__ is not Thunk:
        return v
    if v.c is None:
        return v.v
    return (yield from force_at(v, d))


def _coerce_at(v: Any, d: int) -> Any:
    """Generator: ``coerce_to_string(v, coerce_more=True)`` with ``v``
    forced ``d`` calls deep first (as coerce_to_string forces it)."""
    v = yield from force_at(v, d)
    return (yield from coerce_to_string(v, coerce_more=True))


def _no_ctx(s: Any) -> str:
    if s.__class__ is CtxStr:
        from .lists import no_context_error

        raise no_context_error(s)
    return str(s)


@builtin("derivationStrict")
def _derivation_strict(arg: Any, d: int, span: Any) -> Any:
    attrs = yield from traced(
        force_attrs(arg, d), "while evaluating the argument passed to builtins.derivationStrict"
    )
    if "name" not in attrs:
        err = NixError("attribute 'name' missing")
        err.add_trace("in the attrset passed as argument to builtins.derivationStrict", None)
        raise err
    name_pos = _attr_pos(attrs, "name")
    try:
        v = yield from _force_value(attrs, "name", d)
        if v.__class__ is not str and v.__class__ is not CtxStr:
            raise type_error("a string", v)
        name = _no_ctx(v)
    except NixError as err:
        err.add_trace(
            "while evaluating the `name` attribute passed to builtins.derivationStrict", None
        )
        err.add_trace("while evaluating the derivation attribute 'name'", name_pos)
        raise
    try:
        return (yield from _derivation_strict_internal(name, attrs, d))
    except NixError as err:
        where = str(name_pos) if name_pos is not None else "«none»"
        err.add_trace(
            f"while evaluating derivation '{name}'\n  whose name attribute is located at {where}",
            None,
        )
        raise


class _Drv:
    """The derivation being assembled."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.env: dict[str, str] = {}
        self.args: list[str] = []
        self.builder = ""
        self.platform = ""
        self.context: set[str] = set()
        self.outputs: list[str] = ["out"]
        self.output_hash: str | None = None
        self.output_hash_algo: str | None = None
        self.hash_mode: str | None = None
        self.json: dict[str, str] | None = None
        self.json_text: str | None = None

    def set_hash_mode(self, s: str) -> None:
        mode = _HASH_MODES.get(s)
        if mode is None and s == "git":
            raise NixError(store.missing_feature_message("git-hashing"))
        if mode is None:
            raise NixError(f"invalid value '{s}' for 'outputHashMode' attribute")
        if mode == "text":
            raise NixError(
                store.missing_feature_message(
                    "dynamic-derivations",
                    f"text-hashed derivation '{self.name}', outputHashMode = \"text\"",
                )
            )
        self.hash_mode = mode

    def set_outputs(self, names: list[str]) -> None:
        seen: list[str] = []
        for j in names:
            if j in seen:
                raise NixError(f"duplicate derivation output '{j}'")
            if j == "drvPath":
                raise NixError("invalid derivation output name 'drvPath'")
            seen.append(j)
        if not seen:
            raise NixError("derivation cannot have an empty set of outputs")
        self.outputs = sorted(seen)

    def add_ctx(self, s: Any) -> str:
        if s.__class__ is CtxStr:
            self.context |= s.ctx
        return str(s)


def _derivation_strict_internal(name: str, attrs: Attrs, d: int) -> Any:
    """Generator: the body of derivationStrict (Nix's derivationStrictInternal)."""
    store.check_derivation_name(name)
    drv = _Drv(name)
    if "__structuredAttrs" in attrs:
        v = yield from traced(
            force_bool(attrs["__structuredAttrs"], d),
            "while evaluating the `__structuredAttrs` attribute passed to builtins.derivationStrict",
        )
        if v:
            drv.json = {}
    ignore_nulls = False
    if "__ignoreNulls" in attrs:
        ignore_nulls = yield from traced(
            force_bool(attrs["__ignoreNulls"], d),
            "while evaluating the `__ignoreNulls` attribute passed to builtins.derivationStrict",
        )
    for key in sorted(attrs):
        if key == "__ignoreNulls":
            continue
        try:
            yield from _derivation_attr(drv, attrs, key, ignore_nulls, d)
        except NixError as err:
            err.add_trace(
                f"while evaluating attribute '{key}' of derivation '{name}'",
                _attr_pos(attrs, key),
            )
            raise
    ev = yield CONTEXT
    return _finish(ev, drv)


def _derivation_attr(drv: _Drv, attrs: Attrs, key: str, ignore_nulls: bool, d: int) -> Any:
    """Generator: take one attribute into the derivation."""
    if ignore_nulls:
        v = yield from _force_value(attrs, key, d)
        if v is None:
            return
    if key in ("__contentAddressed", "__impure"):
        v = yield from _force_value(attrs, key, d)
        if v.__class__ is not bool:
            raise type_error("a Boolean", v)
        if v:
            feature = "ca-derivations" if key == "__contentAddressed" else "impure-derivations"
            raise NixError(store.missing_feature_message(feature))
        return
    if key == "args":
        v = yield from _force_value(attrs, key, d)
        if v.__class__ is not list:
            raise type_error("a list", v)
        for elem in v:
            s = yield from traced(
                _coerce_at(elem, d), "while evaluating an element of the argument list"
            )
            drv.args.append(drv.add_ctx(s))
        return
    if drv.json is not None:
        if key == "__structuredAttrs":
            return
        yield from _force_value(attrs, key, d)
        text = yield from to_json(attrs[key], d)
        drv.json[key] = drv.add_ctx(text)
        if key in ("builder", "system", "outputHash", "outputHashAlgo", "outputHashMode"):
            v = yield from _force_value(attrs, key, d)
            s = yield from force_string(v, d)
            if key == "builder":
                drv.builder = drv.add_ctx(s)
            else:
                _special(drv, key, _no_ctx(s))
        elif key == "outputs":
            v = yield from _force_value(attrs, key, d)
            xs = yield from force_list(v, d)
            names = []
            for x in xs:
                names.append(str((yield from force_string_no_ctx(x, d))))
            drv.set_outputs(names)
        if key in _LEGACY_CHECKS:
            yield Emit(
                Diagnostic(
                    "structured_attrs_ignored",
                    Severity.WARNING,
                    f"'structuredAttrs' disables the effect of the derivation attribute "
                    f"'{key}'; use 'outputChecks.<output>.{key}' instead",
                    _attr_pos(attrs, key),
                    [Note(f"while evaluating derivation '{drv.name}'")],
                )
            )
        return
    yield from _force_value(attrs, key, d)
    s = yield from coerce_to_string(attrs[key], coerce_more=True)
    s = drv.add_ctx(s)
    if key == "__json":
        yield Emit(
            Diagnostic(
                "deprecated",
                Severity.WARNING,
                f"In derivation '{drv.name}': setting structured attributes via '__json' is "
                "deprecated, and may be disallowed in future versions of Nix. "
                "Set '__structuredAttrs = true' instead.",
                _attr_pos(attrs, key),
            )
        )
        import json  # here: only the deprecated ``__json`` attribute needs it

        try:
            parsed = json.loads(s)
        except ValueError as e:
            raise NixError(f"JSON parse error in '__json': {e}") from None
        drv.json_text = json.dumps(
            parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        )
        return
    drv.env[key] = s
    if key == "builder":
        drv.builder = s
    elif key == "outputs":
        drv.set_outputs(s.split())
    else:
        _special(drv, key, s)


def _special(drv: _Drv, key: str, s: str) -> None:
    """The attributes (besides builder and outputs) Nix reads itself."""
    if key == "system":
        drv.platform = s
    elif key == "outputHash":
        drv.output_hash = s
    elif key == "outputHashAlgo":
        drv.output_hash_algo = store.parse_hash_algo_opt(s)
    elif key == "outputHashMode":
        drv.set_hash_mode(s)


def _finish(ev: Any, drv: _Drv) -> Attrs:
    """Resolve the inputs from the context and compute the paths."""
    st = store_state(ev)
    input_srcs: set[str] = set()
    input_drvs: dict[str, set[str]] = {}
    for c in drv.context:
        if c.startswith("="):
            for p in st.closure(c[1:]):
                input_srcs.add(p)
                if p.endswith(store.DRV_EXTENSION):
                    input_drvs.setdefault(p, set()).update(st.outputs.get(p, ()))
        elif c.startswith("!"):
            out, _, drv_path = c[1:].partition("!")
            input_drvs.setdefault(drv_path, set()).add(out)
        else:
            input_srcs.add(c)
    if drv.builder == "":
        raise NixError("required attribute 'builder' missing")
    if drv.platform == "":
        raise NixError("required attribute 'system' missing")
    if drv.name.endswith(store.DRV_EXTENSION) and not (
        drv.hash_mode == "text" and drv.outputs == ["out"]
    ):
        raise NixError(
            "derivation names are allowed to end in '.drv' only if they produce a single "
            "derivation file"
        )
    fixed = None
    if drv.output_hash is not None:
        if drv.outputs != ["out"]:
            raise NixError("multiple outputs are not supported in fixed-output derivations")
        h = store.parse_hash_allow_empty(
            drv.output_hash, drv.output_hash_algo, _warner(ev, drv.name)
        )
        fixed = (h.algo, h, drv.hash_mode or "flat")
    json_text = drv.json_text
    if drv.json is not None:
        json_text = (
            "{" + ",".join(json_string(k) + ":" + drv.json[k] for k in sorted(drv.json)) + "}"
        )

    def modulo_of(path: str) -> str:
        h = st.modulo.get(path)
        if h is None:
            raise NixError(f"path '{path}' is not valid")
        return h

    try:
        res = store.compute_derivation_paths(
            drv.name,
            drv.outputs,
            drv.env,
            input_srcs,
            input_drvs,
            drv.platform,
            drv.builder,
            drv.args,
            fixed_output=fixed,
            structured_attrs_json=json_text,
            modulo_hash_of=modulo_of,
            store_dir=ev.store_dir,
        )
    except store.StoreError as e:
        raise NixError(e.msg) from None
    st.modulo[res.drv_path] = res.modulo_hash
    st.outputs[res.drv_path] = list(res.output_paths)
    st.refs[res.drv_path] = frozenset(input_srcs) | frozenset(input_drvs)
    result = Attrs()
    result["drvPath"] = CtxStr(res.drv_path, frozenset(["=" + res.drv_path]))
    for o, p in res.output_paths.items():
        result[o] = CtxStr(p, frozenset([f"!{o}!{res.drv_path}"]))
    return result


def _warner(ev: Any, name: str) -> Any:
    def warn(msg: str) -> None:
        ev.machine.warnings.append(Diagnostic("deprecated", Severity.WARNING, msg, None))

    return warn


# ------------------------------------------------------------------ toFile
@builtin("toFile")
def _to_file(name: Any, s: Any) -> Any:
    name = yield from traced(
        force_string_no_ctx(name), "while evaluating the first argument passed to builtins.toFile"
    )
    contents = yield from traced(
        force_string(s), "while evaluating the second argument passed to builtins.toFile"
    )
    ctx = context_of(contents)
    bad = sorted(c for c in ctx if c.startswith("="))
    bad += sorted((c for c in ctx if c.startswith("!")), key=lambda c: c.split("!")[::-1])
    if bad:
        raise NixError(
            f"files created by builtins.toFile may not reference derivations, "
            f"but {name} references {bad[0]}"
        )
    ev = yield CONTEXT
    path = store.make_text_path(str(name), str(contents), ctx, ev.store_dir)
    store_state(ev).refs[path] = frozenset(ctx)
    ev.io.add_text(path, str(contents).encode("utf-8", "surrogateescape"))
    return CtxStr(path, frozenset([path]))


# -------------------------------------------------- path, filterSource, ...
def coerce_to_path(v: Any, msg: str) -> Any:
    """Generator: Nix's ``coerceToPath``: (absolute path string, context)."""

    def gen() -> Any:
        if v.__class__ is Thunk:
            x = yield v
        else:
            x = v
        if x.__class__ is NixPath:
            return x.path, frozenset()
        s = yield from coerce_to_string(x, copy_to_store=False)
        if not str(s).startswith("/"):
            raise NixError(f"string '{s}' doesn't represent an absolute path")
        return str(s), context_of(s)

    return (yield from traced(gen(), msg))


def _resolve_root(io: Any, path: str) -> str:
    """``path`` with its last component followed while it is a symlink."""
    for _ in range(64):
        if io.file_type(path, follow=False) != "symlink":
            return path
        target = io.read_link(path)
        if not target.startswith("/"):
            target = os.path.dirname(path) + "/" + target
        path = canon_path(target)
    raise NixError(f"too many levels of symbolic links in '{path}'")


def _join(parent: str, name: str) -> str:
    return parent + name if parent.endswith("/") else parent + "/" + name


def _filter_decisions(io: Any, root: str, shown_root: str, fn: Any) -> Any:
    """Generator: ask the Nix filter about every entry under ``root``.

    Entries are visited as a NAR dump visits them (sorted, depth first), and
    a rejected directory is not entered.  The filter sees paths under
    ``shown_root`` (the path the user gave); the answers are keyed by the
    real paths the NAR walk will ask about."""
    decisions: dict[str, bool] = {}
    todo = [root]
    while todo:
        d = todo.pop()
        if io.file_type(d, follow=False) != "directory":
            continue
        names = sorted(io.list_dir(d), key=lambda n: n.encode("utf-8", "surrogateescape"))
        subdirs = []
        for n in names:
            child = _join(d, n)
            kind = io.file_type(child, follow=False) or "unknown"
            shown = shown_root + child[len(root) :]
            g = yield (fn, shown, None)
            r = yield (g, kind, None)
            if r.__class__ is Thunk:
                r = yield r
            if r.__class__ is not bool:
                err = type_error("a Boolean", r)
                err.add_trace("while evaluating the return value of the path filter function", None)
                raise err
            decisions[child] = r
            if r and kind == "directory":
                subdirs.append(child)
        todo.extend(reversed(subdirs))
    return decisions


def add_path(
    name: str,
    path: str,
    fn: Any,
    method: str,
    expected: store.Hash | None,
    ctx: frozenset[str],
) -> Any:
    """Generator: Nix's ``addPath``: the store path of a (filtered) path."""
    from ..eval import _StoreIOAdapter

    ev = yield CONTEXT
    try:
        io = ev.io
        if io.file_type(path, follow=False) is None:
            raise MissingPath(path)
        real = _resolve_root(io, path)
        filt = None
        decisions = None
        if fn is not None:
            decisions = yield from _filter_decisions(io, real, path, fn)

            def filt(p: str, _kind: str) -> bool:
                return decisions.get(p, False)

        try:
            dst = store.path_to_store(
                real, name, _StoreIOAdapter(io), filt, method, store_dir=ev.store_dir
            )
        except store.BadStorePath as e:
            raise NixError(e.msg) from None
        io.add_copy(dst, real, decisions)
        if expected is not None:
            want = store.make_fixed_output_path(
                name, method, "sha256", expected.digest, (), ev.store_dir
            )
            if want != dst:
                raise NixError(
                    f"store path mismatch in (possibly filtered) path added from '{path}'"
                )
    except NixError as err:
        err.add_trace(f"while adding path '{path}'", None)
        raise
    return CtxStr(dst, frozenset([dst]))


@builtin("filterSource")
def _filter_source(fn: Any, p: Any) -> Any:
    path, ctx = yield from coerce_to_path(
        p,
        "while evaluating the second argument (the path to filter) passed to "
        "'builtins.filterSource'",
    )
    fn = yield from traced(
        force_fn(fn), "while evaluating the first argument passed to builtins.filterSource"
    )
    path = canon_path(path)
    return (yield from add_path(_base_name(path), path, fn, "recursive", None, ctx))


def _base_name(path: str) -> str:
    return path.rsplit("/", 1)[-1]


@builtin("path")
def _path(args: Any) -> Any:
    attrs = yield from traced(
        force_attrs(args), "while evaluating the argument passed to 'builtins.path'"
    )
    path = None
    ctx: frozenset[str] = frozenset()
    name = ""
    fn = None
    method = "recursive"
    expected = None
    for k in sorted(attrs):
        v = attrs[k]
        if k == "path":
            path, ctx = yield from coerce_to_path(
                v, "while evaluating the 'path' attribute passed to 'builtins.path'"
            )
        elif k == "name":
            name = str(
                (
                    yield from traced(
                        force_string_no_ctx(v),
                        "while evaluating the `name` attribute passed to builtins.path",
                    )
                )
            )
        elif k == "filter":
            fn = yield from traced(
                force_fn(v), "while evaluating the `filter` parameter passed to builtins.path"
            )
        elif k == "recursive":
            rec = yield from traced(
                force_bool(v), "while evaluating the `recursive` attribute passed to builtins.path"
            )
            method = "recursive" if rec else "flat"
        elif k == "sha256":
            s = yield from traced(
                force_string_no_ctx(v),
                "while evaluating the `sha256` attribute passed to builtins.path",
            )
            ev = yield CONTEXT
            expected = store.parse_hash_allow_empty(str(s), "sha256", _warner(ev, ""))
        else:
            raise NixError(f"unsupported argument '{k}' to 'addPath'", _attr_pos(attrs, k))
    if path is None:
        raise NixError("missing required 'path' attribute in the first argument to builtins.path")
    path = canon_path(path)
    if not name:
        name = _base_name(path)
    return (yield from add_path(name, path, fn, method, expected, ctx))


@builtin("storePath")
def _store_path(p: Any) -> Any:
    path, ctx = yield from coerce_to_path(
        p, "while evaluating the first argument passed to 'builtins.storePath'"
    )
    ev = yield CONTEXT
    if not store.is_store_path(path, ev.store_dir):
        path = canon_path(path)
    sp = store.to_store_path(path, ev.store_dir)
    if sp is None:
        raise NixError(f"path '{path}' is not in the Nix store")
    return CtxStr(path, frozenset(ctx) | {sp})
