"""Text plots for the panels: bars, sparklines, a price chart and a heat map, as rich `Text`.

Plain functions of numbers, so they are tested without a terminal and cost nothing to redraw.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

BLOCKS = "▁▂▃▄▅▆▇█"
SHADES = " ░▒▓█"
PALETTE = ["cyan", "magenta", "green", "yellow", "blue", "red", "bright_cyan", "bright_magenta"]


def colour_for(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _frac(x: float, lo: float, hi: float) -> float:
    return 0.0 if hi <= lo else min(max((x - lo) / (hi - lo), 0.0), 1.0)


def spark(values: Sequence[float], lo: float, hi: float, width: int = 12) -> str:
    """The last `width` values as block characters on a fixed scale (so agents compare at a glance)."""
    tail = list(values)[-width:]
    return "".join(BLOCKS[round(_frac(v, lo, hi) * (len(BLOCKS) - 1))] for v in tail)


def signed_bar(value: float, width: int = 10) -> Text:
    """A bar for a value in [-1, 1] growing left (red) or right (green) from the middle."""
    half = width // 2
    n = round(min(abs(value), 1.0) * half)
    left = " " * half if value >= 0 else " " * (half - n) + "█" * n
    right = "█" * n + " " * (half - n) if value > 0 else " " * half
    out = Text("▕", style="dim")
    out.append(left, style="red")
    out.append("│", style="dim")
    out.append(right, style="green")
    out.append("▏", style="dim")
    return out


def bar(value: float, width: int = 8, style: str = "yellow") -> Text:
    """A bar for a value in [0, 1]."""
    n = round(_frac(value, 0.0, 1.0) * width)
    out = Text("▕", style="dim")
    out.append("█" * n + " " * (width - n), style=style)
    out.append("▏", style="dim")
    return out


LINE_STYLES = ("yellow", "red", "green", "magenta", "blue")


def series_chart(
    series: dict[str, Sequence[float]],
    lines: Sequence[tuple[str, float]] = (),
    *,
    width: int = 40,
    height: int = 8,
    colours: dict[str, str] | None = None,
    empty: str = "no values yet",
) -> Text:
    """Values per owner (a firm's prices, a fisher's catches) over the last `width` rounds, with
    reference lines (mark, value), e.g. ("N", Nash price), drawn across and marked at the right.

    The y range covers every line and every plotted value, so the lines are always in view and a value
    outside the band between them is visibly outside.
    """
    colours = colours or {}
    tails = {f: list(v)[-width:] for f, v in series.items() if v}
    points = [x for v in tails.values() for x in v] + [x for _, x in lines]
    if not points:
        return Text(empty, style="dim")
    lo, hi = min(points), max(points)
    pad = max((hi - lo) * 0.1, 0.01)
    lo, hi = lo - pad, hi + pad

    def row_of(x: float) -> int:
        return height - 1 - round(_frac(x, lo, hi) * (height - 1))

    grid: list[list[tuple[str, str]]] = [[(" ", "")] * width for _ in range(height)]
    for (_, value), style in zip(lines, LINE_STYLES, strict=False):
        grid[row_of(value)] = [("┄", style)] * width
    longest = max((len(v) for v in tails.values()), default=1)
    # Few rounds: spread them out so a short run still reads as a line, not a clump at the left.
    step = max(1, min(4, width // longest))
    for i, (owner, values) in enumerate(tails.items()):
        glyph = owner[:1] or "●"
        style = colours.get(owner, colour_for(i)) + " bold"
        for k, x in enumerate(values):
            col = k * step
            r = row_of(x)
            # Two owners at the same point: show "*" rather than hide one behind the other.
            grid[r][col] = ("*", "bold white") if grid[r][col][0].isalpha() else (glyph, style)
    out = Text()
    for r, cells in enumerate(grid):
        y = hi - (hi - lo) * r / (height - 1)
        out.append(f"{y:6.2f} ", style="dim")
        for ch, style in cells:
            out.append(ch, style=style)
        for (mark, value), style in zip(lines, LINE_STYLES, strict=False):
            if r == row_of(value):
                out.append(f" {mark}", style=style)
        out.append("\n")
    out.rstrip()
    return out


def no_minus_zero(x: float, digits: int = 2) -> float:
    """x rounded as it will be shown, without the sign of a negative zero ("-0.00" read as a real sign)."""
    return round(x, digits) + 0.0


def heat_map(rows: dict[str, dict[str, float]], width: int = 6) -> Text:
    """Targets × metrics as shaded cells; each metric column is scaled to its own range."""
    metrics = sorted({m for values in rows.values() for m in values})
    if not rows or not metrics:
        return Text("no read-outs yet", style="dim")
    ranges = {}
    for m in metrics:
        xs = [values[m] for values in rows.values() if m in values]
        lo, hi = min([*xs, 0.0]), max([*xs, 1.0])
        ranges[m] = (lo, hi)
    name_w = max(len(t) for t in rows) + 1
    out = Text(" " * name_w)
    for m in metrics:
        out.append(f"{m[: width + 3]:<{width + 4}}", style="dim")
    out.append("\n")
    for target, values in rows.items():
        out.append(f"{target:<{name_w}}")
        for m in metrics:
            if m not in values:
                out.append(f"{'·':<{width + 4}}", style="dim")
                continue
            f = _frac(values[m], *ranges[m])
            shade = SHADES[round(f * (len(SHADES) - 1))]
            out.append(shade * 2, style="bright_magenta")
            out.append(f"{no_minus_zero(values[m]):>{width}.2f}  ")
        out.append("\n")
    out.rstrip()
    return out
