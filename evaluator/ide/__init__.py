"""Editor analyses over the lowered AST and name resolution (no LSP types).

Every function takes the document text (``str`` or ``bytes``), its path and
byte offsets, and returns the plain dataclasses of ``types``; edits are
``Edit(span, new_text)`` with byte spans.  The language server converts.
"""

from ._doc import cached_parse, remember_parse
from .actions import code_actions
from .completion import LIMIT as COMPLETION_LIMIT
from .completion import completion, resolve_completion
from .hints import inlay_hints
from .navigation import definition, document_highlight, references
from .rename import apply_edits, prepare_rename, rename
from .signature import signature_help
from .symbols import (
    OutlineChunk,
    OutlineItem,
    OutlineSymbol,
    document_links,
    document_symbols,
    outline,
    selection_ranges,
    workspace_symbols,
)
from .types import (
    CodeAction,
    CompletionItem,
    DocumentLink,
    Edit,
    Highlight,
    InlayHint,
    Location,
    SelectionRange,
    SignatureHelp,
    Symbol,
    WorkspaceSymbol,
)

__all__ = [
    "CodeAction",
    "CompletionItem",
    "DocumentLink",
    "Edit",
    "Highlight",
    "InlayHint",
    "Location",
    "SelectionRange",
    "SignatureHelp",
    "OutlineChunk",
    "OutlineItem",
    "OutlineSymbol",
    "Symbol",
    "WorkspaceSymbol",
    "COMPLETION_LIMIT",
    "apply_edits",
    "cached_parse",
    "code_actions",
    "completion",
    "definition",
    "document_links",
    "document_symbols",
    "outline",
    "inlay_hints",
    "resolve_completion",
    "selection_ranges",
    "signature_help",
    "workspace_symbols",
    "document_highlight",
    "prepare_rename",
    "references",
    "remember_parse",
    "rename",
]
