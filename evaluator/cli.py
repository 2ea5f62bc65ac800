"""``nixlens eval``: evaluate a file or expression like ``nix-instantiate --eval``."""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

from .ansi import filter_ansi
from .cli_args import LINTS, build_parser, parse_args
from .codecache import CodeCache
from .errors import NixError
from .eval import Evaluator, ParseFailed, search_path_entries
from .literals import split_attr_path
from .printer import show_value
from .report import format_error, format_warning
from .values import Attrs, Lambda, Thunk
from .vm import Budget, one_shot_gc

# ``build_parser`` is this module's too (tests build options with it).
__all__ = ["build_parser", "evaluate_cli", "main", "main_process", "parse_args"]


def _select(ev: Evaluator, v: Any, path: str) -> Any:
    def gen() -> Any:
        cur = v
        for key in [k for k in split_attr_path(path) if k]:
            if cur.__class__ is Thunk:
                cur = yield cur
            if key.isdigit() and cur.__class__ is list:
                idx = int(key)
                if idx >= len(cur):
                    raise NixError(f"list index {idx} in selection path '{path}' is out of range")
                cur = cur[idx]
                continue
            if cur.__class__ is not Attrs:
                raise NixError(
                    f"the expression selected by the selection path '{path}' should be a set"
                )
            if key not in cur:
                raise NixError(f"attribute '{key}' in selection path '{path}' not found")
            cur = cur[key]
        if cur.__class__ is Thunk:
            cur = yield cur
        return cur

    return ev.run(gen())


def _auto_call(ev: Evaluator, v: Any, args: dict[str, Any]) -> Any:
    """Call a function with formals using --arg/--argstr, like Nix."""
    if v.__class__ is Attrs and "__functor" in v:
        pass
    if v.__class__ is not Lambda or v.node.formals is None:
        return v
    actual = Attrs()
    for f in v.node.formals:
        if f.name in args:
            actual[f.name] = args[f.name]
        elif f.default is None:
            raise NixError(
                f"cannot evaluate a function that has an argument without a value ('{f.name}')\n"
                "Nix attempted to evaluate a function as a top level expression; in\n"
                "this case it must have its arguments supplied either by default\n"
                "values, or passed explicitly with '--arg' or '--argstr'. See\n"
                "https://nix.dev/manual/nix/stable/language/constructs.html#functions.",
                f.span,
            )
    if v.node.ellipsis:
        for k, val in args.items():
            actual.setdefault(k, val)

    def gen() -> Any:
        return (yield (v, actual, None))

    return ev.run(gen())


class _FilteredStderr:
    """Writes each message through Nix's escape filter: colours survive on a
    terminal, no escape sequence does elsewhere (as Nix prints)."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        isatty = getattr(stream, "isatty", None)
        self.keep_colours = (
            bool(isatty and isatty())
            and os.environ.get("TERM", "dumb") != "dumb"
            and "NO_COLOR" not in os.environ
            and "NOCOLOR" not in os.environ
        )

    def write(self, text: str) -> int:
        # One write is one message, as one log line is in Nix.
        return self.stream.write(filter_ansi(text, keep_colours=self.keep_colours))  # type: ignore[no-any-return]


def evaluate_cli(ns: Any, out: Any, err: Any, keep: list[Any] | None = None) -> int:
    """Run ``nixlens eval`` with parsed arguments; returns the exit status.
    The evaluator is appended to ``keep`` (to outlive the call, see
    ``main_process``)."""
    err = _FilteredStderr(err)
    max_depth = ns.max_call_depth
    for name, value in ns.option:
        if name == "max-call-depth":
            max_depth = int(value)
    budget = Budget(max_steps=ns.max_steps, timeout_s=ns.timeout, max_call_depth=max_depth)
    budget.start()
    search = search_path_entries(list(ns.include))
    lints = {}
    for lint in LINTS:
        mode = getattr(ns, "lint_" + lint.replace("-", "_"))
        if mode in ("warn", "fatal"):
            lints[lint] = mode
    ev = Evaluator(
        search_path=search,
        budget=budget,
        home=os.environ.get("HOME"),
        lints=lints,
        code_cache=CodeCache.default(),
    )
    features = (ns.extra_experimental_features or "").split()
    for name, value in ns.option:
        if name in ("experimental-features", "extra-experimental-features"):
            features += value.split()
    # Read by builtins gated on a feature (fromTOML timestamps, fetchClosure).
    ev.experimental_features = set(features)
    ev.abort_on_warn = bool(ns.abort_on_warn)
    for name, value in ns.option:
        if name == "abort-on-warn":
            flag = _bool_setting(name, value, err)
            if flag is not None:
                ev.abort_on_warn = flag
    if keep is not None:
        keep.append(ev)
    try:
        return _evaluate(ev, ns, out, err, keep)
    finally:
        # Compiled even if the evaluation failed: kept for the next run.
        ev.save_code_cache()


def _evaluate(ev: Evaluator, ns: Any, out: Any, err: Any, keep: list[Any] | None) -> int:
    printed = 0

    def flush_warnings() -> None:
        nonlocal printed
        for w in ev.warnings[printed:]:
            err.write(format_warning(w))
        printed = len(ev.warnings)

    try:
        if ns.parse:
            from .astdump import dump

            if ns.expr is not None:
                res = ev.parse(ns.expr, None, "«string»")
            elif ns.file in (None, "-"):
                res = ev.parse(sys.stdin.buffer.read(), None, "«stdin»")
            else:
                path = os.path.abspath(ns.file)
                res = ev.parse(open(path, "rb").read(), path)
            # Like Nix, --parse also binds variables: undefined ones fail.
            from .compiler import compile_program

            compile_program(res.root, res.source, ev.globals)
            out.write(dump(res.root) + "\n")
            return 0
        if ns.expr is not None:
            v = ev.eval_text(ns.expr, None, "«string»")
        elif ns.file == "-":
            v = ev.eval_text(sys.stdin.buffer.read(), None, "«stdin»")
        elif ns.file is None:
            err.write("error: no file or expression given (use FILE or -E EXPR)\n")
            return 1
        else:
            v = ev.eval_file(ns.file)
        args: dict[str, Any] = {}
        for name, expr in ns.arg:
            args[name] = Thunk(_arg_code, (ev, expr))
        for name, value in ns.argstr:
            args[name] = value
        v = _auto_call(ev, v, args)
        for path in ns.attr:
            v = _select(ev, v, path)
            v = _auto_call(ev, v, args)
        if keep is not None:
            keep.append(v)
        if ns.strict or ns.json or ns.xml:
            ev.deep_force(v)
        flush_warnings()
        if ns.json:
            from .builtins import REGISTRY

            def gen() -> Any:
                return (yield (REGISTRY["toJSON"], v, None))

            text = ev.run(gen())
            out.write(str(text) + "\n")
        elif ns.xml:
            from .builtins.serial import to_xml

            out.write(ev.run(to_xml(v, location=not ns.no_location)))
        else:
            out.write(show_value(v) + "\n")
        flush_warnings()
        return 0
    except ParseFailed as e:
        flush_warnings()
        for pe in e.errors[:1]:
            err.write(format_error(NixError(pe.message, pe.span)))
        return 1
    except NixError as e:
        flush_warnings()
        err.write(format_error(e, show_trace=not ns.no_show_trace))
        return 1


def _bool_setting(name: str, value: str, err: Any) -> bool | None:
    """A Boolean Nix setting's value; None (after Nix's warning) when invalid."""
    if value in ("true", "yes", "1"):
        return True
    if value in ("false", "no", "0"):
        return False
    err.write(f"warning: error: Boolean setting '{name}' has invalid value '{value}'\n")
    return None


def _arg_code(env: Any) -> Any:
    ev, expr = env
    entry = ev.compile(expr, None, "«string»")
    return (yield entry([None]))


def _byte_streams() -> None:
    # Nix strings are bytes: invalid UTF-8 survives as surrogate escapes and
    # is written back out as the original bytes.
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="surrogateescape")


def main(argv: list[str] | None = None) -> int:
    """``nixlens eval ARGS``; returns the exit status."""
    _byte_streams()
    ns = parse_args(sys.argv[1:] if argv is None else argv)
    return evaluate_cli(ns, sys.stdout, sys.stderr)


def main_process(argv: list[str]) -> NoReturn:
    """``main`` as a whole process: exits without freeing the evaluation's
    values one by one (a large evaluation has millions; freeing them takes
    as long as a tenth of the evaluation, for a process about to end)."""
    _byte_streams()
    one_shot_gc()
    ns = parse_args(argv)
    keep: list[Any] = []
    try:
        rc = evaluate_cli(ns, sys.stdout, sys.stderr, keep)
    except BaseException:
        keep.clear()
        raise
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
