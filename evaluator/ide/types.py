"""Plain result types of the editor analyses (byte offsets; ``Span`` carries its source).

The language server converts each of these to its LSP counterpart; a
``Span``'s own ``source.text`` is the text its offsets index into (for
locations in other files too: the evaluator keeps the text it read).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..nodes import Span


@dataclass(slots=True, frozen=True)
class Location:
    """A place in a file: its path and a span of that file's text."""

    path: str | None
    span: Span


@dataclass(slots=True, frozen=True)
class Edit:
    """Replace ``span`` (bytes of the edited document) by ``new_text``."""

    span: Span
    new_text: str


@dataclass(slots=True, frozen=True)
class Highlight:
    """One occurrence of a name; ``kind`` is ``"write"`` (its definition) or ``"read"``."""

    span: Span
    kind: str


@dataclass(slots=True)
class Symbol:
    """A document symbol.

    kind: ``"function"``, ``"object"`` (attribute-set valued), ``"variable"``
    (let binding), ``"field"`` (attribute), ``"parameter"`` (formal or argument).
    ``span`` covers the whole definition, ``selection`` its name.
    """

    name: str
    kind: str
    span: Span
    selection: Span
    children: list[Symbol] = field(default_factory=list)
    detail: str | None = None


@dataclass(slots=True, frozen=True)
class WorkspaceSymbol:
    """A symbol found by ``workspace_symbols``; ``container`` is its parent's name."""

    name: str
    kind: str
    location: Location
    container: str | None = None


@dataclass(slots=True)
class SelectionRange:
    """Nested ranges around one offset: ``span``, then ``parent`` (larger), …"""

    span: Span
    parent: SelectionRange | None = None


@dataclass(slots=True, frozen=True)
class DocumentLink:
    """A clickable span: a resolved path (``target`` absolute) or a URL."""

    span: Span
    target: str


@dataclass(slots=True)
class CompletionItem:
    """One completion.

    kind: ``"variable"``, ``"function"``, ``"field"``, ``"property"`` (a formal
    of the called function), ``"constant"``, ``"keyword"``, ``"file"``,
    ``"folder"``.  ``edit_span`` is the partial word the item replaces;
    ``sort_text`` orders items (locals, with-attributes, builtins, keywords);
    ``data`` is an opaque id ``resolve_completion`` uses to fill
    ``documentation`` lazily.
    """

    label: str
    kind: str
    edit_span: Span
    sort_text: str
    detail: str | None = None
    documentation: str | None = None
    data: str | None = None


@dataclass(slots=True, frozen=True)
class SignatureHelp:
    """One signature: its label, documentation, parameter labels and the active one."""

    label: str
    parameters: list[str]
    active_parameter: int | None
    documentation: str | None = None


@dataclass(slots=True)
class CodeAction:
    """A quick fix or refactoring: ``kind`` is an LSP code-action kind string
    (``"quickfix"``, ``"refactor.rewrite"``, ``"refactor.extract"``);
    ``diagnostic_codes`` names the lint codes it fixes."""

    title: str
    kind: str
    edits: list[Edit]
    diagnostic_codes: list[str] = field(default_factory=list)
    preferred: bool = False


@dataclass(slots=True, frozen=True)
class InlayHint:
    """A label shown at ``offset`` (after a binding's value)."""

    offset: int
    label: str
    tooltip: str | None = None
