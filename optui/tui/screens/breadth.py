"""The breadth screen: every index and sector, and how the stocks inside them move.

An index can rise on three heavyweights while most of its members fall; this screen shows
both at once. Each refresh runs `optui.analytics.breadth.breadth` on the snapshot (one
vectorised pass, a few ms) and writes the board in place: level and move, advances /
unchanged / declines / no data with an A/D bar, the A/D ratio, the share of members above
their day's VWAP and today's volume against previous days. Under it, the sector heat strip
(strongest first) and the gainers and losers of the index under the cursor.

Volume against previous days needs the archive: the members' volumes of up to
`VOLUME_DAYS` archived days before today, as of the same time of day, are read in a worker
thread when the screen is first shown and again every `VOLUME_RELOAD_S` of market time (so
"so far today" keeps comparing like with like). Without archived days the column shows a
dash, and the note under the board says why.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from datetime import time as dt_time
from typing import Final

import numpy as np
from rich.text import Text
from textual.widget import Widget
from textual.widgets import Static

from optui.analytics.breadth import IndexBreadth, Mover, breadth, heat_strip
from optui.analytics.price_toggle import shown_price
from optui.events import Event
from optui.feed import reference
from optui.feed.calendar import IST, MARKET_CLOSE, MARKET_OPEN
from optui.feed.state import MarketSnapshot
from optui.feed.universe import Kind, Universe
from optui.settings import PriceBasis, Settings
from optui.tui.context import ViewContext, event_sink
from optui.tui.screens.base import OptuiScreen, Row
from optui.tui.widgets.breadth_movers import MoverRow, MoversPanel
from optui.tui.widgets.breadth_table import BreadthTable, row_key
from optui.tui.widgets.heat_strip import HeatStrip
from optui.tui.widgets.line_table import LineTable

__all__ = [
    "BREADTH_INTERVAL_S",
    "VOLUME_DAYS",
    "VOLUME_RELOAD_S",
    "BreadthScreen",
    "VolumeHistory",
    "load_volumes",
]

log = logging.getLogger(__name__)

#: Previous archived days whose volumes make the average today's volume is compared with.
VOLUME_DAYS: Final = 20
#: Read the previous days' volumes again after this much market time.
VOLUME_RELOAD_S: Final = 300.0
#: Breadth is computed again at most this often (wall seconds) while ticks keep coming.
BREADTH_INTERVAL_S: Final = 1.0


@dataclass(frozen=True, slots=True)
class VolumeHistory:
    """Previous days' mean volume per member token, as of one time of day."""

    average: dict[int, float]
    days: int
    until: dt_time | None
    error: str | None = None


def load_volumes(
    settings: Settings,
    today: date,
    until: dt_time | None,
    tokens: Iterable[int],
    on_event: Callable[[Event], object] | None = None,
) -> VolumeHistory:
    """The mean volume of `tokens` over the archived days before `today`, each as of `until`
    (IST; None: whole days). Reads the archive: call it from a worker."""
    from optui.store.archive import ArchiveError  # noqa: PLC0415
    from optui.store.day_series import daily_volumes  # noqa: PLC0415
    from optui.store.history import archived_days  # noqa: PLC0415
    from optui.store.locations import archive_root  # noqa: PLC0415

    root = archive_root(settings)
    try:
        days = [d for d in archived_days(root) if d < today][-VOLUME_DAYS:]
        if not days:
            return VolumeHistory({}, 0, until)
        volumes = daily_volumes(root, days, tokens, until=until, on_event=on_event)
    except (ArchiveError, OSError, ValueError) as exc:
        log.warning("breadth: previous days' volumes unreadable: %s", exc)
        return VolumeHistory({}, 0, until, error=str(exc))
    return VolumeHistory(volumes.average(), len(days), until)


def _time_of_day(market_time: float) -> dt_time | None:
    """The IST time of day to compare volumes at: None (whole days) after the close."""
    at = datetime.fromtimestamp(market_time, IST).time()
    if at >= MARKET_CLOSE:
        return None
    return max(at, MARKET_OPEN).replace(microsecond=0)


def _member_tokens(universe: Universe) -> list[int]:
    """Tokens of every index member the instruments list has."""
    members = {s for symbols in reference.index_members().values() for s in symbols}
    stocks = np.flatnonzero(universe.kind == int(Kind.EQUITY)).tolist()
    return [
        int(universe.instrument_token[i]) for i in stocks if universe.tradingsymbol[i] in members
    ]


def _membership(universe: Universe) -> dict[str, tuple[str, ...]]:
    """Index -> members: the reference lists, plus every other index of the universe with
    none (so the board shows their level and move too)."""
    members = dict(reference.index_members())
    for i in np.flatnonzero(universe.kind == int(Kind.INDEX)).tolist():
        members.setdefault(universe.tradingsymbol[i], ())
    return members


def _board_order(breadths: list[IndexBreadth]) -> list[IndexBreadth]:
    """Indices with members first (in the analytics' order), then the rest as listed."""
    return [b for b in breadths if b.members] + [b for b in breadths if not b.members]


def shown_movers(
    movers: Iterable[Mover], snapshot: MarketSnapshot, basis: PriceBasis
) -> list[MoverRow]:
    """Movers with the price on view (last, or the day's average where known)."""
    movers = list(movers)
    if not movers:
        return []
    rows = snapshot.rows(np.array([m.token for m in movers], dtype=np.uint32))
    prices = shown_price(snapshot.ticks[np.where(rows >= 0, rows, 0)], basis)
    return [
        MoverRow(m, float(p) if r >= 0 else m.last)
        for m, p, r in zip(movers, prices.tolist(), rows.tolist(), strict=True)
    ]


class BreadthScreen(OptuiScreen):
    """Indices and sectors: breadth board, heat strip, movers of the selected index."""

    NAME = "breadth"
    CSS_PATH = "breadth.tcss"

    def __init__(self) -> None:
        super().__init__()
        self.breadths: dict[str, IndexBreadth] = {}
        self.selected: str | None = None
        self.volumes: VolumeHistory | None = None
        self._volume_asked: float | None = None  # market time of the last load started
        self._volume_ticket = 0
        self._membership: dict[str, tuple[str, ...]] | None = None
        self._member_tokens: list[int] = []
        self._ctx: ViewContext | None = None
        self._note = ""
        self.wall_clock: Callable[[], float] = time.monotonic
        # What the board was last computed from, and when (wall seconds).
        self._computed_packets = -1
        self._computed_volumes: VolumeHistory | None = None
        self._computed_at: float | None = None

    def body(self) -> Iterable[Widget]:
        yield BreadthTable(id="indices")
        yield Static("", id="breadth-note")
        yield HeatStrip(id="heat")
        yield MoversPanel(id="movers")

    # -- refresh ---------------------------------------------------------------------------
    def show(self, ctx: ViewContext) -> None:
        # A mode switch may refresh before the body is composed, and a refresh may still come
        # while the app is closing and taking the widgets down.
        if not self.is_mounted or not self.app.is_running:
            return
        super().show(ctx)
        self._ctx = ctx
        if self._membership is None:
            self._membership = _membership(ctx.universe)
            self._member_tokens = _member_tokens(ctx.universe)
        self._maybe_load_volumes(ctx)
        volumes = self.volumes
        if self._due(ctx, volumes):
            board = _board_order(
                breadth(
                    ctx.universe,
                    ctx.snapshot,
                    members=self._membership,
                    average_volume=volumes.average if volumes and volumes.average else None,
                )
            )
            self.breadths = {row_key(b): b for b in board}
            self.query_one(BreadthTable).show(board)
            self.query_one(HeatStrip).show(heat_strip(b for b in board if b.members))
            if self.selected not in self.breadths and board:
                self.selected = row_key(board[0])
        self._show_movers()
        self._show_note(volumes)

    def _due(self, ctx: ViewContext, volumes: VolumeHistory | None) -> bool:
        """Whether to compute the breadth again: only with new ticks or a new volume history,
        and under a busy feed at most every `BREADTH_INTERVAL_S` (a trader reads breadth over
        seconds; the header and the movers' prices still follow every refresh)."""
        now = self.wall_clock()
        new_volumes = volumes is not self._computed_volumes
        if ctx.snapshot.packets == self._computed_packets and not new_volumes:
            return False
        recent = self._computed_at is not None and now - self._computed_at < BREADTH_INTERVAL_S
        if recent and not new_volumes:
            return False
        self._computed_packets, self._computed_volumes = ctx.snapshot.packets, volumes
        self._computed_at = now
        return True

    def on_line_table_row_highlighted(self, event: LineTable.RowHighlighted) -> None:
        """The cursor on an index shows its movers."""
        if event.table.id == "indices":
            self.selected = event.row_key
            self._show_movers()

    def _show_movers(self) -> None:
        ctx, b = self._ctx, self.breadths.get(self.selected or "")
        if ctx is None or b is None:
            return
        self.query_one(MoversPanel).show(
            b.index,
            ctx.basis,
            shown_movers(b.gainers, ctx.snapshot, ctx.basis),
            shown_movers(b.losers, ctx.snapshot, ctx.basis),
        )

    def _show_note(self, volumes: VolumeHistory | None) -> None:
        if volumes is None:
            note = "Vol×: reading previous days' volumes…"
        elif volumes.error:
            note = f"Vol×: previous days unreadable ({volumes.error})"
        elif not volumes.days:
            note = "Vol×: no previous days archived yet (`optui collect` keeps them)"
        else:
            at = f" up to {volumes.until:%H:%M}" if volumes.until else ""
            days = f"{volumes.days} previous day{'s' if volumes.days != 1 else ''}"
            note = f"Vol×: today's volume over the mean of {days}{at}"
        if note != self._note:
            self._note = note
            self.query_one("#breadth-note", Static).update(Text(note, style="dim"))

    # -- previous days' volumes --------------------------------------------------------------
    def _maybe_load_volumes(self, ctx: ViewContext) -> None:
        market = ctx.feed.market_time or ctx.now
        asked = self._volume_asked
        if asked is not None and abs(market - asked) < VOLUME_RELOAD_S:
            return
        self._volume_asked = market
        self._volume_ticket += 1
        ticket, today = self._volume_ticket, datetime.fromtimestamp(market, IST).date()
        until, tokens, settings = _time_of_day(market), self._member_tokens, ctx.settings

        def load() -> None:
            try:
                volumes = load_volumes(settings, today, until, tokens, event_sink(self.app))
            except Exception as exc:  # shown in the note: the board works without history
                log.exception("breadth: reading previous days' volumes failed")
                volumes = VolumeHistory({}, 0, until, error=f"{type(exc).__name__}: {exc}")
            # A plain assignment hands the result to the UI thread's next refresh; a load
            # started later (the market moved on) wins over this one if it finished first.
            if ticket == self._volume_ticket:
                self.volumes = volumes

        self.run_worker(load, thread=True, group="breadth-volumes")

    # -- export ----------------------------------------------------------------------------
    def export_rows(self) -> list[Row]:
        """The board's rows, then the selected index's gainers and losers."""
        basis = self._ctx.basis if self._ctx is not None else "last"
        rows: list[Row] = [
            {
                "table": "index",
                "index": b.index,
                "token": b.token,
                "level": b.level,
                "change": b.change,
                "change_pct": b.change_pct,
                "members": b.members,
                "advances": b.advances,
                "declines": b.declines,
                "unchanged": b.unchanged,
                "no_data": b.no_data,
                "ad_ratio": b.ad_ratio,
                "above_vwap": b.above_vwap,
                "vwap_known": b.vwap_known,
                "above_vwap_share": b.above_vwap_share,
                "volume_ratio": b.volume_ratio,
            }
            for b in self.breadths.values()
        ]
        selected = self.breadths.get(self.selected or "")
        if selected is not None and self._ctx is not None:
            snapshot = self._ctx.snapshot
            for side, movers in (("gainer", selected.gainers), ("loser", selected.losers)):
                rows += [
                    {
                        "table": side,
                        "index": selected.index,
                        "symbol": r.mover.symbol,
                        "token": r.mover.token,
                        "price": r.price,
                        "price_basis": basis,
                        "change": r.mover.change,
                        "change_pct": r.mover.change_pct,
                        "volume": r.mover.volume,
                        "volume_ratio": r.mover.volume_ratio,
                    }
                    for r in shown_movers(movers, snapshot, basis)
                ]
        return rows
