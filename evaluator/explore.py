"""Exploration: forcing what Nix would not, and reporting it for what it is.

Nix evaluates a file (or an entry expression) to weak head normal form: only
what that forces can make ``nix-instantiate --eval`` fail, so only that is an
*error* (``evaluator.api.evaluate``).  Exploration then forces the rest of the
value, attribute by attribute and element by element, to find bugs in parts
nobody forces yet.  A failure it finds is one Nix would meet only when the
part is used, so:

* an attribute whose value is deliberately a ``throw`` or ``abort`` (the
  throw is the attribute's value itself, maybe in a branch of an ``if``, the
  body of a ``let``/``with``/``assert``, the operand of an operator, or the
  value of ``builtins.warn``/``trace``; no function call between the
  attribute and the throw) is reported as a hint, ``throws_when_used``, at
  the attribute, and only when that attribute is written in the document;
* any other failure (a type error, a failed ``assert``, a missing
  attribute, a ``throw`` reached through a function call such as
  ``lib.throwIfNot``, ...) is a warning at the failing expression, with its
  usual code and the attribute path that leads there in the message; but a
  file that does not exist is only information (the checkout may lack it,
  or it is generated elsewhere), and what nixlens refuses to do (a read
  outside the sandbox, a download) is not reported: Nix would do it;
* what the forcing prints (``trace``, ``warn``, deprecations) is dropped: Nix
  would print it only when the part is used.

Exploration stays within the evaluation's budget (time, steps,
cancellation) and the ``Limits`` below, so a set the size of nixpkgs is never
forced whole.  It never calls functions.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import Diagnostic, Severity
from .errors import (
    AbortError,
    EvalLimit,
    MissingPath,
    NixError,
    ThrowError,
    Unavailable,
    forget_traceback,
)
from .printer import attr_name_repr
from .report import error_to_diagnostic
from .values import Attrs, Thunk

# Budget stops after which nothing more can be forced (the others, a value
# too large or a recursion too deep, only end the part being forced).
_FINAL_STOPS = frozenset({"steps", "deadline", "cancelled"})

# Trace notes an error may pass between a deliberate throw and the attribute
# whose value it is: the throw itself and builtins that return their last
# argument (``lib.warn`` is ``builtins.warn`` since Nix 2.23).
_TRANSPARENT_NOTES = frozenset(
    f"while calling the '{name}' builtin" for name in ("throw", "abort", "warn", "trace")
)


@dataclass(frozen=True)
class Limits:
    """How much of a value exploration may force (besides the budget)."""

    # Nesting of sets and lists below the explored value.
    max_depth: int = 16
    # Attributes per set not written in the document (the document's own
    # attributes are all explored), and elements per list.
    max_breadth: int = 200
    # Values looked at in all.
    max_values: int = 50_000


@dataclass
class Exploration:
    """What exploring a value found, and how far it got."""

    diagnostics: list[Diagnostic] = field(default_factory=list)
    # Values looked at (attribute values and list elements).
    visited: int = 0
    # Values not looked at because of ``Limits``, or ended by a size or
    # depth budget.
    skipped: int = 0
    # Why exploration ended early ("steps", "deadline", "cancelled",
    # "values"), None when it looked at everything within the limits.
    stopped: str | None = None


def explore(ev: Any, value: Any, document: str | None, limits: Limits | None = None) -> Exploration:
    """Force ``value`` (already in weak head normal form) further, breadth
    first, with ``ev`` (an ``evaluator.eval.Evaluator``); ``document`` is the
    path of the document being evaluated (None for an unsaved buffer).

    Output the forcing prints is removed from ``ev.warnings``."""
    limits = limits or Limits()
    out = Exploration()
    reporter = _Reporter(document, out.diagnostics)
    printed = len(ev.warnings)
    queue: deque[tuple[Any, tuple[str | int, ...]]] = deque()
    seen: set[int] = set()
    if value.__class__ is Attrs or value.__class__ is list:
        queue.append((value, ()))
        seen.add(id(value))
    budget = ev.machine.budget
    try:
        while queue:
            container, path = queue.popleft()
            if len(path) >= limits.max_depth:
                out.skipped += len(container)
                continue
            for key, child in _children(container, document, limits.max_breadth, out):
                if out.visited >= limits.max_values:
                    out.stopped = "values"
                    return out
                out.visited += 1
                if child.__class__ is Thunk:
                    if child.c is None:
                        child = child.v
                    else:
                        _check_budget(ev, budget)
                        try:
                            child = ev.run(_force(child))
                        except EvalLimit as err:
                            forget_traceback(err)
                            if err.kind in _FINAL_STOPS:
                                raise
                            out.skipped += 1
                            continue
                        except NixError as err:
                            forget_traceback(err)
                            if container.__class__ is Attrs:
                                _trace_attribute(err, container, key)  # type: ignore[arg-type]
                            reporter.report(err, (*path, key))
                            continue
                if (child.__class__ is Attrs or child.__class__ is list) and id(child) not in seen:
                    seen.add(id(child))
                    queue.append((child, (*path, key)))
    except EvalLimit as err:
        out.stopped = err.kind
    finally:
        del ev.warnings[printed:]
    return out


def _children(container: Any, document: str | None, breadth: int, out: Exploration) -> Any:
    """(key, value) pairs of a set (sorted names) or list to explore."""
    if container.__class__ is list:
        if len(container) > breadth:
            out.skipped += len(container) - breadth
        yield from enumerate(container[:breadth])
        return
    pos = container.pos or {}
    # An attribute is the document's own when its position is in the document
    # and no other attribute of the set shares it: a set built by
    # ``listToAttrs`` (which takes each ``value``'s position) from a
    # generator has one position for all its names.
    seen: dict[tuple[int, int], int] = {}
    for span in pos.values():
        if span is not None and span.source.path == document:
            where = (span.start, span.end)
            seen[where] = seen.get(where, 0) + 1
    foreign = 0
    for name in sorted(container):
        span = pos.get(name)
        if span is None or span.source.path != document or seen.get((span.start, span.end), 0) > 1:
            foreign += 1
            if foreign > breadth:
                out.skipped += 1
                continue
        yield name, container[name]


def _trace_attribute(err: NixError, attrs: Attrs, name: str) -> None:
    """Trace ``err`` as Nix traces forcing an attribute deeply (``--strict``,
    ``deepSeq``): "while evaluating the attribute 'NAME'" at its definition."""
    span = attrs.pos.get(name) if attrs.pos else None
    if span is not None:
        err.add_trace(f"while evaluating the attribute '{name}'", span)


def _check_budget(ev: Any, budget: Any) -> None:
    """Raise ``EvalLimit`` once the budget is spent: the driver checks only
    every few thousand steps, and forcing one attribute often takes fewer."""
    ev.check_budget()
    if budget.max_steps is not None and ev.machine.steps > budget.max_steps:
        raise EvalLimit(f"evaluation limit: more than {budget.max_steps} steps", "steps")


def _force(v: Any) -> Any:
    if v.__class__ is Thunk:
        v = yield v
    return v


def deliberate_throw(err: NixError) -> Any:
    """The span of the attribute whose value is deliberately the ``throw``
    or ``abort`` that raised ``err`` (the throw's own span when the value
    explored was the throw itself), or None when ``err`` is another failure
    or the throw was reached through a function call."""
    if not isinstance(err, (ThrowError, AbortError)):
        return None
    # The innermost binding the error left (``NixError.bindings``), and the
    # trace as it was then: only transparent frames may come between.
    notes = err.trace
    span = err.span
    if err.bindings:
        upto, _desc, span = err.bindings[0]
        notes = notes[:upto]
    for message, _span in notes:  # innermost first
        if message not in _TRANSPARENT_NOTES:
            return None
    return span


def format_path(path: tuple[str | int, ...]) -> str:
    """An attribute path as Nix writes it, list elements as ``[i]``."""
    text = ""
    for key in path:
        if key.__class__ is int:
            text += f"[{key}]"
        else:
            text += ("." if text else "") + attr_name_repr(str(key))
    return text


class _Reporter:
    """Turns the failures exploration meets into diagnostics, once each."""

    def __init__(self, document: str | None, diagnostics: list[Diagnostic]) -> None:
        self.document = document
        self.diagnostics = diagnostics
        self.seen: set[tuple[Any, ...]] = set()

    def report(self, err: NixError, path: tuple[str | int, ...]) -> None:
        span = deliberate_throw(err)
        if span is not None:
            # At most a hint, and only where the document itself says so.
            if span.source.path != self.document:
                return
            key: tuple[Any, ...] = ("hint", _where(span))
            if key not in self.seen:
                self.seen.add(key)
                self.diagnostics.append(
                    Diagnostic(
                        "throws_when_used", Severity.HINT, f"throws when used: {err.msg}", span
                    )
                )
            return
        if isinstance(err, Unavailable):
            return  # Nix would read or download it: nothing wrong with the code
        key = (err.code, _where(err.span), err.msg)
        if key in self.seen:
            return
        self.seen.add(key)
        diag = error_to_diagnostic(err)
        # A missing file may be one this checkout lacks or one generated
        # elsewhere (``hardware-configuration.nix``): worth knowing, no warning.
        diag.severity = Severity.INFO if isinstance(err, MissingPath) else Severity.WARNING
        what = "list element" if path[-1].__class__ is int else "attribute"
        diag.message = (
            f"while evaluating {what} `{format_path(path)}` (not forced by Nix): {err.msg}"
        )
        self.diagnostics.append(diag)


def _where(span: Any) -> tuple[Any, ...] | None:
    return None if span is None else (id(span.source), span.start, span.end)


__all__ = ["Exploration", "Limits", "deliberate_throw", "explore", "format_path"]
