"""Terminal escape sequences in messages, handled as Nix handles them.

nixpkgs lib wraps words of its messages in ANSI colour codes.  Nix passes
every line it prints through ``filterANSIEscapes``: on a terminal only colour
(SGR) sequences survive, elsewhere none do; tabs become spaces up to the next
multiple of 8 (columns counted from the start of the message, newlines
counting none), carriage returns and bells are dropped.  Editors get clean text always (``strip_escapes``).
"""

from __future__ import annotations

import unicodedata

_ESC = "\x1b"


def filter_ansi(s: str, *, keep_colours: bool = False, expand_tabs: bool = True) -> str:
    """Nix's ``filterANSIEscapes(s, !keep_colours)`` (without a width limit)."""
    if _ESC not in s and "\t" not in s and "\r" not in s and "\a" not in s:
        return s
    out: list[str] = []
    width = 0
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c == _ESC:
            start = i
            i += 1
            last = ""
            if i < n and s[i] == "[":
                # CSI: parameter bytes, intermediate bytes, one final byte.
                i += 1
                while i < n and "\x30" <= s[i] <= "\x3f":
                    i += 1
                while i < n and "\x20" <= s[i] <= "\x2f":
                    i += 1
                if i < n and "\x40" <= s[i] <= "\x7e":
                    last = s[i]
                    i += 1
            elif i < n and s[i] == "]":
                # OSC (hyperlinks): up to BEL or ESC, and the ``\`` of ``ESC \``.
                i += 1
                while i < n and s[i] != _ESC and s[i] != "\a":
                    i += 1
                if i < n:
                    end = s[i]
                    i += 1
                    if end == _ESC and i < n and s[i] == "\\":
                        i += 1
            elif i < n and "\x40" <= s[i] <= "\x5f":
                i += 1
            if keep_colours and last == "m":
                out.append(s[start:i])
        elif c == "\t" and expand_tabs:
            i += 1
            out.append(" ")
            width += 1
            while width % 8:
                out.append(" ")
                width += 1
        elif c == "\r" or c == "\a":
            i += 1
        else:
            out.append(c)
            width += _char_width(c)
            i += 1
    return "".join(out)


def _char_width(c: str) -> int:
    """Display columns of a character (Nix counts control characters as 0)."""
    if c < " " or c == "\x7f":
        return 0
    if c < "\u0300":
        return 1
    if unicodedata.combining(c):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def strip_escapes(s: str) -> str:
    """``s`` without escape sequences, carriage returns and bells (tabs kept)."""
    return filter_ansi(s, expand_tabs=False)
