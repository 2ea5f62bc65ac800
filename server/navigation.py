"""Navigation and editing features: thin handlers over the analysis helpers.

Every handler has the same shape: take a snapshot of the document (its line
index and path; an unknown URI answers None), turn the LSP position into a
byte offset (``server.positions``), ask the document's helper for one
``evaluator.ide`` analysis (``server.host.REQUESTS``), and convert the result
(``server.convert``) with the snapshot's line index, so a change arriving
meanwhile cannot skew the ranges (the helper answers for the text the
request was sent with: its document mirror is updated in order).

The helper keeps the parsed documents of the last texts it saw, the outline
pieces of each document (rebuilt from the unchanged pieces of the previous
version) and workspace symbols per file.  Evaluation-backed answers
(completion after ``e.``, definitions through ``with`` or selections,
signatures, inlay hints) run under the evaluator's small budgets.

Formatting runs ``formatting.command`` with the text on stdin.  It is
advertised only while a command is set: registered dynamically when the
client supports that (and unregistered when the command is unset), else
statically at ``initialize`` when a command is set then.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException, JsonRpcInternalError

from evaluator import ide
from evaluator.diagnostics import CODES, Diagnostic, Severity
from evaluator.nodes import Source, Span

from . import convert, positions
from .core import NixLensServer, document_path
from .documents import Document
from .workers import CallCancelled, HelperDied, HelperError

log = logging.getLogger(__name__)

#: Seconds a formatter may run.
FORMAT_TIMEOUT_S = 5.0

_FORMATTING_ID = "nixlens-formatting"
_NIX_FILES: list[types.TextDocumentFilter] = [
    types.TextDocumentFilterLanguage(language="nix"),
    types.TextDocumentFilterPattern(pattern="**/*.nix"),
]


class RequestFailed(JsonRpcException):
    """A request refused with a message for the user (LSP ``RequestFailed``)."""

    CODE = types.LSPErrorCodes.RequestFailed.value


# ---------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Snapshot:
    """One version of a document, as a request saw it."""

    doc: Document
    data: bytes
    path: str | None
    target: convert.Target

    def offset(self, position: types.Position) -> int:
        """Byte offset of an LSP position (clamped to the text)."""
        return positions.to_offset(self.target.index, position, self.target.encoding)

    def offsets(self, rng: types.Range) -> tuple[int, int]:
        """Byte offsets of an LSP range."""
        return self.offset(rng.start), self.offset(rng.end)


def snapshot(ls: NixLensServer, uri: str) -> Snapshot | None:
    """The current version of an open document (None when it is not open)."""
    doc = ls.documents.get(uri)
    if doc is None:
        return None
    path = document_path(uri)
    target = convert.Target(doc.uri, path, doc.index, ls.encoding)
    return Snapshot(doc, doc.data, path, target)


_NO_ANSWER = object()


async def ask(ls: NixLensServer, snap: Snapshot | None, kind: str, *args: Any) -> Any:
    """The answer of helper request ``kind`` about ``snap``'s document.

    An analysis that raised answers this request with an error (the helper
    logged its traceback); a call lost with its helper twice, or dropped,
    gives ``_NO_ANSWER`` (answered as empty)."""
    doc = snap.doc if snap is not None else None
    try:
        return await ls.pool.call(kind, doc.uri if doc else None, ls.context(doc), *args)
    except HelperError as err:
        raise JsonRpcInternalError(f"{kind} failed: {err}") from None
    except (HelperDied, CallCancelled) as err:
        log.warning("%s request: %s", kind, err)
        return _NO_ANSWER


# ---------------------------------------------------------------- handlers


async def definition(
    ls: NixLensServer, params: types.DefinitionParams
) -> list[types.Location] | None:
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    locs = await ask(ls, snap, "definition", snap.offset(params.position))
    return None if locs is _NO_ANSWER else convert.locations(locs, snap.target)


async def references(
    ls: NixLensServer, params: types.ReferenceParams
) -> list[types.Location] | None:
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    offset, include = snap.offset(params.position), params.context.include_declaration
    locs = await ask(ls, snap, "references", offset, include)
    return None if locs is _NO_ANSWER else convert.locations(locs, snap.target)


async def document_highlight(
    ls: NixLensServer, params: types.DocumentHighlightParams
) -> list[types.DocumentHighlight] | None:
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    found = await ask(ls, snap, "highlight", snap.offset(params.position))
    return None if found is _NO_ANSWER else convert.highlights(found, snap.target)


async def prepare_rename(
    ls: NixLensServer, params: types.PrepareRenameParams
) -> types.PrepareRenamePlaceholder | None:
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    span = await ask(ls, snap, "prepare_rename", snap.offset(params.position))
    if span is _NO_ANSWER:
        return None
    if isinstance(span, str):
        raise RequestFailed(span)
    rng = snap.target.here_range(span)
    if rng is None:
        return None
    name = snap.data[span.start : span.end].decode("utf-8", "replace")
    return types.PrepareRenamePlaceholder(range=rng, placeholder=name)


async def rename(ls: NixLensServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    edits = await ask(ls, snap, "rename", snap.offset(params.position), params.new_name)
    if edits is _NO_ANSWER:
        return None
    if isinstance(edits, str):
        raise RequestFailed(edits)
    return convert.workspace_edit(edits, snap.target)


async def document_symbol(
    ls: NixLensServer, params: types.DocumentSymbolParams
) -> convert.RawJSON | None:
    # The answer (DocumentSymbol[]) is JSON text made by convert.outline_json.
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    answer = await ask(ls, snap, "outline", snap.target.encoding)
    return None if answer is _NO_ANSWER else answer


async def workspace_symbol(
    ls: NixLensServer, params: types.WorkspaceSymbolParams
) -> list[types.WorkspaceSymbol]:
    found = await ask(
        ls, None, "workspace_symbols", ls.workspace_roots(), params.query, ls.encoding
    )
    return [] if found is _NO_ANSWER else found


async def selection_range(
    ls: NixLensServer, params: types.SelectionRangeParams
) -> list[types.SelectionRange] | None:
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    found = await ask(ls, snap, "selection_ranges", [snap.offset(p) for p in params.positions])
    if found is _NO_ANSWER:
        return None
    return [convert.selection_range(s, snap.target) for s in found]


async def document_link(
    ls: NixLensServer, params: types.DocumentLinkParams
) -> list[types.DocumentLink] | None:
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    links = await ask(ls, snap, "document_links")
    return None if links is _NO_ANSWER else convert.document_links(links, snap.target)


async def completion(
    ls: NixLensServer, params: types.CompletionParams
) -> types.CompletionList | None:
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    items = await ask(ls, snap, "completion", snap.offset(params.position))
    if items is _NO_ANSWER:
        return None
    # A large set's names are cut before the limit (``ide.completion``).
    capped = len(items) >= ide.COMPLETION_LIMIT or getattr(items, "incomplete", False)
    return types.CompletionList(
        is_incomplete=capped,
        items=[convert.completion_item(i, snap.target) for i in items[: ide.COMPLETION_LIMIT]],
    )


def completion_resolve(ls: NixLensServer, params: types.CompletionItem) -> types.CompletionItem:
    # Documentation of builtins and the like: a table lookup, no analysis.
    if params.documentation is not None or not isinstance(params.data, str):
        return params
    item = ide.CompletionItem(
        label=params.label,
        kind="",
        edit_span=Span(Source(b""), 0, 0),
        sort_text=params.sort_text or "",
        detail=params.detail,
        data=params.data,
    )
    done = ide.resolve_completion(item)
    return convert.resolved_documentation(params, done.detail, done.documentation)


async def signature_help(
    ls: NixLensServer, params: types.SignatureHelpParams
) -> types.SignatureHelp | None:
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    sig = await ask(ls, snap, "signature_help", snap.offset(params.position))
    return None if sig is None or sig is _NO_ANSWER else convert.signature_help(sig)


async def code_action(
    ls: NixLensServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    lsp_diags = [d for d in params.context.diagnostics if _is_lint(d)]
    diags = [_from_lsp(d, snap) for d in lsp_diags]
    actions = await ask(ls, snap, "code_actions", snap.offsets(params.range), diags)
    if actions is _NO_ANSWER:
        return None
    only = params.context.only
    if only:
        actions = [a for a in actions if any(_kind_in(a.kind, str(k)) for k in only)]
    fixed = _fixed_diagnostics(actions, lsp_diags)
    return [convert.code_action(a, snap.target, fix) for a, fix in zip(actions, fixed, strict=True)]


async def inlay_hint(
    ls: NixLensServer, params: types.InlayHintParams
) -> list[types.InlayHint] | None:
    cfg = ls.settings.inlay_hints
    if not cfg.enable:
        return None
    snap = snapshot(ls, params.text_document.uri)
    if snap is None:
        return None
    if cfg.max_lines and snap.target.index.line_count > cfg.max_lines:
        return None
    start, end = snap.offsets(params.range)
    hints = await ask(ls, snap, "inlay_hints", start, end)
    return None if hints is _NO_ANSWER else convert.inlay_hints(hints, snap.target)


_CODE_ACTION_OPTIONS = types.CodeActionOptions(
    code_action_kinds=[
        types.CodeActionKind.QuickFix,
        types.CodeActionKind.RefactorRewrite,
        types.CodeActionKind.RefactorExtract,
    ]
)

#: The handlers of this module (registered by ``server.lsp``; formatting is
#: registered when a command is set, see ``initialize``).
FEATURES: list[tuple[str, Any, Any]] = [
    (types.TEXT_DOCUMENT_DEFINITION, None, definition),
    (types.TEXT_DOCUMENT_REFERENCES, None, references),
    (types.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT, None, document_highlight),
    (types.TEXT_DOCUMENT_PREPARE_RENAME, None, prepare_rename),
    (types.TEXT_DOCUMENT_RENAME, types.RenameOptions(prepare_provider=True), rename),
    (types.TEXT_DOCUMENT_DOCUMENT_SYMBOL, None, document_symbol),
    (types.WORKSPACE_SYMBOL, None, workspace_symbol),
    (types.TEXT_DOCUMENT_SELECTION_RANGE, None, selection_range),
    (
        types.TEXT_DOCUMENT_DOCUMENT_LINK,
        types.DocumentLinkOptions(resolve_provider=False),
        document_link,
    ),
    (
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", "/"], resolve_provider=True),
        completion,
    ),
    (types.COMPLETION_ITEM_RESOLVE, None, completion_resolve),
    (
        types.TEXT_DOCUMENT_SIGNATURE_HELP,
        types.SignatureHelpOptions(trigger_characters=[" ", "{"]),
        signature_help,
    ),
    (types.TEXT_DOCUMENT_CODE_ACTION, _CODE_ACTION_OPTIONS, code_action),
    (types.TEXT_DOCUMENT_INLAY_HINT, None, inlay_hint),
]


# -------------------------------------------------------------- code actions


def _is_lint(d: types.Diagnostic) -> bool:
    return d.source == convert.SOURCE and isinstance(d.code, str) and d.code in CODES


def _from_lsp(d: types.Diagnostic, snap: Snapshot) -> Diagnostic:
    """The evaluator diagnostic an LSP diagnostic of ours was made from (code and span)."""
    lo, hi = snap.offsets(d.range)
    source = Source(snap.data, snap.path)
    return Diagnostic(str(d.code), Severity.WARNING, d.message, Span(source, lo, hi))


def _kind_in(kind: str, wanted: str) -> bool:
    """Whether code-action kind ``kind`` is ``wanted`` or below it (``refactor`` ⊇ ``refactor.extract``)."""
    return kind == wanted or kind.startswith(wanted + ".")


def _fixed_diagnostics(
    actions: list[ide.CodeAction], diags: list[types.Diagnostic]
) -> list[list[types.Diagnostic]]:
    """For each action, the diagnostics it fixes.

    ``code_actions`` answers the diagnostics in order, at most one fix each,
    so the n-th fix of a code belongs to the n-th diagnostic of that code when
    every diagnostic of the code got one; otherwise all of them are attached."""
    by_code: dict[str, list[types.Diagnostic]] = {}
    for d in diags:
        by_code.setdefault(str(d.code), []).append(d)
    fixes_per_code: dict[str, int] = {}
    for a in actions:
        for code in a.diagnostic_codes:
            fixes_per_code[code] = fixes_per_code.get(code, 0) + 1
    seen: dict[str, int] = {}
    out: list[list[types.Diagnostic]] = []
    for a in actions:
        fixed: list[types.Diagnostic] = []
        for code in a.diagnostic_codes:
            same = by_code.get(code, [])
            n = seen.get(code, 0)
            seen[code] = n + 1
            if len(same) == fixes_per_code[code]:
                fixed.append(same[n])
            else:
                fixed.extend(same)
        out.append(fixed)
    return out


# ---------------------------------------------------------------- formatting


async def format_document(
    ls: NixLensServer, params: types.DocumentFormattingParams
) -> list[types.TextEdit] | None:
    """Run ``formatting.command`` on the document; one edit replacing it all
    when the output differs.  A formatter that fails is reported with
    ``window/showMessage`` (the answer is then None, not an error)."""
    command = list(ls.settings.formatting.command)
    snap = snapshot(ls, params.text_document.uri)
    if snap is None or not command:
        return None
    cwd = os.path.dirname(snap.path) if snap.path else None
    if cwd is not None and not os.path.isdir(cwd):
        cwd = None
    problem = None
    try:
        proc = await asyncio.create_subprocess_exec(
            *command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=cwd,
        )
    except OSError as exc:
        problem = f"could not run {command[0]!r}: {exc.strerror or exc}"
    else:
        try:
            out, err = await asyncio.wait_for(proc.communicate(snap.data), FORMAT_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            problem = f"{command[0]!r} took longer than {FORMAT_TIMEOUT_S:g} s"
        else:
            if proc.returncode != 0:
                detail = err.decode("utf-8", "replace").strip().splitlines()
                problem = f"{command[0]!r} exited with status {proc.returncode}" + (
                    f": {detail[-1]}" if detail else ""
                )
    if problem is not None:
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Warning, message=f"nixlens: formatting failed: {problem}"
            )
        )
        return None
    if out == snap.data:
        return []
    return [convert.whole_document_edit(snap.target, positions.decode_bytes(out))]


def _formatting_handler_installed(ls: NixLensServer) -> bool:
    return types.TEXT_DOCUMENT_FORMATTING in ls.protocol.fm.features


def _install_formatting_handler(ls: NixLensServer) -> None:
    if not _formatting_handler_installed(ls):
        ls.feature(types.TEXT_DOCUMENT_FORMATTING)(format_document)


def initialize(ls: NixLensServer) -> None:
    """At ``initialize`` (before the capabilities are computed): advertise
    formatting statically when a command is set and the client cannot
    register it dynamically."""
    dynamic = ls.client_supports("text_document.formatting.dynamic_registration")
    if ls.settings.formatting.command and not dynamic:
        _install_formatting_handler(ls)


def initialized(ls: NixLensServer) -> None:
    """After ``initialized``: from now on registrations may be sent.  The
    handler is installed now (the capabilities are sent), so a formatting
    request answers None, not MethodNotFound, while no command is set."""
    ls.formatting.initialized = True
    _install_formatting_handler(ls)
    settings_applied(ls)


def settings_applied(ls: NixLensServer) -> None:
    """Settings changed: (un)register formatting to match ``formatting.command``."""
    state = ls.formatting
    if not state.initialized:
        return
    task = asyncio.get_running_loop().create_task(_sync_formatting(ls))
    ls.background.add(task)
    task.add_done_callback(ls.background.discard)


async def _sync_formatting(ls: NixLensServer) -> None:
    state = ls.formatting
    if not ls.client_supports("text_document.formatting.dynamic_registration"):
        return
    if state.lock is None:
        state.lock = asyncio.Lock()
    async with state.lock:
        want = bool(ls.settings.formatting.command)
        if want == state.registered:
            return
        try:
            if want:
                _install_formatting_handler(ls)
                options = types.DocumentFormattingRegistrationOptions(document_selector=_NIX_FILES)
                reg = types.Registration(
                    id=_FORMATTING_ID,
                    method=types.TEXT_DOCUMENT_FORMATTING,
                    register_options=options,
                )
                await ls.client_register_capability_async(
                    types.RegistrationParams(registrations=[reg])
                )
            else:
                unreg = types.Unregistration(
                    id=_FORMATTING_ID, method=types.TEXT_DOCUMENT_FORMATTING
                )
                await ls.client_unregister_capability_async(
                    types.UnregistrationParams(unregisterations=[unreg])
                )
            state.registered = want
        except Exception:
            log.exception("(un)registering formatting failed")
