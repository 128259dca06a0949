"""The movers panel: the biggest gainers and losers among the selected index's members.

Two small tables side by side with a fixed number of row slots, written in place each
refresh. Prices follow the app's price basis (last or the day's average, as
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
from textual.widgets import DataTable, Static

from optui.analytics.breadth import DEFAULT_MOVERS, Mover
from optui.tui.widgets.breadth_table import price, ratio, same_text, signed

__all__ = ["MOVER_COLUMNS", "MoverRow", "MoverTable", "MoversPanel"]

#: (key, label, width)
MOVER_COLUMNS: Final = (
    ("Symbol", "Symbol", 10),
    ("Price", "Price", 9),
    ("Chg %", "Chg %", 7),
    ("Vol ratio", "Vol×", 5),
)


@dataclass(frozen=True, slots=True)
class MoverRow:
    """A mover as shown: the analytics' mover and its price on the basis on view."""

    mover: Mover
    price: float


class MoverTable(DataTable[Text]):
    """Gainers or losers: `DEFAULT_MOVERS` row slots ("0", "1", ...), blank when unused."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id, cursor_type="none", zebra_stripes=True)
        self.can_focus = False  # nothing to pick here: the board's cursor drives it

    def on_mount(self) -> None:
        for key, label, width in MOVER_COLUMNS:
            self.add_column(label, key=key, width=width)
        for slot in range(DEFAULT_MOVERS):
            self.add_row(*(Text("") for _ in MOVER_COLUMNS), key=str(slot))

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
                cells = {key: Text("") for key, _, _ in MOVER_COLUMNS}
            for column, value in cells.items():
                if not same_text(self.get_cell(str(slot), column), value):
                    self.update_cell(str(slot), column, value)


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
