"""The evaluator's public API for tools: evaluate a document, hover a node.

Both return whole results (never raise for Nix errors) and run under a
``Budget`` (steps, wall time, cancellation).  Spans are byte offsets; the
language server converts them.
"""

from __future__ import annotations

import dataclasses
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
from .ide._doc import analyse
from .ide.docs import (
    doc_comment_before,
    hash_comment_before,
    is_derivation,
    package_info,
    value_doc,
)
from .ide.modules import config_path, option_at
from .ide.option_checks import check_module
from .ide.options import Configuration, ModuleContext, find_configurations, strip_ansi
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
    # The module-system configurations the entry produced (``evaluator.ide.options``).
    context: ModuleContext | None = field(default=None, repr=False)
    # What the values came from (the entry expression, shortened), for hover.
    origin: str | None = None
    # Files it read from a workspace flake's store copy (``Evaluator.bases``)
    # and those copies (``StoreView.workspaces``): hover evaluates them alike.
    bases: dict[str, str] = field(default_factory=dict)
    workspaces: list[tuple[str, str, Any]] = field(default_factory=list, repr=False)

    def release(self) -> None:
        """Drop the values (``observed``) for good, when nothing will use them
        again: the programs' namespaces are emptied, which breaks the cycles
        between them and their functions, so most of their memory is freed
        at once instead of at the next full garbage collection."""
        self.observed = {}
        self.context = None
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
            result.origin = " ".join(entry.split())
            if len(result.origin) > 80:
                result.origin = result.origin[:77] + "…"
        else:
            # The parse the editor analyses made of this text, if any.
            parsed = _parse_cached(ev, text, path)
            if parsed.root is None:
                raise ParseFailed(parsed.errors)
            v = ev.run(ev.compile_parsed(parsed.root, parsed.source)([None]))
        # An entry may hold configurations (``nixosConfigurations.x``); a file
        # is one or not (its other values are forced below, errors and all).
        configurations = find_configurations(ev, v, depth=2 if entry else 0)
        if configurations:
            # A configuration is checked as the module system checks it
            # (not forced whole: NixOS has tens of thousands of options).
            _check_configurations(ev, configurations, text, path, result)
            strict = False
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
    return finish_result(ev, result, t0)


def finish_result(ev: Evaluator, result: EvalResult, t0: float) -> EvalResult:
    """``result`` completed with what evaluator ``ev`` (started at ``t0``,
    ``time.monotonic``) leaves for the editor: warnings, files read, path
    bases, observed arguments.  The values stay alive (``observed``, for
    hover), and with them the programs: their code is kept compressed until
    called again."""
    ev.save_code_cache()
    ev.compact_programs()
    result.programs = ev.programs
    result.diagnostics[:0] = list(ev.warnings)
    # lib colours some messages for terminals; editors show them raw.
    result.diagnostics = [clean_diagnostic(d) for d in result.diagnostics]
    result.files = set(ev.files_seen)
    result.bases = dict(ev.bases)
    result.workspaces = ev.io.workspaces()
    observed = ev.machine.observe
    result.observed = observed if observed is not None else {}
    result.elapsed_ms = (time.monotonic() - t0) * 1000
    return result


_drop_traceback = forget_traceback


def _check_configurations(
    ev: Evaluator,
    configurations: list[tuple[str, Any]],
    text: str | bytes,
    path: str | None,
    result: EvalResult,
    check: bool = True,
) -> None:
    """Keep the configurations (``result.context``) and add the findings of
    those that import the document ``path`` about it (unless not ``check``)."""
    if not result.origin:
        result.origin = os.path.basename(path) if path else "this expression"
    origin = result.origin
    confs = [
        Configuration(v, f"{origin} → {name}" if name else origin) for name, v in configurations
    ]
    context = result.context = ModuleContext(confs, set())
    context.load(ev, ev.machine.observe or {})
    context.files = set(ev.files_seen)
    for conf in confs:
        try:
            conf.options(ev)
        except EvalLimit:
            raise
        except NixError as err:  # no options at all (a module failed to load)
            diag = error_to_diagnostic(err)
            diag.message = strip_ansi(diag.message)
            result.diagnostics.append(diag)
            _drop_traceback(err)
    if path is None or not check:
        return
    data = text.encode("utf-8", "surrogateescape") if isinstance(text, str) else text
    for conf in context.for_file(ev, path, ev.machine.observe or {}):
        result.diagnostics.extend(check_module(ev, conf, data, path, conf.origin))


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


def _describe_function(v: Any, holder: tuple[Any, str] | None = None) -> str:
    """A function's signature and documentation (``ide.docs.value_doc``)."""
    where, name = (None, None)
    if holder is not None:
        try:
            where, name = holder[0](), holder[1]
        except (NixError, CompileError, RecursionError):
            where = None
    doc = value_doc(v, where if isinstance(where, Attrs) else None, name)
    if v.__class__ is PrimOp:
        return f"builtin `{v.name}` (arity {v.arity})" + (f"\n\n{doc}" if doc else "")
    if v.__class__ is PrimOpApp:
        head = f"builtin `{v.prim.name}` applied to {len(v.args)} of {v.prim.arity} arguments"
        return head + (f"\n\n{doc}" if doc else "")
    return _describe_lambda(v) + (f"\n\n---\n\n{doc}" if doc else "")


def _describe_lambda(v: Lambda) -> str:
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
    ev: Evaluator,
    entry: Any,
    print_depth: int,
    t0: float,
    holder: tuple[Any, str] | None = None,
) -> tuple[str, str | None, bool]:
    """Run one focus program; markdown, the printed value (if any) and
    whether no budget stopped it.  ``holder``: a function producing the set
    the value was selected from, and the name (for its documentation)."""
    lines: list[str] = []
    value_text = None
    complete = True
    try:
        v = ev.run(entry([None]))
        if v.__class__ is Attrs and is_derivation(ev, v):
            # A package: what it says about itself (forcing its attributes
            # would compute the derivation and its dependencies).
            return package_info(ev, v).markdown(), None, True
        try:
            ev.run(_deep_force_limited(v, print_depth))
        except EvalLimit as err:
            complete = False  # the unforced parts print as «thunk»
            _drop_traceback(err)
        except NixError as err:
            _drop_traceback(err)  # parts that fail to evaluate print as «thunk»
        if v.__class__ in (Lambda, PrimOp, PrimOpApp):
            lines.append(_describe_function(v, holder))
        else:
            opts = PrintOptions(max_depth=print_depth, max_attrs=30, max_items=30, max_string=400)
            value_text = show_value(v, opts)
            lines.append(f"```nix\n{value_text}\n```")
            if holder is not None:
                try:
                    where = holder[0]()
                except (NixError, CompileError, RecursionError):
                    where = None
                doc = value_doc(v, where, holder[1]) if where.__class__ is Attrs else None
                if doc:
                    lines.append(doc)
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
        lines.append(f"**error:** {strip_ansi(err.msg)}")
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
    context: ModuleContext | None = None,
    origin: str | None = None,
    code_cache: Any = None,
    base_dir: str | None = None,
    workspaces: Any = (),
) -> HoverInfo | None:
    """The value of the expression at ``offset``, evaluated in its scope
    (with the arguments ``observed`` by the evaluation of ``origin``); on an
    option definition in a module of a configuration of ``context``, the option.
    Imported files go through ``code_cache``, if any.  A file that evaluation
    read from a workspace flake's store copy (``workspaces``, as
    ``EvalResult.workspaces``) has its relative paths in ``base_dir`` there."""
    budget = budget or Budget(timeout_s=0.2)
    t0 = time.monotonic()
    ev = _make_evaluator(io, budget, search_path, code_cache)
    for store_path, folder, accept in workspaces:
        ev.io.add_workspace(store_path, folder, accept)
    try:
        if base_dir is not None:
            res = ev.parse(text, path, None, base_dir)  # not the editor's parse: other paths
        else:
            res = _parse_cached(ev, text, path)
    except ParseFailed:
        return None
    chain = path_to(res.root, offset)
    binding_doc = _binding_doc(chain[-1], offset)
    chain = _target(chain, offset)
    target = chain[-1]
    span = target.span
    if context is not None and path is not None:
        found = _option_hover(ev, context, text, path, offset, observed or {}, origin)
        if found is not None:
            return found
    lambdas = [n for n in chain[:-1] if n.__class__ is N.Lambda]
    key_of = {id(n): (n.span.source.name, n.span.start) for n in lambdas}
    runs: list[dict[tuple[str, int], Any]] = [{}]
    if observed and lambdas:
        # The first observed call of each enclosing function, and one run
        # per observed call of the innermost.
        base = {}
        for lam in lambdas[:-1]:
            outer = observed.get(key_of[id(lam)])
            if outer:
                base[key_of[id(lam)]] = outer[0]
        inner_key = key_of[id(lambdas[-1])]
        seen = observed.get(inner_key, [])
        if seen:
            runs = [{**base, inner_key: v} for v in seen[:3]]
        elif base:
            runs = [base]
    holder = _holder(ev, res, chain)
    option_md = _read_option(ev, context, text, path, target, observed or {})
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
        text, vt, done = _hover_run(
            ev, entry, print_depth, t0, holder(arg_values) if holder else None
        )
        complete = complete and done
        if value_text is None:
            value_text = vt
        if len(runs) > 1 or arg_values:
            arg = next(reversed(arg_values.values()))
            if arg.__class__ is Thunk and arg.c is None:
                arg = arg.v
            if arg.__class__ is Attrs and {"config", "options", "lib"} <= arg.keys():
                label = "*as the module system called it*"
            else:
                label = f"*when called with* `{_short(arg)}`"
            if origin:
                label += f" *in the evaluation of* `{origin}`"
            lines.append(f"{label}\n\n{text}")
        else:
            lines.append(text)
        if i == 0 and vt is None and "depends on" not in text and len(runs) > 1:
            break
    # lib's messages carry terminal colour codes; an editor shows them raw.
    if value_text is not None:
        value_text = strip_escapes(value_text)
    markdown = strip_escapes("\n\n".join(lines))
    if option_md:
        markdown += f"\n\n---\n\n{option_md}"
    if binding_doc and binding_doc not in markdown:
        markdown += f"\n\n---\n\n{binding_doc}"
    return HoverInfo(markdown, span, value_text, complete)


def _binding_doc(node: N.Node, offset: int) -> str | None:
    """On the name of a binding of ``node`` (a set or ``let``): its doc comment."""
    if node.__class__ not in (N.Let, N.Attrs):
        return None
    for d in node.attrs.values():  # type: ignore[attr-defined]
        if d.span.start <= offset < d.span.end:
            text = d.span.source.text
            return doc_comment_before(text, d.span.start) or hash_comment_before(text, d.span.start)
    return None


def _option_hover(
    ev: Evaluator,
    context: ModuleContext,
    text: str | bytes,
    path: str,
    offset: int,
    observed: dict[tuple[str, int], list[Any]],
    origin: str | None,
) -> HoverInfo | None:
    """The option whose definition key is under ``offset`` (None: not on one)."""
    confs = context.for_file(ev, path, observed)
    if not confs:
        return None
    doc = analyse(text, path)
    if doc.root is None:
        return None
    found = option_at(doc, offset, declarations=True)
    if found is None:
        return None
    for conf in confs:
        try:
            info = conf.info(ev, found.path)
            if info is not None:
                return HoverInfo(info.markdown(conf.origin or origin), found.span)
            kids = conf.children(ev, found.path)
        except EvalLimit:
            return None
        except NixError:
            continue
        if kids:
            names = ", ".join(f"`{k.name}`" for k in kids[:30])
            more = f" and {len(kids) - 30} more" if len(kids) > 30 else ""
            md = f"**options** `{'.'.join(found.path)}`: {names}{more}"
            return HoverInfo(md, found.span)
    return None


def _read_option(
    ev: Evaluator,
    context: ModuleContext | None,
    text: str | bytes,
    path: str | None,
    target: N.Node,
    observed: dict[tuple[str, int], list[Any]],
) -> str | None:
    """For ``config.a.b`` (or ``cfg.b`` with ``cfg = config.a``) in a module
    of a configuration: the option it reads (its value is hovered anyway)."""
    if context is None or path is None or target.__class__ is not N.Select:
        return None
    doc = analyse(text, path)
    if doc.root is None:
        return None
    option = config_path(doc, target)  # type: ignore[arg-type]
    if not option:
        return None
    try:
        for conf in context.for_file(ev, path, observed):
            info = conf.info(ev, option, with_value=False)
            if info is not None:
                return dataclasses.replace(info, value=None, value_error=None).markdown()
    except NixError:
        return None
    return None


def _holder(ev: Evaluator, res: Any, chain: list[N.Node]) -> Any:
    """For ``e.a.b`` under the cursor: a function of the argument values that
    evaluates ``e.a`` (the set holding ``b``, for documentation), and ``b``."""
    target = chain[-1]
    if target.__class__ is not N.Select or target.default is not None:  # type: ignore[attr-defined]
        return None
    sel: Any = target
    name = sel.path[-1]
    if not isinstance(name, str):
        return None
    if len(sel.path) == 1:
        node = sel.expr
    else:
        end = sel.path_spans[-2].end
        node = N.Select(
            N.Span(sel.span.source, sel.span.start, end),
            sel.expr,
            sel.path[:-1],
            None,
            sel.path_spans[:-1],
        )

    def make(arg_values: dict[tuple[str, int], Any]) -> tuple[Any, str]:
        def run() -> Any:
            comp = FocusCompiler(res.source, ev.globals, [*chain[:-1], node], arg_values)
            return ev.run(comp.compile_focus(res.root)([None]))

        return run, name

    return make


__all__ = ["Budget", "EvalResult", "HoverInfo", "evaluate", "hover", "Severity"]
