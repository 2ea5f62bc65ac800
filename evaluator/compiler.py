"""Compile the AST to Python generator functions.

Every Nix function body and every thunk becomes one Python generator function
in a generated module.  Inside it, sub-expressions are compiled inline to
straight-line statements: a value already forced is used directly, and the
code yields to the driver (``evaluator.vm``) only to force an unforced thunk,
to call a function, or to run a helper generator.

Environments are Python lists ``[parent, slot1, slot2, ...]``; a variable is
resolved at compile time to "n parents up, slot k".  ``with`` scopes are lists
``[parent, attrs]`` searched at run time, innermost first, only for names no
lexical scope binds.  Global names (builtins) are module globals.

Expressions too deeply nested for one Python function (indentation) are
spilled into a helper generator called with ``yield from``: host stack depth
grows with syntactic nesting only, never with Nix call depth.
"""

from __future__ import annotations

import array
import io
import itertools
import marshal
import pickle
import sys
import types
import zlib
from collections.abc import Callable
from typing import Any

from . import nodes as N
from . import runtime
from .astdump import dump
from .errors import NixError
from .scope import Ref, Resolution, resolve
from .values import Attrs, Lambda, NixPath, Thunk

_MAX_INDENT = 40
# Parameter lists of generated code: thunk and entry code, function code.
_P_ENV = "e0, d=0"
_P_ARG = "e0, a, d=0"
# The defaults of a generated function (its ``d``) once loaded.
_REAL_DEFAULTS = (0,)
_LITERALS = {
    "true": "True",
    "false": "False",
    "null": "None",
}  # Python allows 100 levels; spill well before that.
_counter = itertools.count()


class CompileError(NixError):
    """A static error found while compiling (e.g. undefined variable)."""

    code = "undefined_variable"


class Scope:
    """Where the names one node binds live at run time: an env list
    ``[parent, *slots]`` (a ``with``: ``[parent, attrs]``).  Which binding a
    variable refers to is ``scope.resolve``'s answer; ``owner`` is the node
    (``Let``, ``rec`` ``Attrs``, ``Lambda``, ``With``) its definitions name."""

    __slots__ = ("parent", "names", "is_with", "owner")

    def __init__(
        self,
        parent: Scope | None,
        names: dict[str, int],
        owner: N.Node | None,
        is_with: bool = False,
    ):
        self.parent = parent
        self.names = names  # name -> slot index (1-based)
        self.is_with = is_with
        self.owner = owner


class Fn:
    """One generated Python function."""

    __slots__ = (
        "name",
        "params",
        "lines",
        "ind",
        "ntmp",
        "has_yield",
        "local",
        "nenv",
        "text",
        "arg_env",
        "arg_env_used",
    )

    def __init__(self, name: str, params: str, base: Scope | None):
        self.name = name
        self.params = params
        self.lines: list[str] = []
        self.ind = 1
        self.ntmp = 0
        self.has_yield = False
        self.local: dict[int, str] = {}  # id(scope) -> python variable
        if base is not None:
            self.local[id(base)] = "e0"
        self.nenv = 0
        # The env of a function's argument (``x: …``), made only if the body
        # needs it as a whole (a closure, a nested scope): ``env_expr``
        # reads its slot as ``a`` and its parent as ``e0``.
        self.arg_env: str | None = None
        self.arg_env_used = False
        # Once the body is complete (``Compiler.seal``): the number of its
        # source in the compiler's ``_ColdStore``.
        self.text: int | None = None

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.ind + line)

    def tmp(self) -> str:
        self.ntmp += 1
        return f"t{self.ntmp}"

    def env_var(self) -> str:
        self.nenv += 1
        return f"e{self.nenv}"

    def source(self) -> str:
        body = self.lines or ["    pass"]
        head = f"def {self.name}({self.params}):"
        # The code of a thunk or function that forces nothing (builds a set,
        # a list, a function) is a plain function: the driver takes its
        # result without making a frame.  Entry and spilled code (``yield
        # from``) stay generators.
        plain = not self.has_yield and self.name[0] in "TL"
        tail = [] if self.has_yield or plain else ["    if False:", "        yield None"]
        return "\n".join([head, *body, *tail])


class Compiler:
    """Compiles one parsed file into a generator function ``entry(env)``."""

    def __init__(
        self,
        source: N.Source,
        globals_: dict[str, Any],
        extra: list[str],
        lints: dict[str, str] | None = None,
        base: dict[str, Any] | None = None,
        resolution: Resolution | None = None,
    ):
        self.source = source
        self.globals = globals_
        # What the generated module shares with others (``runtime.base_namespace``).
        self.base = base if base is not None else runtime.base_namespace(globals_)
        # Called while defining the functions; may raise to stop (see ``define``).
        self.check: Callable[[], None] | None = None
        # Generate lambda bodies only when first called (hover and completion:
        # undefined names in uncalled functions need not be reported there).
        self.lazy_bodies = False
        # Likewise thunk bodies, generated when first forced (hover and
        # completion: a focus program binds every name of the scopes it
        # passes, and forces few of them).
        self.lazy_thunks = False
        # Nix 2.36's literal lints: kind -> "warn" | "fatal".
        self.lints = lints or {}
        self.warnings: list[Any] = []
        # Constants of the generated code (spans, nodes, …) are items of one
        # list, the global ``K``: ``consts`` is what a module's namespace gets
        # (a large file has ~100,000 of them, which as globals of their own
        # would cost a name and a namespace entry each).
        self._pool: list[Any] = []
        # The sources of the functions generated, compressed (``seal``).
        self._cold = _ColdStore()
        self.consts: dict[str, Any] = {
            "K": self._pool,
            "_nixlens_cold": self._cold,
            "scope_fill": _scope_fill,
        }
        self._const_ids: dict[int, int] = {}
        self._descs: dict[str, str] = {}
        # id(lambda node) -> its copy without the body (``lambda_const``).
        self._bare: dict[int, N.Lambda] = {}
        # Generated functions, trace notes (``_Attach``) and bodies to
        # generate later (``_Deferred``), in order, for ``define``.
        self.fns: list[Any] = []
        self.nfn = 0
        # The outermost scope holds scopedImport's names (if any).
        self.top = Scope(None, {n: i + 1 for i, n in enumerate(extra)}, None)
        # What each variable refers to (``scope.resolve``; made by
        # ``compile_root`` unless given), and the refs of the variables the
        # compiler makes itself (``<p>``'s ``__findFile``/``__nixPath``).
        self.res: Resolution | None = resolution
        self._made_refs: dict[N.Var, Ref] = {}

    # ------------------------------------------------------------------ utils
    def const(self, obj: Any) -> str:
        """The expression for ``obj`` in generated code (one per object;
        spans, most of them and each used about once, are not looked up)."""
        pool = self._pool
        if obj.__class__ is N.Span:
            pool.append(obj)
            return f"K[{len(pool) - 1}]"
        key = id(obj)
        i = self._const_ids.get(key)
        if i is None:
            i = self._const_ids[key] = len(pool)
            pool.append(obj)
        return f"K[{i}]"

    def seal(self, fn: Fn) -> None:
        """``fn``'s body is complete: keep its source compressed and drop
        its lines and generation state (a large file generates tens of
        thousands of functions, most never called; their lines would all be
        alive at once, and their sources as long as the program)."""
        fn.text = self._cold.add(fn.source())
        del fn.lines, fn.local

    def later(
        self,
        params: str,
        node: N.Node,
        scope: Scope,
        desc: str | None = None,
        span: N.Span | None = None,
    ) -> str:
        """The name of a function whose body is generated when first called
        (``_Deferred``): a thunk's (``params``: ``_P_ENV``) or a function's
        (``_P_ARG``) of ``node`` in ``scope``."""
        later = _Deferred(params, node, scope, self, desc, span)  # type: ignore[arg-type]
        later.name = self._fn_name(later.kind)
        self.fns.append(later)  # type: ignore[arg-type]
        return later.name

    def _fn_name(self, kind: str) -> str:
        self.nfn += 1
        return f"{kind}{self.nfn}"

    def generate(self, later: _Deferred) -> Fn:
        """The function ``later`` stands for, its body generated now (the
        functions the body makes are added to ``fns``)."""
        if later.name is None:
            later.name = self._fn_name(later.kind)
        fn = Fn(later.name, later.params, later.scope)
        if later.params == _P_ARG:
            self._lambda_body(fn, later.node, later.scope)  # type: ignore[arg-type]
        else:
            self._thunk_body(fn, later.node, later.scope)
        return fn

    def new_fn(self, kind: str, params: str, base: Scope) -> Fn:
        self.nfn += 1
        fn = Fn(f"{kind}{self.nfn}", params, base)
        self.fns.append(fn)
        return fn

    def env_expr(self, fn: Fn, scope: Scope, target: Scope) -> str:
        """Python expression for the env list of ``target`` seen from ``scope``."""
        v = fn.local.get(id(target))
        if v is not None:
            if v == fn.arg_env:
                fn.arg_env_used = True
            return v
        # target lies above this function's base: go up from the nearest
        # scope materialised in this function.
        s: Scope | None = scope
        while s is not None and id(s) not in fn.local:
            s = s.parent
        assert s is not None, "scope not reachable"
        base = fn.local[id(s)]
        hops = 0
        while s is not target:
            assert s is not None
            s = s.parent
            hops += 1
        if base == fn.arg_env and hops:
            return "e0" + "[0]" * (hops - 1)
        return base + "[0]" * hops

    def slot_expr(self, fn: Fn, scope: Scope, target: Scope, i: int) -> str:
        """Python expression for slot ``i`` of ``target``'s env seen from ``scope``."""
        if i == 1 and fn.arg_env is not None and fn.local.get(id(target)) == fn.arg_env:
            return "a"
        return f"{self.env_expr(fn, scope, target)}[{i}]"

    def cur_env(self, fn: Fn, scope: Scope) -> str:
        return self.env_expr(fn, scope, scope)

    def force_into(self, fn: Fn, expr: str) -> str:
        t = fn.tmp()
        fn.emit(f"{t} = {expr}")
        fn.emit(
            f"if {t}.__class__ is Thunk: {t} = {t}.v if {t}.c is None else (yield from force_in({t}, d, INLINE_CALLS))"
        )
        fn.has_yield = True
        return t

    # ------------------------------------------------------------ entry point
    def compile_root(self, root: N.Node) -> Any:
        if self.res is None:
            self.res = resolve(root)
        fn = self.new_fn("M", _P_ENV, self.top)
        r = self.val(root, fn, self.top)
        fn.emit(f"return {r}")
        self.seal(fn)
        ns: dict[str, Any] = {"__builtins__": self.base}
        ns.update(self.consts)
        ns["_nixlens_entry"] = fn.name
        define(self.fns, ns, f"<nix {self.source.name}>", self.check)
        return ns[fn.name]

    # ---------------------------------------------------------- variable use
    def lookup(self, node: N.Var, scope: Scope) -> tuple[Scope, int] | None:
        """The scope and slot of the binding ``node`` refers to (as
        ``scope.resolve`` found it), or None: a global, ``with`` or undefined."""
        ref = self.ref(node)
        if ref.kind == "definition":
            owner = ref.definition.owner  # type: ignore[union-attr]
            s: Scope | None = scope
            while s is not None and s.owner is not owner:
                s = s.parent
            assert s is not None, "binding scope not reachable"
            return s, s.names[node.name]
        i = self.top.names.get(node.name)  # scopedImport's names, over globals
        return None if i is None else (self.top, i)

    def ref(self, node: N.Var) -> Ref:
        """``scope.resolve``'s answer for ``node``."""
        assert self.res is not None
        ref = self.res.refs.get(node)
        return ref if ref is not None else self._made_refs[node]

    def withs(self, node: N.Var, scope: Scope) -> list[Scope]:
        """The ``with`` scopes ``node`` is looked up in at run time, innermost first."""
        out = []
        for w in self.ref(node).withs:
            s: Scope | None = scope
            while s is not None and s.owner is not w:
                s = s.parent
            assert s is not None, "with scope not reachable"
            out.append(s)
        return out

    def var_lazy(
        self, node: N.Var, fn: Fn, scope: Scope, *, initialising: Scope | None = None
    ) -> str | None:
        """Expression for a variable's (possibly unforced) value, or None when
        it must be looked up at run time (``with``) or the slot may be empty."""
        found = self.lookup(node, scope)
        if found is not None:
            s, i = found
            if initialising is not None and s is initialising:
                return None
            return self.slot_expr(fn, scope, s, i)
        if node.name in self.globals:
            return runtime.global_ref(node.name)
        if self.ref(node).withs:
            return None
        raise CompileError(f"undefined variable '{node.name}'", node.span)

    def var_val(self, node: N.Var, fn: Fn, scope: Scope) -> str:
        """Lexical scopes first, then globals, then ``with`` scopes."""
        name = node.name
        found = self.lookup(node, scope)
        if found is not None:
            s, i = found
            return self.force_into(fn, self.slot_expr(fn, scope, s, i))
        if name in self.globals:
            if name in _LITERALS:
                return _LITERALS[name]
            return self.force_into(fn, runtime.global_ref(name))
        withs = self.withs(node, scope)
        if withs:
            envs = ", ".join(f"{self.env_expr(fn, scope, w)}[1]" for w in withs)
            t = fn.tmp()
            fn.emit(
                f"{t} = yield from with_lookup({name!r}, ({envs},), MISSING, {self.const(node.span)})"
            )
            fn.has_yield = True
            return t
        raise CompileError(f"undefined variable '{name}'", node.span)

    # ------------------------------------------------------------- laziness
    def lazy(self, node: N.Node, fn: Fn, scope: Scope, initialising: Scope | None = None) -> str:
        """Expression for the value of ``node`` without forcing anything."""
        cls = node.__class__
        if cls is N.Int or cls is N.Float:
            return repr(node.value)  # type: ignore[attr-defined]
        if cls is N.Str and all(p.__class__ is str for p in node.parts):  # type: ignore[attr-defined]
            return repr("".join(node.parts))  # type: ignore[attr-defined,arg-type]
        if cls is N.Uri:
            return repr(node.value)  # type: ignore[attr-defined]
        if cls is N.Var:
            name = node.name  # type: ignore[attr-defined]
            if name in _LITERALS and name in self.globals and self.lookup(node, scope) is None:  # type: ignore[arg-type]
                return _LITERALS[name]
            r = self.var_lazy(node, fn, scope, initialising=initialising)  # type: ignore[arg-type]
            if r is not None:
                return r
        elif cls is N.Lambda:
            return self.val(node, fn, scope)
        elif (
            cls is N.Select
            and node.default is None  # type: ignore[attr-defined]
            and node.expr.__class__ is N.Var  # type: ignore[attr-defined]
            and all(k.__class__ is str for k in node.path)  # type: ignore[attr-defined]
        ):
            base = self.var_lazy(node.expr, fn, scope, initialising=initialising)  # type: ignore[attr-defined]
            if base is not None:
                code = self.thunk_fn(node, scope)
                keys = tuple(node.path)  # type: ignore[attr-defined]
                return f"select_now({base}, {keys!r}, {code}, {self.cur_env(fn, scope)})"
        elif cls is N.Path and all(p.__class__ is str for p in node.parts):  # type: ignore[attr-defined]
            return self.val(node, fn, scope)
        elif cls is N.BinOp and node.op in ("+", "-"):  # type: ignore[attr-defined]
            a = self._known_operand(node.left, fn, scope, initialising)  # type: ignore[attr-defined]
            b = self._known_operand(node.right, fn, scope, initialising)  # type: ignore[attr-defined]
            if a is not None and b is not None:
                code = self.thunk_fn(node, scope)
                helper = "add_now" if node.op == "+" else "sub_now"  # type: ignore[attr-defined]
                return f"{helper}({a}, {b}, {code}, {self.cur_env(fn, scope)})"
        elif cls is N.List and len(node.items) <= 16:  # type: ignore[attr-defined]
            items = [self.lazy(i, fn, scope, initialising) for i in node.items]  # type: ignore[attr-defined]
            t = fn.tmp()
            fn.emit(f"{t} = [{', '.join(items)}]")
            return t
        # General case: a thunk with its own code.
        code = self.thunk_fn(node, scope)
        return f"Thunk({code}, {self.cur_env(fn, scope)})"

    def _known_operand(
        self, node: N.Node, fn: Fn, scope: Scope, initialising: Scope | None
    ) -> str | None:
        """An operand ``lazy`` may look at without evaluating anything (a
        literal number or string, a variable), or None."""
        cls = node.__class__
        if cls is N.Int or (cls is N.Str and all(p.__class__ is str for p in node.parts)):  # type: ignore[attr-defined]
            return self.lazy(node, fn, scope, initialising)
        if cls is N.Var and node.name not in _LITERALS:  # type: ignore[attr-defined]
            return self.var_lazy(node, fn, scope, initialising=initialising)  # type: ignore[arg-type]
        return None

    def thunk_fn(
        self, node: N.Node, scope: Scope, desc: str | None = None, span: N.Span | None = None
    ) -> str:
        if desc is not None:
            desc = self._descs.setdefault(desc, desc)  # one string per attribute name
        if self.lazy_thunks:
            return self.later(_P_ENV, node, scope, desc, span or node.span)
        tf = self.new_fn("T", _P_ENV, scope)
        self._thunk_body(tf, node, scope)
        self.seal(tf)
        name = tf.name
        if desc is not None:
            desc = self._descs.setdefault(desc, desc)  # one string per attribute name
            self.fns.append(_Attach(name, desc, span or node.span))  # type: ignore[arg-type]
        return name

    def _thunk_body(self, tf: Fn, node: N.Node, scope: Scope) -> None:
        r = self.val(node, tf, scope)
        tf.emit(f"return {r}")

    # --------------------------------------------------------------- values
    def val(self, node: N.Node, fn: Fn, scope: Scope) -> str:
        """Emit code computing the forced value of ``node``; return its expr."""
        if fn.ind > _MAX_INDENT:
            return self.spill(node, fn, scope)
        meth = getattr(self, "c_" + node.__class__.__name__)
        return meth(node, fn, scope)

    def spill(self, node: N.Node, fn: Fn, scope: Scope) -> str:
        sf = self.new_fn("S", "e0, d", scope)
        r = self.val(node, sf, scope)
        sf.emit(f"return {r}")
        self.seal(sf)
        t = fn.tmp()
        fn.emit(f"{t} = yield from {sf.name}({self.cur_env(fn, scope)}, d)")
        fn.has_yield = True
        return t

    def c_Int(self, node: N.Int, fn: Fn, scope: Scope) -> str:
        return f"({node.value!r})"

    def c_Float(self, node: N.Float, fn: Fn, scope: Scope) -> str:
        v = node.value
        if v != v or v in (float("inf"), float("-inf")):
            return self.const(v)
        return f"({v!r})"

    def c_Uri(self, node: N.Uri, fn: Fn, scope: Scope) -> str:
        mode = self.lints.get("url-literals")
        if mode:
            word = "disallowed" if mode == "fatal" else "discouraged"
            self._lint(
                mode,
                f'URL literals are {word}. Consider using a string literal "{node.value}" '
                "instead (lint-url-literals)",
                node.span,
            )
        return repr(node.value)

    def _lint(self, mode: str, msg: str, span: N.Span) -> None:
        from .diagnostics import Diagnostic, Severity

        if mode == "fatal":
            raise CompileError(msg, span)
        self.warnings.append(Diagnostic("deprecated", Severity.WARNING, msg, span))

    def _lint_path(self, node: N.Path) -> None:
        text = self.source.text[node.span.start : node.span.end].decode("utf-8", "replace")
        if text.startswith("/"):
            mode = self.lints.get("absolute-path-literals")
            if mode:
                self._lint(
                    mode,
                    f"absolute path literals are not portable. Consider replacing path literal "
                    f"'{text}' by a string, relative path, or parameter (lint-absolute-path-literals)",
                    node.span,
                )
        elif text.startswith("~"):
            mode = self.lints.get("absolute-path-literals")
            if mode:
                self._lint(
                    mode,
                    f"home path literals are not portable. Consider replacing path literal "
                    f"'{text}' by a string, relative path, or parameter (lint-absolute-path-literals)",
                    node.span,
                )
        elif not text.startswith("./") and not text.startswith("../"):
            mode = self.lints.get("short-path-literals")
            if mode:
                self._lint(
                    mode,
                    f"relative path literal '{text}' should be prefixed with '.' for clarity: "
                    f"'./{text}' (lint-short-path-literals)",
                    node.span,
                )

    def c_Var(self, node: N.Var, fn: Fn, scope: Scope) -> str:
        return self.var_val(node, fn, scope)

    def c_CurPos(self, node: N.CurPos, fn: Fn, scope: Scope) -> str:
        line, col = node.span.line_col()
        a = Attrs({"file": node.span.source.name, "line": line, "column": col})
        if node.span.source.path:
            a["file"] = node.span.source.path
        return self.const(a)

    def c_Str(self, node: N.Str, fn: Fn, scope: Scope) -> str:
        parts = node.parts
        if all(p.__class__ is str for p in parts):
            return repr("".join(parts))  # type: ignore[arg-type]
        exprs = []
        segments = iter(node.segments)
        for p in parts:
            if p.__class__ is str:
                exprs.append(repr(p))
            else:
                v = self.val(p, fn, scope)  # type: ignore[arg-type]
                t = fn.tmp()
                where = self.const((p.span, next(segments, p.span)))  # type: ignore[union-attr]
                fn.emit(
                    f"{t} = {v} if {v}.__class__ is str else "
                    f"(yield from coerce_interp({v}, {where}))"
                )
                fn.has_yield = True
                exprs.append(t)
        t = fn.tmp()
        fn.emit(f"{t} = cat_strings(({', '.join(exprs)},))")
        return t

    def c_Path(self, node: N.Path, fn: Fn, scope: Scope) -> str:
        if self.lints:
            self._lint_path(node)
        parts = node.parts
        if all(p.__class__ is str for p in parts):
            return self.const(NixPath(runtime.canon_path("".join(parts))))  # type: ignore[arg-type]
        exprs = []
        for p in parts:
            if p.__class__ is str:
                exprs.append(repr(p))
            else:
                v = self.val(p, fn, scope)  # type: ignore[arg-type]
                t = fn.tmp()
                fn.emit(f"{t} = yield from coerce_path_part({v}, {self.const(p.span)})")  # type: ignore[union-attr]
                fn.has_yield = True
                exprs.append(t)
        t = fn.tmp()
        fn.emit(f"{t} = make_path(({', '.join(exprs)},), {self.const(node.span)})")
        return t

    def c_SearchPath(self, node: N.SearchPath, fn: Fn, scope: Scope) -> str:
        sp = node.span
        find, path = N.Var(sp, "__findFile"), N.Var(sp, "__nixPath")
        assert self.res is not None
        self._made_refs[find], self._made_refs[path] = self.res.implicit[node]
        call = N.Apply(sp, N.Apply(sp, find, path), N.Str(sp, [node.name]))
        return self.val(call, fn, scope)

    def c_List(self, node: N.List, fn: Fn, scope: Scope) -> str:
        items = [self.lazy(i, fn, scope) for i in node.items]
        t = fn.tmp()
        fn.emit(f"{t} = [{', '.join(items)}]")
        return t

    def c_Lambda(self, node: N.Lambda, fn: Fn, scope: Scope) -> str:
        lf = self.compile_lambda(node, scope)
        t = fn.tmp()
        fn.emit(f"{t} = Lambda({lf}, {self.cur_env(fn, scope)}, {self.lambda_const(node)})")
        return t

    def lambda_const(self, node: N.Lambda) -> str:
        """The constant for ``node`` in generated code (``Lambda.node``, the
        errors of a call).  A program whose bodies are all generated keeps a
        copy without the body (``bare_lambda``): its values then keep no
        syntax tree alive beyond spans, and an evaluation result (hover reads
        its observed arguments) does not hold a whole tree of an older text."""
        return self.const(self.lambda_node(node))

    def lambda_node(self, node: N.Lambda) -> N.Lambda:
        """``node``, or its copy without the body (see ``lambda_const``)."""
        if self.lazy_bodies or self.lazy_thunks:
            return node  # bodies generated later from the node
        bare = self._bare.get(id(node))
        if bare is None:
            bare = self._bare[id(node)] = bare_lambda(node)
        return bare

    def compile_lambda(self, node: N.Lambda, scope: Scope) -> str:
        if self.lazy_bodies:
            return self.later(_P_ARG, node, scope)
        lf = self.new_fn("L", _P_ARG, scope)
        self._lambda_body(lf, node, scope)
        self.seal(lf)
        return lf.name

    def _lambda_body(self, lf: Fn, node: N.Lambda, scope: Scope) -> None:
        if node.formals is None:
            inner = Scope(scope, {node.arg: 1} if node.arg else {}, node)
            ev = lf.env_var()
            lf.arg_env = ev
            lf.local[id(inner)] = ev
            r = self.val(node.body, lf, inner)
            lf.emit(f"return {r}")
            if lf.arg_env_used:
                lf.lines.insert(0, f"    {ev} = [e0, a]")
            return
        names: dict[str, int] = {}
        for i, f in enumerate(node.formals):
            names[f.name] = i + 1
        n = len(node.formals)
        if node.arg:
            names[node.arg] = n + 1
        inner = Scope(scope, names, node)
        ev = lf.env_var()
        lf.local[id(inner)] = ev
        lf.emit(
            "if a.__class__ is Thunk: a = a.v if a.c is None else (yield from force_in(a, d, INLINE_CALLS))"
        )
        lf.has_yield = True
        lf.emit(f"if a.__class__ is not Attrs: raise_formals_type(a, {self.lambda_const(node)})")
        size = n + (1 if node.arg else 0)
        lf.emit(f"{ev} = [e0{', None' * size}]")
        if node.arg:
            lf.emit(f"{ev}[{n + 1}] = a")
        if not node.ellipsis:
            allowed = frozenset(f.name for f in node.formals)
            lf.emit(
                f"if len(a) > {n} or not {self.const(allowed)}.issuperset(a): "
                f"raise_unexpected_arg(a, {self.const(allowed)}, {self.lambda_const(node)})"
            )
        for i, f in enumerate(node.formals):
            slot = i + 1
            if f.default is None:
                lf.emit(
                    f"{ev}[{slot}] = a[{f.name!r}] if {f.name!r} in a else missing_arg({f.name!r}, {self.lambda_const(node)})"
                )
            else:
                lf.emit(f"if {f.name!r} in a: {ev}[{slot}] = a[{f.name!r}]")
                lf.emit("else:")
                lf.ind += 1
                d = self.lazy(f.default, lf, inner, initialising=inner)
                lf.emit(f"{ev}[{slot}] = {d}")
                lf.ind -= 1
        r = self.val(node.body, lf, inner)
        lf.emit(f"return {r}")

    def c_Apply(self, node: N.Apply, fn: Fn, scope: Scope) -> str:
        # Flatten f a b c so the arguments are built before the calls.
        args = []
        head: N.Node = node
        while head.__class__ is N.Apply:
            args.append(head)
            head = head.fn  # type: ignore[attr-defined]
        f = self.val(head, fn, scope)
        for app in reversed(args):
            a = self.lazy(app.arg, fn, scope)  # type: ignore[attr-defined]
            if not _is_name(a):
                at = fn.tmp()
                fn.emit(f"{at} = {a}")
                a = at
            t = fn.tmp()
            span = self.const(app.span)
            # A Nix function's code, a builtin's (``vm.prim_now``: a partial
            # application or a plain builtin's value, else its generator) or
            # a set's ``__functor`` calls run here, a generator with
            # ``yield from``, up to ``INLINE_CALLS`` calls deep (see ``vm.Machine.inline_calls``):
            # the driver runs the next call as a frame of its own (``d``
            # counts: the host stack stays bounded).  ``call_error`` traces
            # an error leaving it as the driver traces a call frame.
            fn.emit(f"if d < INLINE_CALLS and {f}.__class__ in CALLABLE_TYPES:")
            fn.emit(
                f"    try: {t} = {f}.code({f}.env, {a}, d + 1) if {f}.__class__ is Lambda "
                f"else prim_now({f}, {a}, {span}, d); "
                f"{t} = (yield from {t}) if {t}.__class__ is GeneratorType else {t}"
            )
            fn.emit(f"    except NixError as x: raise call_error(x, {f}, {a}, {span})")
            fn.emit(f"else: {t} = yield ({f}, {a}, {span})")
            fn.has_yield = True
            f = t
        return f

    def c_If(self, node: N.If, fn: Fn, scope: Scope) -> str:
        c = self.val(node.cond, fn, scope)
        r = fn.tmp()
        fn.emit(f"if {c} is True:")
        fn.ind += 1
        a = self.val(node.then, fn, scope)
        fn.emit(f"{r} = {a}")
        fn.ind -= 1
        fn.emit(f"elif {c} is False:")
        fn.ind += 1
        b = self.val(node.else_, fn, scope)
        fn.emit(f"{r} = {b}")
        fn.ind -= 1
        fn.emit(f"else: raise_expected('a Boolean', {c}, {self.const(node.cond.span)})")
        return r

    def c_Assert(self, node: N.Assert, fn: Fn, scope: Scope) -> str:
        cond = node.cond
        if cond.__class__ is N.BinOp and cond.op == "==":  # type: ignore[attr-defined]
            l_ = self.val(cond.left, fn, scope)  # type: ignore[attr-defined]
            r_ = self.val(cond.right, fn, scope)  # type: ignore[attr-defined]
            t = fn.tmp()
            fn.emit(f"{t} = yield from op_eq({l_}, {r_}, True, d, INLINE_CALLS)")
            fn.has_yield = True
            fn.emit(
                f"if {t} is not True: yield from assert_eq_failed({l_}, {r_}, {self.const(node)})"
            )
        else:
            c = self.val(cond, fn, scope)
            fn.emit(f"if {c} is not True: assert_failed({c}, {self.const(node)})")
        return self.val(node.body, fn, scope)

    def c_With(self, node: N.With, fn: Fn, scope: Scope) -> str:
        e = self.lazy(node.env, fn, scope)
        inner = Scope(scope, {}, node, is_with=True)
        ev = fn.env_var()
        fn.emit(f"{ev} = [{self.cur_env(fn, scope)}, {e}]")
        fn.local[id(inner)] = ev
        return self.val(node.body, fn, inner)

    def c_Not(self, node: N.Not, fn: Fn, scope: Scope) -> str:
        v = self.val(node.expr, fn, scope)
        t = fn.tmp()
        fn.emit(
            f"if {v} is True: {t} = False\n{'    ' * fn.ind}elif {v} is False: {t} = True\n"
            f"{'    ' * fn.ind}else: raise_expected('a Boolean', {v}, {self.const(node.expr.span)})"
        )
        return t

    def c_Neg(self, node: N.Neg, fn: Fn, scope: Scope) -> str:
        v = self.val(node.expr, fn, scope)
        t = fn.tmp()
        fn.emit(f"{t} = op_sub(0, {v}, {self.const(node.span)})")
        return t

    def c_HasAttr(self, node: N.HasAttr, fn: Fn, scope: Scope) -> str:
        v = self.val(node.expr, fn, scope)
        keys = self.attr_keys(node.path, fn, scope)
        t = fn.tmp()
        if len(keys) == 1:  # the common ``x ? name``, inline
            fn.emit(f"{t} = {v}.__class__ is Attrs and {keys[0]} in {v}")
            return t
        fn.emit(f"{t} = yield from has_attr_path({v}, ({', '.join(keys)},))")
        fn.has_yield = True
        return t

    def attr_keys(self, path: list[N.AttrName], fn: Fn, scope: Scope) -> list[str]:
        keys = []
        for k in path:
            if k.__class__ is str:
                keys.append(repr(k))
            else:
                v = self.val(k, fn, scope)  # type: ignore[arg-type]
                t = fn.tmp()
                fn.emit(f"{t} = yield from attr_name({v}, {self.const(k.span)})")  # type: ignore[union-attr]
                fn.has_yield = True
                keys.append(t)
        return keys

    def c_Select(self, node: N.Select, fn: Fn, scope: Scope) -> str:
        v = self.val(node.expr, fn, scope)  # its errors are not the select's
        # Nix traces an error finding or forcing the attributes (or in the
        # ``or`` default) "while evaluating the attribute 'a.b'", the path as
        # written, at the last attribute found (``runtime.select_trace``).
        # Dynamic names are kept in variables set before the ``try``, so the
        # handler sees which were computed.
        names: list[str] = []
        shows: list[str | None] = []
        for k in node.path:
            if k.__class__ is str:
                names.append(repr(k))
                shows.append(None)
            else:
                kt = fn.tmp()
                fn.emit(f"{kt} = None")
                names.append(kt)
                shows.append('"${' + dump(k) + '}"')  # type: ignore[arg-type]
        dynamic = any(sh is not None for sh in shows)
        fn.emit("try:")
        fn.ind += 1
        if node.default is None:
            cur = v
            for i, k in enumerate(node.path):
                key = self._select_key(k, names[i], fn, scope)
                span = node.path_spans[i] if i < len(node.path_spans) else node.span
                t = fn.tmp()
                fn.emit(
                    f"if {cur}.__class__ is not Attrs: raise_select_type({cur}, {self.const(span)})"
                )
                fn.emit(f"{t} = {cur}.get({key}, MISSING)")
                fn.emit(f"if {t} is MISSING: raise_missing_attr({key}, {cur}, {self.const(span)})")
                fn.emit(
                    f"if {t}.__class__ is Thunk: {t} = {t}.v if {t}.c is None else (yield from force_in({t}, d, INLINE_CALLS))"
                )
                fn.has_yield = True
                r = t
                cur = t
        else:
            keys = [self._select_key(k, names[i], fn, scope) for i, k in enumerate(node.path)]
            t = fn.tmp()
            if len(keys) == 1:  # the common ``x.name or d``, inline
                fn.emit(f"{t} = {v}.get({keys[0]}, MISSING) if {v}.__class__ is Attrs else MISSING")
                fn.emit(
                    f"if {t}.__class__ is Thunk: {t} = {t}.v if {t}.c is None else (yield from force_in({t}, d, INLINE_CALLS))"
                )
            else:
                fn.emit(f"{t} = yield from select_or({v}, ({', '.join(keys)},), d, INLINE_CALLS)")
            fn.has_yield = True
            r = fn.tmp()
            fn.emit(f"if {t} is MISSING:")
            fn.ind += 1
            dv = self.val(node.default, fn, scope)
            fn.emit(f"{r} = {dv}")
            fn.ind -= 1
            fn.emit(f"else: {r} = {t}")
        fn.ind -= 1
        if dynamic:
            path = f"({', '.join(names)},), {tuple(shows)!r}"
        else:
            path = repr(tuple(node.path))
        fn.emit(f"except NixError: select_trace({v}, {path}); raise")
        return r

    def _select_key(self, k: N.AttrName, var: str, fn: Fn, scope: Scope) -> str:
        """The expression of one name of a select: a literal, or the
        computed dynamic name, also stored in ``var`` (see ``c_Select``)."""
        if k.__class__ is str:
            return var
        key = self.attr_keys([k], fn, scope)[0]
        fn.emit(f"{var} = {key}")
        return var

    def c_BinOp(self, node: N.BinOp, fn: Fn, scope: Scope) -> str:
        op = node.op
        span = self.const(node.op_span or node.span)
        if op in ("&&", "||", "->"):
            l_ = self.val(node.left, fn, scope)
            r = fn.tmp()
            fn.emit(
                f"if {l_}.__class__ is not bool: raise_expected('a Boolean', {l_}, {self.const(node.left.span)})"
            )
            short = {"&&": "False", "||": "True", "->": "False"}[op]
            short_result = {"&&": "False", "||": "True", "->": "True"}[op]
            fn.emit(f"if {l_} is {short}: {r} = {short_result}")
            fn.emit("else:")
            fn.ind += 1
            rv = self.val(node.right, fn, scope)
            fn.emit(
                f"if {rv}.__class__ is not bool: raise_expected('a Boolean', {rv}, {self.const(node.right.span)})"
            )
            fn.emit(f"{r} = {rv}")
            fn.ind -= 1
            return r
        l_ = self.val(node.left, fn, scope)
        r_ = self.val(node.right, fn, scope)
        t = fn.tmp()
        both_int = _both_int(l_, r_)
        if op == "+":
            fn.emit(
                f"if {both_int}:"
                f"\n{'    ' * (fn.ind + 1)}{t} = {l_} + {r_}"
                f"\n{'    ' * (fn.ind + 1)}if not -9223372036854775808 <= {t} <= 9223372036854775807: overflow('adding', {l_}, '+', {r_}, {span})"
                f"\n{'    ' * fn.ind}else: {t} = yield from op_add({l_}, {r_}, {span})"
            )
            fn.has_yield = True
        elif op == "-":
            fn.emit(
                f"if {both_int}:"
                f"\n{'    ' * (fn.ind + 1)}{t} = {l_} - {r_}"
                f"\n{'    ' * (fn.ind + 1)}if not -9223372036854775808 <= {t} <= 9223372036854775807: overflow('subtracting', {l_}, '-', {r_}, {span})"
                f"\n{'    ' * fn.ind}else: {t} = op_sub({l_}, {r_}, {span})"
            )
        elif op == "*":
            fn.emit(f"{t} = op_mul({l_}, {r_}, {span})")
        elif op == "/":
            fn.emit(f"{t} = op_div({l_}, {r_}, {span})")
        elif op == "==" or op == "!=":
            # Integers, strings (context aside), Booleans and null compare
            # as in Python when both sides are of one such type; a side that
            # is null equals only null.
            same = f"{l_}.__class__ is {r_}.__class__ and {l_}.__class__ in SIMPLE_EQ"
            test = "==" if op == "==" else "!="
            # (A literal operand is never null; ``is`` on it would warn.)
            nulls = [f"{e} is None" for e in (l_, r_) if e.isidentifier() or e == "None"]
            if len(nulls) == 2:
                fn.emit(f"if {same}: {t} = {l_} {test} {r_}")
                fn.emit(
                    f"elif {' or '.join(nulls)}: {t} = {l_} {'is' if op == '==' else 'is not'} {r_}"
                )
            else:
                fn.emit(f"if {same}: {t} = {l_} {test} {r_}")
            fn.emit(
                f"else: {t} = {'' if op == '==' else 'not '}"
                f"(yield from op_eq({l_}, {r_}, True, d, INLINE_CALLS))"
            )
            fn.has_yield = True
        elif op in ("<", "<=", ">", ">="):
            a, b = (l_, r_) if op in ("<", ">=") else (r_, l_)
            neg = op in (">=", "<=")
            cmp = f"{a} < {b}"
            fn.emit(
                f"if {both_int}: {t} = {'not ' if neg else ''}({cmp})"
                f"\n{'    ' * fn.ind}else: {t} = {'not ' if neg else ''}(yield from op_lt({a}, {b}, {span}))"
            )
            fn.has_yield = True
        elif op == "++":
            fn.emit(f"{t} = op_concat({l_}, {r_}, {span})")
        elif op == "//":
            fn.emit(f"{t} = op_update({l_}, {r_}, {span})")
        else:  # pragma: no cover - the parser only produces the ops above
            raise CompileError(f"unknown operator {op}", node.span)
        return t

    # ------------------------------------------------ attribute sets and let
    def bind_scope(
        self,
        fn: Fn,
        scope: Scope,
        attrs: dict[str, N.AttrDef],
        inherit_from: list[N.Node],
        owner: N.Node,
    ) -> tuple[Scope, str, dict[str, str]]:
        """Create the recursive scope of a let/rec and fill its slots.

        Returns the new scope, its env variable and name -> slot expression.
        """
        names = {name: i + 1 for i, name in enumerate(attrs)}
        nfrom = len(inherit_from)
        base = len(names)
        inner = Scope(scope, dict(names), owner)
        ev = fn.env_var()
        empty = base + nfrom
        if empty > _TABLE_SCOPE:
            fn.emit(f"{ev} = [{self.cur_env(fn, scope)}] + [None] * {empty}")
        else:
            fn.emit(f"{ev} = [{self.cur_env(fn, scope)}{', None' * empty}]")
        fn.local[id(inner)] = ev
        # ``inherit (e)`` sources live in hidden slots after the names.
        for j, e in enumerate(inherit_from):
            v = self.lazy(e, fn, inner, initialising=inner)
            fn.emit(f"{ev}[{base + j + 1}] = {v}")
        slots = {}
        # A large scope (a file's top-level ``let`` of thousands of bindings)
        # has its thunks and functions made by one loop over a table instead
        # of a line each: Python compiles a function of thousands of lines
        # slowly, with tens of megabytes of transient memory.
        table: list[tuple[int, str, N.Lambda | None]] | None = (
            [] if len(attrs) >= _TABLE_SCOPE else None
        )
        # Slots already holding their value: ``g = f;`` after ``f`` shares f's
        # value as Nix's maybeThunk does (so ``[ f ] == [ g ]`` holds for functions).
        ready: set[int] = set()
        for name, d in attrs.items():
            slot = names[name]
            slots[name] = f"{ev}[{slot}]"
            alias = (
                self.lookup(d.value, inner)  # type: ignore[arg-type]
                if d.kind == "plain" and d.value.__class__ is N.Var
                else None
            )
            if d.kind == "inherit":
                v = self.lazy(d.value, fn, scope)  # outer scope
            elif alias is not None and alias[0] is inner and alias[1] in ready:
                v = f"{ev}[{alias[1]}]"
            elif d.kind == "inherit_from":
                src = f"{ev}[{base + d.from_index + 1}]"
                v = f"inherit_now({src}, {name!r}, {self.const(d.span)})"
            elif table is not None and _tabled(d.value):
                value = d.value
                if value.__class__ is N.Lambda:
                    if value.name is None:  # type: ignore[attr-defined]
                        value.name = name  # type: ignore[attr-defined]
                    code = self.compile_lambda(value, inner)  # type: ignore[arg-type]
                    table.append((slot, code, self.lambda_node(value)))  # type: ignore[arg-type]
                else:
                    desc = f"while evaluating the attribute '{name}'"
                    table.append((slot, self.thunk_fn(value, inner, desc, d.span), None))
                continue
            else:
                v = self.lazy_binding(d.value, fn, inner, name, d.span)
            fn.emit(f"{ev}[{slot}] = {v}")
            ready.add(slot)
        if table:
            fn.emit(f"scope_fill({ev}, {self.const(tuple(table))}, globals())")
        return inner, ev, slots

    def lazy_binding(
        self, node: N.Node, fn: Fn, scope: Scope, name: str, name_span: N.Span | None = None
    ) -> str:
        """A binding's value inside a recursive scope being initialised."""
        if node.__class__ is N.Lambda and node.name is None:  # type: ignore[attr-defined]
            node.name = name  # type: ignore[attr-defined]
        cls = node.__class__
        if cls in (N.Int, N.Float, N.Uri, N.Lambda) or (
            cls is N.Str and all(p.__class__ is str for p in node.parts)  # type: ignore[attr-defined]
        ):
            return self.lazy(node, fn, scope)
        if cls is N.Var:
            r = self.lazy(node, fn, scope, initialising=scope)
            return r
        code = self.thunk_fn(
            node, scope, desc=f"while evaluating the attribute '{name}'", span=name_span
        )
        return f"Thunk({code}, {self.cur_env(fn, scope)})"

    def c_Let(self, node: N.Let, fn: Fn, scope: Scope) -> str:
        inner, _ev, _slots = self.bind_scope(fn, scope, node.attrs, node.inherit_from, node)
        return self.val(node.body, fn, inner)

    def c_LegacyLet(self, node: N.LegacyLet, fn: Fn, scope: Scope) -> str:
        # ``let { …; body = e; }`` is Nix's ``rec { … }.body``, traced as that select.
        a = self.c_Attrs(node.attrs, fn, scope)
        t = fn.tmp()
        fn.emit("try:")
        fn.emit(f"    {t} = {a}.get('body', MISSING)")
        fn.emit(f"    if {t} is MISSING: raise_missing_attr('body', {a}, {self.const(node.span)})")
        fn.emit(
            f"    if {t}.__class__ is Thunk: {t} = {t}.v if {t}.c is None else (yield from force_in({t}, d, INLINE_CALLS))"
        )
        fn.emit(f"except NixError: select_trace({a}, ('body',)); raise")
        fn.has_yield = True
        return t

    def c_Attrs(self, node: N.Attrs, fn: Fn, scope: Scope) -> str:
        pos = {name: d.span for name, d in node.attrs.items()}
        t = fn.tmp()
        if node.rec:
            inner, ev, slots = self.bind_scope(fn, scope, node.attrs, node.inherit_from, node)
            items = ", ".join(f"{name!r}: {expr}" for name, expr in slots.items())
            fn.emit(f"{t} = Attrs({{{items}}})")
            if "__overrides" in node.attrs:
                # Legacy: ``__overrides`` replaces attributes, also in scope.
                slot_of = {name: inner.names[name] for name in node.attrs}
                fn.emit(f"yield from apply_overrides({t}, {ev}, {self.const(slot_of)})")
                fn.has_yield = True
            dyn_scope = inner
        else:
            froms = [self.lazy(e, fn, scope) for e in node.inherit_from]
            fromvars = []
            for f in froms:
                fv = fn.tmp()
                fn.emit(f"{fv} = {f}")
                fromvars.append(fv)
            entries: list[str] = []
            for name, d in node.attrs.items():
                if d.kind == "inherit_from":
                    v = f"inherit_now({fromvars[d.from_index]}, {name!r}, {self.const(d.span)})"
                elif d.kind == "plain" and d.value.__class__ is not N.Var:
                    v = self.lazy_attr(d.value, fn, scope, name, d.span)
                else:
                    v = self.lazy(d.value, fn, scope)
                entries.append(f"{name!r}: {v}")
            fn.emit(f"{t} = Attrs({{{', '.join(entries)}}})")
            dyn_scope = scope
        fn.emit(f"{t}.pos = {self.const(pos)}")
        for dyn in node.dynamic:
            k = self.val(dyn.key, fn, dyn_scope)
            kt = fn.tmp()
            fn.emit(f"{kt} = yield from dyn_attr_name({k}, {self.const(dyn.key.span)})")
            fn.has_yield = True
            v = self.lazy(dyn.value, fn, dyn_scope)
            fn.emit(f"if {kt} is not None: add_dynamic({t}, {kt}, {v}, {self.const(dyn.span)})")
        return t

    def lazy_attr(
        self, node: N.Node, fn: Fn, scope: Scope, name: str, name_span: N.Span | None = None
    ) -> str:
        if node.__class__ is N.Lambda and node.name is None:  # type: ignore[attr-defined]
            node.name = name  # type: ignore[attr-defined]
        cls = node.__class__
        if cls in (N.Int, N.Float, N.Uri, N.Lambda, N.Var) or (
            cls is N.Str and all(p.__class__ is str for p in node.parts)  # type: ignore[attr-defined]
        ):
            return self.lazy(node, fn, scope)
        code = self.thunk_fn(
            node, scope, desc=f"while evaluating the attribute '{name}'", span=name_span
        )
        return f"Thunk({code}, {self.cur_env(fn, scope)})"


def bare_lambda(node: N.Lambda) -> N.Lambda:
    """A copy of a lambda node for run time: all but its body, which is
    replaced by a placeholder (a nested lambda, ``x: y: …``, stays a bare
    lambda: signature help reads the chain).  Formals keep their defaults."""
    body = node.body
    if body.__class__ is N.Lambda:
        bare_body: N.Node = bare_lambda(body)  # type: ignore[arg-type]
    else:
        bare_body = N.Var(body.span, "")
    return N.Lambda(
        node.span, node.arg, node.formals, node.ellipsis, bare_body, node.arg_span, node.name
    )


def _is_name(expr: str) -> bool:
    """Whether ``expr`` is a plain name (``t3``, ``e1``), cheap to repeat."""
    return expr.isidentifier()


def _is_int_literal(expr: str) -> bool:
    return expr.startswith("(") and expr[1:-1].isdigit()


def _both_int(a: str, b: str) -> str:
    """Python condition: both operands are Nix integers (literals known)."""
    tests = [f"{e}.__class__ is int" for e in (a, b) if not _is_int_literal(e)]
    return " and ".join(tests) or "True"


class FocusCompiler(Compiler):
    """Compiles "the value of one node in its lexical environment".

    Instead of evaluating the file, the generated code walks down the chain
    of ancestors of the target node, building each scope it passes (``let``,
    ``rec``, ``with``, function arguments) and then evaluates the target.
    Arguments of enclosing functions are bound to thunks that fail with
    ``DependsOnArgument`` unless ``arg_values`` supplies observed values.
    """

    def __init__(
        self,
        source: N.Source,
        globals_: dict[str, Any],
        path: list[N.Node],
        arg_values: dict[tuple[str, int], Any] | None = None,
        resolution: Resolution | None = None,
    ):
        super().__init__(source, globals_, [], resolution=resolution)
        # The namespace of the program (``compile_focus``; ``_Deferred``).
        self.ns: dict[str, Any] = {}
        self.lazy_bodies = True
        self.lazy_thunks = True
        self.path = path
        self.on_path = {id(n) for n in path}
        self.arg_values = arg_values or {}

    def focus(self, node: N.Node, fn: Fn, scope: Scope) -> str:
        """Descend from ``node`` (on the path) to the target."""
        target = self.path[-1]
        while node is not target:
            child = self._next(node)
            cls = node.__class__
            if cls is N.Let:
                inner = self._bind_path_scope(fn, scope, node.attrs, node.inherit_from, node)  # type: ignore[attr-defined]
                scope = self._scope_for_child(node, child, scope, inner)
            elif cls is N.Attrs and node.rec:  # type: ignore[attr-defined]
                inner = self._bind_path_scope(fn, scope, node.attrs, node.inherit_from, node)  # type: ignore[attr-defined]
                scope = self._scope_for_child(node, child, scope, inner)
            elif cls is N.LegacyLet:
                pass
            elif cls is N.With:
                if child is not node.env:  # type: ignore[attr-defined]
                    e = self.lazy(node.env, fn, scope)  # type: ignore[attr-defined]
                    inner = Scope(scope, {}, node, is_with=True)
                    ev = fn.env_var()
                    fn.emit(f"{ev} = [{self.cur_env(fn, scope)}, {e}]")
                    fn.local[id(inner)] = ev
                    scope = inner
            elif cls is N.Lambda:
                scope = self._bind_unknown_args(node, fn, scope)  # type: ignore[arg-type]
            node = child
        # The target is compiled eagerly, so that its static errors (an
        # undefined variable) are reported as such; the scopes passed on the
        # way have their thunks generated only when forced.
        self.lazy_thunks = False
        try:
            return self.val(node, fn, scope)
        finally:
            self.lazy_thunks = True

    def _bind_path_scope(
        self,
        fn: Fn,
        scope: Scope,
        attrs: dict[str, N.AttrDef],
        inherit_from: list[N.Node],
        owner: N.Node,
    ) -> Scope:
        """``bind_scope`` for a scope the focus passes: as many bindings as a
        large file has (tens of thousands), of which an evaluation forces a
        few.  Thunks and functions are made by one loop over a table
        (``focus_fill``) instead of a line of code each, and their code is
        generated when first run (``_Deferred``, not even named before)."""
        names = {name: i + 1 for i, name in enumerate(attrs)}
        base = len(names)
        inner = Scope(scope, dict(names), owner)
        ev = fn.env_var()
        fn.emit(f"{ev} = [{self.cur_env(fn, scope)}] + [None] * {base + len(inherit_from)}")
        fn.local[id(inner)] = ev
        for j, e in enumerate(inherit_from):
            v = self.lazy(e, fn, inner, initialising=inner)
            fn.emit(f"{ev}[{base + j + 1}] = {v}")
        table: list[tuple[int, _Deferred, N.Node | None]] = []
        for name, d in attrs.items():
            slot = names[name]
            value = d.value
            cls = value.__class__
            if d.kind != "plain" or cls in (N.Int, N.Float, N.Str, N.Uri, N.Var):
                if d.kind == "inherit":
                    v = self.lazy(value, fn, scope)  # outer scope
                elif d.kind == "inherit_from":
                    src = f"{ev}[{base + d.from_index + 1}]"
                    v = f"inherit_now({src}, {name!r}, {self.const(d.span)})"
                else:
                    v = self.lazy_binding(value, fn, inner, name, d.span)
                fn.emit(f"{ev}[{slot}] = {v}")
            elif cls is N.Lambda:
                if value.name is None:  # type: ignore[attr-defined]
                    value.name = name  # type: ignore[attr-defined]
                table.append((slot, _Deferred(_P_ARG, value, inner, self), value))
            else:
                desc = f"while evaluating the attribute '{name}'"
                table.append((slot, _Deferred(_P_ENV, value, inner, self, desc, d.span), None))
        if table:
            fn.emit(f"focus_fill({ev}, {self.const(tuple(table))})")
        return inner

    def _scope_for_child(self, node: Any, child: Any, outer: Scope, inner: Scope) -> Scope:
        # ``inherit x;`` values live in the outer scope; all else in inner.
        for d in node.attrs.values():
            if d.value is child and d.kind == "inherit":
                return outer
        return inner

    def _next(self, node: N.Node) -> N.Node:
        i = self.path.index(node)
        return self.path[i + 1]

    def _bind_unknown_args(self, node: N.Lambda, fn: Fn, scope: Scope) -> Scope:
        observed = self.arg_values.get((node.span.source.name, node.span.start))
        names: dict[str, int] = {}
        if node.formals is not None:
            for i, f in enumerate(node.formals):
                names[f.name] = i + 1
        if node.arg:
            names[node.arg] = len(names) + 1
        inner = Scope(scope, names, node)
        ev = fn.env_var()
        fn.emit(f"{ev} = [{self.cur_env(fn, scope)}{', None' * len(names)}]")
        fn.local[id(inner)] = ev
        obs = self.const(observed) if observed is not None else "None"
        if node.formals is not None:
            for i, f in enumerate(node.formals):
                if f.default is not None:
                    d = self.lazy(f.default, fn, inner, initialising=inner)
                    fn.emit(f"{ev}[{i + 1}] = arg_or({obs}, {f.name!r}, {d})")
                else:
                    fn.emit(f"{ev}[{i + 1}] = arg_or({obs}, {f.name!r}, unknown_arg({f.name!r}))")
        if node.arg:
            fn.emit(f"{ev}[{names[node.arg]}] = arg_or({obs}, None, unknown_arg({node.arg!r}))")
        return inner

    def compile_focus(self, root: N.Node) -> Any:
        if self.res is None:
            self.res = resolve(root)
        fn = self.new_fn("M", _P_ENV, self.top)
        r = self.focus(root, fn, self.top)
        fn.emit(f"return {r}")
        ns = self.ns
        ns["__builtins__"] = self.base
        ns.update(self.consts)
        ns["focus_fill"] = _focus_fill
        define(self.fns, ns, f"<nix focus {self.source.name}>")
        self.fns.clear()  # defined: only the namespace needs them now
        return ns[fn.name]


def _focus_fill(env: list[Any], table: tuple[tuple[int, Any, Any], ...]) -> None:
    """Fill the slots of ``env`` from ``FocusCompiler._bind_path_scope``'s
    table: a thunk of, or (with a node) a function of, each ``_Deferred``."""
    for slot, code, node in table:
        env[slot] = Thunk(code, env) if node is None else Lambda(code, env, node)


# Scopes of at least this many bindings are filled from a table (``bind_scope``).
_TABLE_SCOPE = 32


def _tabled(node: N.Node) -> bool:
    """Whether ``bind_scope`` makes the value of a binding to ``node`` from its
    table: a function, or a thunk of its own (not a literal, not a name)."""
    cls = node.__class__
    if cls is N.Lambda:
        return True
    if cls in (N.Int, N.Float, N.Uri, N.Var):
        return False
    return not (cls is N.Str and all(p.__class__ is str for p in node.parts))  # type: ignore[attr-defined]


def _scope_fill(
    env: list[Any], table: tuple[tuple[int, str, Any], ...], functions: dict[str, Any]
) -> None:
    """Fill the slots of ``env`` from ``Compiler.bind_scope``'s table: a
    thunk of, or (with a node) a function of, the generated function named."""
    for slot, name, node in table:
        code = functions[name]
        env[slot] = Thunk(code, env) if node is None else Lambda(code, env, node)


class _Deferred:
    """A function of a focus program (``FocusCompiler``) whose body its
    compiler generates when first called: a large file's focus passes tens
    of thousands of bindings, of which an evaluation runs a few.  Called as
    the function would be; ``desc`` and ``span`` are a thunk's trace note
    (``vm.code_note``).  Named in the program's namespace (``define``) when
    generated code refers to it, else named only when generated."""

    __slots__ = ("name", "params", "node", "scope", "comp", "desc", "span", "real")

    def __init__(
        self,
        params: str,
        node: N.Node,
        scope: Scope,
        comp: FocusCompiler,
        desc: str | None = None,
        span: N.Span | None = None,
    ) -> None:
        self.name: str | None = None
        self.params = params
        self.node = node
        self.scope = scope
        self.comp: FocusCompiler | None = comp
        self.desc = desc
        self.span = span
        self.real: Any = None

    @property
    def kind(self) -> str:
        """``L`` (a function's code) or ``T`` (a thunk's)."""
        return "L" if self.params == _P_ARG else "T"

    def __call__(self, *args: Any) -> Any:
        real = self.real
        if real is None:
            real = self.real = self._make()
        return real(*args)

    def _make(self) -> Any:
        """Generate, define and compile the function (its first call)."""
        comp = self.comp
        assert comp is not None
        ns = comp.ns
        first = len(comp.fns)
        fn = comp.generate(self)
        ns.update(comp.consts)
        filename = ns["_nixlens_file"]
        define(comp.fns[first:], ns, filename)
        del comp.fns[first:]  # defined: only the namespace needs them now
        scratch: dict[str, Any] = {}
        exec(compile(fn.source(), filename, "exec"), ns, scratch)
        real = scratch[fn.name]
        real.__code__ = flat_lines(real.__code__)
        ns[fn.name] = real  # code run later finds it directly
        if self.desc is not None:
            ns["_nixlens_notes"][fn.name] = (self.desc, self.span)
        self.comp = None
        self.node = self.scope = None  # type: ignore[assignment]
        return real


def define(
    items: list[Any],
    ns: dict[str, Any],
    filename: str,
    check: Callable[[], None] | None = None,
) -> None:
    """Define the generated functions in ``ns``, each compiled on its first call.

    Most of a large file is function bodies that one evaluation never calls
    (a package set, a module's options); generating and compiling Python is
    the bulk of the cost of compiling Nix, so it is paid only for what runs.
    Functions refer to each other by global name, so a stub that compiles
    and takes over the real function's code on its first call is all it
    takes; values made before the first call keep the stub, which then runs
    the real code.  ``check`` (budget, cancellation) runs every few thousand
    definitions.

    A stub keeps only what its first call needs: the number of its source in
    the program's ``_ColdStore`` (not the ``Fn`` and its compiler, which a
    whole file's worth of would keep tens of megabytes alive as long as any
    value of the evaluation), or the source itself for a function not
    sealed.  A function of a focus program whose body is still to generate
    is its ``_Deferred`` itself."""
    ns["_nixlens_load_stub"] = _load_stub
    # Interned: marshalled code then shares it (``import_program``) instead
    # of each function's code holding a copy.
    ns["_nixlens_file"] = sys.intern(filename)
    notes = ns.setdefault("_nixlens_notes", {})
    names = ns.setdefault("_nixlens_fns", [])
    for i, item in enumerate(items):
        if check is not None and not i % 4096:
            check()
        if item.__class__ is _Attach:
            notes[item.target] = (item.desc, item.span)
        elif item.__class__ is _Deferred:
            ns[item.name] = item  # type: ignore[index]
            ns["_nixlens_deferred"] = True  # not exported (``export_program``)
        else:
            ns[item.name] = _stub(item, ns)
            names.append(item.name)


def _stub(fn: Fn, ns: dict[str, Any]) -> Any:
    # A function whose globals are ``ns``, its state in a default argument.
    state = fn.text if fn.text is not None else fn.source()
    return _make_stub(fn.name, fn.params, state, ns)


def _make_stub(name: str, params: str, state: Any, ns: dict[str, Any]) -> Any:
    return types.FunctionType(_STUB_CODES[params], ns, name, (0, state))


# Stubs for the parameter lists the compiler generates: thunk and entry code
# ``(e0, d=0)``, spilled code ``(e0, d)``, function code ``(e0, a, d=0)``
# (``d``: how many calls deep the code runs inside a driver frame).
def _stub_env(e0: Any, d: Any = 0, _state: Any = None) -> Any:
    return _nixlens_load_stub(_state, (e0, d), globals())  # type: ignore[name-defined]  # noqa: F821


def _stub_env_arg(e0: Any, a: Any, d: Any = 0, _state: Any = None) -> Any:
    return _nixlens_load_stub(_state, (e0, a, d), globals())  # type: ignore[name-defined]  # noqa: F821


_STUB_CODES = {
    _P_ENV: _stub_env.__code__,
    "e0, d": _stub_env.__code__,
    _P_ARG: _stub_env_arg.__code__,
}
_STUB_CODE_SET = frozenset(_STUB_CODES.values())


# CPython 3.11-3.13's location table: entries of up to 8 code units, a
# first byte ``0x80 | kind << 3 | (units - 1)``; kind 13 is "line only", its
# line delta a signed varint (0: one byte).
_FLAT_LINES = (3, 11) <= sys.version_info[:2] <= (3, 13)


def flat_lines(code: types.CodeType) -> types.CodeType:
    """``code`` with a location table that gives every instruction the
    function's first line.  Generated code's line and column positions mean
    nothing to a user (errors carry Nix spans, never Python lines) and were
    about a quarter of each code object's size: the code of every function
    that ran is alive as long as its program, tens of thousands of them."""
    if not _FLAT_LINES:
        return code
    units = len(code.co_code) // 2
    table = bytearray()
    while units > 0:
        k = min(units, 8)
        table += bytes((0x80 | 13 << 3 | (k - 1), 0))
        units -= k
    consts = code.co_consts
    if any(c.__class__ is types.CodeType for c in consts):
        consts = tuple(flat_lines(c) if c.__class__ is types.CodeType else c for c in consts)
    return code.replace(co_linetable=bytes(table), co_consts=consts)


def _load_stub(state: Any, args: tuple[Any, ...], ns: dict[str, Any]) -> Any:
    """First call of a stub: compile the real function, hand its code to the
    stub (which stays in ``ns``, as values made before hold it) and call it."""
    filename = ns["_nixlens_file"]
    if state.__class__ is bytes:
        # Marshalled code (``import_program``): no compiling at all.
        code = marshal.loads(state)
        stub = ns[code.co_name]
        # Nothing kept to undo it: ``compact`` marshals the code again if
        # needed, and the stub's code follows from the parameters.
        stub.__code__ = code
        stub.__defaults__ = _REAL_DEFAULTS
        return stub(*args)
    ns["_nixlens_dirty"] = True
    if isinstance(state, (int, str)):
        source = ns["_nixlens_cold"].source(state) if isinstance(state, int) else state
        name = source[4 : source.index("(")]  # "def NAME(..."
        stub = ns[name]
        # How to make it a stub again (``compact``).
        ns.setdefault("_nixlens_loaded", {})[name] = state
    else:
        name = state[4 : state.index("(")]  # "def NAME(..."
        source = state
        stub = ns[name]
    # Defined into a scratch namespace: ``ns`` keeps the stub throughout.
    scratch: dict[str, Any] = {}
    exec(compile(source, filename, "exec"), ns, scratch)
    stub.__code__ = flat_lines(scratch[name].__code__)
    stub.__defaults__ = _REAL_DEFAULTS
    return stub(*args)


def compact(ns: dict[str, Any]) -> None:
    """A program has finished running (an evaluation whose values are kept,
    e.g. for hover): its functions that were compiled become stubs again,
    so the compiled code of a large file does not stay alive as long as any
    of its values.  A later call compiles them again."""
    loaded: dict[str, Any] = ns.pop("_nixlens_loaded", {})
    for name in ns.get("_nixlens_fns", ()):
        stub = ns[name]
        code = stub.__code__
        if code in _STUB_CODE_SET:
            continue
        state = loaded.get(name)
        if state is None:  # loaded from the code cache (``import_program``)
            state = marshal.dumps(code)
        stub.__code__ = _STUB_CODES[_params(code)]
        stub.__defaults__ = (0, state)


def _params(code: types.CodeType) -> str:
    """The parameter list of a generated function's code (or its stub's):
    what ``_STUB_CODES`` is keyed by."""
    if code in _STUB_CODE_SET:
        return _P_ENV if code is _stub_env.__code__ else _P_ARG
    return _P_ENV if code.co_argcount == 2 else _P_ARG


def export_program(ns: dict[str, Any]) -> dict[str, Any] | None:
    """What ``import_program`` needs to make ``ns``'s program again (for
    ``codecache``): its constants, the code of each function that has been
    compiled (marshalled) and the stored source of each other one.  None for
    a program with bodies still to generate (focus programs)."""
    fns = []
    old = ns["_nixlens_cold"]
    # Only the sources of functions not compiled: the others are code.
    cold = _ColdStore()
    if "_nixlens_deferred" in ns:
        return None
    for name in ns["_nixlens_fns"]:
        f = ns[name]
        code = f.__code__
        params = _params(code)
        if code in _STUB_CODE_SET:
            state = f.__defaults__[1]
            if state.__class__ is tuple:
                return None
            if state.__class__ is int:
                state = cold.add(old.source(state))
        else:
            state = marshal.dumps(code)
        fns.append((name, params, state))
    cold.close()
    return {
        "K": ns["K"],
        "cold": cold,
        "notes": _Notes.pack(ns["_nixlens_notes"]),
        "file": ns["_nixlens_file"],
        "entry": ns["_nixlens_entry"],
        "fns": fns,
    }


def import_program(payload: dict[str, Any], base: dict[str, Any]) -> Any:
    """The entry function of a program exported by ``export_program``, with
    ``base`` (``runtime.base_namespace``) as what all programs share."""
    ns: dict[str, Any] = {"__builtins__": base}
    ns["K"] = payload["K"]
    ns["_nixlens_cold"] = payload["cold"]
    ns["scope_fill"] = _scope_fill
    ns["_nixlens_load_stub"] = _load_stub
    ns["_nixlens_file"] = sys.intern(payload["file"])
    ns["_nixlens_notes"] = payload["notes"]
    ns["_nixlens_entry"] = payload["entry"]
    # Names interned: files share them (``T3``…) with each other and with
    # their code's ``co_name`` (marshal interns it).
    names = [sys.intern(name) for name, _params, _state in payload["fns"]]
    ns["_nixlens_fns"] = names
    for name, (_name, params, state) in zip(names, payload["fns"], strict=True):
        ns[name] = _make_stub(name, params, state, ns)
    return ns[payload["entry"]]


class _Notes:
    """The trace notes of a program from the code cache, kept pickled and
    compressed until a trace first asks for one (``vm.code_note``, which
    only calls ``get``): most evaluations never read them, and as objects
    they cost a tuple, a string and a span each.  The spans' sources are
    kept as objects (shared with the program's constants)."""

    __slots__ = ("data", "sources", "_map")

    def __init__(self, data: bytes, sources: tuple[N.Source, ...]) -> None:
        self.data = data
        self.sources = sources
        self._map: dict[str, Any] | None = None

    @classmethod
    def pack(cls, notes: dict[str, Any] | _Notes) -> _Notes:
        """``notes`` (a program's) as a ``_Notes``."""
        if notes.__class__ is _Notes:
            return notes  # type: ignore[return-value]
        sources: list[N.Source] = []

        def persistent_id(obj: Any) -> int | None:
            if obj.__class__ is not N.Source:
                return None
            for i, src in enumerate(sources):
                if src is obj:
                    return i
            sources.append(obj)
            return len(sources) - 1

        buf = io.BytesIO()
        pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
        pickler.persistent_id = persistent_id  # type: ignore[method-assign]
        pickler.dump(notes)
        return cls(zlib.compress(buf.getvalue(), 1), tuple(sources))

    def get(self, name: str, default: Any = None) -> Any:
        """The note of the function ``name``."""
        notes = self._map
        if notes is None:
            unpickler = pickle.Unpickler(io.BytesIO(zlib.decompress(self.data)))
            unpickler.persistent_load = self.sources.__getitem__  # type: ignore[method-assign]
            notes = self._map = unpickler.load()
        return notes.get(name, default)

    def __reduce__(self) -> tuple[Any, tuple[bytes, tuple[N.Source, ...]]]:
        return (_Notes, (self.data, self.sources))


class _ColdStore:
    """Sources of generated functions, compressed in chunks of about
    ``CHUNK`` characters (generated code compresses about seven-fold);
    the last two chunks read are kept decompressed."""

    CHUNK = 32768

    __slots__ = ("chunks", "where", "_open", "_size", "_recent")

    def __init__(self) -> None:
        self.chunks: list[bytes] = []
        # Per source: its chunk's number, start and end in the chunk's text.
        self.where = array.array("i")
        # The sources of the chunk being filled.
        self._open: list[str] = []
        self._size = 0
        self._recent: tuple[tuple[int, str], ...] = ()

    def add(self, source: str) -> int:
        """Keep ``source``; its number."""
        i = len(self.where) // 3
        self.where.extend((len(self.chunks), self._size, self._size + len(source)))
        self._open.append(source)
        self._size += len(source)
        if self._size >= self.CHUNK:
            self.chunks.append(_pack(self._open))
            self._open, self._size = [], 0
        return i

    def close(self) -> None:
        """No more sources: compress the chunk being filled."""
        if self._open:
            self.chunks.append(_pack(self._open))
            self._open, self._size = [], 0

    def source(self, i: int) -> str:
        """The source number ``i``."""
        k, start, end = self.where[3 * i : 3 * i + 3]
        if k == len(self.chunks):  # the chunk being filled
            return "".join(self._open)[start:end]
        recent = self._recent
        for kk, text in recent:
            if kk == k:
                return text[start:end]
        text = zlib.decompress(self.chunks[k]).decode("utf-8", "surrogatepass")
        self._recent = ((k, text), *recent[:1])  # replaced whole: threads may read it
        return text[start:end]


def _pack(parts: list[str]) -> bytes:
    # Generated code may hold lone surrogates (string literals of invalid UTF-8).
    return zlib.compress("".join(parts).encode("utf-8", "surrogatepass"), 1)


class _Attach:
    """A pseudo-function that gives a generated function its trace note: kept
    in the program's ``_nixlens_notes`` by function name (``vm.code_note``),
    not as attributes (a dictionary per function)."""

    __slots__ = ("target", "desc", "span")

    def __init__(self, target: str, desc: str, span: N.Span) -> None:
        self.target = target
        self.desc = desc
        self.span = span


def compile_program(
    root: N.Node,
    source: N.Source,
    globals_: dict[str, Any],
    extra: list[str] | None = None,
    lints: dict[str, str] | None = None,
    warnings: list[Any] | None = None,
    check: Callable[[], None] | None = None,
    base: dict[str, Any] | None = None,
    resolution: Resolution | None = None,
) -> Any:
    """Compile a parsed file; returns ``entry(env) -> generator``.

    ``globals_`` maps the global names (builtins) to their values; ``extra``
    names the slots of the outermost env (``scopedImport``); ``base`` is the
    evaluation's ``runtime.base_namespace`` (made from ``globals_`` if None)."""
    comp = Compiler(source, globals_, extra or [], lints, base, resolution)
    comp.check = check
    entry = comp.compile_root(root)
    if warnings is not None:
        warnings.extend(comp.warnings)
    return entry


__all__ = ["compile_program", "CompileError", "Thunk"]
