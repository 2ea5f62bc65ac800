"""The framing between the server and its analysis helpers (``server.workers``,
``server.helper``): one message is a 4-byte big-endian length and a pickle.

Messages are tuples whose first item names them (see ``server.helper`` for
the set).  They stay compact: documents travel as byte edits, results as the
evaluator's small dataclasses.  A ``Source`` in a result (every span has one)
would carry the whole text of its file; the text of an open document is sent
as a reference instead (``SourceRef``), and the receiving side puts the text
it has of that document back (``Unpickler.persistent_load``).  Both ends are
this package's own processes: pickle is not exposed to anyone else.
"""

from __future__ import annotations

import io
import pickle
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from evaluator.nodes import Source

if TYPE_CHECKING:
    from evaluator.project.context import Entry, ProjectContext

HEADER = struct.Struct(">I")
#: Largest frame accepted (an outline of a huge file is a few tens of MB).
MAX_FRAME = 1 << 30


class SourceRef:
    """Marker type of the persistent id of a ``Source`` sent by reference."""


def dumps(message: Any, by_reference: Callable[[Source], bool] | None = None) -> bytes:
    """One frame: header and pickle of ``message``; ``Source`` objects for
    which ``by_reference`` answers True are sent without their text."""
    buf = io.BytesIO()
    buf.write(b"\0\0\0\0")
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    if by_reference is not None:
        test = by_reference

        def persistent_id(obj: Any) -> Any:
            if obj.__class__ is Source and test(obj):
                return ("src", obj.path, obj.name)
            return None

        pickler.persistent_id = persistent_id  # type: ignore[method-assign]
    pickler.dump(message)
    frame = buf.getbuffer()
    HEADER.pack_into(frame, 0, len(frame) - HEADER.size)
    del frame
    return buf.getvalue()


def loads(body: bytes, text_of: Callable[[str | None], bytes] | None = None) -> Any:
    """The message of a frame's body; ``text_of(path)`` gives the text of a
    ``Source`` sent by reference (one ``Source`` per path and name)."""
    unpickler = pickle.Unpickler(io.BytesIO(body))
    sources: dict[tuple[str | None, str], Source] = {}

    def persistent_load(pid: Any) -> Any:
        _tag, path, name = pid
        src = sources.get((path, name))
        if src is None:
            text = text_of(path) if text_of is not None else b""
            src = sources[(path, name)] = Source(text, path, name)
        return src

    unpickler.persistent_load = persistent_load  # type: ignore[method-assign]
    return unpickler.load()


@dataclass(frozen=True)
class Context:
    """What a request's answer depends on besides the document: where an
    evaluation may read, the search path, the entry expression and budgets.
    Made by the server from its settings (``NixLensServer.context``)."""

    allowed_roots: tuple[str, ...] | None = None
    search_path: tuple[str, ...] = ()
    entry: str = ""
    budget_ms: int = 2000
    max_steps: int = 5_000_000
    max_values: int = 10_000_000
    max_depth: int = 2_500_000


@dataclass(frozen=True)
class ProjectRef:
    """The project entry an evaluation is of (``server.project``).  ``key``
    names one loaded context (assigned by the server, new for each load);
    ``context`` is sent only to a helper that has not got that context yet."""

    key: tuple[str, int]
    entry: Entry
    context: ProjectContext | None = field(default=None, compare=False)
