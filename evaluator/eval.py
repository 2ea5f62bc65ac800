"""The evaluator: parses, compiles and runs Nix, owning the import cache,
the I/O interface, the search path and the builtins of one evaluation."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from typing import Any

from . import nodes as N
from .builtins import make_globals
from .compiler import compile_program, export_program, import_program
from .corepkgs import INTERNAL_DIR, INTERNAL_FILES
from .errors import Cancelled, EvalLimit, MissingPath, NixError
from .io import RealIO
from .runtime import base_namespace
from .values import Attrs, CtxStr, NixPath, Thunk, context_of
from .vm import Budget, Machine
from .vstore import StoreView


class ParseFailed(NixError):
    """The source has syntax errors; ``errors`` lists all of them."""

    code = "syntax_error"

    def __init__(self, errors: list[N.ParseError]) -> None:
        first = errors[0]
        super().__init__(first.message, first.span)
        self.errors = errors


def split_nix_path(value: str) -> list[str]:
    """``NIX_PATH``'s entries: separated by ``:``, except the one in a URL's
    ``scheme://`` (as Nix's ``parseNixPath``)."""
    out: list[str] = []
    cur = ""
    i = 0
    while i < len(value):
        c = value[i]
        if c == ":":
            if value.startswith("//", i + 1) and re.search(r"(^|=)[a-zA-Z][a-zA-Z0-9+.-]*$", cur):
                cur += c
            else:
                if cur:
                    out.append(cur)
                cur = ""
        else:
            cur += c
        i += 1
    if cur:
        out.append(cur)
    return out


def search_path_entries(
    extra: list[str] | tuple[str, ...], environ: Mapping[str, str] | None = None
) -> list[str]:
    """The search path as the CLI and the server build it: ``extra`` (``-I``,
    the ``nixlens.searchPath`` setting) first, then ``NIX_PATH``."""
    env = os.environ if environ is None else environ
    return [*[e for e in extra if e], *split_nix_path(env.get("NIX_PATH", ""))]


def parse_search_path(entries: list[str] | tuple[str, ...]) -> list[tuple[str, str]]:
    """``-I``/``NIX_PATH`` entries (``prefix=path`` or ``path``) as pairs."""
    out = []
    for e in entries:
        if not e:
            continue
        if "=" in e:
            prefix, path = e.split("=", 1)
        else:
            prefix, path = "", e
        if "://" not in path:
            path = os.path.abspath(path)
        out.append((prefix, path))
    return out


class Evaluator:
    """One evaluation context.  Not thread-safe; make one per worker."""

    def __init__(
        self,
        *,
        io: Any = None,
        search_path: list[str] | tuple[str, ...] = (),
        budget: Budget | None = None,
        store_dir: str = "/nix/store",
        system: str = "x86_64-linux",
        home: str | None = None,
        max_values: int | None = 50_000_000,
        env: dict[str, str] | None = None,
        lints: dict[str, str] | None = None,
        code_cache: Any = None,
    ) -> None:
        # Store paths this evaluation makes are readable in it (nothing is written).
        self.io = StoreView(io or RealIO(), store_dir)
        # A ``codecache.CodeCache`` for the files this evaluation imports.
        self.code_cache = code_cache
        # Programs compiled here that the code cache does not hold yet:
        # (namespace, path, key), written by ``save_code_cache``.
        self._uncached: list[tuple[dict[str, Any], str, bytes]] = []
        self.lints = lints or {}
        self.store_dir = store_dir
        self.system = system
        self.home = home
        self.env = dict(os.environ if env is None else env)
        self.search_path = parse_search_path(list(search_path))
        # Enabled experimental features (``--extra-experimental-features``).
        self.experimental_features: set[str] = set()
        # Nix's ``abort-on-warn`` setting: ``builtins.warn`` fails after warning.
        self.abort_on_warn = False
        self.machine = Machine(budget or Budget())
        self.machine.owner = self
        self.max_values = max_values
        self.import_cache: dict[str, Thunk] = {}
        # The namespaces of the programs compiled (``compact_programs``).
        self.programs: list[dict[str, Any]] = []
        self.files_seen: set[str] = set()
        # Files read from a workspace flake's store copy: user's path -> the
        # directory in the copy their relative paths point into (``load``).
        self.bases: dict[str, str] = {}
        # Flake values of this evaluation (``project.flake.FlakeLoader``), made on first use.
        self.flake_loader: Any = None
        self.globals = make_globals(self)
        self._global_key = tuple(sorted(self.globals))
        # Shared by the namespaces of all programs compiled here.
        self.base_namespace = base_namespace(self.globals)

    # ----------------------------------------------------------- running
    @property
    def warnings(self) -> list[Any]:
        return self.machine.warnings

    def run(self, gen: Any) -> Any:
        """Drive a generator to its value through the VM (under this evaluator's size budget)."""
        from .runtime import SIZE_LIMIT

        previous = getattr(SIZE_LIMIT, "max_values", None)
        SIZE_LIMIT.max_values = self.max_values
        self.base_namespace["INLINE_CALLS"] = self.machine.inline_calls()
        try:
            return self.machine.run(gen)
        finally:
            SIZE_LIMIT.max_values = previous

    def check_size(self, n: int) -> None:
        """Refuse to build values larger than the budget allows."""
        if self.max_values is not None and n > self.max_values:
            raise EvalLimit(
                f"evaluation limit: a value of {n} elements is larger than allowed "
                f"({self.max_values})",
                "size",
            )

    # ------------------------------------------------- parsing & compiling
    def parse(
        self, text: bytes | str, path: str | None, name: str | None = None, base: str | None = None
    ) -> Any:
        from .parse import parse

        res = parse(text, path, name, home=self.home, check=self.check_budget, base=base)
        if res.errors:
            raise ParseFailed(res.errors)
        return res

    def compile(
        self,
        text: bytes | str,
        path: str | None,
        name: str | None = None,
        extra: list[str] | None = None,
        base: str | None = None,
    ) -> Any:
        """Entry generator function ``entry(env)`` for a source text (``base``:
        where its relative paths point, when not its own directory)."""
        data = text.encode() if isinstance(text, str) else text
        res = self.parse(data, path, name, base)
        entry = compile_program(
            res.root,
            res.source,
            self.globals,
            extra,
            self.lints,
            self.machine.warnings,
            check=self.check_budget,
            base=self.base_namespace,
        )
        self.programs.append(entry.__globals__)
        return entry

    def compile_file(
        self,
        data: bytes,
        path: str,
        name: str | None,
        extra: list[str] | None,
        base: str | None = None,
    ) -> Any:
        """``compile`` for a file's text, through the code cache if any."""
        cache = self.code_cache
        if cache is None or self.lints:
            return self.compile(data, path, name, extra, base)
        key = cache.key(path, data, name, extra, self.home, self._global_key, base)
        payload = cache.load(path, key)
        if payload is not None:
            entry = import_program(payload, self.base_namespace)
            entry.__globals__["_nixlens_dirty"] = False
        else:
            entry = self.compile(data, path, name, extra, base)
        ns = entry.__globals__
        if payload is not None:
            self.programs.append(ns)
        self._uncached.append((ns, path, key))
        return entry

    def save_code_cache(self) -> None:
        """Write the programs compiled or completed by this evaluation to the
        code cache (call before ``compact_programs``)."""
        cache = self.code_cache
        if cache is None:
            return
        for ns, path, key in self._uncached:
            if ns.pop("_nixlens_dirty", True):
                payload = export_program(ns)
                if payload is not None:
                    cache.store(path, key, payload)
        self._uncached = []

    def compile_parsed(self, root: Any, source: Any) -> Any:
        """``compile`` for a text already parsed (without errors)."""
        entry = compile_program(
            root,
            source,
            self.globals,
            None,
            self.lints,
            self.machine.warnings,
            check=self.check_budget,
            base=self.base_namespace,
        )
        self.programs.append(entry.__globals__)
        return entry

    def compact_programs(self) -> None:
        """Done running: keep the programs' generated code compressed (their
        functions compile again when called; see ``compiler.compact``)."""
        from .compiler import compact

        for ns in self.programs:
            compact(ns)

    def check_budget(self) -> None:
        """Stop (``EvalLimit``) when the deadline passed or cancellation was
        asked: parsing and compiling a huge file happen outside the driver
        loop, which checks the same between steps."""
        budget = self.machine.budget
        if budget.deadline is not None and time.monotonic() > budget.deadline:
            raise EvalLimit("evaluation limit: time budget exceeded", "deadline")
        if budget.cancel is not None and budget.cancel.is_set():
            raise Cancelled()

    def eval_text(self, text: bytes | str, path: str | None = None, name: str | None = None) -> Any:
        """Evaluate source text to weak head normal form."""
        entry = self.compile(text, path, name)
        return self.run(entry([None]))

    def eval_file(self, path: str) -> Any:
        path = self.resolve_import_path(os.path.abspath(path))
        return self.run(_force_gen(self.import_thunk(path)))

    def deep_force(self, v: Any) -> Any:
        from .builtins.core import deep_force

        self.run(deep_force(v))
        return v

    # --------------------------------------------------------------- import
    def resolve_import_path(self, path: str) -> str:
        if path.startswith(INTERNAL_DIR + "/"):
            return path  # built into the evaluator, never on disk
        if self.io.file_type(path) == "directory":
            return os.path.join(path, "default.nix")
        return path

    def import_thunk(self, path: str) -> Thunk:
        """The (cached) thunk of the value of a Nix file."""
        path = self.resolve_import_path(path)
        t = self.import_cache.get(path)
        if t is None:
            t = Thunk(_import_code, (self, path))
            self.import_cache[path] = t
        return t

    def load(self, path: str, extra: list[str] | None = None) -> Any:
        if path.startswith(INTERNAL_DIR + "/"):
            data = INTERNAL_FILES.get(path[len(INTERNAL_DIR) + 1 :])
            if data is not None:
                return self.compile_file(
                    data, path, "«nix-internal»/" + os.path.basename(path), extra
                )
        if self.io.file_type(path) is None:
            raise MissingPath(path)
        data = self.io.read_bytes(path)
        host = self.io.host_path(path)
        if host != path:
            # A file of a workspace flake imported from its store copy, as
            # Nix does: its paths are in the copy, while its positions (and
            # what the IDE knows of it) are the user's file.
            self.files_seen.add(host)
            self.bases[host] = os.path.dirname(path)
            return self.compile_file(data, host, None, extra, self.bases[host])
        self.files_seen.add(path)
        return self.compile_file(data, path, None, extra)

    def scoped_import(self, path: str, scope: Attrs) -> Any:
        """Generator evaluating ``path`` with ``scope``'s names in scope."""
        path = self.resolve_import_path(path)
        names = sorted(scope)
        entry = self.load(path, names)
        return entry([None, *[scope[n] for n in names]])

    def realise_path_arg(self, p: Any) -> Any:
        """Generator: a path argument (path or absolute string) as a str."""
        from .runtime import coerce_to_string

        if p.__class__ is Thunk:
            p = yield p
        if p.__class__ is NixPath:
            return p.path
        s = yield from coerce_to_string(p, copy_to_store=False)
        s = str(s)
        if not s.startswith("/"):
            raise NixError(f"string '{s}' doesn't represent an absolute path")
        return s

    # ---------------------------------------------------------------- store
    def copy_path_to_store(self, path: str, span: Any = None) -> Any:
        """The store path a path would be copied to (nothing is written)."""
        from . import store

        if self.io.file_type(path, follow=False) is None:
            raise MissingPath(path, span)
        name = os.path.basename(path)
        sp = store.path_to_store(path, name, _StoreIOAdapter(self.io), store_dir=self.store_dir)
        self.io.add_copy(sp, path)
        return CtxStr(sp, frozenset([sp]))


class _StoreIOAdapter:
    """Adapts the evaluator's I/O interface to what ``store`` expects."""

    def __init__(self, io: Any) -> None:
        self.io = io

    def read_bytes(self, path: str) -> bytes:
        return self.io.read_bytes(path)

    def file_type(self, path: str) -> str:
        return self.io.file_type(path, follow=False) or "unknown"

    def is_executable(self, path: str) -> bool:
        return self.io.is_executable(path)

    def list_dir(self, path: str) -> list[str]:
        return self.io.list_dir(path)

    def read_link(self, path: str) -> str:
        return self.io.read_link(path)


def _import_code(env: Any) -> Any:
    ev, path = env
    entry = ev.load(path)
    return (yield entry([None]))


def _force_gen(t: Any) -> Any:
    if t.__class__ is Thunk:
        t = yield t
    return t


__all__ = ["Evaluator", "ParseFailed", "context_of"]
