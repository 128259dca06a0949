"""The option chain's columns: how each figure is written, and which columns fit a width.

A chain is read across: calls on the left, the strike in the middle, puts on the right,
each side a mirror of the other so the price sits next to the strike. Terminals are narrow,
so every column has a fixed width that holds its widest value plus a one-cell gap (the
table runs without cell padding), and `chain_columns` picks the columns a width can hold
by priority: at 80 cells volume and change go first, as the chain screen's issue asks.

The formatters are pure and shared by the table, the tests and nothing else: a missing
value (NaN) is "—", never 0, because a strike that has not traded is not a strike at 0.
Large counts (OI, volume) use the lakh and crore a trader in India reads them in.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Literal

from optui.settings import PriceBasis

__all__ = [
    "FIELDS",
    "MISSING",
    "STRIKE_WIDTH",
    "Field",
    "chain_columns",
    "fmt_change",
    "fmt_compact",
    "fmt_delta",
    "fmt_gamma",
    "fmt_iv",
    "fmt_price",
    "fmt_strike",
    "fmt_theta",
    "fmt_vega",
    "table_width",
]

MISSING: Final = "—"

FieldName = Literal[
    "price", "change", "oi", "oi_change", "volume", "iv", "delta", "gamma", "theta", "vega"
]


def _finite(value: float) -> bool:
    return math.isfinite(value)


def fmt_price(value: float) -> str:
    """Rupees to the paisa, without a thousands comma (an option above 9,999 is rare and
    the comma would cost the gap between columns)."""
    return f"{value:.2f}" if _finite(value) else MISSING


def fmt_change(value: float) -> str:
    return f"{value:+.2f}" if _finite(value) else MISSING


def fmt_compact(value: float, *, signed: bool = False) -> str:
    """A count in at most 6 characters (7 signed) below 10,000 crore: 99,999, then lakhs
    (12.34L), then crores (5.30Cr)."""
    if not _finite(value):
        return MISSING
    sign = "-" if value < 0 else "+" if signed and value > 0 else ""
    size = abs(value)
    if size < 99_999.5:
        body = f"{size:,.0f}"
    elif size < 99.995e5:
        body = f"{size / 1e5:.2f}L"
    elif size < 9.995e7:
        body = f"{size / 1e7:.2f}Cr"
    elif size < 99.95e7:
        body = f"{size / 1e7:.1f}Cr"
    else:
        body = f"{size / 1e7:.0f}Cr"
    return sign + body


def fmt_iv(value: float) -> str:
    """Implied volatility in percent (0.1094 -> 10.94)."""
    return f"{value * 100:.2f}" if _finite(value) else MISSING


def fmt_delta(value: float) -> str:
    return f"{value:.2f}" if _finite(value) else MISSING


def fmt_gamma(value: float) -> str:
    return f"{value:.5f}" if _finite(value) else MISSING


def fmt_theta(value: float) -> str:
    """Rupees per calendar day."""
    return f"{value:.1f}" if _finite(value) else MISSING


def fmt_vega(value: float) -> str:
    """Rupees per vol point."""
    return f"{value:.2f}" if _finite(value) else MISSING


def fmt_strike(value: float) -> str:
    """24550 (24537.5 for a half-point strike): no comma, as option chains write strikes."""
    if not _finite(value):
        return MISSING
    return f"{value:.0f}" if value == int(value) else f"{value:.2f}".rstrip("0")


@dataclass(frozen=True, slots=True)
class Field:
    """One figure of a side (`ChainSide` attribute `name`), as a column of each side."""

    name: FieldName
    label: str
    width: int
    """Cells: the widest value plus a one-cell gap."""
    fmt: Callable[[float], str]
    signed: bool = False
    """Coloured by sign (green up, red down)."""


FIELDS: Final[dict[str, Field]] = {
    f.name: f
    for f in (
        Field("price", "LTP", 8, fmt_price),
        Field("change", "Chg", 8, fmt_change, signed=True),
        Field("oi", "OI", 7, fmt_compact),
        Field("oi_change", "ΔOI", 8, lambda v: fmt_compact(v, signed=True), signed=True),
        Field("volume", "Vol", 7, fmt_compact),
        Field("iv", "IV", 6, fmt_iv),
        Field("delta", "Delta", 6, fmt_delta),
        Field("gamma", "Gamma", 8, fmt_gamma),
        Field("theta", "Theta", 7, fmt_theta),
        Field("vega", "Vega", 6, fmt_vega),
    )
}
"""Every figure of a side, by `ChainSide` attribute."""

STRIKE_WIDTH: Final = 9
"""Room for "►24550◄" (the ATM mark) and a gap each side."""

# Outer to inner on the calls side (the puts mirror it): the price beside the strike.
_ORDER: Final = (
    "volume",
    "oi",
    "oi_change",
    "vega",
    "theta",
    "gamma",
    "delta",
    "iv",
    "change",
    "price",
)
# What stays when the width runs out, most wanted first: volume and change go first; with
# greeks on view (`g`), the greeks outrank open interest.
_PRIORITY: Final = {
    False: ("price", "oi", "oi_change", "iv", "delta", "change", "volume"),
    True: ("price", "iv", "delta", "gamma", "theta", "vega", "oi", "oi_change"),
}


def chain_columns(width: int, *, greeks: bool) -> tuple[Field, ...]:
    """The columns of one side (calls order, outer to inner) that fit `width` cells of
    table (both sides and the strike), at least the price."""
    per_side = (width - STRIKE_WIDTH) // 2
    chosen: list[str] = []
    used = 0
    for name in _PRIORITY[greeks]:
        field = FIELDS[name]
        if used + field.width > per_side and chosen:
            continue
        chosen.append(name)
        used += field.width
    return tuple(FIELDS[name] for name in _ORDER if name in chosen)


def table_width(columns: tuple[Field, ...]) -> int:
    """Cells the table takes with these columns on each side."""
    return 2 * sum(f.width for f in columns) + STRIKE_WIDTH


def price_label(basis: PriceBasis) -> str:
    """The price column's title: what the price is."""
    return "LTP" if basis == "last" else "Avg"
