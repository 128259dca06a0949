"""What the REST routes know of the market: the instruments list, the latest tick of every
instrument and the candles built so far.

The websocket loop owns the `DemoMarket` and is the only one to move it; it hands each tick
round to `MarketData.on_round`, which publishes it (a reference swap of a private copy, so
REST threads read a consistent round without a lock) and folds it into the minute candles.
Everything else here is fixed for the session and computed once.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt

from optui.emulator.history import Candle, MinuteCandles, day_start
from optui.emulator.quotes import QuoteBook
from optui.feed.codec import empty_ticks
from optui.feed.simulator import DemoMarket
from optui.feed.universe import Universe

__all__ = ["MarketData"]


class MarketData:
    """A read-mostly view of one `DemoMarket` for the REST threads."""

    def __init__(self, market: DemoMarket) -> None:
        self.universe: Universe = market.instruments
        self.session: date = market.session
        self.previous_session: date = market.calendar.previous_trading_day(market.session)
        tokens, self._previous_close = market.previous_close()
        _, self._previous_oi = market.previous_close_oi()
        self.quotes = QuoteBook(self.universe)
        self.candles = MinuteCandles(len(self.universe), market.open_epoch)
        csv_text = market.instruments_csv()
        lines = csv_text.splitlines(keepends=True)
        header, rows = lines[0], lines[1:]
        if len(rows) != len(self.universe):  # one line per instrument: names hold no newline
            raise ValueError("instruments.csv does not have one line per instrument")
        self._csv_all = csv_text
        self._csv_by_exchange: dict[str, str] = {}
        for exchange in sorted(set(self.universe.exchange)):
            picked = [
                line
                for line, ex in zip(rows, self.universe.exchange, strict=True)
                if ex == exchange
            ]
            self._csv_by_exchange[exchange] = header + "".join(picked)
        self._csv_header = header
        # Until the first round: every instrument at its previous close.
        first = empty_ticks(len(self.universe))
        first["instrument_token"] = tokens
        first["close"] = first["last_price"] = self._previous_close
        self._latest: npt.NDArray[np.void] = first
        self.rounds = 0

    # -- fed by the websocket loop --------------------------------------------------------
    def on_round(self, ticks: npt.NDArray[np.void]) -> None:
        """Publish a full tick round (a private copy: the caller may reuse its array)."""
        self.candles.add(ticks)
        self._latest = ticks
        self.rounds += 1

    # -- read by REST ------------------------------------------------------------------------
    def latest(self) -> npt.NDArray[np.void]:
        """The latest round, every instrument in universe order (do not modify)."""
        return self._latest

    def instruments_csv(self, exchange: str | None = None) -> str:
        """Kite's instruments.csv, whole or for one exchange (header only if it lists none)."""
        if exchange is None:
            return self._csv_all
        return self._csv_by_exchange.get(exchange, self._csv_header)

    def day_candles(self, row: int, first: date, last: date) -> list[Candle]:
        """Day candles between two dates: the previous session's and this session's."""
        out: list[Candle] = []
        if first <= self.previous_session <= last:
            close = round(float(self._previous_close[row]), 2)
            out.append(
                Candle(
                    day_start(self.previous_session),
                    close,
                    close,
                    close,
                    close,
                    0,
                    int(self._previous_oi[row]),
                )
            )
        if first <= self.session <= last and self.rounds:
            tick = self._latest[row]
            out.append(
                Candle(
                    day_start(self.session),
                    round(float(tick["open"]), 2),
                    round(float(tick["high"]), 2),
                    round(float(tick["low"]), 2),
                    round(float(tick["last_price"]), 2),
                    int(tick["volume_traded"]),
                    int(tick["oi"]),
                )
            )
        return out
