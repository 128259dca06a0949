"""The movers panel: the biggest gainers and losers among the selected index's members.

Two small tables side by side with a fixed number of row slots, written in place each
refresh (line-API `LineTable`s: a slot is drawn again only when one of its cells changed).
Prices follow the app's price basis (last or the day's average, as
`optui.analytics.price_toggle.shown_price` picks them); the % change is the analytics' (last
price vs the previous close), which is also what ranks the movers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Static

from optui.analytics.breadth import DEFAULT_MOVERS, Mover
from optui.tui.widgets.breadth_table import price, ratio, signed
from optui.tui.widgets.line_table import Column, LineTable

__all__ = ["MOVER_COLUMNS", "MoverRow", "MoverTable", "MoversPanel"]

#: (key, label, width)
MOVER_COLUMNS: Final = (
    Column("Symbol", "Symbol", 10),
    Column("Price", "Price", 9),
    Column("Chg %", "Chg %", 7),
    Column("Vol ratio", "Vol×", 5),
)


@dataclass(frozen=True, slots=True)
class MoverRow:
    """A mover as shown: the analytics' mover and its price on the basis on view."""

    mover: Mover
    price: float


class MoverTable(LineTable, can_focus=False):
    """Gainers or losers: `DEFAULT_MOVERS` row slots ("0", "1", ...), blank when unused; no
    cursor (nothing to pick here: the board's cursor drives it)."""

    def __init__(self, *, id: str) -> None:
        super().__init__(MOVER_COLUMNS, id=id, zebra_stripes=True, show_cursor=False)
        self.set_rows(
            [str(slot) for slot in range(DEFAULT_MOVERS)],
            [[Text("") for _ in MOVER_COLUMNS] for _ in range(DEFAULT_MOVERS)],
        )

    def show(self, rows: Sequence[MoverRow]) -> None:
        for slot in range(DEFAULT_MOVERS):
            if slot < len(rows):
                m, shown = rows[slot].mover, rows[slot].price
                cells = {
                    "Symbol": Text(m.symbol),
                    "Price": price(shown),
                    "Chg %": signed(m.change_pct, "%"),
                    "Vol ratio": ratio(m.volume_ratio),
                }
            else:
                cells = {c.key: Text("") for c in MOVER_COLUMNS}
            self.update_row(str(slot), cells)


class MoversPanel(Vertical):
    """A title line and the gainers and losers tables (ids "gainers" and "losers")."""

    DEFAULT_CSS = """
    MoversPanel { height: auto; }
    MoversPanel > .movers-title { height: 1; padding: 0 1; color: $text-muted; }
    MoversPanel > Horizontal { height: auto; }
    MoversPanel MoverTable { width: 1fr; height: auto; max-height: 7; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title_text = ""

    def compose(self) -> ComposeResult:
        yield Static("", classes="movers-title")
        with Horizontal():
            yield MoverTable(id="gainers")
            yield MoverTable(id="losers")

    def show(
        self, index: str, basis: str, gainers: Sequence[MoverRow], losers: Sequence[MoverRow]
    ) -> None:
        """The movers of `index`; `basis` names the price shown ("last" or "average")."""
        shown = "last price" if basis == "last" else "average price"
        what = (
            f" movers: gainers | losers · prices: {shown}"
            if gainers or losers
            else ": no movers (no member has moved, or the index has no members)"
        )
        title = Text.assemble((index, "bold"), what)
        if title.plain != self.title_text:
            self.title_text = title.plain
            self.query_one(".movers-title", Static).update(title)
        self.query_one("#gainers", MoverTable).show(gainers)
        self.query_one("#losers", MoverTable).show(losers)
