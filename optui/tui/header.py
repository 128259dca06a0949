"""The header on every screen: source, connection, ticks/s, data age, IST clock, market state
and the price basis (the one switch that every screen follows)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rich.markup import escape
from textual.widgets import Static

from optui.events import Event
from optui.feed.calendar import IST, TradingCalendar, ist_date
from optui.tui.context import ViewContext

__all__ = ["AppHeader", "describe_header", "market_status", "must_act"]

STALE_AFTER_S = 5.0
"""A feed with no frame for this long is shown as STALE, never as live."""

_CALENDAR = TradingCalendar.default()


def market_status(now: float, calendar: TradingCalendar = _CALENDAR) -> str:
    """ "market open" between 09:15 and 15:30 IST on a trading day, else "market closed"."""
    day = ist_date(now)
    if not calendar.is_trading_day(day):
        return "market closed (holiday)" if day.weekday() < 5 else "market closed (weekend)"
    opens, closes = calendar.session_bounds(day)
    return "market open" if opens <= now < closes else "market closed"


def must_act(problems: Sequence[Event]) -> list[str]:
    """One short call to action per open problem (the same problem twice is said once)."""
    calls: list[str] = []
    for problem in problems:
        if problem.kind == "auth":
            call = "LOG IN AGAIN: run `optui login`"
        elif problem.code == "storage.disk_full":
            call = "DISK FULL: free space now"
        elif problem.code == "storage.disk_low":
            call = "DISK LOW: free space"
        else:
            call = f"ACT: {problem.code} (errors, 5)"
        if call not in calls:
            calls.append(call)
    return calls


def describe_header(ctx: ViewContext) -> str:
    """The header's text (pure, so tests check it without a terminal)."""
    feed = ctx.feed
    parts = [f"[b]{feed.source}[/b]"]
    calls = must_act(feed.problems)
    if feed.login_needed and not any(call.startswith("LOG IN") for call in calls):
        calls.insert(0, "LOG IN AGAIN: run `optui login`")
    parts += [f"[b red]{escape(call)}[/b red]" for call in calls]
    if feed.connection and not feed.login_needed:
        parts.append(feed.connection)
    if feed.newest_tick is None:
        parts.append("[yellow]waiting for the first tick[/yellow]")
    else:
        age = max(ctx.now - feed.newest_tick, 0.0)
        state = "[b red]STALE[/b red]" if age > STALE_AFTER_S else "[green]live[/green]"
        parts.append(f"{state} · age {age:.1f} s")
    parts.append(f"{feed.ticks_per_s:,.0f} ticks/s")
    if feed.market_time:
        market = datetime.fromtimestamp(feed.market_time, IST).strftime("%H:%M:%S")
        parts.append(f"mkt {market}")
    parts.append(datetime.fromtimestamp(ctx.now, IST).strftime("%H:%M:%S IST"))
    parts.append(market_status(ctx.now))
    parts.append(f"price: [b]{'LAST' if ctx.basis == 'last' else 'AVG'}[/b] (p)")
    return " · ".join(parts)


class AppHeader(Static):
    """One line at the top of every screen."""

    def show(self, ctx: ViewContext) -> None:
        self.update(describe_header(ctx))
