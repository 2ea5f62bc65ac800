"""Runtime values of the Nix VM.

Plain Python values stand for Nix values wherever possible, because the
generated code tests types with ``x.__class__ is int`` and the like:

==========  =============================================================
Nix         Python
==========  =============================================================
null        ``None``
bool        ``True`` / ``False``
int         ``int`` (64-bit range enforced by the operators)
float       ``float``
string      ``str`` (no context) or ``CtxStr`` (a ``str`` with ``.ctx``)
path        ``NixPath``
list        ``list`` (never mutated once built)
attr set    ``Attrs`` (a ``dict`` subclass; keys are attribute names)
function    ``Lambda``, ``PrimOp``, ``PrimOpApp``
==========  =============================================================

A ``Thunk`` may stand anywhere a value may, except where a value is known to
be forced (the result of every generator is forced to weak head normal form).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1


class Thunk:
    """A suspended computation.

    ``c`` is the code (a generator function taking the env), ``e`` the env and
    ``v`` the value.  States:  unforced (``c`` callable), being forced
    (``c is BLACKHOLE``; the code is parked in ``v``), forced (``c is None``;
    ``v`` is the value).  Generated code tests ``t.c is None`` inline and
    yields the thunk to the driver only when it must be computed.
    """

    __slots__ = ("c", "e", "v")

    def __init__(self, c: Any, e: Any) -> None:
        self.c = c
        self.e = e
        self.v: Any = None

    @staticmethod
    def done(value: Any) -> Thunk:
        """A thunk that is already forced (used where an object is required)."""
        t = Thunk(None, None)
        t.v = value
        return t

    def __repr__(self) -> str:
        if self.c is None:
            return f"<thunk={self.v!r}>"
        return "<thunk>"


def BLACKHOLE(env: Any) -> Any:  # noqa: N802 - a sentinel that looks like code
    """Marks a thunk under evaluation; never actually called."""
    raise AssertionError("BLACKHOLE called")


class CtxStr(str):
    """A Nix string that carries a string context.

    ``ctx`` is a frozenset of context elements in Nix's encoding: a plain
    store path (``/nix/store/...``), ``=/nix/store/x.drv`` (all outputs of a
    derivation, deep) or ``!out!/nix/store/x.drv`` (one output).
    Operations on ``str`` return plain ``str``: context is carried only where
    the evaluator does so on purpose.
    """

    ctx: frozenset[str]

    def __new__(cls, s: str, ctx: frozenset[str]) -> Any:
        if not ctx:
            return str(s)
        obj = str.__new__(cls, s)
        obj.ctx = ctx
        return obj


def context_of(s: str) -> frozenset[str]:
    """The context of a string value (empty for a plain ``str``)."""
    return s.ctx if s.__class__ is CtxStr else frozenset()  # type: ignore[attr-defined]


class NixPath:
    """A path value: an absolute, canonical file name."""

    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __eq__(self, other: object) -> bool:
        return isinstance(other, NixPath) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def __repr__(self) -> str:
        return f"NixPath({self.path!r})"


class Attrs(dict):
    """An attribute set.  ``pos`` maps names to the Span where defined."""

    __slots__ = ("pos",)

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.pos: Mapping[str, Any] | None = None


class Lambda:
    """A closure: compiled body ``code(env, arg)``, its env and its node."""

    __slots__ = ("code", "env", "node")

    def __init__(self, code: Any, env: Any, node: Any) -> None:
        self.code = code
        self.env = env
        self.node = node

    @property
    def name(self) -> str | None:
        return self.node.name


class PrimOp:
    """A builtin function of ``arity`` arguments; ``fn(*args)`` is a generator
    function (or a plain function when ``plain``) returning a forced value."""

    __slots__ = ("name", "arity", "fn", "doc", "plain", "trace", "inline", "at_depth")

    def __init__(
        self,
        name: str,
        arity: int,
        fn: Any,
        doc: str = "",
        plain: bool = False,
        trace: bool = True,
    ):
        self.name = name
        self.arity = arity
        self.fn = fn
        self.doc = doc
        self.plain = plain
        # False: errors passing through a call get no "while calling" line.
        self.trace = trace
        # Whether generated code may run it itself (``vm.prim_now``): not
        # when it asks the driver for the span of its call (``CALL_SPAN``),
        # which only the driver's own call frames answer.
        code = getattr(fn, "__code__", None)
        self.inline = code is not None and "CALL_SPAN" not in code.co_names
        # Whether ``fn`` takes, after its arguments, the call depth ``d`` and
        # the call's span: it then runs the Nix functions it calls and the
        # thunks it forces itself while ``d`` allows (``vm.call_in``).
        self.at_depth = (
            code is not None
            and code.co_argcount == arity + 2
            and code.co_varnames[arity : arity + 2] == ("d", "span")
        )

    def __repr__(self) -> str:
        return f"<primop {self.name}>"


class PrimOpApp:
    """A builtin applied to fewer arguments than its arity."""

    __slots__ = ("prim", "args")

    def __init__(self, prim: PrimOp, args: tuple[Any, ...]) -> None:
        self.prim = prim
        self.args = args


FUNCTION_TYPES = (Lambda, PrimOp, PrimOpApp)


def type_name(v: Any) -> str:
    """The name ``builtins.typeOf`` gives a forced value."""
    cls = v.__class__
    if cls is int:
        return "int"
    if cls is bool:
        return "bool"
    if cls is str or cls is CtxStr:
        return "string"
    if cls is Attrs:
        return "set"
    if cls is list:
        return "list"
    if v is None:
        return "null"
    if cls is float:
        return "float"
    if cls is NixPath:
        return "path"
    if cls in FUNCTION_TYPES:
        return "lambda"
    if cls is Thunk:
        return "thunk"
    return "unknown"


def show_type(v: Any) -> str:
    """Nix's ``showType``: the type with an article, as used in errors."""
    cls = v.__class__
    if cls is int:
        return "an integer"
    if cls is bool:
        return "a Boolean"
    if cls is str or cls is CtxStr:
        return "a string"
    if cls is Attrs:
        return "a set"
    if cls is list:
        return "a list"
    if v is None:
        return "null"
    if cls is float:
        return "a float"
    if cls is NixPath:
        return "a path"
    if cls is Lambda:
        return "a function"
    if cls is PrimOp:
        return "a built-in function"
    if cls is PrimOpApp:
        return "a partially applied built-in function"
    if cls is Thunk:
        return "a thunk"
    return "an unknown value"
