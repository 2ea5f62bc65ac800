"""Evaluation errors.

Every error carries the innermost span known when it was raised (the driver
fills it in from the frame it unwinds through when the raiser had none) and a
trace: the frames it unwound through, innermost first, as ``(message, span)``.
Catchable errors (``throw``, failed ``assert``) are the only ones
``builtins.tryEval`` catches.
"""

from __future__ import annotations

from typing import Any


class NixError(Exception):
    """A Nix evaluation error (fatal unless a subclass says otherwise)."""

    catchable = False
    code = "eval_error"

    def __init__(self, msg: str, span: Any = None) -> None:
        super().__init__(msg)
        self.msg = msg
        self.span = span
        # True when the span was filled in from an enclosing frame (Nix
        # prints no position for such errors, but editors still want one).
        self.span_inferred = False
        # (message, span) pairs, innermost first.
        self.trace: list[tuple[str, Any]] = []
        # Raised while binding a lambda's arguments (traced from the call
        # site only, see ``Machine._unwind_one``).
        self.in_arg_binding = False

    # The bindings (``let``, attributes) whose value's evaluation the error
    # left, innermost first: ``(len(trace) then, description, name span)``.
    # Not part of the trace (Nix notes an attribute where it is selected, a
    # binding used by name not at all); the language server reads them
    # (``explore.deliberate_throw``).
    bindings: list[tuple[int, str, Any]] | None = None

    def add_trace(self, message: str, span: Any) -> None:
        """Record one frame the error passed through."""
        self.trace.append((message, span))

    def mark_binding(self, desc: str, span: Any) -> None:
        """Record leaving the evaluation of a binding's value (``bindings``)."""
        if self.bindings is None:
            self.bindings = []
        self.bindings.append((len(self.trace), desc, span))


class CatchableError(NixError):
    catchable = True


class ThrowError(CatchableError):
    code = "throw"


class AssertionFailed(CatchableError):
    code = "assertion_failed"


class AbortError(NixError):
    code = "abort"


class InfiniteRecursion(NixError):
    code = "infinite_recursion"

    def __init__(self, span: Any = None) -> None:
        super().__init__("infinite recursion encountered", span)


class StackOverflow(NixError):
    def __init__(self, span: Any = None) -> None:
        super().__init__("stack overflow; max-call-depth exceeded", span)


class MissingPath(NixError):
    """A file or directory the evaluation reads does not exist."""

    def __init__(self, path: str, span: Any = None) -> None:
        super().__init__(f"path '{path}' does not exist", span)


class Unavailable(NixError):
    """What Nix would do but nixlens refuses to: a read outside the allowed
    roots, a download."""


class EvalLimit(NixError):
    """A budget ran out: steps, deadline, cancellation or value size."""

    code = "eval_limit"

    def __init__(self, msg: str, kind: str, span: Any = None) -> None:
        super().__init__(msg, span)
        self.kind = kind  # "steps" | "deadline" | "cancelled" | "size"


class Cancelled(EvalLimit):
    def __init__(self) -> None:
        super().__init__("evaluation cancelled", "cancelled")


def forget_traceback(err: BaseException) -> None:
    """Forget where in Python ``err`` was raised (its Nix trace is kept in
    ``err.trace``): an error raised out of the VM's driver loop, whose frame
    still holds it, ties that frame and every frame up to the handler into a
    reference cycle, and with them the evaluation's values and parsed tree."""
    err.__traceback__ = None
    err.__context__ = None
