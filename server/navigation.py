"""Navigation and editing features (issue 6): thin handlers over ``evaluator.ide``.

Every handler has the same shape: take a snapshot of the document (its bytes,
line index and path; an unknown URI answers None), turn the LSP position into
a byte offset (``server.positions``), call one ``evaluator.ide`` function in a
worker thread, and convert the result (``server.convert``) with the snapshot's
line index, so a change arriving meanwhile cannot skew the ranges.

The analyses parse the text on each call, but ``evaluator.ide`` keeps the
parsed documents of the last texts it saw, and a document's bytes are one
object per version, so requests on the same version share one parse.  The
outline (``documentSymbol``) is cached per document version here, and
rebuilt from the unchanged pieces of the previous version's; workspace
symbols are cached per file (modification time and size).  Evaluation-backed
answers (completion after ``e.``, definitions through ``with`` or
selections, signatures, inlay hints) run under the evaluator's small budgets.

Formatting runs ``formatting.command`` with the text on stdin.  It is
advertised only while a command is set: registered dynamically when the
client supports that (and unregistered when the command is unset), else
statically at ``initialize`` when a command is set then.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.uris import from_fs_path, to_fs_path

from evaluator import ide
from evaluator.diagnostics import CODES, Diagnostic, Severity
from evaluator.nodes import Source, Span

from . import convert, positions
from .documents import Document
from .project import run_with_values

if TYPE_CHECKING:
    from .lsp import NixLensServer

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Workspace symbols: at most this many files are read, each at most this big.
MAX_WORKSPACE_FILES = 2000
MAX_WORKSPACE_FILE_BYTES = 2_000_000
#: Workspace symbols: at most this many results.
MAX_WORKSPACE_SYMBOLS = 500
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


# ------------------------------------------------------------------- state


@dataclass
class _FileSymbols:
    key: Any  # (mtime_ns, size) of a file, or the bytes object of an open buffer
    symbols: list[types.WorkspaceSymbol]


@dataclass
class _Outline:
    """A document's last outline: its text and encoding, the answer (JSON
    text), and the pieces that later versions reuse (see ``ide.outline``).
    ``lock`` keeps two requests from rebuilding it at once."""

    data: bytes | None = None
    encoding: str = ""
    answer: convert.RawJSON | None = None
    chunks: dict[Any, Any] = field(default_factory=dict)
    fragments: convert.FragmentCache = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _outline(snap: Snapshot, tree: Any, cache: _Outline) -> convert.RawJSON:
    """Worker thread: the outline of ``snap`` (``tree`` its parse) as JSON."""
    with cache.lock:
        if cache.data is snap.data and cache.encoding == snap.target.encoding:
            assert cache.answer is not None
            return cache.answer
        items = ide.outline(snap.data, tree, cache.chunks)
        text = convert.outline_json(items, snap.target.index, snap.target.encoding, cache.fragments)
        cache.data, cache.encoding = snap.data, snap.target.encoding
        cache.answer = convert.RawJSON(text.encode())
        del text
        return cache.answer


@dataclass
class _State:
    """Per-server state of this module."""

    # uri -> the document's outline, reused piece by piece across versions
    outlines: dict[str, _Outline] = field(default_factory=dict)
    files: dict[str, _FileSymbols] = field(default_factory=dict)
    initialized: bool = False
    formatting_registered: bool = False
    lock: asyncio.Lock | None = None
    tasks: set[asyncio.Task[None]] = field(default_factory=set)


_STATES: weakref.WeakKeyDictionary[Any, _State] = weakref.WeakKeyDictionary()


def _state(ls: Any) -> _State:
    state = _STATES.get(ls)
    if state is None:
        state = _STATES[ls] = _State()
    return state


# ---------------------------------------------------------------- snapshot


@dataclass(frozen=True)
class Snapshot:
    """One version of a document, as a request saw it."""

    doc: Document
    data: bytes
    path: str | None
    target: convert.Target
    io: Any

    def offset(self, position: types.Position) -> int:
        """Byte offset of an LSP position (clamped to the text)."""
        return positions.to_offset(self.target.index, position, self.target.encoding)

    def offsets(self, rng: types.Range) -> tuple[int, int]:
        """Byte offsets of an LSP range."""
        return self.offset(rng.start), self.offset(rng.end)


def snapshot(ls: NixLensServer, uri: str) -> Snapshot | None:
    """The current version of an open document (None when it is not open)."""
    from .lsp import document_path, make_job

    doc = ls.documents.get(uri)
    if doc is None:
        return None
    path = document_path(uri)
    target = convert.Target(doc.uri, path, doc.index, ls.encoding)
    return Snapshot(doc, doc.data, path, target, make_job(ls, doc).io())


async def _run(fn: Callable[..., T], *args: Any) -> T:
    """Run an analysis in a worker thread (they parse, and some evaluate)."""
    return await asyncio.to_thread(fn, *args)


# ---------------------------------------------------------------- handlers


def register(server: NixLensServer) -> None:
    """Register the navigation handlers on ``server``."""

    @server.feature(types.TEXT_DOCUMENT_DEFINITION)
    async def definition(
        ls: NixLensServer, params: types.DefinitionParams
    ) -> list[types.Location] | None:
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        offset = snap.offset(params.position)
        locs = await run_with_values(
            ls, snap, ide.definition, snap.data, snap.path, offset, snap.io
        )
        return convert.locations(locs, snap.target)

    @server.feature(types.TEXT_DOCUMENT_REFERENCES)
    async def references(
        ls: NixLensServer, params: types.ReferenceParams
    ) -> list[types.Location] | None:
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        offset = snap.offset(params.position)
        include = params.context.include_declaration
        locs = await _run(ide.references, snap.data, snap.path, offset, include)
        return convert.locations(locs, snap.target)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_HIGHLIGHT)
    async def document_highlight(
        ls: NixLensServer, params: types.DocumentHighlightParams
    ) -> list[types.DocumentHighlight] | None:
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        offset = snap.offset(params.position)
        found = await _run(ide.document_highlight, snap.data, snap.path, offset)
        return convert.highlights(found, snap.target)

    @server.feature(types.TEXT_DOCUMENT_PREPARE_RENAME)
    async def prepare_rename(
        ls: NixLensServer, params: types.PrepareRenameParams
    ) -> types.PrepareRenamePlaceholder | None:
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        offset = snap.offset(params.position)
        span = await _run(ide.prepare_rename, snap.data, snap.path, offset)
        if isinstance(span, str):
            raise RequestFailed(span)
        rng = snap.target.here_range(span)
        if rng is None:
            return None
        name = snap.data[span.start : span.end].decode("utf-8", "replace")
        return types.PrepareRenamePlaceholder(range=rng, placeholder=name)

    @server.feature(types.TEXT_DOCUMENT_RENAME, types.RenameOptions(prepare_provider=True))
    async def rename(ls: NixLensServer, params: types.RenameParams) -> types.WorkspaceEdit | None:
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        offset = snap.offset(params.position)
        edits = await _run(ide.rename, snap.data, snap.path, offset, params.new_name)
        if isinstance(edits, str):
            raise RequestFailed(edits)
        return convert.workspace_edit(edits, snap.target)

    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def document_symbol(
        ls: NixLensServer, params: types.DocumentSymbolParams
    ) -> convert.RawJSON | None:
        # The answer (DocumentSymbol[]) is JSON text made by convert.outline_json.
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        state = _state(ls)
        for uri in [u for u in state.outlines if u not in ls.documents]:
            del state.outlines[uri]  # closed since
        cache = state.outlines.setdefault(snap.doc.uri, _Outline())
        cached = cache.answer
        if cache.data is snap.data and cache.encoding == snap.target.encoding and cached:
            return cached
        # The document's tree is edited in place by later changes: a copy.
        tree = snap.doc.tree.copy()
        return await _run(_outline, snap, tree, cache)

    @server.feature(types.WORKSPACE_SYMBOL)
    async def workspace_symbol(
        ls: NixLensServer, params: types.WorkspaceSymbolParams
    ) -> list[types.WorkspaceSymbol]:
        roots = _workspace_roots(ls)
        buffers: dict[str, bytes] = {}
        for doc in ls.documents:
            p = to_fs_path(doc.uri) if doc.uri.startswith("file:") else None
            if p:
                buffers[os.path.abspath(p)] = doc.data
        state = _state(ls)
        return await _run(_workspace_symbols, state, roots, buffers, params.query, ls.encoding)

    @server.feature(types.TEXT_DOCUMENT_SELECTION_RANGE)
    async def selection_range(
        ls: NixLensServer, params: types.SelectionRangeParams
    ) -> list[types.SelectionRange] | None:
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        offsets = [snap.offset(p) for p in params.positions]
        found = await _run(ide.selection_ranges, snap.data, offsets)
        return [convert.selection_range(s, snap.target) for s in found]

    @server.feature(
        types.TEXT_DOCUMENT_DOCUMENT_LINK, types.DocumentLinkOptions(resolve_provider=False)
    )
    async def document_link(
        ls: NixLensServer, params: types.DocumentLinkParams
    ) -> list[types.DocumentLink] | None:
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        links = await _run(ide.document_links, snap.data, snap.path, snap.io)
        return convert.document_links(links, snap.target)

    @server.feature(
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(trigger_characters=[".", "/"], resolve_provider=True),
    )
    async def completion(
        ls: NixLensServer, params: types.CompletionParams
    ) -> types.CompletionList | None:
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        offset = snap.offset(params.position)
        items = await run_with_values(
            ls, snap, ide.completion, snap.data, snap.path, offset, snap.io
        )
        capped = len(items) >= ide.COMPLETION_LIMIT or getattr(items, "incomplete", False)
        return types.CompletionList(
            is_incomplete=capped,
            items=[convert.completion_item(i, snap.target) for i in items[: ide.COMPLETION_LIMIT]],
        )

    @server.feature(types.COMPLETION_ITEM_RESOLVE)
    def completion_resolve(ls: NixLensServer, params: types.CompletionItem) -> types.CompletionItem:
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

    @server.feature(
        types.TEXT_DOCUMENT_SIGNATURE_HELP,
        types.SignatureHelpOptions(trigger_characters=[" ", "{"]),
    )
    async def signature_help(
        ls: NixLensServer, params: types.SignatureHelpParams
    ) -> types.SignatureHelp | None:
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        offset = snap.offset(params.position)
        sig = await _run(ide.signature_help, snap.data, snap.path, offset, snap.io)
        return None if sig is None else convert.signature_help(sig)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[
                types.CodeActionKind.QuickFix,
                types.CodeActionKind.RefactorRewrite,
                types.CodeActionKind.RefactorExtract,
            ]
        ),
    )
    async def code_action(
        ls: NixLensServer, params: types.CodeActionParams
    ) -> list[types.CodeAction] | None:
        snap = snapshot(ls, params.text_document.uri)
        if snap is None:
            return None
        lsp_diags = [d for d in params.context.diagnostics if _is_lint(d)]
        diags = [_from_lsp(d, snap) for d in lsp_diags]
        lo, hi = snap.offsets(params.range)
        actions = await _run(ide.code_actions, snap.data, snap.path, (lo, hi), diags)
        only = params.context.only
        if only:
            actions = [a for a in actions if any(_kind_in(a.kind, str(k)) for k in only)]
        fixed = _fixed_diagnostics(actions, lsp_diags)
        return [
            convert.code_action(a, snap.target, fix) for a, fix in zip(actions, fixed, strict=True)
        ]

    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
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
        hints = await run_with_values(
            ls, snap, ide.inlay_hints, snap.data, snap.path, start, end, snap.io
        )
        return convert.inlay_hints(hints, snap.target)

    _STATES[server] = _State()


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


# --------------------------------------------------------- workspace symbols


def _workspace_roots(ls: NixLensServer) -> list[str]:
    roots = [p for f in ls.workspace.folders.values() if (p := to_fs_path(f.uri))]
    if not roots and ls.workspace.root_path:
        roots = [ls.workspace.root_path]
    return [os.path.abspath(r) for r in roots]


def _nix_files(roots: list[str]) -> Iterator[str]:
    """``.nix`` files under ``roots``: hidden directories and ``result`` links
    (build outputs in the store) skipped, at most ``MAX_WORKSPACE_FILES``."""
    count = 0
    seen: set[str] = set()
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(
                d
                for d in dirnames
                if not d.startswith(".")
                and not (_is_result_name(d) and os.path.islink(os.path.join(dirpath, d)))
            )
            for name in sorted(filenames):
                if not name.endswith(".nix") or name.startswith("."):
                    continue
                p = os.path.join(dirpath, name)
                if p in seen:
                    continue
                seen.add(p)
                yield p
                count += 1
                if count >= MAX_WORKSPACE_FILES:
                    return


def _is_result_name(name: str) -> bool:
    return name == "result" or name.startswith("result-")


def _workspace_symbols(
    state: _State, roots: list[str], buffers: dict[str, bytes], query: str, encoding: str
) -> list[types.WorkspaceSymbol]:
    """Worker thread: the matching symbols of the workspace's files (open buffers
    instead of their files), each file's symbols cached until it changes."""
    paths = list(dict.fromkeys([*buffers, *_nix_files(roots)]))
    q = query.lower()
    out: list[types.WorkspaceSymbol] = []
    for p in paths:
        symbols = _file_symbols(state, p, buffers.get(p), encoding)
        for s in symbols:
            if _matches(q, s.name.lower()):
                out.append(s)
                if len(out) >= MAX_WORKSPACE_SYMBOLS:
                    return out
    return out


def _matches(query: str, name: str) -> bool:
    """``query`` is a subsequence of ``name`` (both lower case)."""
    it = iter(name)
    return all(c in it for c in query)


def _file_symbols(
    state: _State, path: str, buffer: bytes | None, encoding: str
) -> list[types.WorkspaceSymbol]:
    key: Any = buffer
    data = buffer
    if data is None:
        try:
            st = os.stat(path)
        except OSError:
            return []
        if st.st_size > MAX_WORKSPACE_FILE_BYTES:
            return []
        key = (st.st_mtime_ns, st.st_size, encoding)
        cached = state.files.get(path)
        if cached is not None and cached.key == key:
            return cached.symbols
        try:
            with open(path, "rb") as f:
                data = f.read(MAX_WORKSPACE_FILE_BYTES + 1)
        except OSError:
            return []
    else:
        cached = state.files.get(path)
        if cached is not None and cached.key is key:
            return cached.symbols
    assert data is not None
    target = convert.Target(from_fs_path(path) or path, path, positions.LineIndex(data), encoding)
    symbols: list[types.WorkspaceSymbol] = []
    stack: list[tuple[ide.Symbol, str | None]] = [
        (s, None) for s in reversed(ide.document_symbols(data, path))
    ]
    while stack:
        sym, container = stack.pop()
        loc = target.location(sym.selection)
        if loc is not None:
            symbols.append(convert.workspace_symbol(sym.name, sym.kind, container, loc))
        stack.extend((c, sym.name) for c in reversed(sym.children))
    state.files[path] = _FileSymbols(key, symbols)
    return symbols


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
    _state(ls).initialized = True
    _install_formatting_handler(ls)
    settings_applied(ls)


def settings_applied(ls: NixLensServer) -> None:
    """Settings changed: (un)register formatting to match ``formatting.command``."""
    state = _state(ls)
    if not state.initialized:
        return
    task = asyncio.get_running_loop().create_task(_sync_formatting(ls, state))
    state.tasks.add(task)
    task.add_done_callback(state.tasks.discard)


async def _sync_formatting(ls: NixLensServer, state: _State) -> None:
    if not ls.client_supports("text_document.formatting.dynamic_registration"):
        return
    if state.lock is None:
        state.lock = asyncio.Lock()
    async with state.lock:
        want = bool(ls.settings.formatting.command)
        if want == state.formatting_registered:
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
            state.formatting_registered = want
        except Exception:
            log.exception("(un)registering formatting failed")
