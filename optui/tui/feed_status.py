"""The feed status line: source, session, simulated or exchange time, rate and data age."""

from __future__ import annotations

from datetime import datetime

from textual.widgets import Static

from optui.feed.calendar import IST
from optui.feed.state import MarketSnapshot

__all__ = ["FeedStatus", "describe_feed"]

# A feed with no frame for this long is shown as stale, never as live.
STALE_AFTER_S = 5.0


def _ist(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, IST).strftime("%H:%M:%S IST")


def describe_feed(
    source: str,
    snapshot: MarketSnapshot,
    now: float,
    ticks_per_s: float,
    exchange_time: float | None,
    note: str = "",
) -> str:
    """The status line's text (pure, so tests can check it without a terminal)."""
    parts = [f"[b]{source}[/b]"]
    if note:
        parts.append(note)
    if snapshot.updated is None:
        parts.append("[yellow]waiting for the first tick[/yellow]")
    else:
        age = max(now - snapshot.updated, 0.0)
        state = "[red]STALE[/red]" if age > STALE_AFTER_S else "[green]live[/green]"
        parts.append(f"{state} · data age {age:.1f} s")
    if exchange_time:
        parts.append(f"market time {_ist(exchange_time)}")
    parts.append(f"{ticks_per_s:,.0f} ticks/s")
    parts.append(f"{snapshot.packets:,} ticks")
    return " · ".join(parts)


class FeedStatus(Static):
    """One line at the top of the screen saying how the feed is doing."""
