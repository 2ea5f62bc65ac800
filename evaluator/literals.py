"""How Nix writes identifiers and string literals (``printIdentifier``,
``printLiteralString``): shared by the parser's messages, the syntax tree
dump and the value printer."""

from __future__ import annotations

import re

KEYWORDS = frozenset(("if", "then", "else", "assert", "with", "let", "in", "rec", "inherit"))


def show_identifier(name: str) -> str:
    """Nix's ``printIdentifier``: bare when it lexes as an identifier, else quoted."""
    if not name:
        return '""'
    if name in KEYWORDS:
        return f'"{name}"'
    if re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_'\-]*", name):
        return name
    return show_string(name)


def show_string(s: str) -> str:
    """Nix's ``printLiteralString``: a double-quoted string literal."""
    out = ['"']
    for i, ch in enumerate(s):
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "$" and s[i + 1 : i + 2] == "{":
            out.append("\\$")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def split_attr_path(text: str) -> list[str]:
    """An attribute path as Nix's command line and messages write it,
    ``a.b."c.d"``, split into names: ``["a", "b", "c.d"]`` (empty names kept)."""
    out, cur, quoted = [], "", False
    for ch in text:
        if ch == '"':
            quoted = not quoted
        elif ch == "." and not quoted:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    out.append(cur)
    return out
