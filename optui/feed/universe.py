"""The demo's instrument universe, in Kite's instruments schema.

A universe is built for one session date: the indices of `assets/indices.csv`, the stocks of
`assets/equities.csv`, and for each index derivative underlying (NIFTY, BANKNIFTY, FINNIFTY,
MIDCPNIFTY, SENSEX) its three monthly futures and its options on the expiries listed that day
(`TradingCalendar.option_expiries`), with strikes centred on the underlying's previous close.

It is held as columns (numpy arrays and tuples of strings, one entry per instrument) so that
the simulator can work on all instruments at once, plus a `Chain` per underlying and expiry so
that chain analytics select strikes without searching. `to_csv()` writes Kite's
`instruments.csv` text with the exact column order of the real dump.

Tokens follow Kite: `instrument_token = (exchange_token << 8) | segment` with segment 1 NSE,
2 NFO, 4 BSE, 5 BFO, 9 indices. Index tokens come from `indices.csv`. Every other token is
synthetic: a hash of the contract's exchange and tradingsymbol into exchange tokens
4,194,304..8,323,071 (0x400000..0x7EFFFF), above any real NSE/BSE exchange token seen in Kite
dumps, so a contract keeps its token from day to day (as on Kite) and does not collide with a
real one. Instrument tokens stay below 2**31, so they also fit a signed 32-bit column;
0x7F0000 and up is left for the synthetic index tokens written in `indices.csv`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import IntEnum
from typing import Final, Protocol

import msgspec
import numpy as np
import numpy.typing as npt

from optui.feed import reference
from optui.feed.calendar import Expiry, TradingCalendar
from optui.feed.reference import DerivativeSpec

__all__ = [
    "CSV_COLUMNS",
    "SEGMENT_CODES",
    "Chain",
    "Instrument",
    "Kind",
    "Universe",
    "UniverseConfig",
    "build_universe",
    "option_symbol",
]

CSV_COLUMNS: Final = (
    "instrument_token",
    "exchange_token",
    "tradingsymbol",
    "name",
    "last_price",
    "expiry",
    "strike",
    "tick_size",
    "lot_size",
    "instrument_type",
    "segment",
    "exchange",
)

# Kite's segment byte (the low 8 bits of an instrument token), as in KiteTicker.EXCHANGE_MAP.
SEGMENT_CODES: Final[dict[str, int]] = {"NSE": 1, "NFO": 2, "BSE": 4, "BFO": 5, "INDICES": 9}

_SYNTHETIC_BASE: Final = 0x400000
_SYNTHETIC_SPAN: Final = 0x7F0000 - _SYNTHETIC_BASE  # 0x7F0000 and up: indices.csv
_MONTHS: Final = (
    "JAN",
    "FEB",
    "MAR",
    "APR",
    "MAY",
    "JUN",
    "JUL",
    "AUG",
    "SEP",
    "OCT",
    "NOV",
    "DEC",
)
# Weekly contracts code the month in one character: 1-9 for Jan-Sep, O, N, D for Oct-Dec.
_WEEKLY_MONTH_CODES: Final = "123456789OND"

# NSE moved stocks under Rs 250 to a 1-paisa tick in 2025; others keep 5 paise.
_EQUITY_FINE_TICK_BELOW: Final = 250.0


class Kind(IntEnum):
    """What an instrument is; option kinds last so `kind >= CALL` selects options."""

    INDEX = 0
    EQUITY = 1
    FUTURE = 2
    CALL = 3
    PUT = 4


_INSTRUMENT_TYPE: Final[dict[Kind, str]] = {
    Kind.INDEX: "EQ",
    Kind.EQUITY: "EQ",
    Kind.FUTURE: "FUT",
    Kind.CALL: "CE",
    Kind.PUT: "PE",
}


class Instrument(msgspec.Struct, frozen=True):
    """One row of Kite's instruments list."""

    instrument_token: int
    exchange_token: int
    tradingsymbol: str
    name: str
    last_price: float
    expiry: date | None
    strike: float
    tick_size: float
    lot_size: int
    instrument_type: str
    segment: str
    exchange: str


@dataclass(frozen=True, slots=True)
class Chain:
    """The strikes of one underlying and expiry, with the row of each call and put.

    `calls[i]` and `puts[i]` are rows of the universe for `strikes[i]`, or -1 where a
    size-limited universe dropped that leg.
    """

    name: str
    expiry: date
    strikes: npt.NDArray[np.float64]
    calls: npt.NDArray[np.intp]
    puts: npt.NDArray[np.intp]


@dataclass(frozen=True, slots=True)
class UniverseConfig:
    """How many expiries and strikes to list.

    `strikes_near` strikes each side of the at-the-money strike for each underlying's
    `near_expiries` nearest expiries, `strikes_far` for the rest. `size`, if given, is the
    exact instrument count wanted: strikes are widened, then the farthest wings of the latest
    expiries trimmed, until the universe has exactly that many instruments.
    """

    nifty_weeklies: int = 4
    sensex_weeklies: int = 3
    sensex_monthlies: int = 1
    monthlies: int = 3
    futures: int = 3
    strikes_near: int = 40
    strikes_far: int = 20
    near_expiries: int = 2
    size: int | None = None

    def expiry_counts(self, spec: DerivativeSpec) -> tuple[int, int]:
        """(non-monthly weeklies, monthlies) to list for an underlying."""
        if spec.name == "SENSEX":
            return self.sensex_weeklies, self.sensex_monthlies
        if spec.weekly_options:
            return self.nifty_weeklies, self.monthlies
        return 0, self.monthlies


@dataclass(frozen=True)
class Universe:
    """All instruments of one session, as columns (row i of every column is instrument i).

    Rows are ordered indices, stocks, futures, then options grouped by underlying, expiry and
    strike, calls before puts, so every kind is one contiguous slice (`slice_of`).
    """

    session: date
    instrument_token: npt.NDArray[np.uint32]
    exchange_token: npt.NDArray[np.int64]
    tradingsymbol: tuple[str, ...]
    name: tuple[str, ...]
    expiry: npt.NDArray[np.datetime64]  # datetime64[D], NaT where there is none
    strike: npt.NDArray[np.float64]
    tick_size: npt.NDArray[np.float64]
    lot_size: npt.NDArray[np.int64]
    kind: npt.NDArray[np.int8]
    segment: tuple[str, ...]
    exchange: tuple[str, ...]
    underlying: npt.NDArray[np.intp]  # row whose price drives this one (itself for spot rows)
    chains: Mapping[tuple[str, date], Chain]
    _row_of_token: dict[int, int] = field(repr=False, compare=False)

    def __len__(self) -> int:
        return len(self.tradingsymbol)

    def slice_of(self, *kinds: Kind) -> slice:
        """The contiguous row range holding exactly the given kinds (which must be adjacent)."""
        mask = np.isin(self.kind, [int(k) for k in kinds])
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            return slice(0, 0)
        if rows[-1] - rows[0] + 1 != len(rows):
            raise ValueError(f"kinds {kinds} are not contiguous")
        return slice(int(rows[0]), int(rows[-1]) + 1)

    def row_of(self, token: int) -> int:
        """Row of an instrument token (KeyError if absent)."""
        return self._row_of_token[int(token)]

    def row(self, i: int) -> Instrument:
        """Instrument `i` as a typed row."""
        expiry = self.expiry[i]
        return Instrument(
            instrument_token=int(self.instrument_token[i]),
            exchange_token=int(self.exchange_token[i]),
            tradingsymbol=self.tradingsymbol[i],
            name=self.name[i],
            last_price=0.0,
            expiry=None if np.isnat(expiry) else expiry.astype(date),
            strike=float(self.strike[i]),
            tick_size=float(self.tick_size[i]),
            lot_size=int(self.lot_size[i]),
            instrument_type=_INSTRUMENT_TYPE[Kind(int(self.kind[i]))],
            segment=self.segment[i],
            exchange=self.exchange[i],
        )

    def chain(self, name: str, expiry: date) -> Chain:
        """The option chain of an underlying (NIFTY, ...) and expiry."""
        return self.chains[(name, expiry)]

    def expiries(self, name: str) -> list[date]:
        """Option expiries listed for an underlying, nearest first."""
        return sorted(e for n, e in self.chains if n == name)

    def to_csv(self, last_price: npt.ArrayLike | None = None) -> str:
        """Kite `instruments.csv` text (header and one line per instrument, LF endings)."""
        prices = np.zeros(len(self)) if last_price is None else np.asarray(last_price, dtype=float)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for i in range(len(self)):
            expiry = self.expiry[i]
            writer.writerow(
                (
                    int(self.instrument_token[i]),
                    int(self.exchange_token[i]),
                    self.tradingsymbol[i],
                    self.name[i],
                    repr(round(float(prices[i]), 2)),
                    "" if np.isnat(expiry) else str(expiry),
                    repr(float(self.strike[i])),
                    repr(float(self.tick_size[i])),
                    int(self.lot_size[i]),
                    _INSTRUMENT_TYPE[Kind(int(self.kind[i]))],
                    self.segment[i],
                    self.exchange[i],
                )
            )
        return out.getvalue()


# -- tradingsymbols ------------------------------------------------------------------------------
def _strike_text(strike: float) -> str:
    return str(int(strike)) if float(strike).is_integer() else f"{strike:g}"


def option_symbol(name: str, expiry: Expiry, strike: float, option_type: str) -> str:
    """Kite's tradingsymbol of an index option.

    Monthly: `NIFTY26NOV24500CE` (year, month name). Weekly: `NIFTY2612124500CE` (year, one
    month character 1-9/O/N/D, day), as in the Kite dumps (`NIFTY25O2025150CE`).
    """
    yy = expiry.day.year % 100
    if expiry.monthly:
        when = f"{yy:02d}{_MONTHS[expiry.day.month - 1]}"
    else:
        when = f"{yy:02d}{_WEEKLY_MONTH_CODES[expiry.day.month - 1]}{expiry.day.day:02d}"
    return f"{name}{when}{_strike_text(strike)}{option_type}"


def future_symbol(name: str, expiry: date) -> str:
    """Kite's tradingsymbol of an index future, e.g. `NIFTY26NOVFUT`."""
    return f"{name}{expiry.year % 100:02d}{_MONTHS[expiry.month - 1]}FUT"


def _synthetic_exchange_tokens(keys: Sequence[str]) -> list[int]:
    """Stable synthetic exchange tokens for distinct keys (linear probing on collisions)."""
    used: set[int] = set()
    token_of: dict[str, int] = {}
    for key in sorted(keys):
        digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
        token = _SYNTHETIC_BASE + int.from_bytes(digest, "big") % _SYNTHETIC_SPAN
        while token in used:
            token = _SYNTHETIC_BASE + (token - _SYNTHETIC_BASE + 1) % _SYNTHETIC_SPAN
        used.add(token)
        token_of[key] = token
    return [token_of[key] for key in keys]


def _display_name(company: str) -> str:
    """Kite-style upper-case name without the legal suffix ("RELIANCE INDUSTRIES")."""
    name = company.upper()
    for suffix in (" LTD.", " LIMITED", " LTD"):
        name = name.removesuffix(suffix)
    return name


# -- building ------------------------------------------------------------------------------------
class RowColumns(Protocol):
    """Per-instrument column lists, as a universe builder collects them row by row."""

    @property
    def exchange_token(self) -> Sequence[int]: ...

    @property
    def tradingsymbol(self) -> Sequence[str]: ...

    @property
    def name(self) -> Sequence[str]: ...

    @property
    def expiry(self) -> Sequence[date | None]: ...

    @property
    def strike(self) -> Sequence[float]: ...

    @property
    def tick_size(self) -> Sequence[float]: ...

    @property
    def lot_size(self) -> Sequence[int]: ...

    @property
    def kind(self) -> Sequence[int]: ...

    @property
    def segment(self) -> Sequence[str]: ...

    @property
    def exchange(self) -> Sequence[str]: ...

    @property
    def underlying(self) -> Sequence[int]: ...


def universe_of(
    session: date,
    rows: RowColumns,
    instrument_token: npt.ArrayLike,
    chains: Mapping[tuple[str, date], Chain],
) -> Universe:
    """The `Universe` of collected rows: the demo's builder and Kite's instruments list both
    end here, so the two give the same column types."""
    tokens = np.asarray(instrument_token, dtype=np.uint32)
    return Universe(
        session=session,
        instrument_token=tokens,
        exchange_token=np.array(rows.exchange_token, dtype=np.int64),
        tradingsymbol=tuple(rows.tradingsymbol),
        name=tuple(rows.name),
        expiry=np.array(
            [
                np.datetime64(e, "D") if e is not None else np.datetime64("NaT", "D")
                for e in rows.expiry
            ],
            dtype="datetime64[D]",
        ),
        strike=np.array(rows.strike, dtype=np.float64),
        tick_size=np.array(rows.tick_size, dtype=np.float64),
        lot_size=np.array(rows.lot_size, dtype=np.int64),
        kind=np.array(rows.kind, dtype=np.int8),
        segment=tuple(rows.segment),
        exchange=tuple(rows.exchange),
        underlying=np.array(rows.underlying, dtype=np.intp),
        chains=chains,
        _row_of_token={t: i for i, t in enumerate(tokens.tolist())},
    )


@dataclass(slots=True)
class _Rows:
    keys: list[str] = field(default_factory=list)  # synthetic token key, "" for index rows
    exchange_token: list[int] = field(default_factory=list)
    tradingsymbol: list[str] = field(default_factory=list)
    name: list[str] = field(default_factory=list)
    expiry: list[date | None] = field(default_factory=list)
    strike: list[float] = field(default_factory=list)
    tick_size: list[float] = field(default_factory=list)
    lot_size: list[int] = field(default_factory=list)
    kind: list[int] = field(default_factory=list)
    segment: list[str] = field(default_factory=list)
    exchange: list[str] = field(default_factory=list)
    underlying: list[int] = field(default_factory=list)

    def add(
        self,
        *,
        key: str,
        exchange_token: int,
        tradingsymbol: str,
        name: str,
        expiry: date | None,
        strike: float,
        tick_size: float,
        lot_size: int,
        kind: Kind,
        segment: str,
        exchange: str,
        underlying: int,
    ) -> int:
        self.keys.append(key)
        self.exchange_token.append(exchange_token)
        self.tradingsymbol.append(tradingsymbol)
        self.name.append(name)
        self.expiry.append(expiry)
        self.strike.append(strike)
        self.tick_size.append(tick_size)
        self.lot_size.append(lot_size)
        self.kind.append(int(kind))
        self.segment.append(segment)
        self.exchange.append(exchange)
        self.underlying.append(underlying)
        return len(self.keys) - 1


@dataclass(frozen=True, slots=True)
class _OptionPlan:
    spec: DerivativeSpec
    expiry: Expiry
    near: bool
    atm: float
    step: int


def _option_plans(
    session: date,
    levels: Mapping[str, float],
    config: UniverseConfig,
    calendar: TradingCalendar,
) -> list[_OptionPlan]:
    plans: list[_OptionPlan] = []
    for spec in reference.derivative_specs().values():
        weeklies, monthlies = config.expiry_counts(spec)
        expiries = calendar.option_expiries(spec, session, weeklies, monthlies)
        center = levels[spec.underlying_index]
        for i, expiry in enumerate(expiries):
            # FINNIFTY lists its nearest month at 50 and later months at 100 (Aug-2026 dump).
            step = spec.strike_step if i == 0 else spec.strike_step_far
            atm = round(center / step) * step
            plans.append(_OptionPlan(spec, expiry, i < config.near_expiries, float(atm), step))
    return plans


def _strike_offsets(plan: _OptionPlan, width: int) -> range:
    """Steps from the ATM strike to list, `width` each side, strikes above zero only."""
    lowest = -min(width, math.ceil(plan.atm / plan.step) - 1)
    return range(lowest, width + 1)


def _strike_counts(plans: Sequence[_OptionPlan], near: int, far: int) -> int:
    return sum(2 * len(_strike_offsets(p, near if p.near else far)) for p in plans)


def build_universe(
    session: date,
    levels: Mapping[str, float],
    config: UniverseConfig | None = None,
    calendar: TradingCalendar | None = None,
) -> Universe:
    """Build the universe for `session`.

    `levels` maps every index tradingsymbol and stock symbol to its previous close; strikes
    are centred on the underlying index's level and stock tick sizes follow their price.
    """
    config = config or UniverseConfig()
    cal = calendar or TradingCalendar.default()
    rows = _Rows()

    index_row: dict[str, int] = {}
    for ix in reference.index_specs():
        index_row[ix.tradingsymbol] = rows.add(
            key="",
            exchange_token=ix.exchange_token,
            tradingsymbol=ix.tradingsymbol,
            name=ix.tradingsymbol,
            expiry=None,
            strike=0.0,
            tick_size=0.0,  # Kite lists indices with tick and lot 0: they are not traded
            lot_size=0,
            kind=Kind.INDEX,
            segment="INDICES",
            exchange=ix.exchange,
            underlying=len(rows.keys),
        )

    for eq in reference.equity_specs():
        price = levels[eq.symbol]
        rows.add(
            key=f"NSE:{eq.symbol}",
            exchange_token=0,
            tradingsymbol=eq.symbol,
            name=_display_name(eq.company),
            expiry=None,
            strike=0.0,
            tick_size=0.01 if price < _EQUITY_FINE_TICK_BELOW else 0.05,
            lot_size=1,
            kind=Kind.EQUITY,
            segment="NSE",
            exchange="NSE",
            underlying=len(rows.keys),
        )

    for spec in reference.derivative_specs().values():
        for expiry_day in cal.future_expiries(spec, session, config.futures):
            symbol = future_symbol(spec.name, expiry_day)
            rows.add(
                key=f"{spec.exchange}:{symbol}",
                exchange_token=0,
                tradingsymbol=symbol,
                name=spec.name,
                expiry=expiry_day,
                strike=0.0,
                tick_size=spec.future_tick,
                lot_size=spec.lot_size,
                kind=Kind.FUTURE,
                segment=f"{spec.exchange}-FUT",
                exchange=spec.exchange,
                underlying=index_row[spec.underlying_index],
            )

    plans = _option_plans(session, levels, config, cal)
    n_fixed = len(rows.keys)
    near, far = config.strikes_near, config.strikes_far
    trim = 0
    if config.size is not None:
        budget = config.size - n_fixed
        if budget < 2 * len(plans):
            raise ValueError(f"size {config.size} leaves no room for the option chains")
        # Widen strikes in proportion until the budget is met, then trim the excess.
        ratio = far / near if near else 1.0
        near = 0
        while True:
            far = max(0, math.ceil(near * ratio))
            if _strike_counts(plans, near, far) >= budget:
                break
            near += 1
        trim = _strike_counts(plans, near, far) - budget

    # Drop the `trim` option rows farthest from the money, latest expiries first.
    dropped: set[tuple[int, int, int]] = set()
    if trim:
        candidates = []
        for p_i, plan in enumerate(plans):
            for k in _strike_offsets(plan, near if plan.near else far):
                for leg in (0, 1):
                    candidates.append((-abs(k), -p_i, -k, leg, p_i, k))
        candidates.sort()
        dropped = {(c[4], c[5], c[3]) for c in candidates[:trim]}

    chains: dict[tuple[str, date], Chain] = {}
    for p_i, plan in enumerate(plans):
        spec = plan.spec
        width = near if plan.near else far
        strikes: list[float] = []
        calls: list[int] = []
        puts: list[int] = []
        for k in _strike_offsets(plan, width):
            strike = plan.atm + k * plan.step
            legs = []
            for leg, (kind, option_type) in enumerate(((Kind.CALL, "CE"), (Kind.PUT, "PE"))):
                if (p_i, k, leg) in dropped:
                    legs.append(-1)
                    continue
                symbol = option_symbol(spec.name, plan.expiry, strike, option_type)
                legs.append(
                    rows.add(
                        key=f"{spec.exchange}:{symbol}",
                        exchange_token=0,
                        tradingsymbol=symbol,
                        name=spec.name,
                        expiry=plan.expiry.day,
                        strike=strike,
                        tick_size=spec.option_tick,
                        lot_size=spec.lot_size,
                        kind=kind,
                        segment=f"{spec.exchange}-OPT",
                        exchange=spec.exchange,
                        underlying=index_row[spec.underlying_index],
                    )
                )
            if legs != [-1, -1]:
                strikes.append(strike)
                calls.append(legs[0])
                puts.append(legs[1])
        chains[(spec.name, plan.expiry.day)] = Chain(
            name=spec.name,
            expiry=plan.expiry.day,
            strikes=np.array(strikes, dtype=np.float64),
            calls=np.array(calls, dtype=np.intp),
            puts=np.array(puts, dtype=np.intp),
        )

    synthetic = [i for i, key in enumerate(rows.keys) if key]
    for i, token in zip(
        synthetic, _synthetic_exchange_tokens([rows.keys[i] for i in synthetic]), strict=True
    ):
        rows.exchange_token[i] = token
    segment_code = np.array(
        [
            SEGMENT_CODES[s.split("-")[0] if k != Kind.INDEX else "INDICES"]
            for s, k in zip(rows.segment, rows.kind, strict=True)
        ],
        dtype=np.int64,
    )
    exchange_token = np.array(rows.exchange_token, dtype=np.int64)
    instrument_token = ((exchange_token << 8) | segment_code).astype(np.uint32)
    if len(set(instrument_token.tolist())) != len(instrument_token):
        raise AssertionError("duplicate instrument tokens in the universe")

    return universe_of(session, rows, instrument_token, chains)
