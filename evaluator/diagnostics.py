"""Diagnostics as data: a stable code, a severity, a message, a span, notes.

Static analysis (``evaluator.lint``), the parser and the VM all report through
this one type; the language server converts it to LSP diagnostics and users
silence codes by name.
"""

from __future__ import annotations

import enum

from .nodes import Span, ValueRecord


class Severity(enum.IntEnum):
    ERROR = 1
    WARNING = 2
    INFO = 3
    HINT = 4


class Tag(enum.Enum):
    UNNECESSARY = "unnecessary"
    DEPRECATED = "deprecated"


# Stable codes.  Add new ones here; never rename one users may have silenced.
CODES: dict[str, str] = {
    # syntax
    "syntax_error": "the text is not valid Nix",
    # static analysis
    "undefined_variable": "a name that no scope binds",
    "unused_binding": "a let binding that is never used",
    "unused_argument": "a lambda argument that is never used",
    "unused_formal": "a formal argument that is never used",
    "unused_with": "a `with` whose attributes are never used",
    "useless_rec": "a `rec` set that refers to none of its own attributes",
    "duplicate_attribute": "an attribute defined twice",
    "duplicate_formal": "a formal argument listed twice",
    "useless_inherit": "`inherit x;` inside a let that binds x to itself",
    "shadowed_builtin": "a local name that shadows a builtin",
    "legacy_let": "the deprecated `let { body = ...; }` form",
    "url_literal": "an unquoted URL literal (deprecated)",
    "empty_let": "a `let` with no bindings",
    "empty_inherit": "an `inherit` with no names",
    "literal_boolean_operand": "`&&` or `||` with a literal boolean operand",
    # evaluation
    "eval_error": "evaluation failed",
    "assertion_failed": "an assertion failed",
    "throw": "`throw` was evaluated",
    "abort": "`abort` was evaluated",
    "throws_when_used": "an attribute whose value is a deliberate `throw` or `abort`",
    "infinite_recursion": "a value depends on itself",
    "eval_limit": "evaluation stopped by a budget",
    "trace": "output of `builtins.trace`",
    "warn": "output of `builtins.warn`",
    "deprecated": "use of a deprecated feature or builtin",
    "structured_attrs_ignored": "a derivation attribute that `__structuredAttrs` makes ineffective",
    # projects
    "flake_input_missing": "a flake input not available offline (not in the store, not locked)",
    "flake_lock_invalid": "a `flake.lock` nixlens cannot use (with no input to put it on)",
    # module system (a configuration's checks, at the definition they blame)
    "option_undefined": "a definition of an option that no module declares",
    "option_type": "a definition whose value is not of the option's type",
    "option_conflict": "definitions of an option that cannot be merged",
    "option_error": "evaluating an option's value failed",
    "config_assertion": "a failed assertion of the configuration (`assertions`)",
    "config_warning": "a warning of the configuration (`warnings`)",
}


class Note(ValueRecord):
    __slots__ = ("message", "span")

    message: str
    span: Span | None

    def __init__(self, message: str, span: Span | None = None) -> None:
        self.message = message
        self.span = span


class Diagnostic(ValueRecord):
    __slots__ = ("code", "severity", "message", "span", "notes", "tags")

    code: str
    severity: Severity
    message: str
    span: Span | None
    notes: list[Note]
    tags: frozenset[Tag]

    def __init__(
        self,
        code: str,
        severity: Severity,
        message: str,
        span: Span | None,
        notes: list[Note] | None = None,
        tags: frozenset[Tag] = frozenset(),
    ) -> None:
        self.code = code
        self.severity = severity
        self.message = message
        self.span = span
        self.notes = [] if notes is None else notes
        self.tags = tags

    def __str__(self) -> str:
        where = f"{self.span}: " if self.span is not None else ""
        return f"{where}{self.severity.name.lower()}[{self.code}]: {self.message}"
