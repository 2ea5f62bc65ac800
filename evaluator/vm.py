"""The driver loop: one explicit frame stack for every generator in flight.

Compiled Nix code and builtins are Python generators.  Whenever they need
something that may take unbounded work (forcing a thunk, calling a function,
running another generator) they *yield a request* and the driver answers it.
Host stack depth therefore never grows with Nix call depth or data depth.

The request set (answered only in ``Machine.run``):

=================  ==========================================================
request            answer
=================  ==========================================================
``Thunk``          force: its value (computed in a new frame if needed)
``(f, arg, span)`` call the forced function ``f`` with ``arg``: the result
generator          run it as a new frame: its return value
``Emit(diag)``     record a warning/trace diagnostic: ``None``
``CONTEXT``        ``Machine.owner``: the ``eval.Evaluator`` running the
                   code (its I/O, import cache, store, settings, size
                   checks); builtins that need the evaluation ask
``CALL_SPAN``      the span of the innermost call frame (for messages)
``TryForce(v)``    force ``v``; ``(True, value)`` or ``(False, error)`` when a
                   catchable error escaped (``builtins.tryEval``)
``WithContext``    force ``v``; an error escaping gets ``msg`` in its trace
=================  ==========================================================

The code of a thunk (``code(env)``) or of a Nix function (``code(env, arg)``)
returns a generator, run as a frame, or, when it forces nothing (the
compiler makes such code a plain function), the value itself: no frame.  A
thunk of ``apply_code`` (``f x`` made lazily by ``map``, ``genList``) whose
``f`` is a forced Nix function is forced by the call's own frame, whose
bookkeeping is then ``(f, arg, span, thunk)``.

Generated code does not yield every call and force: it runs the code of a
Nix function it calls, of a builtin (``prim_now``) and of a thunk it forces
(``force_in``) itself, a generator with ``yield from``, up to
``INLINE_DEPTH`` levels deep (``d``, passed down); the next level is yielded
here and starts a frame of its own at ``d = 0``, so the host stack stays
bounded.  An error leaving such a call or thunk is traced as its frame here
would be (``call_error``, ``Machine._unwind_one``).  While arguments are
observed or Nix's ``max-call-depth`` is set, every call comes here
(``Machine.inline_calls``).

Deep operations (deep-force, equality, string coercion, printing, JSON) are
generator helpers with explicit work lists; equality and coercion are called
with ``yield from`` (bounded host nesting), the deep ones iterate.  Equality
called by generated code (``runtime.op_eq`` with ``d``) forces what it
compares as generated code forces (``force_in``); a set with ``__functor``
that generated code or a builtin calls is called as a Nix function is
(``_functor_in``), its two calls one level deeper.
"""

from __future__ import annotations

import gc
import time
import types
from typing import Any

from .errors import Cancelled, EvalLimit, InfiniteRecursion, NixError, StackOverflow
from .values import BLACKHOLE, Attrs, Lambda, PrimOp, PrimOpApp, Thunk, show_type

GeneratorType = types.GeneratorType
FunctionType = types.FunctionType
# How many Nix calls (and thunks) deep generated code runs the code of a
# function (and thunk) itself before leaving the next to the driver loop as
# a frame of its own (``compiler.Compiler.c_Apply``, ``force_in``).
INLINE_DEPTH = 8


class Emit:
    """Request: record a diagnostic (trace/warn/deprecation)."""

    __slots__ = ("diag",)

    def __init__(self, diag: Any) -> None:
        self.diag = diag


class TryForce:
    """Request: force ``value``, catching catchable errors."""

    __slots__ = ("value",)

    def __init__(self, value: Any) -> None:
        self.value = value


class WithContext:
    """Request: force ``value``; errors passing through get ``msg`` traced."""

    __slots__ = ("value", "msg", "span")

    def __init__(self, value: Any, msg: str, span: Any = None) -> None:
        self.value = value
        self.msg = msg
        self.span = span


class _Marker:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


CONTEXT = _Marker("CONTEXT")
CALL_SPAN = _Marker("CALL_SPAN")


def force(v: Any) -> Any:
    """``v = yield from force(v)``: the forced value of ``v``."""
    if v.__class__ is Thunk:
        if v.c is None:
            return v.v
        v = yield v
    return v


def apply_code(env: tuple[Any, Any, Any]) -> Any:
    """Thunk code of the lazy application ``f x`` (``env``: f, x, span) that
    builtins such as ``map`` and ``genList`` make.  When ``f`` is a forced Nix
    function the driver makes the call itself, without this frame."""
    f, x, span = env
    if f.__class__ is Thunk:
        f = f.v if f.c is None else (yield f)
    return (yield (f, x, span))


def apply2_code(env: tuple[Any, Any, Any]) -> Any:
    """Thunk code of the lazy application ``f x y`` (``env``: f, x, y) that
    ``mapAttrs`` and ``zipAttrsWith`` make.  When ``f`` is a forced Nix
    function whose code forces nothing before taking its second argument
    (``name: value: …``), the driver makes both calls itself."""
    f, x, y = env
    if f.__class__ is Thunk:
        f = f.v if f.c is None else (yield f)
    g = yield (f, x, None)
    return (yield (g, y, None))


_CO_GENERATOR = 0x20  # inspect.CO_GENERATOR


def _force_frame(v: Any) -> Any:
    """A frame that forces ``v`` (used under TryForce/WithContext markers)."""
    if v.__class__ is Thunk:
        v = v.v if v.c is None else (yield v)
    return v


def _functor_call(f: Attrs, arg: Any, span: Any) -> Any:
    """Call an attribute set with ``__functor``: ``(f.__functor f) arg``."""
    fn = f["__functor"]
    if fn.__class__ is Thunk:
        fn = fn.v if fn.c is None else (yield fn)
    g = yield (fn, f, span)
    return (yield (g, arg, span))


def not_callable(f: Any) -> NixError:
    from .printer import show_value_for_error

    return NixError(
        f"attempt to call something which is not a function but {show_type(f)}: "
        f"{show_value_for_error(f)}"
    )


class Frame:
    """Bookkeeping for frames that are not plain thunk/call frames."""

    __slots__ = ("kind", "data", "span")

    def __init__(self, kind: str, data: Any = None, span: Any = None) -> None:
        self.kind = kind  # "try" | "context"
        self.data = data
        self.span = span


class Budget:
    """Limits for one evaluation; all optional."""

    __slots__ = ("max_steps", "deadline", "cancel", "max_depth", "max_call_depth", "timeout_s")

    def __init__(
        self,
        max_steps: int | None = None,
        timeout_s: float | None = None,
        cancel: Any = None,
        max_depth: int | None = 2_500_000,
        max_call_depth: int | None = None,
    ) -> None:
        self.max_steps = max_steps
        self.timeout_s = timeout_s
        self.deadline: float | None = None
        self.cancel = cancel  # anything with is_set()
        self.max_depth = max_depth
        self.max_call_depth = max_call_depth

    def start(self) -> None:
        """Fix the deadline from now."""
        if self.timeout_s is not None:
            self.deadline = time.monotonic() + self.timeout_s


def code_note(code: Any) -> tuple[str | None, Any]:
    """The trace note of a thunk's code, if any: ``desc`` and ``span``
    attributes (``compiler._Deferred``), or the entry of a generated function
    in its program's ``_nixlens_notes`` (``compiler.define``)."""
    desc = getattr(code, "desc", None)
    if desc is not None:
        return desc, getattr(code, "span", None)
    ns = getattr(code, "__globals__", None)
    if ns is not None:
        note = ns.get("_nixlens_notes", _NO_NOTES).get(code.__name__)
        if note is not None:
            return note  # type: ignore[no-any-return]
    return None, None


_NO_NOTES: dict[str, tuple[str, Any]] = {}


def frame_notes(info: Any) -> list[tuple[str, Any]]:
    """The trace lines a frame contributes, innermost first (as Nix words them)."""
    cls = info.__class__
    if cls is Thunk:
        return []  # a binding's thunk: marked, not traced (``Machine._unwind_one``)
    if cls is tuple:
        f = info[0]
        span = info[2]
        if f.__class__ is Lambda:
            name = f.node.name
            what = f"'{name}'" if name else "anonymous lambda"
            notes = [(f"while calling {what}", f.node.span)]
            if span is not None:
                notes.append(("from call site", span))
            return notes
        if f.__class__ is PrimOp:
            return [(f"while calling the '{f.name}' builtin", span)] if f.trace else []
        if f.__class__ is PrimOpApp:
            prim = f.prim
            return [(f"while calling the '{prim.name}' builtin", span)] if prim.trace else []
        return [("from call site", span)]
    if cls is Frame and info.kind == "context":
        return [(info.data, info.span)]
    return []


def _frame_span(info: Any) -> Any:
    cls = info.__class__
    if cls is tuple:
        return info[2]
    if cls is Thunk:
        return code_note(info.v)[1]
    if cls is Frame:
        return info.span
    return None


# The young-generation threshold of a process that runs one evaluation and
# exits (``one_shot_gc``).
ONE_SHOT_GC_THRESHOLD = 3_000_000


def one_shot_gc() -> None:
    """Set the cyclic GC for a process that runs one evaluation and exits
    (``nixlens eval``).  Each object still alive at a young-generation
    collection is scanned once, about half a microsecond of CPU time apiece
    for evaluation data: at ``Machine.run``'s threshold of 200,000 that was
    a sixth of the option list of 600 modules (1.0 s: the threshold makes
    no difference while a collection happens at all) and of
    ``lib.evalModules`` over them (0.5 s).  At 3,000,000 such evaluations
    (up to 2 million objects alive) run without a collection, for 4-30 MB
    more at their peak, and a long loop's cyclic garbage is still collected,
    every 3,000,000 objects.  A long-lived process, whose values stay,
    keeps ``Machine.run``'s threshold and runs its own collections."""
    old = gc.get_threshold()
    gc.set_threshold(max(old[0], ONE_SHOT_GC_THRESHOLD), max(old[1], 20), max(old[2], 100))


class Machine:
    """Runs generators to completion; holds what builtins ask for via CONTEXT."""

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget or Budget()
        self.warnings: list[Any] = []
        self.steps = 0
        # When a dict: argument values of lambda calls, keyed by the
        # lambda's (source name, start offset), first few kept (for hover).
        self.observe: dict[tuple[str, int], list[Any]] | None = None
        # Filled by the evaluator (evaluator.eval.Evaluator) that owns this.
        self.owner: Any = None

    def inline_calls(self) -> int:
        """How many calls deep generated code may call functions itself
        (``INLINE_CALLS`` in its namespace): none when each call must be seen
        here (argument observation, Nix's ``max-call-depth``)."""
        if self.observe is not None or self.budget.max_call_depth is not None:
            return 0
        return INLINE_DEPTH

    def run(self, gen: Any) -> Any:
        """Drive ``gen`` (a generator) to its result; raises NixError."""
        # Deep evaluations keep millions of live frames: a young-generation
        # threshold this high keeps the cyclic GC from rescanning them.  The
        # threshold is process-wide: it is only ever raised (never saved and
        # restored, which races when runs overlap in threads); a long-lived
        # owner (the server's analysis helpers) sets it once at start.
        old = gc.get_threshold()
        if old[0] < 200_000 or old[1] < 20 or old[2] < 100:
            gc.set_threshold(max(old[0], 200_000), max(old[1], 20), max(old[2], 100))
        return self._run(gen)

    def _run(self, gen: Any) -> Any:
        budget = self.budget
        max_steps = budget.max_steps
        max_depth = budget.max_depth or 1 << 62
        max_calls = budget.max_call_depth
        deadline = budget.deadline
        cancel = budget.cancel
        check_every = 4096
        next_check = self.steps + check_every
        steps = self.steps

        stack: list[Any] = []
        infos: list[Any] = []
        info: Any = None
        send: Any = None
        exc: NixError | None = None
        call_depth = 0
        cur = gen
        observe = self.observe
        prim_depth = 0 if self.inline_calls() else INLINE_DEPTH

        while True:
            steps += 1
            try:
                if steps >= next_check:
                    next_check = steps + check_every
                    self.steps = steps
                    if max_steps is not None and steps > max_steps:
                        raise EvalLimit(f"evaluation limit: more than {max_steps} steps", "steps")
                    if deadline is not None and time.monotonic() > deadline:
                        raise EvalLimit("evaluation limit: time budget exceeded", "deadline")
                    if cancel is not None and cancel.is_set():
                        raise Cancelled()
                if exc is None:
                    req = cur.send(send)
                else:
                    e, exc = exc, None
                    req = cur.throw(e)
            except StopIteration as stop:
                val = stop.value
                if info.__class__ is Thunk:
                    info.c = None
                    info.e = None
                    info.v = val
                elif info.__class__ is tuple:
                    call_depth -= 1
                    if len(info) == 4:  # the call of a thunk (``apply_code``)
                        t = info[3]
                        t.c = None
                        t.e = None
                        t.v = val
                elif info.__class__ is Frame and info.kind == "try":
                    val = (True, val)
                if not stack:
                    self.steps = steps
                    return val
                cur = stack.pop()
                info = infos.pop()
                send = val
                continue
            except (NixError, RecursionError) as raised:
                if isinstance(raised, NixError):
                    err = raised
                else:
                    err = NixError("expression nested too deeply for the host stack")
                err = self._unwind_one(err, info)
                if info.__class__ is tuple:
                    call_depth -= 1
                if info.__class__ is Frame and info.kind == "try" and err.catchable:
                    # tryEval: the error stops here and becomes a value.
                    if not stack:
                        self.steps = steps
                        return (False, err)
                    cur = stack.pop()
                    info = infos.pop()
                    send = (False, err)
                    continue
                if not stack:
                    self.steps = steps
                    raise err.with_traceback(None) from None
                cur = stack.pop()
                info = infos.pop()
                exc = err.with_traceback(None)
                continue

            rc = req.__class__
            # ---- force a thunk -------------------------------------------
            if rc is Thunk:
                c = req.c
                if c is None:
                    send = req.v
                    continue
                if c is BLACKHOLE:
                    exc = InfiniteRecursion()
                    continue
                req.c = BLACKHOLE
                req.v = c
                if c is apply_code:
                    f, arg, span = req.e
                    if f.__class__ is Thunk and f.c is None:
                        f = f.v
                    if f.__class__ is Lambda:
                        # The call's frame also stands for the thunk.
                        req = (f, arg, span, req)
                        rc = tuple
                elif c is apply2_code:
                    f, x, arg = req.e
                    if f.__class__ is Thunk and f.c is None:
                        f = f.v
                    if (
                        f.__class__ is Lambda
                        and not f.code.__code__.co_flags & _CO_GENERATOR
                        and observe is None
                    ):
                        # Plain code (or a stub not yet loaded: it may
                        # return a generator not started, dropped unrun).
                        try:
                            g = f.code(f.env, x)
                        except NixError as err:
                            stack.append(cur)
                            infos.append(info)
                            exc = err
                            cur = _raise_later()
                            info = (f, x, None, req)
                            call_depth += 1
                            send = None
                            continue
                        if g.__class__ is Lambda:
                            req = (g, arg, None, req)
                            rc = tuple
                if rc is Thunk:
                    try:
                        r = c(req.e)
                    except NixError as err:
                        stack.append(cur)
                        infos.append(info)
                        exc = err
                        cur = _raise_later()
                        info = req
                        send = None
                        continue
                    if r.__class__ is not GeneratorType:
                        # Plain code (forces nothing): its value, no frame.
                        req.c = None
                        req.e = None
                        req.v = send = r
                        continue
                    stack.append(cur)
                    infos.append(info)
                    if len(stack) > max_depth:
                        exc = EvalLimit(
                            f"evaluation limit: more than {max_depth} nested frames", "depth"
                        )
                        r.close()
                        cur = _raise_later()
                        info = req
                        send = None
                        continue
                    cur = r
                    info = req
                    send = None
                    continue
            # ---- call a function -----------------------------------------
            if rc is tuple:
                f = req[0]
                fc = f.__class__
                if fc is Lambda:
                    if observe is not None:
                        _observe(observe, f, req[1])
                    try:
                        r = f.code(f.env, req[1])
                    except NixError as err:
                        r = _raise_later()
                        exc = err
                    if r.__class__ is not GeneratorType:
                        # Plain code (forces nothing): its value, no frame.
                        send = r
                        if len(req) == 4:  # the call of a thunk (``apply_code``)
                            t = req[3]
                            t.c = None
                            t.e = None
                            t.v = r
                        continue
                    stack.append(cur)
                    infos.append(info)
                    cur = r
                    info = req
                    send = None
                    call_depth += 1
                    if max_calls is not None and call_depth > max_calls:
                        exc = StackOverflow()
                    elif len(stack) > max_depth:
                        exc = EvalLimit(
                            f"evaluation limit: more than {max_depth} nested frames", "depth"
                        )
                    continue
                if fc is PrimOp or fc is PrimOpApp:
                    if fc is PrimOp:
                        prim = f
                        args: tuple[Any, ...] = (req[1],)
                    else:
                        prim = f.prim
                        args = f.args + (req[1],)
                    if len(args) < prim.arity:
                        send = PrimOpApp(prim, args)
                        continue
                    if prim.plain:
                        try:
                            send = prim.fn(*args)
                        except NixError as err:
                            if err.span is None:
                                err.span = req[2]
                                err.span_inferred = True
                            exc = err
                        continue
                    stack.append(cur)
                    infos.append(info)
                    # A builtin that takes its depth runs its calls itself
                    # from 0 deep, unless every call must be seen here.
                    cur = prim.fn(*args, prim_depth, req[2]) if prim.at_depth else prim.fn(*args)
                    info = req
                    call_depth += 1
                    send = None
                    continue
                if fc is Thunk:
                    # Defensive: callers should pass forced functions.
                    stack.append(cur)
                    infos.append(info)
                    cur = _force_then_call(f, req[1], req[2])
                    info = None
                    send = None
                    continue
                if fc is Attrs and "__functor" in f:
                    stack.append(cur)
                    infos.append(info)
                    cur = _functor_call(f, req[1], req[2])
                    info = None
                    send = None
                    continue
                call_err = not_callable(f)
                call_err.span = req[2]
                exc = call_err
                continue
            # ---- run a generator as a frame ------------------------------
            if rc is GeneratorType:
                stack.append(cur)
                infos.append(info)
                if len(stack) > max_depth:
                    exc = EvalLimit(
                        f"evaluation limit: more than {max_depth} nested frames", "depth"
                    )
                cur = req
                info = None
                send = None
                continue
            if rc is Emit:
                self.warnings.append(req.diag)
                send = None
                continue
            if req is CONTEXT:
                send = self.owner
                continue
            if req is CALL_SPAN:
                send = _innermost_call_span(info, infos)
                continue
            if rc is TryForce:
                stack.append(cur)
                infos.append(info)
                cur = _force_frame(req.value)
                info = Frame("try")
                send = None
                continue
            if rc is WithContext:
                stack.append(cur)
                infos.append(info)
                cur = _force_frame(req.value)
                info = Frame("context", req.msg, req.span)
                send = None
                continue
            exc = NixError(f"internal error: unknown VM request {req!r}")

    @staticmethod
    def _unwind_one(err: NixError, info: Any) -> NixError:
        """Account for one frame an error leaves: restore thunks, add trace."""
        if not isinstance(err, NixError):  # pragma: no cover - defensive
            err = NixError(str(err))
        if err.span is None:
            err.span = _frame_span(info)
            err.span_inferred = True
        notes = frame_notes(info)
        if err.in_arg_binding and info.__class__ is tuple:
            # Nix binds arguments before it enters the function's own frame:
            # such an error is traced only from its call site.
            err.in_arg_binding = False
            notes = [n for n in notes if n[0] == "from call site"]
        for note in notes:
            err.add_trace(*note)
        if info.__class__ is Thunk:
            desc, span = code_note(info.v)  # parked code while blackholed
            if desc:
                err.mark_binding(desc, span)
        thunk = info
        if info.__class__ is tuple and len(info) == 4:  # a thunk's call (``apply_code``)
            thunk = info[3]
        if thunk.__class__ is Thunk and thunk.c is BLACKHOLE:
            if isinstance(err, EvalLimit):
                # A budget stop is not the thunk's fault: it may be forced
                # again later.
                thunk.c = thunk.v
                thunk.v = None
            elif thunk.v is _memo_error:
                # A memoised error raised again: keep the first memo.
                thunk.c = _memo_error
                thunk.v = None
            else:
                # Since Nix 2.34 errors are memoised: forcing the thunk again
                # raises the same error without re-evaluating.
                memo = _clone_error(err)
                # Shared on purpose: as in Nix 2.34+, frames the first error
                # passes through later still show when the memoised error is
                # raised (Nix 2.26 evaluated a failed thunk again instead).
                memo.trace = err.trace
                memo.bindings = err.bindings
                thunk.c = _memo_error
                thunk.e = memo
                thunk.v = None
        return err


def force_in(t: Thunk, d: int, calls: int) -> Any:
    """Generator: the value of the thunk ``t`` (not forced yet) for generated
    code running ``d`` calls deep in a frame: its code runs right here (as
    the driver would run it), or, past ``INLINE_DEPTH`` or for code not
    generated (a builtin's, a thunk being forced), in a frame of its own.
    The lazy calls ``f x`` of ``map``, ``genList`` … (``apply_code``) and
    ``f x y`` of ``mapAttrs`` … (``apply2_code``) are made here too when
    calls may be (``calls``: the program's ``INLINE_CALLS``)."""
    c = t.c
    if d >= INLINE_DEPTH or c.__class__ is not FunctionType or c.__defaults__ is None:
        if c is apply_code and d < calls:
            f, x, span = t.e
            if f.__class__ is Thunk and f.c is None:
                f = f.v
            if f.__class__ is Lambda:
                t.c = BLACKHOLE
                t.v = c
                try:
                    r = f.code(f.env, x, d + 1)
                    if r.__class__ is GeneratorType:
                        r = yield from r
                except NixError as err:
                    raise Machine._unwind_one(err, (f, x, span, t)) from None
                t.c = None
                t.e = None
                t.v = r
                return r
        elif c is apply2_code and d < calls:
            f, x, y = t.e
            if f.__class__ is Thunk and f.c is None:
                f = f.v
            if f.__class__ is Lambda:
                t.c = BLACKHOLE
                t.v = c
                try:
                    g = yield from call_in(f, x, None, d)
                    r = yield from call_in(g, y, None, d)
                except NixError as err:
                    raise Machine._unwind_one(err, t) from None
                t.c = None
                t.e = None
                t.v = r
                return r
        return (yield t)
    t.c = BLACKHOLE
    t.v = c
    try:
        r = c(t.e, d + 1)
        if r.__class__ is GeneratorType:
            r = yield from r
    except NixError as err:
        raise Machine._unwind_one(err, t) from None
    t.c = None
    t.e = None
    t.v = r
    return r


def prim_now(f: Any, arg: Any, span: Any, d: int) -> Any:
    """The call ``f arg`` of a builtin (``PrimOp``, ``PrimOpApp``) that
    generated code (``compiler.Compiler.c_Apply``) or a builtin (``call_in``)
    makes ``d`` calls deep (less than ``INLINE_DEPTH``), started: a partial
    application, or a plain builtin's value, is returned as it is, no
    generator made for it; else the builtin's generator, which the caller
    runs with ``yield from`` (as the driver would run it), or, when the
    builtin asks for its call's span (``PrimOp.inline``), a generator that
    leaves the call to the driver.  A set's call (``__functor``) is a
    generator too (``_functor_in``).  An error leaving it goes through
    ``call_error``."""
    if f.__class__ is PrimOpApp:
        prim = f.prim
        args = f.args + (arg,)
    elif f.__class__ is PrimOp:
        prim = f
        args = (arg,)
    else:
        return _functor_in(f, arg, span, d)
    if len(args) < prim.arity:
        return PrimOpApp(prim, args)
    if not prim.inline:
        return _driver_call(f, arg, span)
    if prim.at_depth:
        return prim.fn(*args, d + 1, span)
    return prim.fn(*args)


def _functor_in(f: Attrs, arg: Any, span: Any, d: int) -> Any:
    """Generator: the call ``f arg`` of a set (``(f.__functor f) arg``) that
    generated code or a builtin makes ``d`` calls deep, run here as the
    driver runs it (``_functor_call``: a frame that adds no trace of its
    own), its two calls one level deeper (a ``__functor`` that is itself
    such a set reaches the driver)."""
    if "__functor" not in f:
        err = not_callable(f)
        err.span = span
        raise err
    fn = f["__functor"]
    if fn.__class__ is Thunk:
        fn = fn.v if fn.c is None else (yield from force_in(fn, d, INLINE_DEPTH))
    g = yield from call_in(fn, f, span, d + 1)
    return (yield from call_in(g, arg, span, d + 1))


def _driver_call(f: Any, arg: Any, span: Any) -> Any:
    # The call as a frame of the driver (which traces an error leaving it).
    return (yield (f, arg, span))


def call_in(f: Any, arg: Any, span: Any, d: int) -> Any:
    """Generator: the call ``f arg`` (``f`` forced) that a builtin running
    ``d`` calls deep makes: run here as generated code runs its calls (the
    driver's next frame past ``INLINE_DEPTH``; a builtin the driver runs
    while every call must be seen there gets ``d = INLINE_DEPTH``)."""
    if d < INLINE_DEPTH:
        fc = f.__class__
        if fc is Lambda or fc is PrimOp or fc is PrimOpApp or fc is Attrs:
            try:
                r = f.code(f.env, arg, d + 1) if fc is Lambda else prim_now(f, arg, span, d)
                if r.__class__ is GeneratorType:
                    r = yield from r
            except NixError as err:
                raise call_error(err, f, arg, span) from None
            return r
    return (yield (f, arg, span))


def own_frame(d: int, n: int) -> bool:
    """Whether a builtin called ``d`` deep runs its loop of ``n`` calls as a
    frame of its own (yielded to the driver, then at ``d = 0``): each of its
    calls may then again go ``INLINE_DEPTH`` deep, one driver round trip for
    the loop instead of one per call that reaches the limit.  Not when calls
    must be seen by the driver (``d = INLINE_DEPTH``)."""
    return 0 < d < INLINE_DEPTH and n > 1


def force_at(v: Any, d: int) -> Any:
    """Generator: ``v`` forced by a builtin running ``d`` calls deep (see
    ``call_in``): its thunk's code run here while ``d`` allows."""
    if v.__class__ is Thunk:
        c = v.c
        if c is None:
            return v.v
        if d < INLINE_DEPTH:
            if c.__class__ is FunctionType and c.__defaults__ is not None:
                # Generated code: run here as ``force_in`` runs it, without
                # its generator in between.
                v.c = BLACKHOLE
                v.v = c
                try:
                    r = c(v.e, d + 1)
                    if r.__class__ is GeneratorType:
                        r = yield from r
                except NixError as err:
                    raise Machine._unwind_one(err, v) from None
                v.c = None
                v.e = None
                v.v = r
                return r
            return (yield from force_in(v, d, INLINE_DEPTH))
        return (yield v)
    return v


def call_error(err: NixError, f: Any, arg: Any, span: Any) -> NixError:
    """``err`` leaving the call ``f arg`` that generated code
    (``compiler.Compiler.c_Apply``) or a builtin (``call_in``) made itself:
    traced as the driver traces a call frame.  A plain builtin has no frame
    there (its error only gets the call's span), and a builtin's call left
    to the driver (``prim_now``) was traced by its frame."""
    if f.__class__ is Attrs:
        return err  # a set's call (``_functor_in``) traced its own calls
    if f.__class__ is not Lambda:
        prim = f.prim if f.__class__ is PrimOpApp else f
        if not prim.inline:
            return err
        if prim.plain:
            if err.span is None:
                err.span = span
                err.span_inferred = True
            return err
    return Machine._unwind_one(err, (f, arg, span))


def _innermost_call_span(info: Any, infos: list[Any]) -> Any:
    if info.__class__ is tuple:
        return info[2]
    for i in range(len(infos) - 1, -1, -1):
        if infos[i].__class__ is tuple:
            return infos[i][2]
    return None


def _observe(observe: dict[tuple[str, int], list[Any]], f: Lambda, arg: Any) -> None:
    sp = f.node.span
    key = (sp.source.name, sp.start)
    seen = observe.get(key)
    if seen is None:
        observe[key] = [arg]
    elif len(seen) < 3:
        seen.append(arg)


def _clone_error(err: NixError) -> NixError:
    """A shallow copy of an error without calling its constructor."""
    clone = err.__class__.__new__(err.__class__)
    clone.__dict__.update(err.__dict__)
    clone.args = err.args
    return clone


def _memo_error(err: Any) -> Any:
    """Thunk code of a thunk whose evaluation failed: raise a copy again."""
    again = _clone_error(err)
    again.trace = list(err.trace)
    again.bindings = None if err.bindings is None else list(err.bindings)
    raise again
    yield  # pragma: no cover


def _raise_later() -> Any:
    """A frame that only exists so a pending error can be thrown into it."""
    yield None
    return None


def _force_then_call(f: Any, arg: Any, span: Any) -> Any:
    f = yield f
    return (yield (f, arg, span))
