"""The breadth board: one row per index, its level and move, and how its members move.

Rows are laid out once, keyed by the index's instrument token (by its name where the
instruments list lacks the index), and updated cell by cell from each refresh's
`IndexBreadth` (`optui.analytics.breadth`). Indices with members (NIFTY 50, the sectors) come
first in the analytics' order; indices without a member list (SENSEX, INDIA VIX, ...) follow
with their level and move only, so every index the feed carries is on the board.

Columns are fixed in width so a level like 81,594.15 fits before the first tick, and ordered
so that what matters most stays on screen at 80 columns: name, level, move, the A/D bar.

The board is a `LineTable` (line API, a cached strip per row) rather than a `DataTable`: every
index moves every second under load, and a DataTable drew all its cells through Rich again
on each change (60-100 ms a refresh at 9,000 instruments); here a row is drawn again only
when one of its cells changed, and costs well under a millisecond.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from rich.text import Text

from optui.analytics.breadth import IndexBreadth
from optui.tui.widgets.ad_bar import ad_bar
from optui.tui.widgets.line_table import Column, LineTable

__all__ = [
    "AD_BAR_WIDTH",
    "COLUMNS",
    "BreadthTable",
    "count",
    "price",
    "ratio",
    "row_key",
    "share",
    "signed",
]

AD_BAR_WIDTH: Final = 12
#: (key, label, width): the key is what `get_cell` takes.
COLUMNS: Final = (
    Column("Index", "Index", 17),
    Column("Last", "Last", 10),
    Column("Change", "Chg", 8),
    Column("Chg %", "Chg %", 7),
    Column("A/D bar", "Adv/Unch/Dec", AD_BAR_WIDTH, keep_colors=True),
    Column("Adv", "Adv", 3),
    Column("Dec", "Dec", 3),
    Column("Unch", "Unch", 4),
    Column("No data", "N/D", 3),
    Column("A/D", "A/D", 5),
    Column("Above VWAP", ">VWAP", 5),
    Column("Vol ratio", "Vol×", 5),
)
_DASH: Final = "—"


def price(value: float | None) -> Text:
    """A price or level, right-aligned; a dash when unknown."""
    if value is None or not math.isfinite(value) or value <= 0:
        return Text(_DASH, justify="right")
    return Text(f"{value:,.2f}", justify="right")


def signed(value: float | None, suffix: str = "") -> Text:
    """A change, green up and red down; a dash when unknown."""
    if value is None or not math.isfinite(value):
        return Text(_DASH, justify="right")
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(f"{value:+,.2f}{suffix}", style=style, justify="right")


def count(value: int, members: int) -> Text:
    """A member count; a dash for an index without a member list."""
    return Text(str(value) if members else _DASH, justify="right")


def ratio(value: float | None, style_around: float | None = 1.0) -> Text:
    """A ratio such as A/D or volume vs previous days (green above 1, red below)."""
    if value is None or not math.isfinite(value):
        return Text(_DASH, justify="right")
    style = ""
    if style_around is not None:
        style = "green" if value > style_around else "red" if value < style_around else ""
    return Text(f"{value:.2f}", style=style, justify="right")


def share(value: float | None) -> Text:
    """A share 0..1 as a whole percentage."""
    if value is None or not math.isfinite(value):
        return Text(_DASH, justify="right")
    return Text(f"{100 * value:.0f}%", justify="right")


def row_key(b: IndexBreadth) -> str:
    """The row of an index: its token, or its name when the instruments list lacks it."""
    return str(b.token) if b.token is not None else b.index


def _ad_ratio(b: IndexBreadth) -> Text:
    if b.ad_ratio is None and b.advances and not b.declines:
        return Text("all ↑", style="green", justify="right")
    return ratio(b.ad_ratio)


class BreadthTable(LineTable):
    """Indices and sectors; `show` writes one refresh's breadth into the cells."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, id=id, zebra_stripes=True, show_cursor=True)

    def show(self, breadths: Sequence[IndexBreadth]) -> None:
        """Write the latest breadth of every index (rows are laid out the first time)."""
        if not self.row_count:
            self.set_rows(
                [row_key(b) for b in breadths],
                [[Text(b.index), *(Text("") for _ in COLUMNS[1:])] for b in breadths],
            )
        for b in breadths:
            self.update_row(
                row_key(b),
                {
                    "Last": price(b.level),
                    "Change": signed(b.change),
                    "Chg %": signed(b.change_pct, "%"),
                    "A/D bar": ad_bar(b.advances, b.unchanged, b.declines, b.no_data, AD_BAR_WIDTH)
                    if b.members
                    else Text(""),
                    "Adv": count(b.advances, b.members),
                    "Dec": count(b.declines, b.members),
                    "Unch": count(b.unchanged, b.members),
                    "No data": count(b.no_data, b.members),
                    "A/D": _ad_ratio(b) if b.members else Text(_DASH, justify="right"),
                    "Above VWAP": share(b.above_vwap_share),
                    "Vol ratio": ratio(b.volume_ratio),
                },
            )
