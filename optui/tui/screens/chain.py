"""The option chain screen: one underlying and expiry, strike by strike, live.

Each refresh builds the chain of the selected underlying and expiry only (`build_chain`,
vectorised: a few milliseconds even for ~300 strikes) and hands it to the table, which
writes only what changed on view. The selection is the screen's own state: `u`/`U` step
through the configured underlyings that the instruments list has, `e`/`E` through the
expiries still open; a new underlying starts on its nearest expiry. A key press redraws at
once from the last context rather than waiting for the next tick of the timer.

The table's columns follow the width (volume and change give way first on a small terminal)
and `g`, which trades volume and change for gamma, theta and vega.

IV percentile and rank need past days' closing ATM IVs; the screen takes them from the
context's `atm_iv_history` (underlying -> closing ATM IVs) when the app provides it, and
leaves both out otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widget import Widget
from textual.widgets import Static

from optui.analytics.chain import NSE_RATE, OptionChain, build_chain
from optui.feed.calendar import IST, ist_date
from optui.feed.universe import Universe
from optui.tui.context import ViewContext
from optui.tui.screens.base import OptuiScreen, Row
from optui.tui.widgets.chain_columns import (
    FIELDS,
    STRIKE_WIDTH,
    Field,
    chain_columns,
    table_width,
)
from optui.tui.widgets.chain_header import ChainHeader
from optui.tui.widgets.chain_table import ChainTable

__all__ = ["ChainScreen", "chain_rows"]

_SCROLLBAR = 1
"""The table's vertical scrollbar (ChainTable's CSS)."""


def _value(x: float) -> float | None:
    return None if math.isnan(x) else x


def chain_rows(chain: OptionChain, rate: float) -> list[Row]:
    """One row per strike: every figure of both sides, then the chain's figures (None where
    unknown, so a CSV cell is empty rather than 0). `rate` is the configured rate; the NSE
    model prices at its own."""
    figures: Row = {
        "underlying": chain.underlying,
        "expiry": chain.expiry.isoformat(),
        "basis": chain.basis,
        "model": chain.model,
        "rate": NSE_RATE if chain.model == "nse-black-scholes" else rate,
        "spot": chain.spot,
        "forward": chain.forward,
        "forward_source": chain.forward_source,
        "atm_strike": chain.atm_strike,
        "pcr_oi": chain.pcr_oi,
        "pcr_volume": chain.pcr_volume,
        "max_pain": chain.max_pain,
        "atm_iv": chain.atm_iv,
        "rr25": chain.rr25,
        "days_to_expiry": chain.days_to_expiry,
        "hours_to_expiry": chain.hours_to_expiry,
        "iv_percentile": chain.iv_percentile,
        "iv_rank": chain.iv_rank,
        "updated": (
            None
            if chain.updated is None
            else datetime.fromtimestamp(chain.updated, IST).isoformat()
        ),
    }
    sides = [
        (f"{prefix}_{name}", getattr(side, name).tolist())
        for prefix, side in (("call", chain.calls), ("put", chain.puts))
        for name in FIELDS
    ]
    rows: list[Row] = []
    for i, strike in enumerate(chain.strikes.tolist()):
        row: Row = {"strike": strike, "atm": i == chain.atm_row}
        row.update((key, _value(values[i])) for key, values in sides)
        row.update(figures)
        rows.append(row)
    return rows


def _step(items: Sequence[object], current: object, by: int) -> int:
    """Index of the item `by` steps from `current` (wrapping), or 0 if it is not there."""
    if current not in items:
        return 0
    return (items.index(current) + by) % len(items)


class ChainScreen(OptuiScreen):
    """Option chain: calls, strikes, puts; the chain's figures above."""

    NAME = "chain"
    CSS_PATH = "chain.tcss"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("u", "underlying(1)", "Underlying"),
        Binding("U", "underlying(-1)", "Prev underlying", show=False),
        Binding("e", "expiry(1)", "Expiry"),
        Binding("E", "expiry(-1)", "Prev expiry", show=False),
        Binding("a", "atm", "ATM"),
        Binding("g", "greeks", "Greeks"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.underlying: str | None = None
        self.expiry: date | None = None
        self.greeks = False
        self.chain: OptionChain | None = None
        self._ctx: ViewContext | None = None
        self._universe: Universe | None = None
        self._underlyings: list[str] = []

    def body(self) -> Iterable[Widget]:
        yield ChainHeader(id="chain-header")
        with Vertical(id="chain-body"), Vertical(id="chain-frame"):
            yield Static(id="chain-sides")
            yield ChainTable(id="chain-table")

    # -- selection -------------------------------------------------------------------------
    def underlyings(self, ctx: ViewContext) -> list[str]:
        """The configured underlyings that the instruments list has options for."""
        if ctx.universe is not self._universe:
            listed = {name for name, _ in ctx.universe.chains}
            self._underlyings = [u for u in ctx.settings.underlyings if u in listed]
            self._universe = ctx.universe
        return self._underlyings

    def expiries(self, ctx: ViewContext, underlying: str) -> list[date]:
        """`underlying`'s listed expiries that are today or later, nearest first."""
        listed = ctx.universe.expiries(underlying)
        today = ist_date(ctx.pricing_clock)
        return [e for e in listed if e >= today] or listed

    def _select(self, ctx: ViewContext) -> bool:
        """Make the selection valid for `ctx` (the first underlying and its nearest expiry
        by default); False when there is no chain to show."""
        names = self.underlyings(ctx)
        if not names:
            return False
        if self.underlying not in names:
            self.underlying, self.expiry = names[0], None
        assert self.underlying is not None
        expiries = self.expiries(ctx, self.underlying)
        if self.expiry not in expiries:
            self.expiry = expiries[0]
        return True

    # -- refresh ---------------------------------------------------------------------------
    def show(self, ctx: ViewContext) -> None:
        super().show(ctx)
        self._ctx = ctx
        header = self.query_one(ChainHeader)
        if not self._select(ctx):
            self.chain = None
            wanted = ", ".join(ctx.settings.underlyings)
            header.say(
                f"No option chains of {wanted} in the instruments list yet: the chain shows "
                "once the instruments are loaded (or add an underlying to `underlyings`)."
            )
            return
        assert self.underlying is not None and self.expiry is not None
        analytics = ctx.settings.analytics
        history = ctx.atm_iv_history
        chain = build_chain(
            ctx.universe,
            ctx.snapshot,
            self.underlying,
            self.expiry,
            now=ctx.pricing_clock,
            basis=ctx.basis,
            rate=analytics.rate,
            model=analytics.model,
            expiry_time=analytics.expiry_time,
            previous_oi=ctx.previous_oi,
            atm_iv_history=None if history is None else history.get(self.underlying),
        )
        self.chain = chain
        width = max(self.size.width - _SCROLLBAR, STRIKE_WIDTH + 16)
        columns = chain_columns(width, greeks=self.greeks)
        table = self.query_one(ChainTable)
        if table.show_chain(chain, columns, ctx.basis, ctx.now):
            self._show_sides(columns)
        header.show(chain, analytics, ctx.market_clock)

    def _show_sides(self, columns: tuple[Field, ...]) -> None:
        """CALLS over the calls, PUTS over the puts; the frame as wide as the table, so the
        body can centre it."""
        side = (table_width(columns) - STRIKE_WIDTH) // 2
        sides = Text.assemble(
            ("CALLS".center(side), "bold"),
            " " * STRIKE_WIDTH,
            ("PUTS".center(side), "bold"),
        )
        self.query_one("#chain-sides", Static).update(sides)
        frame = self.query_one("#chain-frame")
        frame.styles.width = 2 * side + STRIKE_WIDTH + _SCROLLBAR

    def _redraw(self) -> None:
        if self._ctx is not None:
            with self.app.batch_update():
                self.show(self._ctx)

    def on_resize(self) -> None:
        self._redraw()

    # -- keys ------------------------------------------------------------------------------
    def action_underlying(self, by: int) -> None:
        """Next (1) or previous (-1) underlying, on its nearest expiry."""
        if self._ctx is None:
            return
        names = self.underlyings(self._ctx)
        if names:
            self.underlying = names[_step(names, self.underlying, by)]
            self.expiry = None
            self._redraw()

    def action_expiry(self, by: int) -> None:
        """Next (1) or previous (-1) expiry of the underlying on view."""
        if self._ctx is None or self.underlying is None:
            return
        expiries = self.expiries(self._ctx, self.underlying)
        if expiries:
            self.expiry = expiries[_step(expiries, self.expiry, by)]
            self._redraw()

    def action_atm(self) -> None:
        """Bring the ATM row into view, cursor on it."""
        self.query_one(ChainTable).jump_to_atm()

    def action_greeks(self) -> None:
        """Swap volume and change for gamma, theta and vega (and back)."""
        self.greeks = not self.greeks
        self._redraw()

    def export_rows(self) -> list[Row]:
        if self.chain is None or self._ctx is None:
            return []
        return chain_rows(self.chain, self._ctx.settings.analytics.rate)
