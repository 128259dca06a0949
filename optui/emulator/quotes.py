"""`/quote`, `/quote/ltp` and `/quote/ohlc` answers from the latest tick of each instrument.

The shapes follow Kite's (see ``kite_mocks/quote.json``): keys are what the caller asked for
(``EXCHANGE:TRADINGSYMBOL``, or a bare instrument token), unknown instruments are left out
rather than failing the call, times are ``YYYY-MM-DD HH:MM:SS`` in IST. Circuit limits are
the previous close +-20% on the tick grid (0 for indices, which have none).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

import numpy as np
import numpy.typing as npt

from optui.feed.calendar import IST
from optui.feed.codec import SEGMENT_INDICES
from optui.feed.universe import Universe

__all__ = ["QUOTE_LIMITS", "QuoteBook"]

# Most instruments one request may name, per route (Kite's documented limits).
QUOTE_LIMITS: Final[dict[str, int]] = {"quote": 500, "ltp": 1000, "ohlc": 1000}
_CIRCUIT: Final = 0.2


def _kite_time(epoch: int) -> str | None:
    if epoch <= 0:
        return None
    return datetime.fromtimestamp(epoch, IST).strftime("%Y-%m-%d %H:%M:%S")


def _money(value: float) -> float:
    return round(float(value), 2)


class QuoteBook:
    """Resolves instrument keys to rows and shapes the latest ticks as Kite's quotes."""

    def __init__(self, universe: Universe) -> None:
        self._universe = universe
        self._row_of_key = {
            f"{ex}:{sym}": i
            for i, (ex, sym) in enumerate(
                zip(universe.exchange, universe.tradingsymbol, strict=True)
            )
        }
        self._row_of_token = {int(t): i for i, t in enumerate(universe.instrument_token.tolist())}

    def row(self, key: str) -> int | None:
        """Row of ``EXCHANGE:SYMBOL`` or of a bare token, or None if not listed."""
        if key.isdigit():
            return self._row_of_token.get(int(key))
        return self._row_of_key.get(key)

    def row_of_token(self, token: int) -> int | None:
        return self._row_of_token.get(token)

    def build(
        self, kind: str, keys: Iterable[str], latest: npt.NDArray[np.void]
    ) -> dict[str, dict[str, object]]:
        """The `data` of a quote route (`kind` is quote, ltp or ohlc) for `keys`."""
        out: dict[str, dict[str, object]] = {}
        for key in keys:
            row = self.row(key)
            if row is None or key in out:
                continue
            tick = latest[row]
            if kind == "ltp":
                out[key] = {
                    "instrument_token": int(tick["instrument_token"]),
                    "last_price": _money(tick["last_price"]),
                }
            elif kind == "ohlc":
                out[key] = {
                    "instrument_token": int(tick["instrument_token"]),
                    "last_price": _money(tick["last_price"]),
                    "ohlc": self._ohlc(tick),
                }
            else:
                out[key] = self._quote(row, tick)
        return out

    @staticmethod
    def _ohlc(tick: np.void) -> dict[str, float]:
        return {
            "open": _money(tick["open"]),
            "high": _money(tick["high"]),
            "low": _money(tick["low"]),
            "close": _money(tick["close"]),
        }

    def _quote(self, row: int, tick: np.void) -> dict[str, object]:
        token = int(tick["instrument_token"])
        index = token & 0xFF == SEGMENT_INDICES
        close = float(tick["close"])
        step = float(self._universe.tick_size[row]) or 0.05
        if index or close <= 0:
            lower = upper = 0.0
        else:
            lower = _money(np.floor(close * (1 - _CIRCUIT) / step) * step)
            upper = _money(np.ceil(close * (1 + _CIRCUIT) / step) * step)
        stamp = _kite_time(int(tick["exchange_timestamp"]))
        ltt = stamp if index else _kite_time(int(tick["last_trade_time"]))
        depth = {
            side: [
                {
                    "price": _money(tick[f"depth_{side}_price"][i]),
                    "quantity": int(tick[f"depth_{side}_quantity"][i]),
                    "orders": int(tick[f"depth_{side}_orders"][i]),
                }
                for i in range(5)
            ]
            for side in ("buy", "sell")
        }
        return {
            "instrument_token": token,
            "timestamp": stamp,
            "last_trade_time": ltt,
            "last_price": _money(tick["last_price"]),
            "last_quantity": int(tick["last_traded_quantity"]),
            "buy_quantity": int(tick["total_buy_quantity"]),
            "sell_quantity": int(tick["total_sell_quantity"]),
            "volume": int(tick["volume_traded"]),
            "average_price": _money(tick["average_traded_price"]),
            "oi": int(tick["oi"]),
            "oi_day_high": int(tick["oi_day_high"]),
            "oi_day_low": int(tick["oi_day_low"]),
            "net_change": _money(float(tick["last_price"]) - close) if close > 0 else 0,
            "lower_circuit_limit": lower,
            "upper_circuit_limit": upper,
            "ohlc": self._ohlc(tick),
            "depth": depth,
        }
