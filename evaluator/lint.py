"""Static lints over a parsed file: data-only diagnostics with stable codes.

Layers (as in nil): ``parse`` -> ``scope.resolve`` (name resolution) ->
``liveness`` (which let bindings the program can reach) -> ``lint``.

Decisions worth knowing:

* Names starting with ``_`` are never reported as unused (nor as shadowing a
  builtin: ``let __findFile = …; in <p>`` is an idiom).
* Let bindings are live when reachable from the let's body; a binding used
  only by itself or by other unused bindings is unused (``unused_binding``).
  Arguments and formals count any use, even from an unused binding (the
  unused binding is the thing to fix first).
* A formal is not reported when the lambda's ``@`` name is used: the formal
  may then be reached as ``args.name`` (and, without ``...``, it also states
  which attributes the function accepts).  An unused ``@`` name is reported
  as ``unused_argument``.
* ``useless_inherit``: ``inherit x;`` in a ``let`` where ``x`` already
  resolves lexically or to a builtin (not through ``with``) rebinds ``x`` to
  the value it has anyway.
* Unused arguments/formals are hints (removing one changes the function's
  interface); the other unused/useless findings are warnings.
"""

from __future__ import annotations

from . import nodes as N
from .diagnostics import Diagnostic, Severity, Tag
from .scope import GLOBAL_NAMES, Definition, Resolution, resolve
from .walk import children as walk_children

_UNNECESSARY = frozenset({Tag.UNNECESSARY})
_DEPRECATED = frozenset({Tag.DEPRECATED})


def lint(root: N.Node, source: N.Source, resolution: Resolution | None = None) -> list[Diagnostic]:
    """All static diagnostics for ``root``, sorted by position."""
    res = resolution if resolution is not None else resolve(root)
    out = lint_resolved(root, source, res)
    out.sort(key=sort_key)
    return out


def sort_key(d: Diagnostic) -> tuple[int, int, str]:
    """The order ``lint`` returns diagnostics in."""
    return (d.span.start, d.span.end, d.code) if d.span else (-1, -1, d.code)


def lint_resolved(
    root: N.Node,
    source: N.Source,
    res: Resolution,
    unused: list[Definition] | None = None,
) -> list[Diagnostic]:
    """``lint``'s diagnostics in no particular order (``unused``: the
    ``unused_let_bindings`` of ``root``, if known already)."""
    out: list[Diagnostic] = []
    _undefined(res, out)
    _unused(root, res, out, unused)
    _unused_withs(res, source, out)
    _shadowed_builtins(res, out)
    _node_lints(root, res, source, out)
    return out


def _children(node: N.Node) -> list[N.Node]:
    """``scope.children`` in no particular order (the lints are sorted at
    the end): sub-expressions, with the variable of each ``inherit x;``."""
    cls = node.__class__
    if cls is N.Attrs or cls is N.Let:
        binds: N.Attrs | N.Let = node  # type: ignore[assignment]
        out: list[N.Node] = list(binds.inherit_from)
        for d in binds.attrs.values():
            if d.kind != "inherit_from":
                out.append(d.value)
        if cls is N.Attrs:
            for dyn in binds.dynamic:  # type: ignore[union-attr]
                out.append(dyn.key)
                out.append(dyn.value)
        else:
            out.append(binds.body)  # type: ignore[union-attr]
        return out
    return walk_children(node)


def _ignored(name: str) -> bool:
    return name.startswith("_")


# --------------------------------------------------------------- resolution
def _undefined(res: Resolution, out: list[Diagnostic]) -> None:
    for var, ref in res.refs.items():
        if ref.kind == "undefined":
            out.append(
                Diagnostic(
                    "undefined_variable",
                    Severity.ERROR,
                    f"undefined variable '{var.name}'",
                    var.span,
                )
            )


def _unused_withs(res: Resolution, source: N.Source, out: list[Diagnostic]) -> None:
    for w, used in res.with_used.items():
        if used:
            continue
        semi = _find_token(source, w.env.span.end, w.body.span.start, ";")
        end = semi[1] if semi else w.env.span.end
        out.append(
            Diagnostic(
                "unused_with",
                Severity.WARNING,
                "unused `with`: no variable in its body is looked up in it",
                N.Span(source, w.span.start, end),
                tags=_UNNECESSARY,
            )
        )


def _shadowed_builtins(res: Resolution, out: list[Diagnostic]) -> None:
    for d in res.definitions:
        if d.name not in GLOBAL_NAMES or _ignored(d.name) or d.via == "inherit":
            continue
        if d.via == "inherit_from" and _is_builtins_source(d, res):
            continue  # `inherit (builtins) map;` rebinds the same value
        out.append(
            Diagnostic(
                "shadowed_builtin",
                Severity.WARNING,
                f"'{d.name}' shadows the builtin '{d.name}'",
                d.span,
            )
        )


def _is_builtins_source(d: Definition, res: Resolution) -> bool:
    value = d.value
    if not isinstance(value, N.Select) or not isinstance(value.expr, N.Var):
        return False
    ref = res.refs.get(value.expr)
    return value.expr.name == "builtins" and ref is not None and ref.kind == "builtin"


# ----------------------------------------------------------------- liveness
def unused_let_bindings(
    root: N.Node, res: Resolution, live: list[N.Node] | None = None
) -> list[Definition]:
    """Let bindings not reachable from their let's body (nil's liveness):
    closed under "only used by unused bindings", in discovery order.
    ``live`` receives the variables (and ``<p>``s) of the first round: those
    reached without going through an unused binding."""
    unused: list[Definition] = []
    seen_rhs: set[int] = set()
    stack: list[N.Node] = [root]
    pending: dict[Definition, N.Node] = {}
    while stack:
        pending.clear()
        while stack:
            node = stack.pop()
            if live is not None and (node.__class__ is N.Var or node.__class__ is N.SearchPath):
                live.append(node)
            if isinstance(node, N.Var):
                ref = res.refs.get(node)
                if ref is not None and ref.definition is not None:
                    _reach(ref.definition, pending, seen_rhs, stack)
            elif isinstance(node, N.SearchPath):
                for ref in res.implicit.get(node, ()):
                    if ref.definition is not None:
                        _reach(ref.definition, pending, seen_rhs, stack)
            elif isinstance(node, N.Let):
                let = node
                for ad in let.attrs.values():
                    d = res.by_binder.get(ad)
                    if d is None:
                        continue
                    if ad.kind == "inherit_from":
                        pending[d] = let.inherit_from[ad.from_index]
                    else:
                        pending[d] = ad.value
                # Sources nothing inherits from are evaluated by nothing, but
                # still walk them (for with/arguments usage and nested lints).
                used_from = {ad.from_index for ad in let.attrs.values()}
                for i, src in enumerate(let.inherit_from):
                    if i not in used_from:
                        stack.append(src)
                stack.append(let.body)
            else:
                stack.extend(_children(node))
        unused.extend(pending)
        live = None
        for rhs in pending.values():
            if id(rhs) not in seen_rhs:
                seen_rhs.add(id(rhs))
                stack.append(rhs)
    return unused


def _reach(
    d: Definition, pending: dict[Definition, N.Node], seen_rhs: set[int], stack: list[N.Node]
) -> None:
    rhs = pending.pop(d, None)
    if rhs is not None and id(rhs) not in seen_rhs:
        seen_rhs.add(id(rhs))
        stack.append(rhs)


def _unused(
    root: N.Node, res: Resolution, out: list[Diagnostic], unused: list[Definition] | None = None
) -> None:
    for d in unused if unused is not None else unused_let_bindings(root, res):
        if not _ignored(d.name):
            out.append(
                Diagnostic(
                    "unused_binding",
                    Severity.WARNING,
                    f"unused let binding '{d.name}'",
                    d.span,
                    tags=_UNNECESSARY,
                )
            )
    for d in res.definitions:
        if d.kind == "arg" and not d.uses and not _ignored(d.name):
            out.append(
                Diagnostic(
                    "unused_argument",
                    Severity.HINT,
                    f"unused function argument '{d.name}'",
                    d.span,
                    tags=_UNNECESSARY,
                )
            )
        elif d.kind == "formal" and not d.uses and not _ignored(d.name):
            lam = d.owner
            if isinstance(lam, N.Lambda) and lam.arg is not None:
                at = res.by_binder.get(lam)
                if at is not None and at.uses:
                    continue  # may be used as `args.name`
            out.append(
                Diagnostic(
                    "unused_formal",
                    Severity.HINT,
                    f"unused formal argument '{d.name}'",
                    d.span,
                    tags=_UNNECESSARY,
                )
            )


# -------------------------------------------------------------- node lints
_BOOL_RESULT = {
    # (operator, literal, literal is the left operand) -> what the expression is
    ("&&", "true", True): "`true && x` is `x`",
    ("&&", "true", False): "`x && true` is `x`",
    ("&&", "false", True): "`false && x` is always `false`",
    ("&&", "false", False): "`x && false` is `false` once `x` is checked to be a Boolean",
    ("||", "true", True): "`true || x` is always `true`",
    ("||", "true", False): "`x || true` is `true` once `x` is checked to be a Boolean",
    ("||", "false", True): "`false || x` is `x`",
    ("||", "false", False): "`x || false` is `x`",
    ("->", "true", True): "`true -> x` is `x`",
    ("->", "false", True): "`false -> x` is always `true`",
    ("->", "true", False): "`x -> true` is `true` once `x` is checked to be a Boolean",
    ("->", "false", False): "`x -> false` is `!x`",
}


def _node_lints(root: N.Node, res: Resolution, source: N.Source, out: list[Diagnostic]) -> None:
    legacy_inner: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        stack.extend(_children(node))
        if isinstance(node, N.Uri):
            out.append(
                Diagnostic(
                    "url_literal",
                    Severity.WARNING,
                    f'URL literals are deprecated; quote it: "{node.value}"',
                    node.span,
                    tags=_DEPRECATED,
                )
            )
        elif isinstance(node, N.LegacyLet):
            legacy_inner.add(id(node.attrs))
            out.append(
                Diagnostic(
                    "legacy_let",
                    Severity.WARNING,
                    "`let { …; body = …; }` is deprecated; use `let … in …`",
                    _keyword(source, node.span.start, "let"),
                    tags=_DEPRECATED,
                )
            )
        elif isinstance(node, N.Let):
            _let_lints(node, res, source, out)
        elif isinstance(node, N.Attrs):
            attrs = node
            if attrs.rec and id(attrs) not in legacy_inner and _useless_rec(attrs, res):
                out.append(
                    Diagnostic(
                        "useless_rec",
                        Severity.WARNING,
                        "unnecessary `rec`: no attribute refers to another attribute of this set",
                        _keyword(source, attrs.span.start, "rec"),
                        tags=_UNNECESSARY,
                    )
                )
            _empty_inherits(attrs, source, out)
        elif isinstance(node, N.BinOp) and node.op in ("&&", "||", "->"):
            b = node
            for operand, is_left in ((b.left, True), (b.right, False)):
                if (
                    isinstance(operand, N.Var)
                    and operand.name in ("true", "false")
                    and (ref := res.refs.get(operand)) is not None
                    and ref.kind == "builtin"
                ):
                    what = _BOOL_RESULT[(b.op, operand.name, is_left)]
                    out.append(
                        Diagnostic(
                            "literal_boolean_operand",
                            Severity.WARNING,
                            f"literal `{operand.name}` operand of `{b.op}`: {what}",
                            operand.span,
                        )
                    )


def _useless_rec(attrs: N.Attrs, res: Resolution) -> bool:
    for ad in attrs.attrs.values():
        d = res.by_binder.get(ad)
        if d is not None and d.uses:
            return False
    return True


def _let_lints(let: N.Let, res: Resolution, source: N.Source, out: list[Diagnostic]) -> None:
    if not let.attrs and not let.inherit_from:
        start = let.span.start
        tok = _find_token(source, start + 3, let.body.span.start, "in")
        out.append(
            Diagnostic(
                "empty_let",
                Severity.WARNING,
                "`let` without bindings",
                N.Span(source, start, tok[1] if tok else start + 3),
                tags=_UNNECESSARY,
            )
        )
    for name, ad in let.attrs.items():
        if ad.kind != "inherit" or _ignored(name):
            continue
        ref = res.refs.get(ad.value) if isinstance(ad.value, N.Var) else None
        if ref is not None and ref.kind in ("definition", "builtin"):
            out.append(
                Diagnostic(
                    "useless_inherit",
                    Severity.WARNING,
                    f"redundant `inherit {name};`: '{name}' already means the same here",
                    ad.span,
                    tags=_UNNECESSARY,
                )
            )
    _empty_inherits(let, source, out)


# ------------------------------------------------------ tokens between nodes
# The AST keeps no trace of keywords, punctuation or an empty ``inherit;``, so
# a few lints look at the text between a node's sub-expressions ("gaps"), where
# only keywords, punctuation, whitespace and comments can occur.


def _tokens(text: bytes, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of the tokens in ``text[start:end]``, skipping whitespace
    and comments; identifiers are one token, anything else one byte."""
    out: list[tuple[int, int]] = []
    i = start
    while i < end:
        c = text[i]
        if c in b" \t\r\n":
            i += 1
        elif c == 0x23:  # '#'
            nl = text.find(b"\n", i, end)
            i = end if nl < 0 else nl + 1
        elif c == 0x2F and i + 1 < end and text[i + 1] == 0x2A:  # '/*'
            close = text.find(b"*/", i + 2, end)
            i = end if close < 0 else close + 2
        elif chr(c).isalpha() or c == 0x5F:
            j = i + 1
            while j < end and (chr(text[j]).isalnum() or text[j] in b"_'-"):
                j += 1
            out.append((i, j))
            i = j
        else:
            out.append((i, i + 1))
            i += 1
    return out


def _find_token(source: N.Source, start: int, end: int, word: str) -> tuple[int, int] | None:
    text = source.text
    w = word.encode()
    for a, b in _tokens(text, start, end):
        if text[a:b] == w:
            return a, b
    return None


def _keyword(source: N.Source, start: int, word: str) -> N.Span:
    n = len(word)
    if source.text[start : start + n] == word.encode():
        return N.Span(source, start, start + n)
    return N.Span(source, start, start)


def _empty_inherits(node: N.Attrs | N.Let, source: N.Source, out: list[Diagnostic]) -> None:
    """``inherit;`` and ``inherit (e);``: bindings that bind nothing."""
    text = source.text
    if text.find(b"inherit", node.span.start, node.span.end) < 0:
        return
    occupied: list[tuple[int, int]] = []
    for ad in node.attrs.values():
        occupied.append((ad.span.start, ad.span.end))
        if ad.kind == "plain":
            occupied.append((ad.value.span.start, ad.value.span.end))
    occupied.extend((e.span.start, e.span.end) for e in node.inherit_from)
    if isinstance(node, N.Attrs):
        for dyn in node.dynamic:
            for sp in (dyn.span, dyn.key.span, dyn.value.span):
                occupied.append((sp.start, sp.end))
    else:
        occupied.append((node.body.span.start, node.body.span.end))
    occupied.sort()
    # Token stream of the gaps, with ("occ", start, end) for occupied stretches.
    # Only gaps holding `inherit`, and the gap after each (`) ;` of
    # `inherit (e);`), are tokenized: the others are one ("skip", …) each,
    # which no pattern below looks at (a large set has thousands of gaps).
    stream: list[tuple[str, int, int]] = []
    pos = node.span.start
    after_inherit = False

    def gap(start: int, end: int) -> None:
        nonlocal after_inherit
        has = text.find(b"inherit", start, end) >= 0
        if has or after_inherit:
            stream.extend(("tok", x, y) for x, y in _tokens(text, start, end))
        else:
            stream.append(("skip", start, end))
        after_inherit = has

    for a, b in occupied:
        if a > pos:
            gap(pos, a)
        if b > pos:
            stream.append(("occ", max(a, pos), b))
            pos = b
    gap(pos, node.span.end)

    used_from = {ad.from_index for ad in node.attrs.values() if ad.kind == "inherit_from"}
    empty_sources = {e.span.start for i, e in enumerate(node.inherit_from) if i not in used_from}

    def tok(i: int) -> bytes | None:
        if 0 <= i < len(stream) and stream[i][0] == "tok":
            return text[stream[i][1] : stream[i][2]]
        return None

    for i, (_kind, start, _end) in enumerate(stream):
        if tok(i) != b"inherit":
            continue
        end: int | None = None
        if tok(i + 1) == b";":
            end = stream[i + 1][2]
        elif (
            tok(i + 1) == b"("
            and i + 2 < len(stream)
            and stream[i + 2][0] == "occ"
            and stream[i + 2][1] in empty_sources
            and tok(i + 3) == b")"
            and tok(i + 4) == b";"
        ):
            end = stream[i + 4][2]
        if end is not None:
            out.append(
                Diagnostic(
                    "empty_inherit",
                    Severity.WARNING,
                    "`inherit` without names does nothing",
                    N.Span(source, start, end),
                    tags=_UNNECESSARY,
                )
            )
