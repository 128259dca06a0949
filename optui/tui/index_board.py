"""The index board: every index of the universe with its level and day's move."""

from __future__ import annotations

import math

import numpy as np
from rich.text import Text
from textual.widgets import DataTable

from optui.feed.state import MarketSnapshot
from optui.feed.universe import Kind, Universe

__all__ = ["IndexBoard"]

COLUMNS = ("Index", "Last", "Change", "Chg %", "Open", "High", "Low", "Prev close")
# Fixed widths: a level like 81,594.15 must fit before the first tick arrives.
WIDTHS = (18, 11, 9, 8, 11, 11, 11, 11)


def _price(value: float) -> Text:
    return Text(f"{value:,.2f}" if value else "—", justify="right")


def _signed(value: float, suffix: str = "") -> Text:
    if not math.isfinite(value):
        return Text("—", justify="right")
    style = "green" if value > 0 else "red" if value < 0 else ""
    return Text(f"{value:+,.2f}{suffix}", style=style, justify="right")


class IndexBoard(DataTable[Text | str]):
    """One row per index; cells are updated in place from market snapshots."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._tokens = np.zeros(0, dtype=np.uint32)
        self._values: dict[int, dict[str, object]] = {}

    def on_mount(self) -> None:
        for column, width in zip(COLUMNS, WIDTHS, strict=True):
            self.add_column(column, key=column, width=width)

    def _layout(self, universe: Universe) -> None:
        rows = np.flatnonzero(universe.kind == int(Kind.INDEX))
        self._tokens = universe.instrument_token[rows]
        for token, i in zip(self._tokens.tolist(), rows.tolist(), strict=True):
            name = universe.tradingsymbol[i]
            self.add_row(name, *(Text("—", justify="right") for _ in COLUMNS[1:]), key=str(token))

    def values(self) -> list[dict[str, object]]:
        """The values on view, one row per index that has ticked (for the export key)."""
        return [{"token": token, **values} for token, values in self._values.items()]

    def show(self, universe: Universe, snapshot: MarketSnapshot) -> None:
        """Write the latest values of every index into the table."""
        if not len(self._tokens):
            self._layout(universe)
        at = snapshot.rows(self._tokens)
        for token, row in zip(self._tokens.tolist(), at.tolist(), strict=True):
            if row < 0:
                continue
            tick = snapshot.ticks[row]
            last, close = float(tick["last_price"]), float(tick["close"])
            move = last - close if close else math.nan
            values = {
                "Last": _price(last),
                "Change": _signed(move),
                "Chg %": _signed(100 * move / close if close else math.nan, "%"),
                "Open": _price(float(tick["open"])),
                "High": _price(float(tick["high"])),
                "Low": _price(float(tick["low"])),
                "Prev close": _price(close),
            }
            self._values[token] = {
                "index": str(self.get_cell(str(token), "Index")),
                "last": last,
                "change": move,
                "open": float(tick["open"]),
                "high": float(tick["high"]),
                "low": float(tick["low"]),
                "close": close,
            }
            for column, value in values.items():
                self.update_cell(str(token), column, value)
