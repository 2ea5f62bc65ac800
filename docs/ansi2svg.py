"""Render a terminal capture (``tmux capture-pane -p -e``) as an SVG picture.

Understands the SGR sequences tmux emits: reset, bold, italic, underline,
reverse, 16/256 colours and 24-bit colours.  One cell is one character (the
capture of the README picture contains no double-width characters).

    python docs/ansi2svg.py capture.ansi picture.svg
"""

from __future__ import annotations

import html
import re
import sys

CELL_W, CELL_H, FONT = 8.43, 17, 14
FG, BG = "#d0d0d0", "#1c1c1c"
BASIC = [
    "#000000", "#cd3131", "#0dbc79", "#e5e510", "#2472c8", "#bc3fbc", "#11a8cd", "#e5e5e5",
    "#666666", "#f14c4c", "#23d18b", "#f5f543", "#3b8eea", "#d670d6", "#29b8db", "#ffffff",
]  # fmt: skip
SGR = re.compile(r"\x1b\[([0-9;:]*)m")


def color256(n: int) -> str:
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return f"#{steps[n // 36]:02x}{steps[n // 6 % 6]:02x}{steps[n % 6]:02x}"
    v = 8 + 10 * (n - 232)
    return f"#{v:02x}{v:02x}{v:02x}"


class Style:
    def __init__(self) -> None:
        self.fg: str | None = None
        self.bg: str | None = None
        self.bold = self.italic = self.underline = self.reverse = False
        self.ul: str | None = None  # underline colour (SGR 58)

    def copy(self) -> Style:
        s = Style()
        s.__dict__.update(self.__dict__)
        return s

    def apply(self, params: list[int]) -> None:
        i = 0
        while i < len(params):
            p = params[i]
            if p == 0:
                self.__init__()  # type: ignore[misc]
            elif p == 1:
                self.bold = True
            elif p == 3:
                self.italic = True
            elif p == 4:
                self.underline = True
            elif p == 7:
                self.reverse = True
            elif p == 22:
                self.bold = False
            elif p == 23:
                self.italic = False
            elif p == 24:
                self.underline = False
            elif p == 27:
                self.reverse = False
            elif 30 <= p <= 37 or 90 <= p <= 97:
                self.fg = BASIC[p - 30 if p < 90 else p - 82]
            elif 40 <= p <= 47 or 100 <= p <= 107:
                self.bg = BASIC[p - 40 if p < 100 else p - 92]
            elif p == 39:
                self.fg = None
            elif p == 49:
                self.bg = None
            elif p in (38, 48, 58) and i + 1 < len(params):
                if params[i + 1] == 2 and i + 4 < len(params):
                    r, g, b = params[i + 2 : i + 5]
                    value = f"#{r:02x}{g:02x}{b:02x}"
                    i += 4
                elif params[i + 1] == 5 and i + 2 < len(params):
                    value = color256(params[i + 2])
                    i += 2
                else:
                    break
                if p == 38:
                    self.fg = value
                elif p == 48:
                    self.bg = value
                else:
                    self.ul = value
            i += 1

    def colors(self) -> tuple[str, str | None]:
        fg, bg = self.fg or FG, self.bg
        if self.reverse:
            return bg or BG, fg
        return fg, bg


def parse(text: str) -> list[list[tuple[str, Style]]]:
    rows = []
    for line in text.rstrip("\n").split("\n"):
        style = Style()
        row: list[tuple[str, Style]] = []
        pos = 0
        for m in SGR.finditer(line):
            row.extend((c, style) for c in line[pos : m.start()])
            style = style.copy()
            # "4:3" (curly underline) and other colon sub-parameters: the main one.
            style.apply([int(x.split(":")[0] or 0) for x in m.group(1).split(";")])
            pos = m.end()
        row.extend((c, style) for c in line[pos:])
        rows.append(row)
    return rows


def render(rows: list[list[tuple[str, Style]]]) -> str:
    width = max((len(r) for r in rows), default=0)
    w, h = width * CELL_W + 16, len(rows) * CELL_H + 16
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0f}" height="{h}" '
        f'viewBox="0 0 {w:.0f} {h}">',
        f'<rect width="100%" height="100%" rx="6" fill="{BG}"/>',
        f'<g font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT}" '
        'xml:space="preserve">',
    ]
    for y, row in enumerate(rows):
        top = 8 + y * CELL_H
        # Backgrounds: one rectangle per run of equal colour.
        x = 0
        while x < len(row):
            bg = row[x][1].colors()[1]
            end = x
            while end < len(row) and row[end][1].colors()[1] == bg:
                end += 1
            if bg is not None:
                out.append(
                    f'<rect x="{8 + x * CELL_W:.1f}" y="{top}" width="{(end - x) * CELL_W:.1f}" '
                    f'height="{CELL_H}" fill="{bg}"/>'
                )
            x = end
        # Text: one <text> per run of equal style, placed at its first cell.
        x = 0
        while x < len(row):
            st = row[x][1]
            key = (st.colors()[0], st.bold, st.italic, st.underline)
            end = x
            while end < len(row) and (
                row[end][1].colors()[0],
                row[end][1].bold,
                row[end][1].italic,
                row[end][1].underline,
            ) == key:
                end += 1
            chunk = "".join(c for c, _ in row[x:end])
            if chunk.strip():
                attrs = f'fill="{key[0]}"'
                if key[1]:
                    attrs += ' font-weight="bold"'
                if key[2]:
                    attrs += ' font-style="italic"'
                if key[3]:
                    out.append(
                        f'<rect x="{8 + x * CELL_W:.1f}" y="{top + CELL_H - 2}" '
                        f'width="{(end - x) * CELL_W:.1f}" height="1" fill="{st.ul or key[0]}"/>'
                    )
                # One x per character: exact cells whatever the font's advance.
                xs = " ".join(f"{8 + (x + k) * CELL_W:.1f}" for k in range(end - x))
                out.append(
                    f'<text x="{xs}" y="{top + CELL_H - 4}" {attrs}>{html.escape(chunk)}</text>'
                )
            x = end
    out += ["</g>", "</svg>"]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as f:
        rows = parse(f.read())
    with open(argv[1], "w", encoding="utf-8") as f:
        f.write(render(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
