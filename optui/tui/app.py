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

import gc
import sys
import time
from collections import deque
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any, ClassVar, Protocol

from textual.app import App, ScreenStackError, UnknownModeError
from textual.binding import Binding, BindingType
from textual.screen import Screen

from optui.analytics.price_toggle import toggle
from optui.engine import Engine, quality_monitor_for
from optui.events import Event, EventLog
from optui.feed.demo import DemoFeed
from optui.feed.feed_events import as_event
from optui.feed.state import MarketState
from optui.feed.universe import Universe
from optui.logs import log_to_file
from optui.settings import PriceBasis, Settings
from optui.stop_flag import StopFlag
from optui.tui.commands import ScreenCommands
from optui.tui.context import FeedInfo, ViewContext
from optui.tui.export import export_view
from optui.tui.modes import InstantModesApp
from optui.tui.screens.base import OptuiScreen
from optui.tui.screens.breadth import BreadthScreen
from optui.tui.screens.chain import ChainScreen
from optui.tui.screens.errors import ErrorsScreen
from optui.tui.screens.participants import ParticipantsScreen
from optui.tui.screens.premium import PremiumScreen
from optui.tui.widgets.premium_recorder import StraddleRecorder

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


SCREENS_BY_KEY: tuple[tuple[str, str, str], ...] = (
    ("1", "chain", "Chain"),
    ("2", "participants", "Participants"),
    ("3", "premium", "Price toggle"),
    ("4", "breadth", "Breadth"),
    ("5", "errors", "Errors"),
)
"""(key, mode, label) of the five screens, in the order the number keys reach them."""


class OptuiApp(InstantModesApp[int]):
    """optui's terminal UI: five screens as modes over one engine and one market state."""

    CSS_PATH = "app.tcss"
    TITLE = "optui"
    MODES: ClassVar[dict[str, str | Callable[[], Screen[Any]]]] = {
        "chain": ChainScreen,
        "participants": ParticipantsScreen,
        "premium": PremiumScreen,
        "breadth": BreadthScreen,
        "errors": ErrorsScreen,
    }
    DEFAULT_MODE = "chain"
    BINDINGS: ClassVar[list[BindingType]] = [
        *(
            Binding(key, f"switch_mode('{mode}')", label, show=True)
            for key, mode, label in SCREENS_BY_KEY
        ),
        Binding("p", "toggle_price", "Last/Avg"),
        Binding("x", "export", "Export"),
        Binding("q", "quit", "Quit"),
    ]
    COMMANDS = App.COMMANDS | {ScreenCommands}

    def __init__(self, settings: Settings, feed: Feed, clock: Clock = time.time) -> None:
        super().__init__()
        # Event records reach the UI thread through this (the engine's thread adds to it).
        self._incoming: deque[Event] = deque()
        self.settings = settings
        self.feed = feed
        self.clock = clock
        self.state = MarketState(feed.universe.instrument_token)
        # Everything that goes wrong (the feed's events, frames that do not decode, data
        # quality) is counted and grouped here, logged, and shown on the errors screen.
        self.event_log = EventLog(sinks=[self._incoming.extend], source="tui", clock=clock)
        # A collector's events, read back from its journal when attached: already logged
        # and grouped there, so only kept and counted here.
        self.attached_log = EventLog(log=False, group_window=0.0, clock=clock)
        self.engine = Engine(
            feed,
            None,
            state=self.state,
            clock=clock,
            on_event=self.event_log.record,
            # An attached viewer shows the collector's own checks instead of repeating them.
            quality=None if getattr(feed, "label", "") == "ATTACHED" else quality_monitor_for(feed),
        )
        self.basis: PriceBasis = settings.price
        self.events: list[Event] = []
        self.previous_oi = _previous_oi(feed)
        self.atm_iv_history: dict[str, list[float]] | None = None
        self.straddles: StraddleRecorder | None = None
        """Each index's ATM straddle per market minute, for the price-toggle screen: sampled
        on every refresh from the app's start, whichever screen is on view."""
        self._stop = StopFlag()
        self.login_needed: str | None = None
        self.theme = "textual-light" if settings.theme == "light" else "textual-dark"

    def title_text(self) -> str:
        """What is on screen: the source and its session."""
        label = getattr(self.feed, "label", None)
        if label in ("REPLAY", "ATTACHED"):
            day = getattr(self.feed, "session", None)
            what = "Replay" if label == "REPLAY" else f"Attached to {self.settings.data_dir}"
            on = f" · session {day:%a %d %b %Y}" if isinstance(day, date) else ""
            return f"{what}{on} · {len(self.feed.universe):,} instruments"
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
        self.sub_title = self.title_text()
        self.run_worker(self._pump, thread=True, exclusive=True, name="feed")
        self.run_worker(self._load_iv_history, thread=True, name="iv-history")
        if self.previous_oi is None:
            self.run_worker(self._load_previous_oi, thread=True, name="previous-oi")
        self.set_interval(REFRESH_INTERVAL_S, self.refresh_view)
        self.call_after_refresh(self.refresh_view)
        self.call_after_refresh(self.screen_built)

    def on_unmount(self) -> None:
        gc.unfreeze()  # what this app froze is collectable again (tests run many apps)
        self._stop.set()
        close = getattr(self.feed, "close", None)
        if callable(close):
            close()

    def _load_iv_history(self) -> None:
        """Past closing ATM IVs from the archive (cached after the first time), for the
        chain's IV percentile and rank; nothing when there is no archive."""
        from optui.feed.calendar import ist_date  # noqa: PLC0415
        from optui.store.history import atm_iv_history  # noqa: PLC0415
        from optui.store.locations import archive_root  # noqa: PLC0415

        root = archive_root(self.settings)
        if "://" not in root and not (Path(root) / "ticks").is_dir():
            return
        analytics = self.settings.analytics
        # The days before the session on view: a replayed day's percentile is against its
        # own past, not against days that came after it.
        session = getattr(self.feed, "session", None)
        today = session if isinstance(session, date) else ist_date(self.clock())
        history: dict[str, list[float]] = {}
        for name in self.settings.underlyings:
            try:
                days = atm_iv_history(
                    root,
                    name,
                    today,
                    cache_dir=self.settings.cache_dir,
                    rate=analytics.rate,
                    model=analytics.model,
                    expiry_time=analytics.expiry_time,
                    on_event=self.event_log.record,
                )
            except Exception as exc:  # history is a nicety: say so, keep the app running
                self.call_from_thread(self.notify, f"IV history unavailable: {exc}")
                return
            history[name] = [d.atm_iv for d in days]
        self.atm_iv_history = history

    def _load_previous_oi(self) -> None:
        """The previous trading day's closing OI from the archive (a live feed, a replay or
        a collector's store), for the chain's change in OI; it stays unknown ("—") when that
        day was not collected."""
        from optui.store.history import previous_close_oi  # noqa: PLC0415
        from optui.store.locations import archive_root  # noqa: PLC0415

        day = getattr(self.feed, "session", None)
        root = archive_root(self.settings)
        if not isinstance(day, date) or ("://" not in root and not (Path(root) / "ticks").is_dir()):
            return
        plan = getattr(self.feed, "plan", None)
        # What is streamed (the planner's tokens) when known: every listed derivative
        # without a tick that afternoon would make the read longer.
        tokens = list(plan.tokens()) if plan is not None else self.feed.universe.instrument_token
        try:
            found = previous_close_oi(root, day, tokens, on_event=self.event_log.record)
        except Exception as exc:  # change in OI is a nicety: say so, keep the app running
            self.call_from_thread(self.notify, f"Previous day's OI unavailable: {exc}")
            return
        if found:
            self.previous_oi = found

    def _pump(self) -> None:
        """Feed thread: run the engine until unmount; never touches widgets."""
        self.engine.run(self._stop)

    # -- the view ------------------------------------------------------------------------
    def context(self) -> ViewContext:
        """One consistent view of the market and the app, for the screen on view."""
        snapshot = self.state.snapshot()
        self._take_feed_events()
        market_time = (
            float(snapshot.ticks["exchange_timestamp"].max()) if len(snapshot.ticks) else None
        )
        return ViewContext(
            now=self.clock(),
            snapshot=snapshot,
            universe=self.feed.universe,
            basis=self.basis,
            settings=self.settings,
            feed=FeedInfo(
                source=self._source_label(),
                connection=self._connection(),
                ticks_per_s=self.engine.status.ticks_per_s(self.clock()),
                newest_tick=snapshot.updated,
                market_time=market_time or None,
                login_needed=self.login_needed,
                problems=(*self.attached_log.open_problems(), *self.event_log.open_problems()),
            ),
            previous_oi=self.previous_oi,
            events=tuple(self.events),
            atm_iv_history=self.atm_iv_history,
            market_now=self._market_now(),
        )

    def _market_now(self) -> float | None:
        """The source's own market clock, where it keeps one (see `ViewContext.market_now`)."""
        clock = getattr(self.feed, "market_time", None)
        return float(clock()) if callable(clock) else None

    def straddles_for(self, ctx: ViewContext) -> StraddleRecorder:
        """The straddle recording of `ctx`'s universe (a new universe, as after a new day's
        instruments, starts a new one)."""
        if self.straddles is None or self.straddles.universe is not ctx.universe:
            self.straddles = StraddleRecorder(
                ctx.universe, ctx.settings.underlyings, rate=ctx.settings.analytics.rate
            )
        return self.straddles

    def screen_built(self) -> None:
        """Keep the collector of reference cycles off what lives as long as the app.

        Python's full collection walks every tracked object, and the app holds hundreds of
        thousands for its lifetime (the instrument list, each screen's widgets and cached
        lines): measured under the 9,000-instrument demo, one full collection every ~9 s
        took 50-90 ms on the UI thread, the longest pauses a key press could meet.
        `gc.freeze()` moves every object alive now out of the collector's sight (they are
        still freed by reference counting), so a full collection walks only what was made
        since. Called once at start and once after each screen's first paint, so what a
        screen builds for good is frozen with it."""
        gc.collect()
        gc.freeze()

    def refresh_view(self) -> None:
        """Redraw the screen on view from one snapshot (a timer calls this)."""
        # At exit the screen stack empties before the last timer tick is cancelled, right
        # after a mode switch the new screen may not be composed yet: show only a mounted
        # screen of a running app.
        if not self.is_running:
            return
        try:
            screen = self.screen
        except (ScreenStackError, UnknownModeError):
            return
        if isinstance(screen, OptuiScreen) and screen.is_mounted and self.is_running:
            ctx = self.context()
            # At most one sample per few market seconds: the recorder throttles itself.
            self.straddles_for(ctx).sample(ctx.snapshot, ctx.feed.market_time)
            with self.batch_update():
                screen.show(ctx)

    def _source_label(self) -> str:
        if isinstance(self.feed, DemoFeed):
            return "DEMO"
        return str(getattr(self.feed, "label", "LIVE"))

    def _connection(self) -> str:
        if isinstance(self.feed, DemoFeed):
            return "session closed" if self.feed.closed else "simulated"
        if getattr(self.feed, "label", "") == "REPLAY":
            if self.feed.finished:
                return "replay finished"
            speed = getattr(getattr(self.feed, "source", None), "speed", None)
            return f"replaying at {speed:g}×" if isinstance(speed, float | int) else "replaying"
        if self.feed.finished:
            return "stopped"
        running = getattr(self.feed, "collector_running", None)
        if callable(running) and not running():
            # Attached to a collector that is not running: whatever its last events said.
            return "[yellow]collector stopped[/yellow]"
        for event in reversed(self.events):
            if event.code in ("feed.connected", "feed.subscribed"):
                return "connected"
            if event.code in ("feed.disconnected", "feed.reconnecting", "feed.silent"):
                return f"[yellow]{event.code.removeprefix('feed.')}[/yellow]"
        return "collector running" if callable(running) else "connecting"

    def _take_feed_events(self) -> None:
        """Events into the errors screen's list, and as notifications: the feed's
        (reconnects, refusals, rate limits), the engine's (frames that do not decode, data
        quality) and, attached, the collector's; a refused token becomes LOG IN AGAIN and a
        filling disk DISK LOW on every screen until fixed."""
        drain = getattr(self.feed, "events", None)
        if callable(drain):
            for item in drain():
                self.event_log.record(as_event(item))
        self.event_log.flush()
        stored = getattr(self.feed, "stored_events", None)
        if callable(stored):
            for event in stored():
                self.attached_log.record(event)
                self.events.append(event)
        while self._incoming:
            event = self._incoming.popleft()
            self.events.append(event)
            self._notify_event(event)
        del self.events[:-MAX_EVENTS]

    def _notify_event(self, event: Event) -> None:
        if event.kind == "auth" and event.needs_user:
            self.login_needed = event.message
            self.notify(event.message, title="Log in again", severity="error", timeout=30)
        elif event.needs_user:
            self.notify(f"{event.message}. {event.do}", severity="error", timeout=30)
        elif event.severity in ("warning", "error", "critical"):
            self.notify(event.message, title=event.code, severity="warning")

    # -- actions -------------------------------------------------------------------------
    def action_toggle_price(self) -> None:
        """Switch every screen between last traded and average traded price."""
        self.basis = toggle(self.basis)
        self.refresh_view()
        shown = "last traded price" if self.basis == "last" else "average traded price (VWAP)"
        self.notify(f"Prices: {shown}", timeout=2)

    def action_export(self) -> None:
        """Write the data on view to `<data_dir>/exports/` as CSV."""
        screen = self.screen
        if not isinstance(screen, OptuiScreen):
            return
        rows = screen.export_rows()
        if not rows:
            self.notify("Nothing to export on this screen yet", severity="warning")
            return
        try:
            path = export_view(rows, self.settings.data_dir / "exports", screen.NAME, self.clock())
        except OSError as exc:
            self.notify(f"Export failed: {exc}", severity="error")
            return
        self.notify(f"Exported {len(rows):,} rows to {path}", title="Export", timeout=8)


MAX_EVENTS = 5000
"""Events kept for the errors screen (oldest dropped first)."""


def _previous_oi(feed: Feed) -> dict[int, int] | None:
    """Previous close OI per token where the source knows it (the demo does)."""
    if isinstance(feed, DemoFeed):
        tokens, oi = feed.market.previous_close_oi()
        return {int(t): int(o) for t, o in zip(tokens.tolist(), oi.tolist(), strict=True)}
    known = getattr(feed, "previous_oi", None)
    return known() if callable(known) else None


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


def run_app(settings: Settings, config_path: Path | None = None, feed: Feed | None = None) -> int:
    """Run the TUI until the user quits; the exit code for the shell. `feed` (a replay, a
    collector attached to) takes the place of the source the settings name."""
    if feed is not None:
        log_to_file(settings.log_dir)
        app = create_app(settings, feed=feed)
        app.run()
        return app.return_code or 0
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
