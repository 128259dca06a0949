"""Live Kite as the engine's source: the planned subscriptions, re-centred as the indices move.

`open_live_feed` does the start-up a user would otherwise do by hand, each step saying what
it does and failing with what to do next:

    access token (optui login / KITE_ACCESS_TOKEN) ─► instruments (daily cache, else REST)
        ─► spots (one LTP request) ─► subscription plan ─► KiteSource (up to 3 websockets)

`LiveFeed` is then an ordinary `Source` for the `Engine`, in `optui collect` and the TUI
alike. On each poll it hands over the frames untouched and, every few seconds, reads the index
levels from the market state the engine keeps; when an underlying's at-the-money strike has
moved far enough (the planner's hysteresis), it re-plans and the streams subscribe the new
strikes and drop the far ones on the connections they already have: no reconnect, no gap.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable, Mapping
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from optui.events import Event
from optui.feed.feed_events import rest_event
from optui.feed.kite import KiteSource, StreamEvent, kite_source
from optui.feed.state import MarketState
from optui.feed.universe import Universe
from optui.kite.planner import Plan, SubscriptionPlanner

if TYPE_CHECKING:
    from optui.kite.credentials import AccessToken
    from optui.kite.instruments import InstrumentList
    from optui.kite.rest import KiteRest
    from optui.settings import Settings

__all__ = ["LiveFeed", "open_live_feed"]

Clock = Callable[[], float]
Progress = Callable[[str], None]

RECENTRE_EVERY_S = 5.0
"""How often the index levels are checked against the plan's centres."""


class LiveFeed:
    """Kite's stream for the planned instruments, as an engine `Source`."""

    def __init__(
        self,
        settings: Settings,
        token: AccessToken,
        instruments: InstrumentList,
        spots: Mapping[str, float],
        *,
        source_factory: Callable[..., KiteSource] = kite_source,
        clock: Clock = time.time,
    ) -> None:
        self.settings = settings
        self.token = token
        self.listing = instruments
        self.clock = clock
        self.planner = planner_for(settings, instruments.universe)
        self.plan: Plan = self.planner.plan(spots)
        self._spot_tokens = self.planner.spot_tokens()
        # Appended on the engine's thread, drained on the UI's: a deque's append and popleft
        # are atomic, so no event is lost between the two.
        self._plan_events: deque[StreamEvent | Event] = deque(
            StreamEvent(clock(), "message", f"left out: {line}") for line in self.plan.left_out
        )
        self.source = source_factory(
            settings,
            token.access_token,
            self.plan.connections,
            (instruments.session, instruments.csv_text),
        )
        self.state: MarketState | None = None
        self._checked = clock()
        self._unsubscribed: deque[int] = deque()

    # -- Source --------------------------------------------------------------------------
    @property
    def universe(self) -> Universe:
        return self.listing.universe

    @property
    def session(self) -> date:
        return self.listing.session

    def attach(self, state: MarketState) -> None:
        """The engine's market state, read for the index levels when re-centring."""
        self.state = state

    def poll(self) -> list[bytes]:
        frames = self.source.poll()
        now = self.clock()
        if self.state is not None and now - self._checked >= RECENTRE_EVERY_S:
            self._checked = now
            self.recentre(self.spots())
        return frames

    @property
    def finished(self) -> bool:
        return self.source.finished

    def instruments(self) -> tuple[date, str] | None:
        return self.listing.session, self.listing.csv_text

    # -- the rest ------------------------------------------------------------------------
    def spots(self) -> dict[str, float]:
        """Each underlying's latest index level from the market state (absent until it ticks)."""
        if self.state is None:
            return {}
        names = list(self._spot_tokens)
        prices = self.state.last_prices([self._spot_tokens[n] for n in names])
        return {n: float(p) for n, p in zip(names, prices, strict=True) if np.isfinite(p) and p > 0}

    def recentre(self, spots: Mapping[str, float]) -> bool:
        """Re-plan around `spots` when the planner says an ATM strike moved far enough."""
        if not spots or not self.planner.needs_recentre(self.plan, spots):
            return False
        # Underlyings without a level yet keep their old centre rather than jump to the middle.
        merged = {**dict(self.plan.centres), **dict(spots)}
        new = self.planner.plan(merged)
        moved = ", ".join(
            f"{name} {self.plan.centres.get(name, math.nan):g} → {new.centres[name]:g}"
            for name in new.centres
            if new.centres[name] != self.plan.centres.get(name)
        )
        gone = set(self.plan.tokens()) - set(new.tokens())
        self.plan = new
        self.source.resubscribe(new.connections)
        if gone:
            self._unsubscribed.extend(sorted(gone))
        self._plan_events.append(StreamEvent(self.clock(), "subscribed", f"re-centred: {moved}"))
        return True

    def take_unsubscribed(self) -> list[int]:
        """Tokens no longer streamed since the last call (re-centred away): the engine stops
        watching them for silence."""
        taken: list[int] = []
        while self._unsubscribed:
            taken.append(self._unsubscribed.popleft())
        return taken

    def note(self, event: StreamEvent | Event) -> None:
        """Report `event` with the feed's own (REST calls made for the feed: rate limits)."""
        self._plan_events.append(event)

    def events(self) -> list[StreamEvent | Event]:
        """What happened since the last call: the stream's events, the planner's and the
        REST client's (`optui.feed.feed_events.as_event` makes each an `Event`)."""
        planned: list[StreamEvent | Event] = []
        while self._plan_events:
            planned.append(self._plan_events.popleft())
        return planned + self.source.events()

    def close(self) -> None:
        self.source.close()


def open_live_feed(
    settings: Settings,
    *,
    config_path: Path | None = None,
    on_progress: Progress | None = None,
    rest: KiteRest | None = None,
) -> LiveFeed:
    """Log in with the stored token, load the instruments, plan and connect.

    Raises `optui.kite.credentials.AuthError` (no or expired token: `optui login`) and
    `optui.settings.SettingsError` (no API key) with messages meant for the user.
    """
    from optui.kite.credentials import load_access_token  # noqa: PLC0415
    from optui.kite.instruments import load_instruments  # noqa: PLC0415
    from optui.kite.rest import KiteRest  # noqa: PLC0415
    from optui.settings import SettingsError  # noqa: PLC0415

    say = on_progress or (lambda _message: None)
    if not settings.kite.api_key:
        raise SettingsError(
            "--source kite needs the Kite API key: set [kite] api_key in the config file or "
            "KITE_API_KEY in the environment (`optui setup` walks you through it)"
        )
    token = load_access_token(settings, config_path=config_path)
    say(f"access token of {token.user_id or 'the environment'} loaded")
    # What the REST client reports while the feed opens (a 429 backed off) waits here until
    # the feed exists, then reaches the collector or TUI with the stream's own events.
    early: list[Event] = []

    def rest_said(kind: str, message: str) -> None:
        event = rest_event(time.time(), kind, message)
        if feed is None:
            early.append(event)
        else:
            feed.note(event)

    feed: LiveFeed | None = None
    rest = rest or KiteRest(settings, token.access_token, on_event=rest_said)
    listing = load_instruments(settings, rest, on_progress=say)
    if listing.note:
        say(listing.note)
    say(f"{len(listing.universe):,} instruments for {listing.session:%d %b %Y}")
    spots = initial_spots(rest, listing.universe, settings, say)
    feed = LiveFeed(settings, token, listing, spots)
    for event in early:
        feed.note(event)
    counts = " + ".join(f"{len(c):,}" for c in feed.plan.connections)
    say(f"subscribing {counts} instruments on {len(feed.plan.connections)} connection(s)")
    for line in feed.plan.left_out:
        say(f"left out: {line}")
    return feed


def planner_for(settings: Settings, universe: Universe) -> SubscriptionPlanner:
    """The planner for the configured underlyings, expiries, strikes and connections."""
    return SubscriptionPlanner(
        universe,
        settings.underlyings,
        expiries=settings.kite.expiries,
        strikes=settings.kite.strikes,
        connections=settings.kite.connections,
    )


def initial_spots(
    rest: KiteRest, universe: Universe, settings: Settings, say: Progress
) -> dict[str, float]:
    """Index levels from one LTP request, so the first plan is centred; on failure the plan
    starts from the middle of the listed strikes and re-centres once the indices tick."""
    keys: dict[str, str] = {}
    for name, token in planner_for(settings, universe).spot_tokens().items():
        row = universe.row_of(token)
        keys[f"{universe.exchange[row]}:{universe.tradingsymbol[row]}"] = name
    try:
        quotes = rest.ltp(list(keys))
    except Exception as exc:  # a plan from the middle still works; re-centring fixes it
        say(f"index levels unavailable ({type(exc).__name__}); centring on listed strikes")
        return {}
    return {
        keys[key]: float(value["last_price"])
        for key, value in quotes.items()
        if key in keys and value.get("last_price")
    }
