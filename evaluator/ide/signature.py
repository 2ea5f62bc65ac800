"""Signature help: the function being applied around the cursor.

For builtins the label, parameter names and documentation come from the
table of builtins (``builtins.table``, Nix's parameter names) and the active
parameter is the number of arguments already applied.  For a lambda with
formals, inside the argument set, the active parameter is the formal whose
name is being written; for curried lambdas it is the argument position.
The function is found statically (a variable bound to a lambda) or by
evaluating the applied expression under a small budget.
"""

from __future__ import annotations

from typing import Any

from .. import nodes as N
from ..builtins import REGISTRY, _load
from ..builtins.table import BUILTINS
from ..values import Lambda, PrimOp, PrimOpApp
from ._doc import Doc, analyse_repaired, chain_to, eval_chain, ident_after, node_at, to_bytes
from .types import SignatureHelp


def signature_help(
    text: str | bytes, path: str | None, offset: int, io: Any = None
) -> SignatureHelp | None:
    """The signature of the function applied at ``offset``, if known."""
    data = to_bytes(text)
    starting = 0 < offset and data[offset - 1 : offset] in (b" ", b"\t", b"\n", b"(")
    starting = starting and ident_after(data, offset) == offset
    doc, _ = analyse_repaired(data, path, offset, force=starting)
    if doc.root is None:
        return None
    app = _application(doc, offset)
    if app is None:
        return None
    chain, head, args = app
    # Inside an argument set of a function with formals?
    for arg in args:
        if isinstance(arg, N.Attrs) and arg.span.start < offset < arg.span.end:
            lam = _lambda_of(doc, [*chain, head], head, io)
            if lam is not None and lam.formals is not None:
                return _formals_signature(lam, arg, offset)
    n_applied = sum(1 for a in args if a.span.end < offset)
    value = _function_value(doc, [*chain, head], head, io)
    if isinstance(value, (PrimOp, PrimOpApp)):
        prim = value if isinstance(value, PrimOp) else value.prim
        already = 0 if isinstance(value, PrimOp) else len(value.args)
        return _builtin_signature(prim, n_applied + already)
    lam = value.node if isinstance(value, Lambda) else _static_lambda(doc, head)
    if lam is None:
        return None
    return _curried_signature(lam, n_applied)


def _application(doc: Doc, offset: int) -> tuple[list[N.Node], N.Node, list[N.Node]] | None:
    """The innermost application around ``offset``: chain to its outermost
    ``Apply``, the head and the arguments in order."""
    assert doc.root is not None
    inner = node_at(
        doc.root,
        offset,
        lambda n: isinstance(n, N.Apply) or (isinstance(n, N.Var) and n.name == "nixlensHole"),
    )
    if inner is None:
        return None
    chain = chain_to(doc.root, inner)
    if not isinstance(inner, N.Apply):  # the placeholder is the next argument
        while len(chain) > 1 and not isinstance(chain[-1], N.Apply):
            chain.pop()
        if not isinstance(chain[-1], N.Apply):
            return None
    # Climb to the outermost Apply of this spine.
    while len(chain) > 1 and isinstance(chain[-2], N.Apply) and chain[-2].fn is chain[-1]:
        chain.pop()
    top = chain[-1]
    args: list[N.Node] = []
    node: N.Node = top
    while isinstance(node, N.Apply):
        args.append(node.arg)
        node = node.fn
    args.reverse()
    args = [a for a in args if not (isinstance(a, N.Var) and a.name == "nixlensHole")]
    inner_chain = chain_to(doc.root, node)
    return inner_chain[:-1], node, args


def _static_lambda(doc: Doc, head: N.Node) -> N.Lambda | None:
    """``head`` is a variable bound to a lambda (or is one)."""
    if isinstance(head, N.Lambda):
        return head
    if isinstance(head, N.Var):
        ref = doc.res.refs.get(head)
        if ref is not None and ref.definition is not None:
            value = ref.definition.value
            if isinstance(value, N.Lambda):
                return value
    return None


def _function_value(doc: Doc, chain: list[N.Node], head: N.Node, io: Any) -> Any:
    if isinstance(head, N.Var):
        if not REGISTRY:
            _load()
        ref = doc.res.refs.get(head)
        if ref is not None and ref.kind == "builtin":
            return REGISTRY.get(head.name.removeprefix("__"))
    if _static_lambda(doc, head) is not None:
        return None
    return eval_chain(doc, chain, None, io)


def _lambda_of(doc: Doc, chain: list[N.Node], head: N.Node, io: Any) -> N.Lambda | None:
    lam = _static_lambda(doc, head)
    if lam is not None:
        return lam
    value = eval_chain(doc, chain, None, io)
    return value.node if isinstance(value, Lambda) else None


def function_of_call(doc: Doc, chain: list[N.Node], io: Any) -> N.Lambda | None:
    """The lambda applied by the ``Apply`` at the end of ``chain``."""
    app = chain[-1]
    assert isinstance(app, N.Apply)
    return _lambda_of(doc, [*chain, app.fn], app.fn, io)


def _builtin_signature(prim: PrimOp, applied: int) -> SignatureHelp:
    params = list(BUILTINS[prim.name].params)  # every registered primop is in the table
    label = " ".join([f"builtins.{prim.name}", *params])
    active = min(applied, len(params) - 1) if params else None
    return SignatureHelp(label, params, active, prim.doc or None)


def _formal_label(lam: N.Lambda) -> list[str]:
    src = lam.span.source.text
    out = []
    for f in lam.formals or ():
        if f.default is not None:
            d = src[f.default.span.start : f.default.span.end].decode("utf-8", "replace")
            out.append(f"{f.name} ? {d if len(d) <= 20 else d[:19] + '…'}")
        else:
            out.append(f.name)
    return out


def _formals_signature(lam: N.Lambda, arg: N.Attrs, offset: int) -> SignatureHelp:
    params = _formal_label(lam)
    names = [f.name for f in lam.formals or ()]
    active = None
    for name, ad in arg.attrs.items():
        if ad.span.start <= offset <= ad.span.end or (
            ad.kind == "plain" and ad.span.start <= offset <= ad.value.span.end
        ):
            active = names.index(name) if name in names else None
    parts = params + (["..."] if lam.ellipsis else [])
    label = "{ " + ", ".join(parts) + " }" + (f"@{lam.arg}" if lam.arg else "") + ": …"
    doc = f"function `{lam.name}`" if lam.name else None
    return SignatureHelp(label, params, active, doc)


def _curried_signature(lam: N.Lambda, applied: int) -> SignatureHelp:
    params: list[str] = []
    node: N.Node = lam
    while isinstance(node, N.Lambda):
        if node.formals is not None:
            params.append("{ " + ", ".join(_formal_label(node)) + " }")
        else:
            params.append(node.arg or "_")
        node = node.body
    label = ": ".join(params) + ": …"
    active = min(applied, len(params) - 1) if params else None
    return SignatureHelp(label, params, active, f"function `{lam.name}`" if lam.name else None)
