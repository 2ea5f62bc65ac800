"""Tests for the tree-sitter queries in ``queries/``.

Every query must compile with the pinned tree-sitter and tree-sitter-nix.
Captures are checked against fixtures in ``tests/fixtures/queries/`` written
in caret-comment style, after tree-sitter's highlight tests::

    let x = 1; in x
    # <- @keyword
    #   ^ @variable
    #              ^ !@variable.member

An assertion line is a comment whose text starts with ``^`` or ``<-``; it
asserts on the nearest line above it that is not an assertion. ``^`` points at
its own column, ``<-`` at the column of the ``#``. ``@name`` must hold there,
``!@name`` must not.

For ``highlights`` the capture that holds at a position is the one an editor
would show: the innermost captured node, and among captures of the same node
the one from the later pattern (nvim-treesitter's precedence). For the other
queries every capture whose node covers the position holds. For
``injections`` a captured ``@injection.content`` holds as
``@injection.<language>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pytest
import tree_sitter_nix
from tree_sitter import Language, Node, Parser, Query, QueryCursor

ROOT = Path(__file__).resolve().parent.parent
QUERIES = ROOT / "queries"
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "queries"
QUERY_NAMES = ["highlights", "locals", "folds", "injections", "indents", "textobjects"]
LANGUAGE = Language(tree_sitter_nix.language())
# Captures that mark nodes for other tools, not highlight groups.
NOT_HIGHLIGHTS = {"spell", "nospell", "none", "conceal"}
ASSERTION = re.compile(r"^(?P<indent>\s*)#\s*(?P<arrow>\^|<-)(?P<rest>(\s+!?@[\w.]+)+)\s*$")


@dataclass(frozen=True)
class Assertion:
    """``@capture`` must (or, negated, must not) hold at ``row``, ``column``."""

    row: int
    column: int
    capture: str
    negated: bool
    line: int  # 1-based line of the assertion itself, for messages


@dataclass(frozen=True)
class Capture:
    """One capture of a query match: its name, node span and pattern index."""

    name: str
    start: tuple[int, int]
    end: tuple[int, int]
    pattern: int

    def covers(self, row: int, column: int) -> bool:
        """Whether the captured node contains the position."""
        return self.start <= (row, column) < self.end


def parse_assertions(text: str) -> list[Assertion]:
    """Read the caret-comment assertions of a fixture."""
    result: list[Assertion] = []
    source_row = -1
    for row, line in enumerate(text.splitlines()):
        m = ASSERTION.match(line)
        if m is None:
            source_row = row
            continue
        assert source_row >= 0, f"line {row + 1}: assertion before any source line"
        if m["arrow"] == "^":
            column = line.index("^")
        else:
            column = len(m["indent"])
        for word in m["rest"].split():
            negated = word.startswith("!")
            result.append(Assertion(source_row, column, word.lstrip("!@"), negated, row + 1))
    return result


def load_query(name: str) -> Query:
    """Compile ``queries/<name>.scm`` for tree-sitter-nix."""
    return Query(LANGUAGE, (QUERIES / f"{name}.scm").read_text(encoding="utf-8"))


def parse(text: str) -> Node:
    """Parse Nix source; the fixtures must be free of syntax errors."""
    tree = Parser(LANGUAGE).parse(text.encode("utf-8"))
    assert not tree.root_node.has_error, "fixture has a syntax error"
    return tree.root_node


def _span(node: Node) -> tuple[tuple[int, int], tuple[int, int]]:
    # Columns are bytes; the fixtures are ASCII, so they are characters too.
    return (node.start_point.row, node.start_point.column), (
        node.end_point.row,
        node.end_point.column,
    )


def run_query(name: str, root: Node) -> list[Capture]:
    """All captures of a query, with injections renamed to their language."""
    query = load_query(name)
    captures: list[Capture] = []
    for pattern, groups in QueryCursor(query).matches(root):
        language = query.pattern_settings(pattern).get("injection.language")
        if "injection.language" in groups:
            language = groups["injection.language"][0].text.decode()
        for capture_name, nodes in groups.items():
            if capture_name.startswith("_"):
                continue
            if name == "injections":
                if capture_name != "injection.content":
                    continue
                capture_name = f"injection.{language}"
            for node in nodes:
                captures.append(Capture(capture_name, *_span(node), pattern))
    return captures


def holding(name: str, captures: list[Capture], row: int, column: int) -> set[str]:
    """The capture names that hold at a position (see the module docstring)."""
    covering = [c for c in captures if c.covers(row, column)]
    if name != "highlights":
        return {c.name for c in covering}
    covering = [c for c in covering if c.name not in NOT_HIGHLIGHTS]
    if not covering:
        return set()
    # Innermost node first (latest start, then earliest end), then later pattern.
    best = max(covering, key=lambda c: (c.start, (-c.end[0], -c.end[1]), c.pattern))
    return {best.name}


def check_fixture(name: str, path: Path) -> None:
    """Assert every caret comment of a fixture against query ``name``."""
    text = path.read_text(encoding="utf-8")
    assertions = parse_assertions(text)
    assert assertions, f"{path.name} has no assertions"
    captures = run_query(name, parse(text))
    failures = []
    for a in assertions:
        names = holding(name, captures, a.row, a.column)
        if (a.capture in names) == a.negated:
            expectation = "not " if a.negated else ""
            failures.append(
                f"{path.name}:{a.line}: expected {expectation}@{a.capture} at "
                f"{a.row + 1}:{a.column + 1}, found {sorted(names) or 'nothing'}"
            )
    assert not failures, "\n".join(failures)


def fixtures_for(name: str) -> list[Path]:
    """The fixtures of one query: ``<name>.nix`` and ``<name>-*.nix``."""
    return sorted(FIXTURES.glob(f"{name}.nix")) + sorted(FIXTURES.glob(f"{name}-*.nix"))


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_query_compiles(name: str) -> None:
    query = load_query(name)
    assert query.pattern_count > 0


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_query_has_header_and_one_node_per_line(name: str) -> None:
    text = (QUERIES / f"{name}.scm").read_text(encoding="utf-8")
    assert text.startswith("; "), "a query starts with a header comment"
    assert "later pattern" in text.lower(), "the header states the precedence assumption"
    for number, line in enumerate(text.splitlines(), 1):
        code = re.sub(r'"(?:[^"\\]|\\.)*"', '""', line).split(";", 1)[0]
        nodes = re.findall(r"\([a-z_]+", code)
        assert len(nodes) <= 1, f"{name}.scm:{number}: one node per line"


def test_locals_header_says_resolution_is_approximate() -> None:
    text = (QUERIES / "locals.scm").read_text(encoding="utf-8")
    assert "lazy" in text and "approximation" in text and "server" in text


@pytest.mark.parametrize("name", QUERY_NAMES)
def test_query_fixtures(name: str) -> None:
    paths = fixtures_for(name)
    if not paths:
        pytest.skip(f"no fixture for {name}")
    for path in paths:
        check_fixture(name, path)


def test_every_query_has_a_fixture() -> None:
    missing = [n for n in QUERY_NAMES if n != "indents" and not fixtures_for(n)]
    assert not missing


def test_highlights_know_every_global_builtin() -> None:
    from evaluator.builtins import GLOBAL_NAMES

    text = (QUERIES / "highlights.scm").read_text(encoding="utf-8")
    missing = sorted(n for n in GLOBAL_NAMES if f'"{n}"' not in text)
    assert not missing


def test_assertion_parser() -> None:
    text = "let x = 1; in x\n# <- @keyword\n#   ^ @a !@b\n\n  # ^ @c\n"
    assert parse_assertions(text) == [
        Assertion(0, 0, "keyword", False, 2),
        Assertion(0, 4, "a", False, 3),
        Assertion(0, 4, "b", True, 3),
        Assertion(3, 4, "c", False, 5),
    ]


def test_checker_reports_a_wrong_capture(tmp_path: Path) -> None:
    fixture = tmp_path / "wrong.nix"
    fixture.write_text("let x = 1; in x\n# <- @string\n")
    with pytest.raises(AssertionError, match="expected @string at 1:1"):
        check_fixture("highlights", fixture)
