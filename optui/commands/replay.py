"""`optui replay --date D [--speed N]`: an archived day fed back through the engine.

`--speed` is the global flag (setting `demo.speed`): simulated seconds per wall second, for
the demo market and for replays alike.

Headless for now: it runs the engine on the replayed frames (decoding them into the market
state exactly as live frames) and keeps a progress line of the replay's market time; the TUI
shows a replayed day once its screens land. Nothing is written: the day is already archived.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, datetime

from optui.commands import iso_date
from optui.settings import Settings, SettingsError
from optui.stop_flag import StopFlag, stop_on_signals

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--date", metavar="DATE", type=iso_date, required=True, help="IST date")
    parser.add_argument("--collector", metavar="ID", help="only this collector's ticks")
    parser.add_argument(
        "--headless",
        action="store_true",
        help="print progress instead of opening the TUI (the default when not on a terminal)",
    )


def run(args: argparse.Namespace) -> int:
    """`optui replay`."""
    from optui.cli import settings_from_args  # noqa: PLC0415
    from optui.engine import Engine  # noqa: PLC0415
    from optui.feed.calendar import IST  # noqa: PLC0415
    from optui.feed.replay import NoDataError, ReplaySource  # noqa: PLC0415
    from optui.store.locations import archive_root  # noqa: PLC0415

    settings = settings_from_args(args)
    speed = settings.demo.speed
    if not args.headless and sys.stdout.isatty():
        return _run_in_tui(settings, args.date, speed, args.collector)
    try:
        source = ReplaySource(
            archive_root(settings), args.date, speed=speed, collector=args.collector
        )
    except NoDataError as exc:
        raise SettingsError(str(exc)) from None
    engine = Engine(source, None)
    stop = StopFlag()
    terminal = sys.stdout.isatty()

    def report(_: object) -> None:
        at = datetime.fromtimestamp(source.position_ns / 1e9, IST).strftime("%H:%M:%S IST")
        line = (
            f"replaying {args.date} at {speed:g}x · market time {at} · "
            f"{engine.status.frames:,} frames · {engine.status.packets:,} ticks"
        )
        print("\r\x1b[2K" + line if terminal else line, end="" if terminal else "\n", flush=True)

    with stop_on_signals(stop):
        engine.run(stop, on_status=report)
    report(None)
    if terminal:
        print()
    return 0


def _run_in_tui(settings: Settings, day: date, speed: float, collector: str | None) -> int:
    """The TUI on a past day: every screen as it was, at `speed` times the day's pace."""
    from optui.feed.replay import NoDataError, ReplayFeed  # noqa: PLC0415
    from optui.store.locations import archive_root  # noqa: PLC0415
    from optui.tui.app import run_app  # noqa: PLC0415

    try:
        feed = ReplayFeed(
            archive_root(settings), day, settings.underlyings, speed=speed, collector=collector
        )
    except NoDataError as exc:
        raise SettingsError(str(exc)) from None
    return run_app(settings, feed=feed)
