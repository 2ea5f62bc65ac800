"""``ProjectContext``: a project's inputs and entry points, and evaluating a file in them.

How a tool gets, for a file, the evaluation that reaches it::

    spec = find_project(path, workspace_folders)      # None: not in a project
    ctx = load_context(spec, io=io)                     # plain data, picklable
    entry = ctx.entry_for(path)                         # None: no entry reaches it
    result = evaluate_entry(ctx, entry, io=io)          # an ``api.EvalResult``

``load_context`` reads ``flake.lock`` (or notes why there is none usable),
checks which locked inputs are in the store, discovers the entries
(``entries``) and evaluates each once, recording the files each touches
(``EntryReport.files``), so ``entry_for`` knows which entry reaches a file.
It returns plain data only: it can run in another thread or process.
``problems`` are the project's own diagnostics (a missing input, a broken
lock) on ``flake.nix``, one per input, at the line declaring it.

``evaluate_entry`` evaluates one entry again (with the editor's unsaved
buffers through ``io``) and returns the same ``EvalResult`` as
``api.evaluate``: its diagnostics point at the files they are about, its
``observed`` holds the arguments the entry called each function with (the
module system's ``config``/``lib``, a package's inputs, ``outputs``' inputs),
and errors caused by a missing input are left out (``problems`` has the
one diagnostic that explains them).  For live values (the configuration's
``options``, a package set), ``open_entry`` gives an evaluator and the entry's
value, unforced.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..api import Budget, EvalResult, _check_configurations, _drop_traceback, finish_result
from ..diagnostics import Diagnostic, Severity
from ..errors import Cancelled, EvalLimit, NixError
from ..eval import Evaluator, ParseFailed
from ..ide.option_snapshot import OptionTree, read_option_tree
from ..printer import PrintOptions, show_value
from ..report import error_to_diagnostic
from ..values import Attrs, Thunk
from .cache import DiskCache
from .entries import (
    MAX_WALKED_NAMES,
    Entry,
    call_with_defaults,
    discover_flake_entries,
    force_entry,
    select,
    try_whnf,
)
from .entries import walk as walk_entries
from .flake import FETCH_COMMAND, FlakeLoader, MissingInput
from .lock import LockedInput, LockError, parse_lock
from .snapshot import ProjectCache, RecordingIO, Stamps
from .source import SourceTree, describe_tree

FLAKE_FILE = "flake.nix"
NIX_FILES = ("default.nix", "shell.nix")
# Per entry while loading a context, and for the whole load (entries past it
# are listed, not evaluated).  Generous: an entry cut short reaches fewer
# files than it should, and the load runs in a process of its own (the
# server's project loader), holding up nothing else.  Reading a
# configuration's options (for the disk snapshot) ends with the load's budget.
ENTRY_BUDGET_S = 20.0
LOAD_BUDGET_S = 60.0

Progress = Callable[[str, int], None]


@dataclass(frozen=True)
class ProjectSpec:
    """Which project: its folder and kind ("flake": a ``flake.nix``; "nix": ``default.nix``/``shell.nix``)."""

    root: str
    kind: str
    store_dir: str = "/nix/store"
    system: str = "x86_64-linux"


@dataclass(frozen=True)
class Problem:
    """A diagnostic of the project itself, at byte offsets of a file."""

    path: str
    start: int
    end: int
    code: str
    message: str
    severity: Severity = Severity.WARNING

    def diagnostic(self, text: bytes) -> Diagnostic:
        """As an evaluator diagnostic on ``text`` (the file's current contents)."""
        from ..nodes import Source, Span

        end = min(self.end, len(text))
        start = min(self.start, end)
        return Diagnostic(
            self.code, self.severity, self.message, Span(Source(text, self.path), start, end)
        )


@dataclass(frozen=True)
class InputStatus:
    """A root input of a flake: where it is and whether it is available."""

    name: str
    description: str
    store_path: str | None
    present: bool
    is_flake: bool = True
    follows: tuple[str, ...] | None = None
    nar_hash: str | None = None
    # Its top-level output names (flake inputs in the store; from the disk cache).
    outputs: tuple[str, ...] = ()


@dataclass(frozen=True)
class EntryReport:
    """One entry evaluated while loading: the files it touched, how long, its error."""

    entry: Entry
    files: frozenset[str] = frozenset()
    elapsed_ms: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class ProjectContext:
    """What a project's evaluations need and what loading found (plain data)."""

    spec: ProjectSpec
    tree: SourceTree | None = None
    lock_text: str | None = None
    # Why the lock cannot be used (no flake.lock, bad JSON, ...); None when it can.
    lock_problem: str | None = None
    inputs: tuple[InputStatus, ...] = ()
    entries: tuple[EntryReport, ...] = ()
    problems: tuple[Problem, ...] = ()
    elapsed_ms: float = 0.0
    # Files whose change means the context must be loaded again.
    watched: tuple[str, ...] = field(default_factory=tuple)
    # The disk snapshot holding this context and its configurations' options
    # (``snapshot.ProjectCache``), and the key it is valid under.
    cache_file: str | None = None
    cache_key: str | None = None

    @property
    def flake_file(self) -> str:
        """The project's ``flake.nix``."""
        return os.path.join(self.spec.root, FLAKE_FILE)

    def entries_for(self, path: str) -> list[Entry]:
        """The entries whose evaluation reads ``path`` (first discovered first)."""
        path = os.path.abspath(path)
        return [r.entry for r in self.entries if path in r.files]

    def entry_for(self, path: str) -> Entry | None:
        """The entry to evaluate for ``path`` (the flake itself for ``flake.nix``)."""
        path = os.path.abspath(path)
        if self.spec.kind == "flake" and path == self.flake_file:
            return Entry((), "flake")
        found = self.entries_for(path)
        return found[0] if found else None

    def missing_inputs(self) -> list[InputStatus]:
        """Inputs that are not available offline."""
        return [i for i in self.inputs if not i.present]


def find_project(
    path: str, folders: list[str] | tuple[str, ...] = (), store_dir: str = "/nix/store"
) -> ProjectSpec | None:
    """The project ``path`` belongs to: the nearest folder with ``flake.nix``, else
    the outermost with ``default.nix``/``shell.nix``, within its workspace folder."""
    path = os.path.abspath(path)
    bound = None
    for f in sorted(folders, key=len, reverse=True):
        f = os.path.abspath(f)
        if path == f or path.startswith(f.rstrip("/") + "/"):
            bound = f
            break
    d = os.path.dirname(path)
    nix_root = None
    while True:
        if os.path.isfile(os.path.join(d, FLAKE_FILE)):
            return ProjectSpec(d, "flake", store_dir)
        if any(os.path.isfile(os.path.join(d, n)) for n in NIX_FILES):
            nix_root = d
        parent = os.path.dirname(d)
        if d == bound or parent == d or (bound is None and d != os.path.dirname(path)):
            break
        d = parent
    if nix_root is not None:
        return ProjectSpec(nix_root, "nix", store_dir)
    return None


# ------------------------------------------------------------------ loading


def new_evaluator(
    ctx: ProjectContext,
    *,
    io: Any,
    budget: Budget,
    search_path: Any = (),
    code_cache: Any = None,
) -> Evaluator:
    """An evaluator for the project: flakes enabled, the known source tree
    reused (imported files through ``code_cache``, if any)."""
    ev = Evaluator(
        io=io,
        search_path=list(search_path),
        budget=budget.vm(),
        max_values=budget.max_values,
        home=os.environ.get("HOME"),
        store_dir=ctx.spec.store_dir,
        system=ctx.spec.system,
        code_cache=code_cache,
    )
    ev.experimental_features = {"flakes", "nix-command"}
    trees = {ctx.spec.root: ctx.tree} if ctx.tree is not None else {}
    ev.flake_loader = FlakeLoader(ev, ctx.spec.store_dir, trees)
    return ev


def root_value(ev: Evaluator, ctx: ProjectContext) -> Any:
    """Generator: the project's root value (the flake; or ``default.nix``/``shell.nix``)."""
    if ctx.spec.kind == "flake":
        lock = None
        if ctx.lock_text is not None and ctx.lock_problem is None:
            lock = parse_lock(ctx.lock_text, os.path.join(ctx.spec.root, "flake.lock"))
        return (yield from ev.flake_loader.workspace_flake(ctx.spec.root, lock, ctx.lock_problem))
    out = Attrs()
    for name in NIX_FILES:
        path = os.path.join(ctx.spec.root, name)
        if ev.io.file_type(path) == "regular":
            out[name] = _called(ev, path)
    return out


def _called(ev: Evaluator, path: str) -> Thunk:
    def code(env: Any) -> Any:
        return (yield from call_with_defaults(ev.import_thunk(path)))

    return Thunk(code, None)


def load_context(
    spec: ProjectSpec,
    *,
    io: Any = None,
    search_path: Any = (),
    cancel: Any = None,
    cache: DiskCache | None = None,
    progress: Progress | None = None,
    entry_budget_s: float = ENTRY_BUDGET_S,
    load_budget_s: float = LOAD_BUDGET_S,
    snapshots: ProjectCache | None = None,
) -> ProjectContext:
    """Read the project's inputs, discover its entries and evaluate each once.

    With ``snapshots``, the configurations' options are read too and the
    context is kept on disk with them, keyed by everything the load read
    (``snapshot``); the context returned then names that snapshot."""
    t0 = time.monotonic()
    report = progress or (lambda _msg, _pct: None)
    from ..io import RealIO

    io = io or RealIO()
    recorder = None
    if snapshots is not None and snapshots.directory is not None:
        io = recorder = RecordingIO(io, spec.store_dir)
    # Whether every entry ran to its end (a budget cut is not the project's
    # fault and must not be kept on disk).
    complete = True
    options: dict[tuple[str, ...], OptionTree] = {}
    ctx = ProjectContext(spec)
    problems: list[Problem] = []
    inputs: tuple[InputStatus, ...] = ()
    watched = [os.path.join(spec.root, n) for n in (FLAKE_FILE, "flake.lock", *NIX_FILES)]
    if spec.kind == "flake":
        report("reading flake.lock", 5)
        lock_text, lock_problem, locked = _read_lock(spec, io)
        tree = describe_tree(spec.root)
        ctx = ProjectContext(spec, tree, lock_text, lock_problem)
        inputs = tuple(_input_status(i) for i in locked)
        for status in inputs:
            if status.store_path is not None:
                io.file_type(status.store_path)  # a fetched input makes the snapshot stale
    budget = Budget(max_steps=None, timeout_s=entry_budget_s, cancel=cancel)
    ev = new_evaluator(ctx, io=io, budget=budget, search_path=search_path)
    if spec.kind == "flake":
        declared = _declared(ev, ctx)
        problems.extend(_input_problems(ev, ctx, inputs, declared))
        if cache is not None:
            inputs = tuple(_with_outputs(ev, ctx, i, cache) for i in inputs)
    report("discovering entries", 15)
    entries: list[Entry] = []
    root: Any = None
    try:
        root = ev.run(root_value(ev, ctx))
        if spec.kind == "flake":
            entries = ev.run(discover_flake_entries(root, spec.system))
        else:
            entries = ev.run(_nix_entries(root))
    except Cancelled:
        raise
    except NixError as err:
        # A missing input is on its line already; a syntax error comes from the static layer.
        if not isinstance(err, (MissingInput, ParseFailed)):
            problems.append(_problem_at_top(ctx, err))
        _drop_traceback(err)
    deadline = ev.machine.budget.deadline
    if deadline is not None and time.monotonic() > deadline:
        complete = False  # discovery (or the inputs' outputs) may have been cut short
    ev.compact_programs()
    reports: list[EntryReport] = []
    for i, entry in enumerate(entries):
        if time.monotonic() - t0 > load_budget_s:
            skipped = f"not evaluated: loading the project took over {load_budget_s:g} s"
            reports.append(EntryReport(entry, error=skipped))
            complete = False
            continue
        report(f"evaluating {entry.label}", 20 + int(75 * i / max(1, len(entries))))
        # Each entry in an evaluator of its own: the files it reads are exactly its own.
        budget = Budget(max_steps=None, timeout_s=entry_budget_s, cancel=cancel)
        entry_ev = new_evaluator(ctx, io=io, budget=budget, search_path=search_path)
        t1 = time.monotonic()
        error = None
        value = None
        try:
            value = entry_ev.run(_select_and_force(entry_ev, ctx, entry))
        except Cancelled:
            raise
        except NixError as err:
            error = err.msg
            complete = complete and not isinstance(err, EvalLimit)
            _drop_traceback(err)
        files = frozenset(entry_ev.files_seen)
        if recorder is not None and entry.kind == "configuration" and value is None and complete:
            # Its ``config`` fails: its options may not.
            try:
                value = entry_ev.run(_select_only(entry_ev, ctx, entry))
            except NixError as err:
                _drop_traceback(err)
        if recorder is not None and entry.kind == "configuration" and value is not None:
            deadline = t0 + load_budget_s + entry_budget_s  # the server's watchdog allows it
            option_tree = _read_options(entry_ev, value, entry.label, cancel, deadline)
            if option_tree is None:
                complete = False
            else:
                options[entry.attr_path] = option_tree
        reports.append(EntryReport(entry, files, (time.monotonic() - t1) * 1000, error))
        entry_ev.compact_programs()
    for path in watched:
        io.file_type(path)  # a new default.nix changes the entries
    loaded = ProjectContext(
        spec,
        ctx.tree,
        ctx.lock_text,
        ctx.lock_problem,
        inputs,
        tuple(reports),
        tuple(problems),
        (time.monotonic() - t0) * 1000,
        tuple(watched),
    )
    if recorder is not None and snapshots is not None and complete:
        stamps = Stamps(
            tuple(sorted(recorder.checks.items())),
            snapshots.context_text(spec, search_path, ctx.tree),
        )
        key = snapshots.store(spec, stamps, loaded, options)
        if key is not None:
            loaded = dataclasses.replace(loaded, cache_key=key, cache_file=snapshots.file_for(spec))
    report("ready", 100)
    return loaded


def _read_options(
    ev: Evaluator, value: Any, label: str, cancel: Any, deadline: float
) -> OptionTree | None:
    """The options of the configuration ``value``, unless ``deadline`` passes first."""
    if value.__class__ is not Attrs:
        return None
    budget = ev.machine.budget
    budget.timeout_s = max(0.0, deadline - time.monotonic())
    budget.max_steps = None
    budget.cancel = cancel
    budget.start()
    tree = read_option_tree(ev, value, label, deadline)
    if cancel is not None and cancel.is_set():
        raise Cancelled()
    return tree


def _select_and_force(ev: Evaluator, ctx: ProjectContext, entry: Entry) -> Any:
    """Generator: the project's root value, ``entry`` in it, forced as its kind says."""
    root = yield from root_value(ev, ctx)
    v = yield from select(root, entry.attr_path)
    return (yield from force_entry(v, entry.kind))


def _select_only(ev: Evaluator, ctx: ProjectContext, entry: Entry) -> Any:
    """Generator: ``entry`` in the project's root value, to weak head normal form."""
    root = yield from root_value(ev, ctx)
    v = yield from select(root, entry.attr_path)
    return (yield from _whnf(v))


def _nix_entries(root: Attrs) -> Any:
    found: list[Entry] = []
    for name in sorted(root):
        value = yield from try_whnf(root[name])
        if value is None:
            found.append(Entry((name,), "value"))  # its error is the entry's
            continue
        mine = yield from walk_entries((name,), value, 1)
        if not mine and value.__class__ is Attrs:
            # A package set as large as nixpkgs is never forced whole.
            if len(value) <= MAX_WALKED_NAMES:
                mine = [Entry((name,), "attrs")]
        elif not mine:
            mine = [Entry((name,), "value")]
        found.extend(mine)
    return found


def _read_lock(spec: ProjectSpec, io: Any) -> tuple[str | None, str | None, list[LockedInput]]:
    path = os.path.join(spec.root, "flake.lock")
    if io.file_type(path) is None:
        return None, "the flake has no flake.lock", []
    try:
        text = io.read_bytes(path).decode("utf-8", "replace")
    except NixError as err:
        return None, err.msg, []
    try:
        lock = parse_lock(text, path)
        return text, None, lock.root_inputs(spec.store_dir)
    except LockError as err:
        return text, err.msg, []


def _input_status(i: LockedInput) -> InputStatus:
    present = i.store_path is not None and os.path.isdir(i.store_path)
    nar = i.locked.get("narHash")
    return InputStatus(
        i.name,
        i.description,
        i.store_path,
        present,
        i.is_flake,
        i.follows,
        nar if isinstance(nar, str) else None,
    )


def _declared(ev: Evaluator, ctx: ProjectContext) -> list[str]:
    try:
        return list(ev.run(ev.flake_loader.declared_inputs(ctx.flake_file)))
    except NixError as err:
        _drop_traceback(err)
        return []


def _input_span(ev: Evaluator, ctx: ProjectContext, name: str) -> tuple[int, int]:
    """Byte offsets of the input's name in ``flake.nix`` (its ``inputs`` binding,
    else the ``outputs`` argument), or of the file's start."""
    try:
        top = ev.run(_whnf(ev.import_thunk(ctx.flake_file)))
        if top.__class__ is Attrs:
            inputs = ev.run(_whnf(top.get("inputs")))
            if inputs.__class__ is Attrs and inputs.pos and name in inputs.pos:
                span = inputs.pos[name]
                return span.start, span.start + len(name.encode())
            outputs = ev.run(_whnf(top.get("outputs")))
            formals = getattr(getattr(outputs, "node", None), "formals", None) or []
            for f in formals:
                if f.name == name:
                    return f.span.start, f.span.start + len(name.encode())
    except NixError as err:
        _drop_traceback(err)
    return 0, 0


def _whnf(v: Any) -> Any:
    if v.__class__ is Thunk:
        v = yield v
    return v


def _input_problems(
    ev: Evaluator, ctx: ProjectContext, inputs: tuple[InputStatus, ...], declared: list[str]
) -> list[Problem]:
    out: list[Problem] = []
    where = f"in '{ctx.spec.root}'"
    if ctx.lock_problem is not None:
        if ctx.lock_text is None and not declared:
            return out  # no inputs: nothing to lock
        names = declared or [""]
        for name in names:
            start, end = _input_span(ev, ctx, name) if name else (0, 0)
            what = f"flake input '{name}' is not locked: " if name else ""
            out.append(
                Problem(
                    ctx.flake_file,
                    start,
                    end,
                    "flake_input_missing" if name else "flake_lock_invalid",
                    f"{what}{ctx.lock_problem}; run `{FETCH_COMMAND}` {where} to lock and "
                    "fetch the inputs (evaluation that needs them is skipped)",
                )
            )
        return out
    for i in inputs:
        if i.present or i.follows is not None:
            continue
        start, end = _input_span(ev, ctx, i.name)
        why = (
            f"is not in the Nix store (expected at {i.store_path})"
            if i.store_path
            else "has no narHash in flake.lock"
        )
        out.append(
            Problem(
                ctx.flake_file,
                start,
                end,
                "flake_input_missing",
                f"flake input '{i.name}' ({i.description}) {why}; run `{FETCH_COMMAND}` "
                f"{where} to fetch it (evaluation that needs it is skipped)",
            )
        )
    return out


def _problem_at_top(ctx: ProjectContext, err: NixError) -> Problem:
    """An error evaluating the project itself: on ``flake.nix`` where it points, else its start."""
    span = err.span
    path = ctx.flake_file if ctx.spec.kind == "flake" else os.path.join(ctx.spec.root, NIX_FILES[0])
    if span is not None and span.source.path == path:
        return Problem(path, span.start, span.end, err.code, err.msg, Severity.ERROR)
    return Problem(
        path, 0, 0, err.code, f"evaluating the project failed: {err.msg}", Severity.ERROR
    )


def _with_outputs(
    ev: Evaluator, ctx: ProjectContext, i: InputStatus, cache: DiskCache
) -> InputStatus:
    """The input's top-level output names, from the disk cache or by evaluating it."""
    if not i.present or not i.is_flake or i.nar_hash is None:
        return i
    key = cache.key("input-outputs", [i.nar_hash], i.description)
    names = cache.get(key)
    if not isinstance(names, list):
        try:
            flake = ev.run(_input_value(ev, ctx, i.name))
            outputs = ev.run(_whnf(flake.get("outputs"))) if flake.__class__ is Attrs else None
            names = sorted(outputs) if outputs.__class__ is Attrs else []
        except NixError as err:
            _drop_traceback(err)
            return i
        cache.put(key, names)
    return InputStatus(
        i.name,
        i.description,
        i.store_path,
        i.present,
        i.is_flake,
        i.follows,
        i.nar_hash,
        tuple(str(n) for n in names),
    )


def _input_value(ev: Evaluator, ctx: ProjectContext, name: str) -> Any:
    root = yield from root_value(ev, ctx)
    inputs = yield from _whnf(root.get("inputs"))
    return (yield from _whnf(inputs[name]))


# --------------------------------------------------------------- evaluating


def open_entry(
    ctx: ProjectContext,
    entry: Entry,
    *,
    io: Any,
    budget: Budget | None = None,
    search_path: Any = (),
    code_cache: Any = None,
) -> tuple[Evaluator, Any]:
    """An evaluator and the entry's value (a thunk: nothing forced yet)."""
    budget = budget or Budget()
    ev = new_evaluator(ctx, io=io, budget=budget, search_path=search_path, code_cache=code_cache)

    def code(env: Any) -> Any:
        root = yield from root_value(ev, ctx)
        return (yield from select(root, entry.attr_path))

    return ev, Thunk(code, None)


def evaluate_entry(
    ctx: ProjectContext,
    entry: Entry,
    *,
    io: Any,
    budget: Budget | None = None,
    search_path: Any = (),
    path: str | None = None,
    text: bytes | None = None,
    code_cache: Any = None,
) -> EvalResult:
    """Evaluate ``entry`` as its kind says; the result ``api.evaluate`` would give.

    For a configuration entry evaluated for the module file ``path`` (its
    editor text ``text``), the result keeps the configuration
    (``EvalResult.context``: option completion, hover and go to definition)
    and has the module system's findings about that file (``option_*``)."""
    budget = budget or Budget()
    t0 = time.monotonic()
    ev, value = open_entry(
        ctx, entry, io=io, budget=budget, search_path=search_path, code_cache=code_cache
    )
    ev.machine.observe = {}
    result = EvalResult(None, origin=entry.label)
    try:
        v = ev.run(_force_then(value, entry.kind))
        result.value_text = show_value(
            v, PrintOptions(max_depth=2, max_attrs=30, max_items=30, max_string=200)
        )
    except ParseFailed as err:
        _drop_traceback(err)  # the file's own syntax errors come from the static layer
    except MissingInput as err:
        _drop_traceback(err)  # explained once, on flake.nix (``problems``)
    except NixError as err:
        result.diagnostics.append(error_to_diagnostic(err))
        _drop_traceback(err)
    if entry.kind == "configuration" and path is not None:
        _module_checks(ev, value, path, text or b"", result)
    return finish_result(ev, result, t0)


def _module_checks(ev: Evaluator, value: Thunk, path: str, text: bytes, result: EvalResult) -> None:
    """Keep the configuration (``result.context``) and add the module
    system's findings about the module file ``path``, at its definitions.

    When forcing the configuration failed in another file (lib's module
    code throwing about an undeclared option, a type error), the checks say
    the same at the definition at fault, which replaces that error; when it
    failed in ``path`` itself, that error stays alone (the checks would
    repeat it)."""
    here = [d for d in result.diagnostics if d.span is not None and d.span.source.path == path]
    elsewhere = [d for d in result.diagnostics if d not in here]
    before = len(result.diagnostics)
    try:
        conf = ev.run(_whnf(value))
        _check_configurations(ev, [("", conf)], text, path, result, check=not here)
    except NixError as err:  # a budget ran out: what forcing said stands
        _drop_traceback(err)
        del result.diagnostics[before:]
        return
    if len(result.diagnostics) > before and elsewhere:
        result.diagnostics[:] = [d for d in result.diagnostics if d not in elsewhere]


def _force_then(value: Thunk, kind: str) -> Any:
    v = yield value
    return (yield from force_entry(v, kind))


__all__ = [
    "Entry",
    "EntryReport",
    "InputStatus",
    "Problem",
    "ProjectContext",
    "ProjectSpec",
    "evaluate_entry",
    "find_project",
    "load_context",
    "open_entry",
]
