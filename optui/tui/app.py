"""The Textual application: opens on the demo market, keyboard first.

The feed runs in a worker thread (`_pump`): it polls the source, decodes every frame and
applies it to the `MarketState`. The UI thread never decodes: a timer takes a snapshot a few
times a second and redraws from it, so a burst of ticks never piles up UI work.

`create_app(settings, clock=...)` is the factory the tests use: a frozen clock makes the demo
market emit the same frames every run.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from datetime import datetime

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from optui.feed.calendar import IST
from optui.feed.codec import FrameError, decode
from optui.feed.demo import DemoFeed
from optui.feed.state import MarketState
from optui.settings import Settings
from optui.tui.feed_status import FeedStatus, describe_feed
from optui.tui.index_board import IndexBoard

__all__ = ["OptuiApp", "create_app", "run_app"]

Clock = Callable[[], float]

POLL_INTERVAL_S = 0.25
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
        self.bad_frames = 0
        self._stop = threading.Event()
        # (wall time, packets so far) samples for the ticks/s figure.
        self._rate_samples: deque[tuple[float, int]] = deque(maxlen=20)
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
        """Feed thread: poll the source, decode, apply; never touches widgets."""
        while not self._stop.is_set():
            self.pump_once()
            self._stop.wait(POLL_INTERVAL_S)

    def pump_once(self) -> int:
        """Apply every frame due now; returns how many frames were applied."""
        frames = self.feed.poll()
        for frame in frames:
            try:
                ticks = decode(frame)
            except FrameError:
                # The errors screen (a later issue) lists these; the feed keeps going.
                self.bad_frames += 1
                continue
            self.state.update(ticks, received=self.clock())
        return len(frames)

    def refresh_view(self) -> None:
        """Redraw from one snapshot of the market state."""
        snapshot = self.state.snapshot()
        now = self.clock()
        self._rate_samples.append((now, snapshot.packets))
        (t0, p0), (t1, p1) = self._rate_samples[0], self._rate_samples[-1]
        rate = (p1 - p0) / (t1 - t0) if t1 > t0 else 0.0
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
