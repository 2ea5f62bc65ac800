"""The options of ``nixlens eval``: one table, read two ways.

``build_parser`` makes an ``argparse`` parser of it (``--help``, error
messages, abbreviations, ``--opt=value``).  ``parse_args`` first tries a
small parser of the common case (every option spelt out, values in separate
words), which gives the same result without importing and building
``argparse``: scripts such as nixpkgs' ``lib/tests/modules.sh`` start
hundreds of short evaluations, and argparse was a tenth of each one's
start-up.  Anything else (help, errors, abbreviations, ``--``, attached or
dash-leading values) goes to argparse, so both always agree.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import argparse

# Kinds of options (how many values, how they are kept).
FLAG = "flag"  # store_true
VALUE = "value"  # one value, the last one wins
APPEND = "append"  # one value each time, a list
APPEND2 = "append2"  # two values each time, a list of pairs

LINTS = ("url-literals", "short-path-literals", "absolute-path-literals")
LINT_MODES = ("ignore", "warn", "fatal")


class Option:
    """One option: its spellings, where it goes, its kind and default."""

    __slots__ = ("flags", "dest", "kind", "default", "convert", "choices", "help", "metavar")

    def __init__(
        self,
        flags: tuple[str, ...],
        kind: str,
        help: str | None = None,
        *,
        dest: str | None = None,
        default: Any = None,
        convert: Any = None,
        choices: tuple[str, ...] | None = None,
        metavar: str | tuple[str, str] | None = None,
    ) -> None:
        self.flags = flags
        self.dest = dest or flags[-1].lstrip("-").replace("-", "_")
        self.kind = kind
        self.default = default
        self.convert = convert
        self.choices = choices
        self.help = help
        self.metavar = metavar


OPTIONS: tuple[Option, ...] = (
    Option(("-E", "--expr"), VALUE, "evaluate this expression instead"),
    Option(("--strict",), FLAG, "evaluate the result deeply"),
    Option(("--json",), FLAG, "print the result as JSON"),
    Option(("--xml",), FLAG, "print the result as XML"),
    Option(("--no-location",), FLAG, "(with --xml) omit positions"),
    Option(("--parse",), FLAG, "print the parsed expression"),
    Option(("--eval",), FLAG, "accepted for compatibility"),
    Option(("--eval-only",), FLAG, "accepted for compatibility"),
    Option(("--read-write-mode",), FLAG, "accepted; nothing is written"),
    Option(("--show-trace",), FLAG, "accepted; traces are always kept"),
    Option(
        ("-I",),
        APPEND,
        "add a search path entry (prefix=path or path)",
        dest="include",
        metavar="PATH",
    ),
    Option(("--arg",), APPEND2, metavar=("NAME", "EXPR")),
    Option(("--argstr",), APPEND2, metavar=("NAME", "VALUE")),
    Option(("-A", "--attr"), APPEND, metavar="ATTRPATH"),
    Option(("--max-call-depth",), VALUE, "Nix's max-call-depth", convert=int),
    Option(("--max-steps",), VALUE, "stop after N VM steps", convert=int),
    Option(("--timeout",), VALUE, "stop after N seconds", convert=float),
    Option(
        ("--option",),
        APPEND2,
        "Nix options (max-call-depth is honoured, others ignored)",
        metavar=("NAME", "VALUE"),
    ),
    Option(
        ("--extra-experimental-features",),
        VALUE,
        "experimental features (parse-toml-timestamps, fetch-closure, flakes)",
    ),
    # Default None, not False: unset leaves it to ``--option abort-on-warn``.
    Option(("--abort-on-warn",), FLAG, "make builtins.warn fatal (Nix's abort-on-warn setting)"),
    Option(("--store",), VALUE, "ignored: nixlens never writes a store"),
    Option(("--impure",), FLAG, "accepted for compatibility"),
    Option(("--no-show-trace",), FLAG, "print no trace"),
    *(
        Option((f"--lint-{lint}",), VALUE, f"Nix 2.36's {lint} lint", choices=LINT_MODES)
        for lint in LINTS
    ),
)


def _default(opt: Option) -> Any:
    if opt.kind == FLAG:
        return None if opt.dest == "abort_on_warn" else False
    if opt.kind in (APPEND, APPEND2):
        return []
    return opt.default


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of ``nixlens eval`` (help and error messages)."""
    import argparse

    p = argparse.ArgumentParser(
        prog="nixlens eval",
        description="Evaluate a Nix file or expression and print the value "
        "(output format of nix-instantiate --eval).",
    )
    p.add_argument("file", nargs="?", help="file to evaluate ('-' for stdin)")
    for opt in OPTIONS:
        kw: dict[str, Any] = {"dest": opt.dest, "help": opt.help, "default": _default(opt)}
        if opt.kind == FLAG:
            kw["action"] = "store_true"
        elif opt.kind == APPEND:
            kw["action"] = "append"
        elif opt.kind == APPEND2:
            kw.update(action="append", nargs=2)
        if opt.convert is not None:
            kw["type"] = opt.convert
        if opt.choices is not None:
            kw["choices"] = list(opt.choices)
        if opt.metavar is not None:
            kw["metavar"] = opt.metavar
        p.add_argument(*opt.flags, **kw)
    return p


def _fast_parse(argv: list[str]) -> SimpleNamespace | None:
    """The common case without argparse; None when argparse must decide."""
    by_flag = {flag: opt for opt in OPTIONS for flag in opt.flags}
    values: dict[str, Any] = {"file": None}
    for each in OPTIONS:
        values[each.dest] = _default(each)
    i, n = 0, len(argv)
    while i < n:
        word = argv[i]
        i += 1
        if word[:1] != "-" or word == "-":
            if values["file"] is not None:
                return None  # a second file: argparse's error
            values["file"] = word
            continue
        found = by_flag.get(word)
        if found is None:
            return None
        opt = found
        if opt.kind == FLAG:
            values[opt.dest] = True
            continue
        count = 2 if opt.kind == APPEND2 else 1
        args = argv[i : i + count]
        i += count
        if len(args) < count or any(a[:1] == "-" for a in args):
            return None
        if opt.kind == APPEND2:
            values[opt.dest] = [*values[opt.dest], args]
            continue
        value: Any = args[0]
        if opt.choices is not None and value not in opt.choices:
            return None
        if opt.convert is not None:
            try:
                value = opt.convert(value)
            except ValueError:
                return None
        if opt.kind == APPEND:
            values[opt.dest] = [*values[opt.dest], value]
        else:
            values[opt.dest] = value
    return SimpleNamespace(**values)


def parse_args(argv: list[str]) -> Any:
    """``nixlens eval``'s options as attributes (exits on ``--help`` or an error)."""
    ns = _fast_parse(argv)
    if ns is None:
        return build_parser().parse_args(argv)
    return ns
