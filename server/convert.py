"""Conversions from the evaluator's results to LSP types (the only such module).

Spans are byte offsets into an evaluator ``Source``; ranges are computed by
``server.positions``.  A diagnostic is shown in the document it belongs to:
when its own span is in another file (an error inside an imported file),
it is placed at the first note of its trace that is in this document, and
the original place becomes related information.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from lsprotocol import types
from pygls.uris import from_fs_path

from evaluator import ide
from evaluator.diagnostics import Diagnostic, Severity, Tag
from evaluator.nodes import Source, Span

from .positions import LineIndex, to_position, to_range
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


#: Trace notes shown per diagnostic (the innermost and outermost halves).
MAX_TRACE_NOTES = 60


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
    notes: list[Any] = list(diag.notes)
    if len(notes) > MAX_TRACE_NOTES:  # a deep recursion stopped by a budget
        half = MAX_TRACE_NOTES // 2
        omitted = len(notes) - 2 * half
        notes = [*notes[:half], None, *notes[-half:]]
    for note in notes:
        if note is None:
            message = f"{message}\n({omitted} more trace frames not shown)"
            continue
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


def hover(markdown: str, rng: types.Range | None, max_chars: int = 0) -> types.Hover:
    """Hover contents as Markdown, cut to ``max_chars`` (0: no limit) with a note."""
    if max_chars and len(markdown) > max_chars:
        cut = markdown[:max_chars]
        if cut.count("```") % 2:
            cut += "\n```"  # close the code block the cut fell in
        more = len(markdown) - max_chars
        markdown = f"{cut}\n\n*hover text cut at {max_chars} characters ({more} more)*"
    return types.Hover(
        contents=types.MarkupContent(kind=types.MarkupKind.Markdown, value=markdown), range=rng
    )


# ----------------------------------------------------- navigation (issue 6)
# Conversions of ``evaluator.ide`` results; ``Target`` is the requested document.

_SYMBOL_KIND = {
    "function": types.SymbolKind.Function,
    "object": types.SymbolKind.Object,
    "variable": types.SymbolKind.Variable,
    "field": types.SymbolKind.Field,
    "parameter": types.SymbolKind.Variable,
}

_VARIABLE = types.SymbolKind.Variable

_COMPLETION_KIND = {
    "variable": types.CompletionItemKind.Variable,
    "function": types.CompletionItemKind.Function,
    "field": types.CompletionItemKind.Field,
    "property": types.CompletionItemKind.Property,
    "constant": types.CompletionItemKind.Constant,
    "keyword": types.CompletionItemKind.Keyword,
    "file": types.CompletionItemKind.File,
    "folder": types.CompletionItemKind.Folder,
}

_HIGHLIGHT_KIND = {
    "read": types.DocumentHighlightKind.Read,
    "write": types.DocumentHighlightKind.Write,
}


def locations(locs: Iterable[ide.Location], target: Target) -> list[types.Location]:
    """Locations in this document or other files (path-less ones dropped)."""
    return [loc for x in locs if (loc := target.location(x.span)) is not None]


def highlights(items: Iterable[ide.Highlight], target: Target) -> list[types.DocumentHighlight]:
    """Occurrences of a name: its definition is a write, its uses reads."""
    out = []
    for h in items:
        rng = target.here_range(h.span)
        if rng is not None:
            kind = _HIGHLIGHT_KIND.get(h.kind, types.DocumentHighlightKind.Text)
            out.append(types.DocumentHighlight(range=rng, kind=kind))
    return out


def text_edits(edits: Iterable[ide.Edit], target: Target) -> list[types.TextEdit]:
    """Byte-span edits of this document as LSP text edits."""
    out = []
    for e in edits:
        rng = target.here_range(e.span)
        if rng is not None:
            out.append(types.TextEdit(range=rng, new_text=e.new_text))
    return out


def workspace_edit(edits: Iterable[ide.Edit], target: Target) -> types.WorkspaceEdit:
    """Edits of this document as a workspace edit."""
    return types.WorkspaceEdit(changes={target.uri: text_edits(edits, target)})


class RawJSON:
    """A result already serialised to JSON text: sent as it is, without the
    converter (``NixLensProtocol``), for answers of megabytes."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data  # UTF-8


#: A document's outline pieces rendered to JSON, keyed by the piece's text,
#: the character it starts at and the encoding: a %-format of the piece's
#: JSON with its line numbers (relative to its first line) left out.  An edit
#: renders again the pieces it touched; the others are formatted with their
#: new first line.
FragmentCache = dict[tuple[object, int, str], tuple[str, tuple[int, ...]]]


def outline_json(
    items: Iterable[ide.OutlineItem], index: LineIndex, encoding: str, cache: FragmentCache
) -> str:
    """The hierarchical outline (``DocumentSymbol[]``) as JSON text.

    ``cache`` holds the previous call's pieces and is replaced in place by
    this call's."""
    new: FragmentCache = {}
    position = index.position
    data = index.data

    def symbol(
        r: tuple[str, str, int, int, int, int, str | None],
        first_line: int,
        lines: list[int],
    ) -> str:
        """One symbol's JSON up to its children, %-escaped, its line numbers
        (minus ``first_line``) appended to ``lines`` in place of %d."""
        name, kind, a, b, c, d, detail = r
        (l1, c1), (l2, c2) = position(a, encoding), position(max(a, b), encoding)
        (l3, c3), (l4, c4) = position(c, encoding), position(max(c, d), encoding)
        lines.extend((l1 - first_line, l2 - first_line, l3 - first_line, l4 - first_line))
        quoted = json.dumps(name or "«empty»", ensure_ascii=False).replace("%", "%%")
        more = ""
        if detail is not None:
            more = ',"detail":' + json.dumps(detail, ensure_ascii=False).replace("%", "%%")
        return (
            f'{{"name":{quoted},"kind":{_SYMBOL_KIND.get(kind, _VARIABLE).value}'
            f',"range":{{"start":{{"line":%d,"character":{c1}}},'
            f'"end":{{"line":%d,"character":{c2}}}}}'
            f',"selectionRange":{{"start":{{"line":%d,"character":{c3}}},'
            f'"end":{{"line":%d,"character":{c4}}}}}{more}'
        )

    def chunk(item: ide.OutlineChunk) -> str:
        line, col = item.point
        if encoding == "utf-8" or data[item.start - col : item.start].isascii():
            char = col
        else:
            line, char = position(item.start, encoding)
        key = (item.key, char, encoding)
        template = new.get(key) or cache.get(key)
        if template is None:
            base = item.start
            parts: list[str] = []
            lines: list[int] = []
            todo: list[Any] = [(r, True) for r in reversed(item.symbols)]
            first = True
            while todo:
                r, opening = todo.pop()
                if isinstance(r, str):
                    parts.append(r)
                    first = False
                    continue
                head = symbol(
                    (r[0], r[1], base + r[2], base + r[3], base + r[4], base + r[5], r[6]),
                    line,
                    lines,
                )
                parts.append(head if first else "," + head)
                if r[7]:
                    parts.append(',"children":[')
                    todo.append(("]}", False))
                    todo.extend((k, True) for k in reversed(r[7]))
                    first = True
                else:
                    parts.append("}")
                    first = False
            template = ("".join(parts), tuple(lines))
        new[key] = template
        fmt, rel = template
        return fmt % tuple([line + k for k in rel])

    # Symbols of large nodes hold pieces: their children are written between
    # the "[" and "]}" around them.
    out: list[str] = []
    todo: list[Any] = ["]", *reversed(list(items))]
    first = True
    while todo:
        item = todo.pop()
        if isinstance(item, str):
            out.append(item)
            first = False
            continue
        if isinstance(item, ide.OutlineChunk):
            text = chunk(item)
            out.append(text if first else "," + text)
            first = False
            continue
        lines: list[int] = []
        fields = (item.name, item.kind, item.start, item.end, item.sel_start, item.sel_end)
        head = symbol((*fields, item.detail), 0, lines) % tuple(lines)
        out.append(head if first else "," + head)
        if item.children:
            out.append(',"children":[')
            todo.append("]}")
            todo.extend(reversed(item.children))
            first = True
        else:
            out.append("}")
            first = False
    cache.clear()
    cache.update(new)
    return "[" + "".join(out)


def workspace_symbol(
    name: str, kind: str, container: str | None, location: types.Location
) -> types.WorkspaceSymbol:
    """One workspace symbol."""
    return types.WorkspaceSymbol(
        name=name or "«empty»",
        kind=_SYMBOL_KIND.get(kind, types.SymbolKind.Variable),
        location=location,
        container_name=container,
    )


def selection_range(sel: ide.SelectionRange, target: Target) -> types.SelectionRange:
    """Nested ranges, innermost first (built outermost first: no recursion)."""
    chain = []
    node: ide.SelectionRange | None = sel
    while node is not None:
        chain.append(node.span)
        node = node.parent
    result: types.SelectionRange | None = None
    for span in reversed(chain):
        rng = target.here_range(span)
        if rng is not None:
            result = types.SelectionRange(range=rng, parent=result)
    assert result is not None
    return result


def document_links(links: Iterable[ide.DocumentLink], target: Target) -> list[types.DocumentLink]:
    """Files as ``file://`` URIs, URLs as they are."""
    out = []
    for link in links:
        rng = target.here_range(link.span)
        if rng is None:
            continue
        is_url = "://" in link.target and not link.target.startswith("/")
        uri = link.target if is_url else (from_fs_path(link.target) or link.target)
        out.append(types.DocumentLink(range=rng, target=uri))
    return out


def completion_item(item: ide.CompletionItem, target: Target) -> types.CompletionItem:
    """A completion replacing the partial word (``edit_span``); ``data`` is the
    id ``resolve_completion`` needs to fill the documentation."""
    rng = target.here_range(item.edit_span)
    return types.CompletionItem(
        label=item.label,
        kind=_COMPLETION_KIND.get(item.kind),
        detail=item.detail,
        documentation=_markdown(item.documentation),
        sort_text=item.sort_text,
        filter_text=item.label,
        text_edit=None if rng is None else types.TextEdit(range=rng, new_text=item.label),
        data=item.data,
    )


def resolved_documentation(
    item: types.CompletionItem, detail: str | None, documentation: str | None
) -> types.CompletionItem:
    """``item`` with what ``resolve_completion`` found."""
    item.detail = detail
    item.documentation = _markdown(documentation)
    return item


def _markdown(text: str | None) -> types.MarkupContent | None:
    if text is None:
        return None
    return types.MarkupContent(kind=types.MarkupKind.Markdown, value=text)


def signature_help(sig: ide.SignatureHelp) -> types.SignatureHelp:
    """One signature with its parameters and the active one."""
    info = types.SignatureInformation(
        label=sig.label,
        documentation=_markdown(sig.documentation),
        parameters=[types.ParameterInformation(label=p) for p in sig.parameters],
        active_parameter=sig.active_parameter,
    )
    return types.SignatureHelp(
        signatures=[info], active_signature=0, active_parameter=sig.active_parameter
    )


def code_action(
    action: ide.CodeAction, target: Target, fixed: list[types.Diagnostic]
) -> types.CodeAction:
    """A code action with its edit; ``fixed`` are the diagnostics a quick fix resolves."""
    return types.CodeAction(
        title=action.title,
        kind=action.kind,
        diagnostics=fixed or None,
        is_preferred=action.preferred or None,
        edit=workspace_edit(action.edits, target),
    )


def inlay_hints(hints: Iterable[ide.InlayHint], target: Target) -> list[types.InlayHint]:
    """Value hints after bindings."""
    return [
        types.InlayHint(
            position=to_position(target.index, h.offset, target.encoding),
            label=h.label,
            padding_left=True,
            tooltip=h.tooltip,
        )
        for h in hints
    ]


def whole_document_edit(target: Target, new_text: str) -> types.TextEdit:
    """One edit replacing all of the document (formatting)."""
    return types.TextEdit(
        range=to_range(target.index, 0, len(target.index.data), target.encoding),
        new_text=new_text,
    )
