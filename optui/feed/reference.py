"""Reference data the demo market is built from, read from the `optui.assets` package.

Everything here is data we wrote ourselves into `assets/` (never copied from a market data
file), each row carrying the date it was true as of (`as_of`):

- `indices.csv`: index tokens (Kite's where confirmed, synthetic in segment 9 otherwise),
  reference levels, and the demo model's volatility and factor loadings per index;
- `equities.csv`: the stocks of the universe (NIFTY 50 plus NIFTY REALTY, which has no
  NIFTY 50 member) with NSE's industry and an approximate price level;
- `index_members.csv`: which of those stocks belong to which index;
- `derivatives.csv`: lot size, strike step, tick sizes and expiry weekday per underlying;
- `holidays.csv`: NSE and BSE trading holidays.

The files are parsed once and cached; the returned objects are immutable.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date
from functools import cache
from importlib.resources import files
from typing import Final

__all__ = [
    "WEEKDAYS",
    "DerivativeSpec",
    "EquitySpec",
    "Holiday",
    "IndexSpec",
    "derivative_specs",
    "equity_specs",
    "holidays",
    "index_members",
    "index_specs",
    "read_asset",
]

ASSETS_PACKAGE: Final = "optui.assets"

# Weekday names used in the asset files, Monday = 0 as in `date.weekday()`.
WEEKDAYS: Final[dict[str, int]] = {
    "MON": 0,
    "TUE": 1,
    "WED": 2,
    "THU": 3,
    "FRI": 4,
    "SAT": 5,
    "SUN": 6,
}


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """One index: how Kite names and tokenises it, and how the demo moves it."""

    tradingsymbol: str
    exchange: str  # "NSE" or "BSE"
    exchange_token: int
    token_source: str  # "kite" (Kite's real token) or "synthetic"
    ref_level: float
    as_of: date
    annual_vol: float  # demo model: annualised volatility of the index
    market_loading: float  # demo model: loading on the common market factor
    financials_loading: float  # demo model: loading on the financials factor

    @property
    def instrument_token(self) -> int:
        """Kite instrument token: exchange token shifted past the segment byte (9 = indices)."""
        return (self.exchange_token << 8) | 9


@dataclass(frozen=True, slots=True)
class EquitySpec:
    """One stock of the universe."""

    symbol: str
    company: str
    industry: str
    ref_price: float
    as_of: date


@dataclass(frozen=True, slots=True)
class DerivativeSpec:
    """Contract rules of one index derivative underlying (NIFTY, BANKNIFTY, ..., SENSEX)."""

    name: str
    exchange: str  # "NFO" or "BFO"
    underlying_index: str  # tradingsymbol of the index, e.g. "NIFTY 50"
    lot_size: int
    strike_step: int  # strike spacing of the nearest expiry
    strike_step_far: int  # strike spacing of later expiries (FINNIFTY widens to 100)
    option_tick: float
    future_tick: float
    expiry_weekday: int  # Monday = 0
    weekly_options: bool
    as_of: date


@dataclass(frozen=True, slots=True)
class Holiday:
    """An exchange trading holiday."""

    exchange: str
    day: date
    description: str


def read_asset(name: str) -> str:
    """Text of one file of the `optui.assets` package."""
    return files(ASSETS_PACKAGE).joinpath(name).read_text(encoding="utf-8")


def _rows(name: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(read_asset(name))))


def _yes(value: str) -> bool:
    if value not in ("yes", "no"):
        raise ValueError(f"expected yes or no, got {value!r}")
    return value == "yes"


@cache
def index_specs() -> tuple[IndexSpec, ...]:
    """All indices of `indices.csv`, in file order."""
    return tuple(
        IndexSpec(
            tradingsymbol=row["tradingsymbol"],
            exchange=row["exchange"],
            exchange_token=int(row["exchange_token"]),
            token_source=row["token_source"],
            ref_level=float(row["ref_level"]),
            as_of=date.fromisoformat(row["as_of"]),
            annual_vol=float(row["demo_annual_vol"]),
            market_loading=float(row["demo_market_loading"]),
            financials_loading=float(row["demo_financials_loading"]),
        )
        for row in _rows("indices.csv")
    )


@cache
def equity_specs() -> tuple[EquitySpec, ...]:
    """All stocks of `equities.csv`, in file order."""
    return tuple(
        EquitySpec(
            symbol=row["symbol"],
            company=row["company"],
            industry=row["industry"],
            ref_price=float(row["ref_price"]),
            as_of=date.fromisoformat(row["as_of"]),
        )
        for row in _rows("equities.csv")
    )


@cache
def index_members() -> dict[str, tuple[str, ...]]:
    """Index tradingsymbol -> member stock symbols (sorted), from `index_members.csv`."""
    members: dict[str, list[str]] = {}
    for row in _rows("index_members.csv"):
        members.setdefault(row["index"], []).append(row["symbol"])
    return {index: tuple(sorted(symbols)) for index, symbols in members.items()}


@cache
def derivative_specs() -> dict[str, DerivativeSpec]:
    """Underlying name (NIFTY, BANKNIFTY, ...) -> contract rules, from `derivatives.csv`."""
    specs: dict[str, DerivativeSpec] = {}
    for row in _rows("derivatives.csv"):
        specs[row["name"]] = DerivativeSpec(
            name=row["name"],
            exchange=row["exchange"],
            underlying_index=row["underlying_index"],
            lot_size=int(row["lot_size"]),
            strike_step=int(row["strike_step"]),
            strike_step_far=int(row["strike_step_far"]),
            option_tick=float(row["option_tick"]),
            future_tick=float(row["future_tick"]),
            expiry_weekday=WEEKDAYS[row["expiry_weekday"]],
            weekly_options=_yes(row["weekly_options"]),
            as_of=date.fromisoformat(row["as_of"]),
        )
    return specs


@cache
def holidays() -> tuple[Holiday, ...]:
    """All trading holidays of `holidays.csv`."""
    return tuple(
        Holiday(
            exchange=row["exchange"],
            day=date.fromisoformat(row["date"]),
            description=row["description"],
        )
        for row in _rows("holidays.csv")
    )
