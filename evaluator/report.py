"""Render errors and warnings the way ``nix-instantiate`` prints them."""

from __future__ import annotations

from typing import Any

from .ansi import strip_escapes
from .diagnostics import Diagnostic, Note, Severity
from .errors import NixError

_INDENT = "       "
# Warnings Nix prints with their trace (others keep their notes for editors).
_TRACED_WARNINGS = frozenset({"structured_attrs_ignored"})


def _pos(span: Any) -> str:
    line, col = span.line_col()
    return f"{span.source.name}:{line}:{col}"


def _excerpt(span: Any, indent: str) -> list[str]:
    """Nix's source excerpt: the line before, the line, a caret, the line after."""
    src = span.source
    try:
        lines = src.text.decode("utf-8", "surrogateescape").split("\n")
    except Exception:  # pragma: no cover - defensive
        return []
    line, col = span.line_col()
    out: list[str] = []
    # Nix: "<prefix> %5d| <line>" with the caller's indent being prefix + 5.
    num = indent[:-4]
    if line - 2 >= 0 and line - 2 < len(lines):
        out.append(f"{num}{str(line - 1).rjust(5)}| {lines[line - 2]}".rstrip())
    if line - 1 < len(lines):
        out.append(f"{num}{str(line).rjust(5)}| {lines[line - 1]}".rstrip())
        out.append(f"{indent} | {' ' * (col - 1)}^")
    if line < len(lines):
        out.append(f"{num}{str(line + 1).rjust(5)}| {lines[line]}".rstrip())
    return out


def dedupe_trace(trace: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Nix's elision of repeated frames (outermost first in, outermost first out).

    A frame equal (message and position) to one already shown is skipped; a run
    of more than five consecutive skipped frames becomes one
    ``(N duplicate frames omitted)`` line (span None), a shorter run is shown
    as is.  As in Nix, the set of frames seen is never reset.
    """
    seen: set[tuple[str, Any]] = set()
    skipped: list[tuple[str, Any]] = []
    out: list[tuple[str, Any]] = []

    def flush() -> None:
        if len(skipped) > 5:
            out.append((f"({len(skipped)} duplicate frames omitted)", None))
        else:
            out.extend(skipped)
        skipped.clear()

    for message, span in trace:
        key = (message, None if span is None else (span.source.name, span.line_col()))
        if key in seen:
            skipped.append((message, span))
            continue
        seen.add(key)
        flush()
        out.append((message, span))
    flush()
    return out


def format_error(err: NixError, *, show_trace: bool = True) -> str:
    """The stderr text for an evaluation error, laid out as Nix does."""
    first, *hints = err.msg.split("\n")
    out: list[str] = []
    trace = dedupe_trace(list(reversed(err.trace))) if show_trace else []
    own_span = err.span if (err.span is not None and not err.span_inferred) else None
    if trace:
        out.append("error:")
        for message, span in trace:
            if span is None and message.endswith("duplicate frames omitted)"):
                out.append(f"{_INDENT}{message}")
                out.append("")
                continue
            # Continuation lines of a trace message line up under its text.
            out.append(f"{_INDENT}… {message}".replace("\n", "\n" + _INDENT))
            if span is not None:
                out.append(f"{_INDENT}  at {_pos(span)}:")
                out.extend(_excerpt(span, _INDENT + "     "))
            out.append("")
        out.append(f"{_INDENT}error: {first}")
    else:
        out.append(f"error: {first}")
    if own_span is not None:
        out.append(f"{_INDENT}at {_pos(own_span)}:")
        out.extend(_excerpt(own_span, _INDENT + "     "))
    for extra in hints:
        out.append(f"{_INDENT}{extra}")
    return "\n".join(out) + "\n"


def format_warning(d: Diagnostic) -> str:
    """A runtime warning as Nix prints it on stderr."""
    if d.code == "trace":
        return f"trace: {d.message}\n"
    if d.code == "warn":
        if d.message.startswith("\n"):
            return f"evaluation warning:{d.message}\n"
        pad = " " * len("evaluation warning: ")
        return f"evaluation warning: {d.message.replace(chr(10), chr(10) + pad)}\n"
    if d.notes and d.code in _TRACED_WARNINGS:
        # A warning with a trace: the trace first, then the message, as for errors.
        ind = _INDENT + "  "
        out = ["warning:"]
        for note in reversed(d.notes):
            out.append(f"{ind}… {note.message}")
            if note.span is not None:
                out.append(f"{ind}  at {_pos(note.span)}:")
                out.extend(_excerpt(note.span, ind + "     "))
            out.append("")
        out.append(f"{ind}warning: {d.message}")
        if d.span is not None:
            out.append(f"{ind}at {_pos(d.span)}:")
            out.extend(_excerpt(d.span, ind + "     "))
        return "\n".join(out) + "\n"
    out = [f"warning: {d.message}"]
    if d.span is not None:
        out.append(f"{_INDENT}  at {_pos(d.span)}:")
        out.extend(_excerpt(d.span, _INDENT + "       "))
    return "\n".join(out) + "\n"


def error_to_diagnostic(err: NixError) -> Diagnostic:
    """An evaluation error as a diagnostic: the trace becomes notes (clean text)."""
    # Notes innermost first, as the trace is kept; repeated frames elided.
    shown = dedupe_trace(list(reversed(err.trace)))
    notes = [Note(strip_escapes(message), span) for message, span in reversed(shown)]
    return Diagnostic(err.code, Severity.ERROR, strip_escapes(err.msg), err.span, notes)


def clean_diagnostic(d: Diagnostic) -> Diagnostic:
    """``d`` with terminal escape sequences removed from its message and notes
    (what editors get; the command line filters what it prints itself)."""
    notes = [Note(strip_escapes(n.message), n.span) for n in d.notes]
    return Diagnostic(d.code, d.severity, strip_escapes(d.message), d.span, notes, d.tags)
