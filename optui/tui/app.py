"""The Textual application: opens on the demo market, keyboard first.

The feed runs in a worker thread: the same `Engine` as `optui collect` (here without a
journal) polls the source, decodes every frame and applies it to the `MarketState`. The UI
thread never decodes: a timer takes a snapshot a few times a second and redraws from it, so a
burst of ticks never piles up UI work.

`create_app(settings, clock=...)` is the factory the tests use: a frozen clock makes the demo
market emit the same frames every run.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from optui.engine import Engine
from optui.feed.calendar import IST
from optui.feed.demo import DemoFeed
from optui.feed.state import MarketState
from optui.settings import Settings
from optui.stop_flag import StopFlag
from optui.tui.feed_status import FeedStatus, describe_feed
from optui.tui.index_board import IndexBoard

__all__ = ["OptuiApp", "create_app", "run_app"]

Clock = Callable[[], float]

REFRESH_INTERVAL_S = 0.25


class OptuiApp(App[int]):
    """optui's terminal UI."""

    CSS_PATH = "app.tcss"
    TITLE = "optui"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(self, settings: Settings, feed: DemoFeed, clock: Clock = time.time) -> None:
        super().__init__()
        self.settings = settings
        self.feed = feed
        self.clock = clock
        self.state = MarketState(feed.universe.instrument_token)
        self.engine = Engine(feed, None, state=self.state, clock=clock)
        self._stop = StopFlag()
        self.theme = "textual-light" if settings.theme == "light" else "textual-dark"

    def compose(self) -> ComposeResult:
        yield FeedStatus(id="status")
        yield Static(self._title(), id="title")
        yield IndexBoard(self.feed.universe, id="indices")
        yield Footer()

    def _title(self) -> str:
        session = self.feed.session
        how = "following the clock" if session.live else "replaying from 09:15 IST"
        return (
            f"Demo market (simulated, seed {self.settings.demo.seed}) · session "
            f"{session.session:%a %d %b %Y} · {how} · {len(self.feed.universe):,} instruments"
        )

    def on_mount(self) -> None:
        self.run_worker(self._pump, thread=True, exclusive=True, name="feed")
        self.set_interval(REFRESH_INTERVAL_S, self.refresh_view)
        self.refresh_view()

    def on_unmount(self) -> None:
        self._stop.set()

    def _pump(self) -> None:
        """Feed thread: run the engine until unmount; never touches widgets."""
        self.engine.run(self._stop)

    def refresh_view(self) -> None:
        """Redraw from one snapshot of the market state."""
        snapshot = self.state.snapshot()
        now = self.clock()
        rate = self.engine.status.ticks_per_s()
        exchange_time = (
            float(snapshot.ticks["exchange_timestamp"].max()) if len(snapshot.ticks) else None
        )
        note = "session closed" if self.feed.closed else ""
        clock = datetime.fromtimestamp(now, IST).strftime("%H:%M:%S IST")
        status = describe_feed("DEMO", snapshot, now, rate, exchange_time, note)
        self.query_one(FeedStatus).update(f"{status} · {clock}")
        with self.batch_update():
            self.query_one(IndexBoard).show(snapshot)


def create_app(settings: Settings, clock: Clock = time.time) -> OptuiApp:
    """The app for `settings`, on a clock the caller may freeze."""
    if settings.source != "demo":
        raise NotImplementedError(
            f"source {settings.source!r} is not available yet in this version of optui; "
            "run `optui` (the demo market) or `optui --source demo`"
        )
    return OptuiApp(settings, DemoFeed(settings, clock), clock)


def run_app(settings: Settings) -> int:
    """Run the TUI until the user quits; the exit code for the shell."""
    try:
        app = create_app(settings)
    except NotImplementedError as exc:
        print(f"optui: error: {exc}", file=sys.stderr)
        return 2
    app.run()
    return app.return_code or 0
