"""``nixlens eval``'s options: the quick parser gives exactly what argparse
gives, or leaves the decision to argparse (help, errors, abbreviations)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from evaluator.cli_args import OPTIONS, _fast_parse, build_parser, parse_args

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "PYTHONPATH": ROOT}

# Spelt out as scripts and editors write them: the quick parser decides.
COMMON = [
    [],
    ["-"],
    ["file.nix"],
    [""],
    ["--eval-only", "--show-trace", "--read-write-mode", "--json", "-E", "import ./d.nix { }"]
    + ["-A", "config.x"],
    ["--strict", "f.nix", "-A", "a.b", "-A", "c"],
    ["--option", "abort-on-warn", "true", "--option", "max-call-depth", "9", "-E", "1"],
    ["-I", "nixpkgs=/x", "-I", "/y", "--arg", "a", "1 + 1", "--argstr", "b", "c d", "x.nix"],
    ["--max-call-depth", "5", "--timeout", "1.5", "--max-steps", "10", "-E", "1"],
    ["--lint-url-literals", "warn", "--lint-short-path-literals", "fatal", "--abort-on-warn"],
    ["--store", "dummy://", "--impure", "--no-show-trace", "--xml", "--no-location", "f"],
    ["--parse", "--eval", "--extra-experimental-features", "flakes nix-command", "-E", "x"],
    ["--expr", "1", "--attr", "a", "--expr", "2"],  # the last value wins
]

# For argparse: abbreviations, attached values, dash-leading values, errors.
OTHERS = [
    ["--str", "f.nix"],
    ["--expr=1"],
    ["-E1"],
    ["-E", "-1"],
    ["-1"],
    ["--", "-file.nix"],
    ["--max-steps", "many"],
    ["--lint-url-literals", "loud"],
    ["a.nix", "b.nix"],
    ["-A"],
    ["--arg", "a"],
    ["--nonsense"],
    ["--help"],
]


@pytest.mark.parametrize("argv", COMMON, ids=" ".join)
def test_quick_parser_agrees_with_argparse(argv: list[str]) -> None:
    quick = _fast_parse(argv)
    assert quick is not None
    assert vars(quick) == vars(build_parser().parse_args(argv))


@pytest.mark.parametrize("argv", OTHERS, ids=" ".join)
def test_everything_else_is_left_to_argparse(argv: list[str]) -> None:
    assert _fast_parse(argv) is None


def test_every_option_alone_agrees_with_argparse() -> None:
    parser = build_parser()
    for opt in OPTIONS:
        values = {"flag": [], "value": ["1"], "append": ["1"], "append2": ["n", "v"]}[opt.kind]
        if opt.choices:
            values = [opt.choices[-1]]
        for flag in opt.flags:
            argv = [flag, *values]
            quick = _fast_parse(argv)
            assert quick is not None, argv
            assert vars(quick) == vars(parser.parse_args(argv)), argv


def test_parse_args_falls_back_to_argparse() -> None:
    assert parse_args(["--str"]).strict is True  # an abbreviation
    assert parse_args(["--expr=1 + 1"]).expr == "1 + 1"
    assert parse_args(["-E", "-1"]).expr == "-1"
    with pytest.raises(SystemExit):
        parse_args(["--max-steps", "many"])


def test_command_line_errors_and_help_come_from_argparse() -> None:
    bad = subprocess.run(
        [sys.executable, "-m", "server.cli", "eval", "a.nix", "b.nix"],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert bad.returncode == 2
    assert "unrecognized arguments: b.nix" in bad.stderr
    shown = subprocess.run(
        [sys.executable, "-m", "server.cli", "eval", "--help"],
        capture_output=True,
        text=True,
        env=ENV,
    )
    assert shown.returncode == 0 and "--max-call-depth" in shown.stdout


def test_eval_does_not_import_argparse_or_the_server() -> None:
    code = (
        "import sys, io\n"
        "before = set(sys.modules)\n"  # what the interpreter's site imported
        "from evaluator.cli import parse_args, evaluate_cli\n"
        "out = io.StringIO()\n"
        "evaluate_cli(parse_args(['--strict', '-E', '{ a = 1; }']), out, sys.stderr)\n"
        "assert out.getvalue() == '{ a = 1; }\\n', out.getvalue()\n"
        "slow = ('argparse', 'dataclasses', 'inspect', 'pygls', 'lsprotocol')\n"
        "bad = [m for m in slow if m in sys.modules and m not in before]\n"
        "print(bad)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "[]"
