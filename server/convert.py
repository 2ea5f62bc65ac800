"""Conversions from the evaluator's results to LSP types (the only such module).

Spans are byte offsets into an evaluator ``Source``; ranges are computed by
``server.positions``.  A diagnostic is shown in the document it belongs to:
when its own span is in another file (an error inside an imported file),
it is placed at the first note of its trace that is in this document, and
the original place becomes related information.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from lsprotocol import types
from pygls.uris import from_fs_path

from evaluator.diagnostics import Diagnostic, Severity, Tag
from evaluator.nodes import Source, Span

from .positions import LineIndex, to_range
from .settings import DiagnosticsSettings

SOURCE = "nixlens"

_SEVERITY = {
    Severity.ERROR: types.DiagnosticSeverity.Error,
    Severity.WARNING: types.DiagnosticSeverity.Warning,
    Severity.INFO: types.DiagnosticSeverity.Information,
    Severity.HINT: types.DiagnosticSeverity.Hint,
}

_TAGS = {
    Tag.UNNECESSARY: types.DiagnosticTag.Unnecessary,
    Tag.DEPRECATED: types.DiagnosticTag.Deprecated,
}


def _same_path(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return os.path.normpath(os.path.abspath(a)) == os.path.normpath(os.path.abspath(b))


@dataclass
class Target:
    """The document diagnostics are converted for, in the client's encoding.

    ``remap`` moves a byte range of the text the diagnostics were computed on
    to the current text (None: that text has been edited since)."""

    uri: str
    path: str | None
    index: LineIndex
    encoding: str
    remap: Callable[[int, int], tuple[int, int] | None] = lambda s, e: (s, e)
    _other: dict[int, LineIndex] = field(default_factory=dict)

    def is_here(self, source: Source) -> bool:
        """Whether ``source`` is this document (or a snapshot of it)."""
        return _same_path(source.path, self.path)

    def here_range(self, span: Span) -> types.Range | None:
        """The LSP range of a span in this document (None if it was edited away)."""
        moved = self.remap(span.start, span.end)
        if moved is None:
            return None
        return to_range(self.index, moved[0], moved[1], self.encoding)

    def location(self, span: Span) -> types.Location | None:
        """An LSP location for a span in any file (None for path-less sources)."""
        if self.is_here(span.source):
            rng = self.here_range(span)
            return None if rng is None else types.Location(uri=self.uri, range=rng)
        if span.source.path is None:
            return None
        index = self._other.get(id(span.source))
        if index is None:
            index = self._other[id(span.source)] = LineIndex(span.source.text)
        uri = from_fs_path(span.source.path) or span.source.path
        return types.Location(uri=uri, range=to_range(index, span.start, span.end, self.encoding))


def diagnostic(diag: Diagnostic, target: Target) -> types.Diagnostic | None:
    """One evaluator diagnostic as an LSP diagnostic for ``target`` (None: not shown)."""
    message = diag.message
    related: list[types.DiagnosticRelatedInformation] = []
    rng: types.Range | None = None
    if diag.span is not None and target.is_here(diag.span.source):
        rng = target.here_range(diag.span)
        if rng is None:
            return None  # computed on text that has been edited since
    elif diag.span is not None:
        where = target.location(diag.span)
        if where is not None:
            related.append(types.DiagnosticRelatedInformation(location=where, message=message))
        # Anchor it at the innermost frame of its trace that is in this file.
        for note in diag.notes:
            if note.span is not None and target.is_here(note.span.source):
                rng = target.here_range(note.span)
                if rng is not None:
                    break
        message = f"{message}\n(at {diag.span})"
    for note in diag.notes:
        loc = None if note.span is None else target.location(note.span)
        if loc is None:
            message = f"{message}\n{note.message}"
        else:
            related.append(types.DiagnosticRelatedInformation(location=loc, message=note.message))
    if rng is None:
        rng = types.Range(start=types.Position(0, 0), end=types.Position(0, 0))
    return types.Diagnostic(
        range=rng,
        message=message,
        severity=_SEVERITY.get(diag.severity, types.DiagnosticSeverity.Error),
        code=diag.code,
        source=SOURCE,
        tags=[_TAGS[t] for t in sorted(diag.tags, key=lambda t: t.value) if t in _TAGS] or None,
        related_information=related or None,
    )


def diagnostics(
    diags: Iterable[Diagnostic], target: Target, settings: DiagnosticsSettings
) -> list[types.Diagnostic]:
    """Convert, drop ignored codes, keep the ``maxPerFile`` most severe, sort by position."""
    ignored = set(settings.ignore)
    out = [d for d in (diagnostic(x, target) for x in diags if x.code not in ignored) if d]
    limit = settings.max_per_file
    if limit and len(out) > limit:
        out.sort(key=lambda d: (d.severity or 1, _key(d)))
        out = out[:limit]
    out.sort(key=_key)
    return out


def _key(d: types.Diagnostic) -> tuple[int, int, int, int]:
    s, e = d.range.start, d.range.end
    return (s.line, s.character, e.line, e.character)


def hover(markdown: str, rng: types.Range | None) -> types.Hover:
    """Hover contents as Markdown."""
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown), range=rng
    )
