"""The demo market as a source: wall-clock time in, Kite binary frames out.

`DemoFeed` picks the session to show (today's when the market is open, otherwise the most
recent one, replayed from 09:15 IST), builds the `DemoMarket` for it and, on every `poll`,
returns the frames due by the simulated time that corresponds to the wall clock. The clock is
injectable, so tests freeze it and get the same bytes every run.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date

from optui.feed.simulator import DemoMarket
from optui.feed.universe import Universe
from optui.settings import Settings

__all__ = ["DemoFeed"]

Clock = Callable[[], float]


class DemoFeed:
    """A seeded simulated market that follows a (possibly frozen) wall clock."""

    def __init__(self, settings: Settings, clock: Clock = time.time) -> None:
        self.clock = clock
        self.market, self.session = DemoMarket.for_wall_clock(
            clock(),
            settings.demo.seed,
            speed=settings.demo.speed,
            rate=settings.analytics.rate,
            tick_interval=settings.demo.tick_interval,
            instruments=settings.demo.instruments,
        )

    @property
    def universe(self) -> Universe:
        return self.market.instruments

    def simulated_time(self) -> float:
        """Simulated epoch seconds now, held at the session's close once it is reached."""
        return min(self.session.at(self.clock()), float(self.market.close_epoch))

    def market_time(self) -> float:
        """The simulated market's clock (epoch seconds), for checks that ask whether its
        market is open: a session replayed at night is open by this clock."""
        return self.simulated_time()

    def poll(self) -> list[bytes]:
        """Kite frames of every tick due since the previous poll."""
        return self.market.advance_to(self.simulated_time())

    def instruments(self) -> tuple[date, str]:
        """The session's trading day and its instruments as Kite's instruments.csv text."""
        return self.session.session, self.market.instruments_csv()

    @property
    def finished(self) -> bool:
        """Never: after 15:30 IST the demo falls silent, as Kite does, but stays connected."""
        return False

    @property
    def closed(self) -> bool:
        """True once the simulated session has reached 15:30 IST."""
        return self.simulated_time() >= self.market.close_epoch
