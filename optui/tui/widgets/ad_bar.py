"""The advance/decline bar: an index's members as one line of coloured blocks.

Drawn as a `rich.text.Text` that fits a table cell: advances in green, unchanged in grey,
declines in red, members without data as dim dots, each part as wide as its share of the
members. Widths are apportioned by largest remainder, so the parts always add up to the
bar's width and a share is never off by more than one cell; a part with at least one member
gets at least one cell when the bar is wide enough, so a lone decliner is never invisible.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from rich.text import Text

__all__ = ["AD_STYLES", "ad_bar", "bar_widths"]

#: (character, style) of advances, unchanged, declines and no data, in drawing order.
AD_STYLES: Final = (("█", "green"), ("█", "bright_black"), ("█", "red"), ("·", "dim"))


def bar_widths(counts: Sequence[int], width: int) -> tuple[int, ...]:
    """Cells for each count out of `width`, proportional to the counts (largest remainder),
    adding up to `width` (all 0 when every count is 0)."""
    if width < 0 or any(c < 0 for c in counts):
        raise ValueError(f"bar_widths needs counts and a width of 0 or more: {counts}, {width}")
    total = sum(counts)
    if total == 0 or width == 0:
        return tuple(0 for _ in counts)
    exact = [c * width / total for c in counts]
    cells = [int(x) for x in exact]
    by_remainder = sorted(range(len(counts)), key=lambda i: (cells[i] - exact[i], i))
    for i in by_remainder[: width - sum(cells)]:
        cells[i] += 1
    # A part with members but no cell takes one from the widest part.
    for i in sorted(range(len(counts)), key=lambda i: -counts[i]):
        widest = max(range(len(cells)), key=lambda j: cells[j])
        if counts[i] and cells[i] == 0 and cells[widest] > 1:
            cells[i] += 1
            cells[widest] -= 1
    return tuple(cells)


def ad_bar(advances: int, unchanged: int, declines: int, no_data: int, width: int) -> Text:
    """The bar for these counts, exactly `width` cells wide (blank when there are no
    members)."""
    widths = bar_widths((advances, unchanged, declines, no_data), width)
    bar = Text(no_wrap=True, overflow="crop")
    for (char, style), cells in zip(AD_STYLES, widths, strict=True):
        if cells:
            bar.append(char * cells, style=style)
    if not bar.cell_len:
        bar.append(" " * width)
    return bar
