"""The sector heat strip: one coloured cell per sector index, strongest first.

The order is `optui.analytics.breadth.heat_strip`'s (by % change, sectors without a change
last); the colour says direction and size: greens up, reds down, three shades each by the
size of the move, grey for flat. Cells carry explicit foreground colours, so the strip reads
the same on dark and light themes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from rich.text import Text
from textual.app import RenderResult
from textual.geometry import Size
from textual.widget import Widget

from optui.analytics.breadth import SectorHeat

__all__ = ["HeatStrip", "heat_style", "sector_label", "strip_lines"]

#: (lower bound of the % change, style): the first bound the change reaches wins.
_UP: Final = ((1.5, "bold white on #006d2c"), (0.5, "white on #31a354"), (0.1, "black on #a1d99b"))
_DOWN: Final = (
    (1.5, "bold white on #a50f15"),
    (0.5, "white on #de2d26"),
    (0.1, "black on #fcae91"),
)
_FLAT: Final = "black on #d9d9d9"
_UNKNOWN: Final = "dim"


def heat_style(change_pct: float | None) -> str:
    """The cell's style for a % change (None: not known yet)."""
    if change_pct is None:
        return _UNKNOWN
    steps = _UP if change_pct > 0 else _DOWN
    for bound, style in steps:
        if abs(change_pct) >= bound:
            return style
    return _FLAT


def sector_label(index: str) -> str:
    """A sector's name in the strip: "NIFTY FIN SERVICE" -> "FIN SERVICE"."""
    return index.removeprefix("NIFTY ").strip() or index


def strip_lines(cells: Sequence[SectorHeat], width: int) -> list[Text]:
    """The cells laid out in lines of at most `width` cells, never splitting a cell."""
    lines: list[Text] = []
    line = Text(no_wrap=True, overflow="crop")
    for cell in cells:
        change = "—" if cell.change_pct is None else f"{cell.change_pct:+.2f}%"
        label = f" {sector_label(cell.index)} {change} "
        gap = 1 if line.cell_len else 0
        if line.cell_len and line.cell_len + gap + len(label) > width:
            lines.append(line)
            line, gap = Text(no_wrap=True, overflow="crop"), 0
        line.append(" " * gap)
        line.append(label, style=heat_style(cell.change_pct))
    if line.cell_len or not lines:
        lines.append(line)
    return lines


class HeatStrip(Widget):
    """Sector cells in one line, or a few on a narrow terminal (a cell is never split)."""

    DEFAULT_CSS = """
    HeatStrip { height: auto; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.cells: tuple[SectorHeat, ...] = ()

    def show(self, cells: Sequence[SectorHeat]) -> None:
        """Draw `cells` in the order given; redraws only when something changed."""
        cells = tuple(cells)
        if cells != self.cells:
            self.cells = cells
            self.refresh(layout=True)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return len(strip_lines(self.cells, width))

    def render(self) -> RenderResult:
        if not self.cells:
            return Text("no sector indices yet", style="dim")
        return Text("\n", no_wrap=True).join(strip_lines(self.cells, self.content_size.width))
