"""What every screen is given on each refresh: one consistent view of the market and the app.

The app builds a `ViewContext` a few times a second from one `MarketState` snapshot and hands
it to the screen on view; screens compute what they show from it and nothing else, so a
screen never reads the clock, the feed or the settings file on its own, and tests can build a
context by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from optui.events import Event
from optui.feed.state import MarketSnapshot
from optui.feed.universe import Universe
from optui.settings import PriceBasis, Settings

__all__ = ["FeedInfo", "ViewContext", "event_sink"]


@dataclass(frozen=True)
class FeedInfo:
    """The feed's health, as the header shows it."""

    source: str
    """DEMO, LIVE, REPLAY or ATTACHED."""
    connection: str
    """"connected", "reconnecting", "silent", "log in again", "simulated", "session closed" ..."""
    ticks_per_s: float
    newest_tick: float | None
    """Wall-clock time the newest frame arrived (None before the first)."""
    market_time: float | None
    """Newest exchange timestamp seen (epoch seconds)."""
    login_needed: str | None = None
    problems: tuple[Event, ...] = ()
    """What a person must fix and has not yet (log in again, free disk), oldest first: the
    header shows it on every screen until it is fixed."""


@dataclass(frozen=True)
class ViewContext:
    """One refresh's worth of input for a screen."""

    now: float
    snapshot: MarketSnapshot
    universe: Universe
    basis: PriceBasis
    settings: Settings
    feed: FeedInfo
    previous_oi: Mapping[int, int] | None = None
    """Previous session's closing OI per token, for change in OI (None when unknown)."""
    events: Sequence[Event] = field(default_factory=tuple)
    """The session's events (the app's and, attached, the collector's), oldest first."""
    atm_iv_history: Mapping[str, Sequence[float]] | None = None
    """Past closing ATM IVs per underlying from the archive, for IV percentile and rank
    (None until loaded, or without an archive)."""
    market_now: float | None = None
    """The market's own clock where the source keeps one (the demo replaying a session out
    of hours, a replay of an archived day); None for a live feed, whose market runs on the
    wall clock `now`."""

    @property
    def market_clock(self) -> float:
        """The market's time now: what the age of the newest tick is reckoned against (the
        chain's "updated … s ago"). `now` stays the clock of everything about the app itself
        (the header's clock, how long ago the newest frame arrived)."""
        return self.now if self.market_now is None else self.market_now

    @property
    def pricing_clock(self) -> float:
        """When the prices on view were made, what time to expiry (IV, greeks) and the
        expiries still open are reckoned from: the newest exchange timestamp, never later
        than the market's clock, so a chain looked at after the close, through a stalled
        feed or in a replay is priced as at its last tick instead of with hours taken off
        every option's life (on expiry day, all of it); the market's clock before the first
        tick."""
        made = self.feed.market_time
        clock = self.market_clock
        return clock if made is None else min(made, clock)


def event_sink(app: object) -> Callable[[Event], object] | None:
    """Where a screen's worker reports what it met (an archive file it had to quarantine):
    the app's event log, so it reaches the errors screen (thread-safe)."""
    log = getattr(app, "event_log", None)
    record = getattr(log, "record", None)
    return record if callable(record) else None
