"""The fast diagnostic layers of a document: syntax (from its incremental tree) and lint.

Both are functions of one ``Document`` snapshot and run on the event loop
(lowering and linting a buffer take milliseconds); evaluation, which may take
seconds, lives in ``server.evaluation``.
"""

from __future__ import annotations

import logging

from evaluator.diagnostics import Diagnostic, Severity
from evaluator.lint import lint
from evaluator.nodes import Source
from evaluator.parse import lower

from .documents import Document

log = logging.getLogger(__name__)


def static_diagnostics(doc: Document, path: str | None) -> list[Diagnostic]:
    """Syntax errors (every ERROR/MISSING node) or, when there are none, lints."""
    source = Source(doc.data, path, None if path else "«buffer»")
    result = lower(doc.tree, source)
    if result.errors:
        return [Diagnostic(e.code, Severity.ERROR, e.message, e.span) for e in result.errors]
    if result.root is None:
        return []
    return lint(result.root, source)
