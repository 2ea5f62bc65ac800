"""The evaluator's public API for tools: evaluate a document, hover a node.

Both return whole results (never raise for Nix errors) and run under a
``Budget`` (steps, wall time, cancellation).  Spans are byte offsets; the
language server converts them.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from . import nodes as N
from .ansi import strip_escapes
from .compiler import CompileError, FocusCompiler
from .diagnostics import Diagnostic, Severity
from .errors import EvalLimit, NixError, forget_traceback
from .eval import Evaluator, ParseFailed
from .explore import Exploration, Limits, explore
from .printer import PrintOptions, show_value
from .report import clean_diagnostic, error_to_diagnostic
from .runtime import DependsOnArgument
from .values import Attrs, Lambda, PrimOp, PrimOpApp, Thunk, type_name
from .vm import Budget as _VMBudget
from .walk import path_to


@dataclass
class Budget:
    """Limits for one API call."""

    max_steps: int | None = 5_000_000
    timeout_s: float | None = 2.0
    cancel: threading.Event | None = None
    max_values: int | None = 10_000_000
    max_depth: int | None = 2_500_000

    def vm(self) -> _VMBudget:
        b = _VMBudget(
            max_steps=self.max_steps,
            timeout_s=self.timeout_s,
            cancel=self.cancel,
            max_depth=self.max_depth,
        )
        b.start()
        return b


@dataclass
class EvalResult:
    value_text: str | None
    diagnostics: list[Diagnostic] = field(default_factory=list)
    files: set[str] = field(default_factory=set)
    elapsed_ms: float = 0.0
    # Argument values lambdas were called with: (source name, offset) -> values.
    observed: dict[tuple[str, int], list[Any]] = field(default_factory=dict)
    # How far exploration got (None: not explored).
    exploration: Exploration | None = None
    # The namespaces of the programs the evaluation compiled (``release``).
    programs: list[dict[str, Any]] = field(default_factory=list, repr=False)

    def release(self) -> None:
        """Drop the values (``observed``) for good, when nothing will use them
        again: the programs' namespaces are emptied, which breaks the cycles
        between them and their functions, so most of their memory is freed
        at once instead of at the next full garbage collection."""
        self.observed = {}
        for ns in self.programs:
            ns.clear()
        self.programs = []


@dataclass
class HoverInfo:
    markdown: str
    span: N.Span
    value_text: str | None = None
    # False when a budget stopped it (another try may get further).
    complete: bool = True


def _make_evaluator(io: Any, budget: Budget, search_path: Any, code_cache: Any) -> Evaluator:
    return Evaluator(
        io=io,
        search_path=list(search_path),
        budget=budget.vm(),
        max_values=budget.max_values,
        home=os.environ.get("HOME"),
        store_dir=os.environ.get("NIX_STORE_DIR") or "/nix/store",
        code_cache=code_cache,
    )


def _deep_force_limited(v: Any, depth: int) -> Any:
    """Generator: force ``v`` down to ``depth`` levels (for display)."""
    stack = [(v, 0)]
    while stack:
        x, d = stack.pop()
        if x.__class__ is Thunk:
            x = x.v if x.c is None else (yield x)
        if d >= depth:
            continue
        if x.__class__ is list:
            for item in x[:50]:
                stack.append((item, d + 1))
        elif x.__class__ is Attrs:
            for k in sorted(x)[:50]:
                stack.append((x[k], d + 1))
    return None


def evaluate(
    text: str | bytes,
    path: str | None,
    *,
    io: Any = None,
    budget: Budget | None = None,
    search_path: Any = (),
    entry: str | None = None,
    entry_dir: str | None = None,
    strict: bool = True,
    explore_limits: Limits | None = None,
    code_cache: Any = None,
) -> EvalResult:
    """Evaluate a document (or the configured entry expression) as Nix would
    use it, then explore the rest of its value (``strict``).

    Diagnostics: an error only where the value's weak head normal form (what
    ``nix-instantiate --eval`` forces) fails, with its trace as notes, and the
    trace/warn output of that evaluation; what exploration finds as warnings
    and hints (``evaluator.explore``).  A function is never called.  The files
    it imports go through ``code_cache`` (a ``codecache.CodeCache``), if any."""
    budget = budget or Budget()
    t0 = time.monotonic()
    ev = _make_evaluator(io, budget, search_path, code_cache)
    ev.machine.observe = {}
    result = EvalResult(None)
    try:
        if entry:
            base = entry_dir or (os.path.dirname(path) if path else os.getcwd())
            v = ev.eval_text(entry, os.path.join(base, "«entry»"), "«entry»")
        else:
            # The parse the editor analyses made of this text, if any.
            parsed = _parse_cached(ev, text, path)
            if parsed.root is None:
                raise ParseFailed(parsed.errors)
            v = ev.run(ev.compile_parsed(parsed.root, parsed.source)([None]))
        if strict and v.__class__ not in (Lambda, PrimOp, PrimOpApp):
            # What Nix would not force: explored, reported for what it is.
            found = explore(ev, v, path, explore_limits)
            result.diagnostics.extend(found.diagnostics)
            result.exploration = found
        result.value_text = strip_escapes(
            show_value(v, PrintOptions(max_depth=4, max_attrs=50, max_items=50, max_string=200))
        )
    except (ParseFailed, CompileError) as err:
        # Syntax errors and undefined variables of the document itself come
        # from the static layers; those of a file it imports are reported here.
        if not _in_document(err, path):
            result.diagnostics.append(error_to_diagnostic(err))
        _drop_traceback(err)
    except NixError as err:
        result.diagnostics.append(error_to_diagnostic(err))
        _drop_traceback(err)
    # The values stay alive (``observed``, for hover), and with them the
    # programs: their code is kept compressed until called again.
    ev.save_code_cache()
    ev.compact_programs()
    result.programs = ev.programs
    result.diagnostics[:0] = [clean_diagnostic(d) for d in ev.warnings]
    result.files = set(ev.files_seen)
    result.observed = ev.machine.observe
    result.elapsed_ms = (time.monotonic() - t0) * 1000
    return result


_drop_traceback = forget_traceback


def _in_document(err: NixError, path: str | None) -> bool:
    span = err.span
    if span is None:
        return True
    src = span.source
    return src.path == path if path is not None else src.path is None


def _target(path: list[N.Node], offset: int) -> list[N.Node]:
    """Adjust the node chain to "the smallest meaningful node"."""
    node = path[-1]
    if node.__class__ is N.Select:
        for i, sp in enumerate(node.path_spans):  # type: ignore[attr-defined]
            if sp.start <= offset < sp.end and i < len(node.path) - 1:  # type: ignore[attr-defined]
                sub = N.Select(
                    N.Span(node.span.source, node.span.start, sp.end),
                    node.expr,  # type: ignore[attr-defined]
                    node.path[: i + 1],  # type: ignore[attr-defined]
                    None,
                    node.path_spans[: i + 1],  # type: ignore[attr-defined]
                )
                return [*path[:-1], sub]
    if node.__class__ in (N.Let, N.Attrs):
        # On a binding's name: the binding's value.
        for _name, d in node.attrs.items():  # type: ignore[attr-defined]
            if d.span.start <= offset < d.span.end:
                if d.kind == "plain":
                    return [*path, d.value]
                return [*path, d.value]
    return path


def _describe_function(v: Any) -> str:
    if v.__class__ is PrimOp:
        return f"builtin `{v.name}` (arity {v.arity})" + (f"\n\n{v.doc}" if v.doc else "")
    if v.__class__ is PrimOpApp:
        return f"builtin `{v.prim.name}` applied to {len(v.args)} of {v.prim.arity} arguments"
    node = v.node
    src = node.span.source.text
    if node.formals is None:
        sig = f"{node.arg}: …"
    else:
        parts = []
        for f in node.formals:
            if f.default is not None:
                d = src[f.default.span.start : f.default.span.end].decode("utf-8", "replace")
                if len(d) > 40:
                    d = d[:37] + "…"
                parts.append(f"{f.name} ? {d}")
            else:
                parts.append(f.name)
        if node.ellipsis:
            parts.append("...")
        sig = "{ " + ", ".join(parts) + " }" + (f"@{node.arg}" if node.arg else "") + ": …"
    name = f"`{node.name}` " if node.name else ""
    return f"function {name}\n```nix\n{sig}\n```"


def _short(v: Any) -> str:
    s = show_value(v, PrintOptions(max_depth=2, max_attrs=5, max_items=5, max_string=40))
    return s if len(s) <= 80 else s[:77] + "…"


def _hover_run(
    ev: Evaluator, entry: Any, print_depth: int, t0: float
) -> tuple[str, str | None, bool]:
    """Run one focus program; markdown, the printed value (if any) and
    whether no budget stopped it."""
    lines: list[str] = []
    value_text = None
    complete = True
    try:
        v = ev.run(entry([None]))
        try:
            ev.run(_deep_force_limited(v, print_depth))
        except EvalLimit as err:
            complete = False  # the unforced parts print as «thunk»
            _drop_traceback(err)
        except NixError as err:
            _drop_traceback(err)  # parts that fail to evaluate print as «thunk»
        if v.__class__ in (Lambda, PrimOp, PrimOpApp):
            lines.append(_describe_function(v))
        else:
            opts = PrintOptions(max_depth=print_depth, max_attrs=30, max_items=30, max_string=400)
            value_text = show_value(v, opts)
            lines.append(f"```nix\n{value_text}\n```")
            extra = ""
            if v.__class__ is list:
                extra = f" of {len(v)} element{'s' if len(v) != 1 else ''}"
            elif v.__class__ is Attrs:
                extra = f" with {len(v)} attribute{'s' if len(v) != 1 else ''}"
            lines.append(f"*{type_name(v)}*{extra}")
    except DependsOnArgument as err:
        lines.append(
            f"*depends on the function argument `{err.name}`, which no evaluation has supplied*"
        )
        _drop_traceback(err)
    except EvalLimit as err:
        ms = int((time.monotonic() - t0) * 1000)
        lines.append(f"*stopped after {ms} ms* ({err.msg})")
        complete = False
        _drop_traceback(err)
    except NixError as err:
        lines.append(f"**error:** {err.msg}")
        _drop_traceback(err)
    return "\n\n".join(lines), value_text, complete


def _parse_cached(ev: Any, text: str | bytes, path: str | None) -> Any:
    """The parse of ``text``, shared with the editor analyses (``evaluator.ide``
    keeps the last few per text; the server's static layer fills it after
    each edit), so hovers of one version never parse again."""
    from .ide._doc import cached_parse, remember_parse

    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    # A parse in progress (the server's static layer) is waited for within
    # the budget; past it, the parse below stops at once (``check_budget``).
    deadline = ev.machine.budget.deadline
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    doc = cached_parse(data, path, timeout)
    if doc is not None and doc.root is not None:
        return doc
    res = ev.parse(data, path, None if path else "«buffer»")
    remember_parse(res.source, res.root, res.errors, path)
    return res


def hover(
    text: str | bytes,
    path: str | None,
    offset: int,
    *,
    observed: dict[tuple[str, int], list[Any]] | None = None,
    io: Any = None,
    budget: Budget | None = None,
    print_depth: int = 3,
    search_path: Any = (),
    code_cache: Any = None,
) -> HoverInfo | None:
    """The value of the expression at ``offset``, evaluated in its scope
    (imported files through ``code_cache``, if any)."""
    budget = budget or Budget(timeout_s=0.2)
    t0 = time.monotonic()
    ev = _make_evaluator(io, budget, search_path, code_cache)
    try:
        res = _parse_cached(ev, text, path)
    except ParseFailed:
        return None
    chain = path_to(res.root, offset)
    chain = _target(chain, offset)
    target = chain[-1]
    span = target.span
    lambdas = [n for n in chain[:-1] if n.__class__ is N.Lambda]
    key_of = {id(n): (n.span.source.name, n.span.start) for n in lambdas}
    runs: list[dict[tuple[str, int], Any]] = [{}]
    if observed and lambdas:
        # One run per observed call of the innermost enclosing function.
        inner = lambdas[-1]
        seen = observed.get(key_of[id(inner)], [])
        if seen:
            runs = [{key_of[id(inner)]: v} for v in seen[:3]]
    lines: list[str] = []
    value_text = None
    complete = True
    for i, arg_values in enumerate(runs):
        try:
            comp = FocusCompiler(res.source, ev.globals, chain, arg_values)
            entry = comp.compile_focus(res.root)
        except CompileError as err:
            return HoverInfo(f"error: {strip_escapes(err.msg)}", span)
        except RecursionError:
            return None
        text, vt, done = _hover_run(ev, entry, print_depth, t0)
        complete = complete and done
        if value_text is None:
            value_text = vt
        if len(runs) > 1 or arg_values:
            label = f"*when called with* `{_short(next(iter(arg_values.values())))}`"
            lines.append(f"{label}\n\n{text}")
        else:
            lines.append(text)
        if i == 0 and vt is None and "depends on" not in text and len(runs) > 1:
            break
    # lib's messages carry terminal colour codes; an editor shows them raw.
    if value_text is not None:
        value_text = strip_escapes(value_text)
    return HoverInfo(strip_escapes("\n\n".join(lines)), span, value_text, complete)


__all__ = ["Budget", "EvalResult", "HoverInfo", "evaluate", "hover", "Severity"]
