"""The Textual application: opens on the demo market, keyboard first.

The feed runs in a worker thread: the same `Engine` as `optui collect` (here without a
journal) polls the source, decodes every frame and applies it to the `MarketState`. The UI
thread never decodes: a timer takes a snapshot a few times a second and redraws from it, so a
burst of ticks never piles up UI work.

`create_app(settings, clock=...)` is the factory the tests use: a frozen clock makes the demo
market emit the same frames every run; `feed=` hands in any other source (live Kite, which
`run_app` opens before the UI starts so its progress and errors go to the terminal).

A live feed reports what happens to it (reconnects, silences, a refused token) as events; the
app turns them into notifications, and a refused token into a status that says to log in
again, since no retry can fix that.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Protocol

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Static

from optui.engine import Engine
from optui.feed.calendar import IST
from optui.feed.demo import DemoFeed
from optui.feed.state import MarketState
from optui.feed.universe import Universe
from optui.logs import log_to_file
from optui.settings import Settings
from optui.stop_flag import StopFlag
from optui.tui.feed_status import FeedStatus, describe_feed
from optui.tui.index_board import IndexBoard

__all__ = ["OptuiApp", "create_app", "run_app"]

Clock = Callable[[], float]

REFRESH_INTERVAL_S = 0.25


class Feed(Protocol):
    """What the app needs of a source besides the engine's `poll`: its instruments."""

    @property
    def universe(self) -> Universe: ...

    def poll(self) -> list[bytes]: ...

    @property
    def finished(self) -> bool: ...

    def instruments(self) -> tuple[date, str] | None: ...


class OptuiApp(App[int]):
    """optui's terminal UI."""

    CSS_PATH = "app.tcss"
    TITLE = "optui"
    BINDINGS = [Binding("q", "quit", "Quit")]

    def __init__(self, settings: Settings, feed: Feed, clock: Clock = time.time) -> None:
        super().__init__()
        self.settings = settings
        self.feed = feed
        self.clock = clock
        self.state = MarketState(feed.universe.instrument_token)
        self.engine = Engine(feed, None, state=self.state, clock=clock)
        self._stop = StopFlag()
        self.login_needed: str | None = None
        self.theme = "textual-light" if settings.theme == "light" else "textual-dark"

    def compose(self) -> ComposeResult:
        yield FeedStatus(id="status")
        yield Static(self._title(), id="title")
        yield IndexBoard(self.feed.universe, id="indices")
        yield Footer()

    def _title(self) -> str:
        if not isinstance(self.feed, DemoFeed):
            listed = self.feed.instruments()
            day = f" · session {listed[0]:%a %d %b %Y}" if listed else ""
            return f"Kite live{day} · {len(self.feed.universe):,} instruments listed"
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
        close = getattr(self.feed, "close", None)
        if callable(close):
            close()

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
        self._show_feed_events()
        live = not isinstance(self.feed, DemoFeed)
        if self.login_needed:
            note = "[red]LOG IN AGAIN: Kite refused the access token; run `optui login`[/red]"
        elif isinstance(self.feed, DemoFeed) and self.feed.closed:
            note = "session closed"
        else:
            note = ""
        clock = datetime.fromtimestamp(now, IST).strftime("%H:%M:%S IST")
        label = "KITE" if live else "DEMO"
        status = describe_feed(label, snapshot, now, rate, exchange_time, note)
        self.query_one(FeedStatus).update(f"{status} · {clock}")
        with self.batch_update():
            self.query_one(IndexBoard).show(snapshot)

    def _show_feed_events(self) -> None:
        """Reconnects and refusals from a live feed, as notifications (the errors screen,
        which keeps them all, comes with the five screens)."""
        drain = getattr(self.feed, "events", None)
        if not callable(drain):
            return
        for event in drain():
            if event.kind == "auth":
                self.login_needed = event.message
                self.notify(event.message, title="Log in again", severity="error", timeout=30)
            elif event.kind in ("disconnected", "silent", "error"):
                self.notify(event.message, title=f"Feed {event.kind}", severity="warning")
            elif event.kind in ("connected", "subscribed"):
                self.notify(event.message, title=f"Feed {event.kind}")


def create_app(settings: Settings, clock: Clock = time.time, feed: Feed | None = None) -> OptuiApp:
    """The app for `settings`, on a clock the caller may freeze; `feed` overrides the source."""
    if feed is None:
        if settings.source != "demo":
            raise NotImplementedError(
                f"source {settings.source!r} needs a feed opened first (run_app does that); "
                "the TUI shows the demo market or live Kite"
            )
        feed = DemoFeed(settings, clock)
    return OptuiApp(settings, feed, clock)


def run_app(settings: Settings, config_path: Path | None = None) -> int:
    """Run the TUI until the user quits; the exit code for the shell."""
    feed: Feed | None = None
    if settings.source == "replay":
        print(
            "optui: error: the TUI shows the demo market or live Kite; replay an archived day "
            "with `optui replay` or `optui collect --source replay`",
            file=sys.stderr,
        )
        return 2
    log_to_file(settings.log_dir)
    if settings.source == "kite":
        from optui.feed.live import open_live_feed  # noqa: PLC0415
        from optui.kite.credentials import AuthError  # noqa: PLC0415

        try:
            feed = open_live_feed(
                settings,
                config_path=config_path,
                on_progress=lambda m: print(f"optui: {m}", file=sys.stderr),
            )
        except AuthError as exc:
            print(f"optui: error: {exc}", file=sys.stderr)
            return 5
    app = create_app(settings, feed=feed)
    app.run()
    return app.return_code or 0
