"""The server's settings: one typed, fully defaulted object under section ``nixlens``.

Read alike from ``initializationOptions`` and ``workspace/configuration``.
Keys are camelCase on the wire (``eval.budgetMs``) and snake_case here.
A value of the wrong type or out of range is reported (``load`` returns the
problems) and replaced by its default; the other settings still apply.
Unknown keys are ignored (clients send their own, e.g. ``server``, ``trace``).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any

import cattrs
from cattrs.errors import AttributeValidationNote
from cattrs.gen import make_dict_structure_fn, override

SECTION = "nixlens"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalSettings:
    enable: bool = True
    entry: str = ""
    budget_ms: int = 2000
    max_steps: int = 5_000_000
    # Largest string (characters) or list (elements) an evaluation may build.
    max_values: int = 10_000_000
    # Most frames on the evaluator's driver stack (nested forcing and calls).
    max_depth: int = 2_500_000
    # Memory cap of each analysis helper process (MB, 0: none); past it the
    # evaluation ends with an ``eval_limit`` diagnostic and the helper restarts.
    max_memory_mb: int = 2048


@dataclass(frozen=True)
class HoverSettings:
    budget_ms: int = 200
    print_depth: int = 3
    # Longest hover text (characters); longer is cut with a note.
    max_chars: int = 20_000


@dataclass(frozen=True)
class DiagnosticsSettings:
    ignore: list[str] = field(default_factory=list)
    debounce_ms: int = 200
    # 0 means no limit.
    max_per_file: int = 200


@dataclass(frozen=True)
class InlayHintsSettings:
    enable: bool = False
    # No hints for documents longer than this many lines (0: no limit).
    max_lines: int = 5000


@dataclass(frozen=True)
class FormattingSettings:
    command: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SandboxSettings:
    # Enabled: evaluation reads only inside the workspace folders (or the
    # document's directory when it is in none), the search path, the Nix store
    # and ``allowed_paths``.  Disabled: any file.
    enable: bool = True
    allowed_paths: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Settings:
    eval: EvalSettings = field(default_factory=EvalSettings)
    hover: HoverSettings = field(default_factory=HoverSettings)
    # Entries "name=path" or "path", as NIX_PATH / -I.
    search_path: list[str] = field(default_factory=list)
    diagnostics: DiagnosticsSettings = field(default_factory=DiagnosticsSettings)
    inlay_hints: InlayHintsSettings = field(default_factory=InlayHintsSettings)
    formatting: FormattingSettings = field(default_factory=FormattingSettings)
    sandbox: SandboxSettings = field(default_factory=SandboxSettings)
    # Analysis helper processes (0: from the CPU count, see server.workers).
    workers: int = 0


# Wire names that are not the plain camelCase of the field.
_WIRE_NAMES = {"max_memory_mb": "maxMemoryMB"}


def camel(name: str) -> str:
    """``budget_ms`` -> ``budgetMs`` (``max_memory_mb`` -> ``maxMemoryMB``)."""
    if name in _WIRE_NAMES:
        return _WIRE_NAMES[name]
    head, *rest = name.split("_")
    return head + "".join(p.title() for p in rest)


class _Invalid(ValueError):
    pass


def _strict(expected: type, *, non_negative: bool = False) -> Any:
    """A cattrs hook accepting exactly ``expected`` (no "false" -> True coercion)."""

    def hook(value: Any, _type: Any) -> Any:
        if expected is int and (isinstance(value, bool) or not isinstance(value, int)):
            if isinstance(value, float) and value.is_integer():
                value = int(value)  # JSON clients may send 200.0
            else:
                raise _Invalid(f"expected an integer, got {value!r}")
        elif expected is not int and not isinstance(value, expected):
            raise _Invalid(f"expected {expected.__name__}, got {value!r}")
        if non_negative and value < 0:
            raise _Invalid(f"expected a non-negative number, got {value!r}")
        return value

    return hook


def _make_converter() -> cattrs.Converter:
    conv = cattrs.Converter(forbid_extra_keys=False)
    conv.register_structure_hook(bool, _strict(bool))
    conv.register_structure_hook(str, _strict(str))
    conv.register_structure_hook(int, _strict(int, non_negative=True))

    def list_hook(value: Any, type_: Any) -> Any:
        if not isinstance(value, list):
            raise _Invalid(f"expected a list, got {value!r}")
        (item,) = type_.__args__
        return [conv.structure(v, item) for v in value]

    conv.register_structure_hook_func(lambda t: t == list[str], list_hook)
    # Nested classes first: a generated hook captures its fields' hooks.
    for cls in (
        EvalSettings,
        HoverSettings,
        DiagnosticsSettings,
        InlayHintsSettings,
        FormattingSettings,
        SandboxSettings,
        Settings,
    ):
        renames: dict[str, Any] = {
            f.name: override(rename=camel(f.name)) for f in dataclasses.fields(cls)
        }
        conv.register_structure_hook(
            cls, _objects_only(make_dict_structure_fn(cls, conv, **renames))
        )
    return conv


def _objects_only(hook: Any) -> Any:
    """Wrap a generated hook to refuse non-objects (a string would pass ``in`` checks)."""

    def structure(value: Any, type_: Any) -> Any:
        if not isinstance(value, dict):
            raise _Invalid(f"expected an object, got {value!r}")
        return hook(value, type_)

    return structure


_CONVERTER = _make_converter()


def _bad_paths(exc: BaseException) -> list[tuple[list[str], str]]:
    """(wire key path, reason) for every leaf error in a cattrs exception group."""
    out: list[tuple[list[str], str]] = []
    stack: list[tuple[BaseException, list[str]]] = [(exc, [])]
    while stack:
        err, path = stack.pop()
        if isinstance(err, BaseExceptionGroup):
            for sub in err.exceptions:
                names = [
                    camel(n.name)
                    for n in getattr(sub, "__notes__", [])
                    if isinstance(n, AttributeValidationNote)
                ]
                stack.append((sub, path + names[:1]))
        else:
            reason = str(err) if isinstance(err, _Invalid) else f"invalid value ({err})"
            out.append((path, reason))
    return out


def load(raw: Any) -> tuple[Settings, list[str]]:
    """Structure raw settings; bad values fall back to defaults and are described."""
    problems: list[str] = []
    if raw is None:
        return Settings(), problems
    if not isinstance(raw, dict):
        return Settings(), [f"'{SECTION}' settings must be an object, got {raw!r}"]
    data = _copy(raw)
    for _ in range(50):  # each round removes at least one bad value
        try:
            return _CONVERTER.structure(data, Settings), problems
        except Exception as exc:  # noqa: BLE001 - anything a client sends must not crash us
            removed = False
            for path, reason in _bad_paths(exc):
                keys = path
                if not keys:
                    continue
                problems.append(f"{SECTION}.{'.'.join(keys)}: {reason}; using the default")
                removed = _remove(data, keys) or removed
            if not removed:
                log.warning("unusable settings %r: %s", raw, exc)
                problems.append(f"invalid '{SECTION}' settings ({exc}); using the defaults")
                return Settings(), problems
    return Settings(), problems


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value


def _remove(data: dict[str, Any], keys: list[str]) -> bool:
    """Delete the value at ``keys`` (so the default applies); whether it existed."""
    for key in keys[:-1]:
        nxt = data.get(key)
        if not isinstance(nxt, dict):
            data.pop(key, None)
            return True
        data = nxt
    return data.pop(keys[-1], None) is not None or keys[-1] in data


def from_initialization_options(options: Any) -> Any:
    """The ``nixlens`` section within ``initializationOptions`` (or all of it)."""
    if isinstance(options, dict) and isinstance(options.get(SECTION), dict):
        return options[SECTION]
    return options


# ------------------------------------------------------------ workspace trust

#: The ``initializationOptions`` key a client sets to ``false`` for a folder
#: the user does not trust (VS Code's restricted mode).  Read only at
#: ``initialize``, never from ``workspace/configuration``: a workspace's own
#: settings file must not be able to trust itself.
TRUSTED_KEY = "trusted"


def trusted_from_initialization_options(options: Any) -> bool:
    """False only when the client says so (``trusted: false``, top level or in ``nixlens``)."""
    if not isinstance(options, dict):
        return True
    section = options.get(SECTION)
    for holder in (options, section if isinstance(section, dict) else {}):
        if holder.get(TRUSTED_KEY) is False:
            return False
    return True


def restrict(settings: Settings, trusted: bool) -> Settings:
    """The settings an (un)trusted workspace runs with.

    Untrusted: static features only.  No evaluation (diagnostics, hover values,
    inlay hints), no formatter program, no entry expression, no search path and
    the sandbox on with no extra paths, whatever the client sent.
    """
    if trusted:
        return settings
    return dataclasses.replace(
        settings,
        eval=dataclasses.replace(settings.eval, enable=False, entry=""),
        search_path=[],
        inlay_hints=dataclasses.replace(settings.inlay_hints, enable=False),
        formatting=FormattingSettings(),
        sandbox=SandboxSettings(),
    )
