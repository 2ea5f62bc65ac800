"""Code actions: quick fixes for the lint codes and a few refactorings.

Quick fixes: remove an unused binding or redundant ``inherit`` name
(``unused_binding``, ``useless_inherit``), remove ``rec`` (``useless_rec``),
an empty ``let`` or ``inherit`` (``empty_let``, ``empty_inherit``), quote a
URL literal (``url_literal``), prefix ``_`` to an unused argument
(``unused_argument``), add an undefined name to the formals of the enclosing
``{ … }:`` (``undefined_variable``).

Refactorings at the cursor: ``a = a;`` <-> ``inherit a;`` (in non-recursive
sets only, where both mean the same), ``inherit (e) a;`` -> ``a = e.a;``,
``a = { b = v; };`` <-> ``a.b = v;`` (on the concrete tree), and extracting
the selected expression into a ``let`` around the nearest enclosing scope
boundary (so every name it uses keeps its meaning).
"""

from __future__ import annotations

from .. import nodes as N
from ..diagnostics import Diagnostic
from ..lint import lint
from ..parse import make_parser, prepare_text
from ..scope import definition_at
from ..walk import walk
from ._doc import Doc, analyse, chain_to, node_at
from .rename import _inherit_sites, _rewrite_inherit
from .types import CodeAction, Edit


def code_actions(
    text: str | bytes,
    path: str | None,
    span_range: tuple[int, int],
    diagnostics: list[Diagnostic] | None = None,
) -> list[CodeAction]:
    """Fixes for ``diagnostics`` (default: this file's lints) overlapping
    ``span_range``, then refactorings available there."""
    doc = analyse(text, path)
    if doc.root is None:
        return []
    lo, hi = span_range
    if diagnostics is None:
        diagnostics = lint(doc.root, doc.source, doc.res)
    out: list[CodeAction] = []
    for d in diagnostics:
        if d.span is not None and d.span.start <= hi and lo <= d.span.end:
            fix = _quick_fix(doc, d)
            if fix is not None:
                out.append(fix)
    out.extend(_refactors(doc, lo, hi))
    return out


def _span(doc: Doc, a: int, b: int) -> N.Span:
    return N.Span(doc.source, a, b)


def _eat_space(text: bytes, end: int) -> int:
    while end < len(text) and text[end] in b" \t":
        end += 1
    if text[end : end + 1] == b"\n":
        end += 1
    return end


def _quick_fix(doc: Doc, d: Diagnostic) -> CodeAction | None:
    assert d.span is not None
    text, sp = doc.text, d.span
    code = d.code
    if code in ("unused_binding", "useless_inherit"):
        edits = _remove_binding(doc, sp.start)
        title = "Remove unused binding" if code == "unused_binding" else "Remove redundant inherit"
        return CodeAction(title, "quickfix", edits, [code], True) if edits else None
    if code in ("useless_rec", "empty_let", "empty_inherit"):
        title = {"useless_rec": "Remove `rec`", "empty_let": "Remove empty `let`"}.get(
            code, "Remove empty `inherit`"
        )
        edit = Edit(_span(doc, sp.start, _eat_space(text, sp.end)), "")
        return CodeAction(title, "quickfix", [edit], [code], True)
    if code == "url_literal":
        raw = text[sp.start : sp.end].decode("utf-8", "replace")
        return CodeAction("Quote URL", "quickfix", [Edit(sp, f'"{raw}"')], [code], True)
    if code == "unused_argument":
        return CodeAction(
            "Prefix with `_`", "quickfix", [Edit(_span(doc, sp.start, sp.start), "_")], [code]
        )
    if code == "undefined_variable":
        return _add_formal(doc, sp)
    return None


def _remove_binding(doc: Doc, at: int) -> list[Edit]:
    """Edits deleting the binding whose name starts at ``at``."""
    sites = _inherit_sites(doc)
    if at in sites:
        edits = _rewrite_inherit(doc, *sites[at], "")
        return [e for e in edits if e.new_text.strip() or e.span.start != e.span.end]
    d = definition_at(doc.res, at)
    if d is None or not isinstance(d.attr, N.AttrDef):
        return []
    text = doc.text
    semi = text.find(b";", d.attr.value.span.end)
    start = d.attr.span.start
    while start > 0 and text[start - 1] in b" \t":
        start -= 1
    end = semi + 1
    if start == 0 or text[start - 1 : start] == b"\n":
        after = _eat_space(text, end)
        if after == len(text) or text[after - 1 : after] == b"\n":
            end = after  # the binding had its line: remove the line
    return [Edit(_span(doc, start, end), "")]


def _add_formal(doc: Doc, var_span: N.Span) -> CodeAction | None:
    """Add the undefined name to the formals of the innermost ``{ … }:``."""
    assert doc.root is not None
    var = node_at(doc.root, var_span.start, lambda n: isinstance(n, N.Var))
    if var is None:
        return None
    name = doc.text[var_span.start : var_span.end].decode()
    lams = [n for n in chain_to(doc.root, var) if isinstance(n, N.Lambda) and n.formals is not None]
    if not lams:
        return None
    lam = lams[-1]
    assert lam.formals is not None
    if lam.formals:
        last = lam.formals[-1]
        at = last.default.span.end if last.default is not None else last.span.end
        edit = Edit(_span(doc, at, at), f", {name}")
    else:
        brace = doc.text.find(b"{", lam.span.start)
        edit = Edit(_span(doc, brace + 1, brace + 1), f" {name}," if lam.ellipsis else f" {name}")
    return CodeAction(
        f"Add `{name}` to the function's formals", "quickfix", [edit], ["undefined_variable"]
    )


# ------------------------------------------------------------ refactorings
def _refactors(doc: Doc, lo: int, hi: int) -> list[CodeAction]:
    out: list[CodeAction] = []
    assert doc.root is not None
    sites = _inherit_sites(doc)
    for n in walk(doc.root):
        if not isinstance(n, N.Attrs):
            continue
        for name, ad in n.attrs.items():
            if not ad.span.start <= lo <= ad.span.end:
                continue
            if ad.kind == "plain" and not n.rec and isinstance(ad.value, N.Var):
                single = doc.text[ad.span.start : ad.span.end] == name.encode()
                if ad.value.name == name and single:
                    edit = Edit(_span(doc, ad.span.start, ad.value.span.end), f"inherit {name}")
                    out.append(
                        CodeAction(f"Convert to `inherit {name};`", "refactor.rewrite", [edit])
                    )
            elif ad.kind == "inherit" and not n.rec and ad.span.start in sites:
                edits = _rewrite_inherit(doc, n, ad, f"{name} = {name};")
                out.append(CodeAction(f"Convert to `{name} = {name};`", "refactor.rewrite", edits))
            elif ad.kind == "inherit_from" and ad.span.start in sites:
                e = n.inherit_from[ad.from_index]
                et = doc.text[e.span.start : e.span.end].decode()
                if not isinstance(e, (N.Var, N.Attrs)):
                    et = f"({et})"
                edits = _rewrite_inherit(doc, n, ad, f"{name} = {et}.{name};")
                out.append(
                    CodeAction(f"Convert to `{name} = {et}.{name};`", "refactor.rewrite", edits)
                )
    out.extend(_attrpath_refactors(doc, lo))
    if hi > lo:
        out.extend(_extract(doc, lo, hi))
    return out


def _attrpath_refactors(doc: Doc, at: int) -> list[CodeAction]:
    """``a = { b = v; };`` <-> ``a.b = v;`` for the binding at ``at`` (CST)."""
    text = doc.text
    tree = make_parser().parse(prepare_text(text))
    node = tree.root_node.descendant_for_byte_range(at, at)
    while node is not None and node.type != "binding":
        node = node.parent
    if node is None:
        return []
    ap, value = node.child_by_field_name("attrpath"), node.child_by_field_name("expression")
    if ap is None or value is None:
        return []
    attrs = ap.children_by_field_name("attr")
    whole = _span(doc, node.start_byte, node.end_byte)
    head = text[attrs[0].start_byte : attrs[0].end_byte].decode()
    if len(attrs) > 1:
        rest = text[attrs[1].start_byte : ap.end_byte].decode()
        v = text[value.start_byte : value.end_byte].decode()
        new = f"{head} = {{ {rest} = {v}; }};"
        return [
            CodeAction(f"Pack into `{head} = {{ … }};`", "refactor.rewrite", [Edit(whole, new)])
        ]
    if value.type == "attrset_expression":
        bs = [c for c in value.named_children if c.type == "binding_set"]
        inner = bs[0].named_children if bs else []
        if len(inner) == 1 and inner[0].type == "binding":
            b = inner[0]
            bt = text[b.start_byte : b.end_byte].decode()
            new = f"{head}.{bt}"
            return [CodeAction(f"Flatten into `{head}.…`", "refactor.rewrite", [Edit(whole, new)])]
    return []


def _extract(doc: Doc, lo: int, hi: int) -> list[CodeAction]:
    """Extract the expression spanning exactly ``[lo, hi)`` (trimmed) into a let."""
    assert doc.root is not None
    text = doc.text
    lo, hi = max(0, lo), min(hi, len(text))
    while lo < hi and text[lo] in b" \t\r\n":
        lo += 1
    while hi > lo and text[hi - 1] in b" \t\r\n":
        hi -= 1
    target = next((n for n in walk(doc.root) if n.span.start == lo and n.span.end == hi), None)
    if target is None or target is doc.root:
        return []
    chain = chain_to(doc.root, target)
    # The child of the innermost scope boundary on the chain gets wrapped.
    wrap = chain[1] if len(chain) > 1 else target
    for i in range(len(chain) - 2, -1, -1):
        n = chain[i]
        if isinstance(n, (N.Let, N.Lambda, N.With)) or (isinstance(n, N.Attrs) and n.rec):
            wrap = chain[i + 1]
            break
    else:
        wrap = doc.root
    names = {d.name for d in doc.res.definitions}
    name = "value"
    k = 1
    while name in names:
        name, k = f"value{k}", k + 1
    expr = text[lo:hi].decode()
    before = text[wrap.span.start : lo].decode()
    after = text[hi : wrap.span.end].decode()
    new = f"let {name} = {expr}; in {before}{name}{after}"
    edit = Edit(wrap.span, new)
    return [CodeAction(f"Extract into `let {name}`", "refactor.extract", [edit])]
