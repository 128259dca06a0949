"""`optui collect`: the headless collector.

It runs the engine on a source until stopped: Ctrl-C, SIGTERM (systemd, `kill`) or the end of
`--duration`. On a terminal it keeps one status line up to date; elsewhere (a service, a pipe)
it writes one JSON object per line, so logs can be parsed. Either way the same JSON lines go
to `<log_dir>/collect.log`. Stopping commits the last frames, rolls everything into the
archive and exits 0. A second collector on the same data dir is refused (exit 3).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import msgspec

from optui.commands import iso_date, positive_seconds
from optui.events import Event, EventLog
from optui.feed.feed_events import as_event
from optui.settings import Settings, SettingsError
from optui.stop_flag import StopFlag, stop_on_signals

if TYPE_CHECKING:
    from optui.engine import EngineStatus, Source
    from optui.store.journal import Journal

__all__ = [
    "EXIT_AUTH",
    "EXIT_LOCKED",
    "EXIT_STORAGE",
    "CollectOptions",
    "add_arguments",
    "collect",
    "run",
]

EXIT_LOCKED = 3
EXIT_STORAGE = 4
EXIT_AUTH = 5
"""Kite refused the access token (it expires daily at 06:00 IST): `optui login`, then rerun."""


@dataclass(frozen=True)
class CollectOptions:
    duration: float | None = None
    status_interval: float = 1.0


def _iso(ns: int | None) -> str | None:
    return None if ns is None else datetime.fromtimestamp(ns / 1e9, UTC).isoformat()


def status_record(
    status: EngineStatus, journal: Journal, event: str = "status"
) -> dict[str, object]:
    """One JSON-able record of what the collector has done (no secrets, ever)."""
    stats = journal.stats()
    return {
        "time": datetime.now(UTC).isoformat(),
        "event": event,
        "ticks_per_s": round(status.ticks_per_s(), 1),
        "frames": status.frames,
        "packets": status.packets,
        "bad_frames": status.bad_frames,
        "journal_frames": stats.frames,
        "journal_bytes": stats.used_bytes,
        "last_frame": _iso(status.last_frame_ns),
        "rolls": status.rolls,
        "rolled_rows": status.rolled_rows,
        "last_roll": None if status.last_roll is None else _iso(round(status.last_roll * 1e9)),
        "last_roll_error": status.last_roll_error,
    }


def status_line(record: dict[str, object]) -> str:
    """The one-line, human form of a status record."""
    roll = record["last_roll"]
    roll_text = "not yet" if roll is None else str(roll)[11:19] + " UTC"
    if record["last_roll_error"]:
        roll_text += f" (last failed: {record['last_roll_error']})"
    return (
        f"{record['ticks_per_s']:>9,.0f} ticks/s · {record['frames']:,} frames · "
        f"{record['packets']:,} ticks · journal {record['journal_frames']:,} frames "
        f"{int(str(record['journal_bytes'])) / 2**20:,.1f} MiB · last roll {roll_text}"
    )


def collect(
    settings: Settings,
    source_factory: Callable[[], Source],
    options: CollectOptions,
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
    stop: StopFlag | None = None,
) -> int:
    """Run the collector until stopped; returns the exit code."""
    from optui.engine import Engine, quality_monitor_for  # noqa: PLC0415
    from optui.feed.calendar import ist_date  # noqa: PLC0415
    from optui.kite.credentials import AuthError  # noqa: PLC0415
    from optui.logs import log_to_file  # noqa: PLC0415
    from optui.store.archive import Roller  # noqa: PLC0415
    from optui.store.disk_watch import StorageWatch  # noqa: PLC0415
    from optui.store.instruments import write_instruments  # noqa: PLC0415
    from optui.store.journal import Journal, JournalError, JournalLockedError  # noqa: PLC0415
    from optui.store.locations import archive_root, collector_id, journal_dir  # noqa: PLC0415

    out = out or sys.stdout
    err = err or sys.stderr
    stop = stop or StopFlag()
    name = collector_id(settings)
    try:
        journal = Journal(journal_dir(settings), sync=settings.store.sync, writer_id=name)
    except JournalLockedError as exc:
        print(f"optui: error: {exc}", file=err)
        return EXIT_LOCKED
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log_to_file(settings.log_dir)
    log = (settings.log_dir / "collect.log").open("a", encoding="utf-8")
    terminal = out.isatty()

    stored_days: set[date] = set()

    def store_instruments() -> None:
        # The archive files ticks under the IST date they were received, so the day's
        # instruments go under that date too (again after midnight, for a run across it).
        today = ist_date(time.time())
        if today in stored_days:
            return
        if source is None:
            return
        stored_days.add(today)
        listed = source.instruments()
        if listed is not None:
            write_instruments(archive_root(settings), today, name, listed[1])

    auth_failed: list[str] = []

    def show_events(records: Sequence[Event]) -> None:
        # Each event (grouped repeats as one summary) goes to collect.log and, on a
        # terminal, on a line of its own above the status line, so a user sees what the
        # collector went through; elsewhere as a JSON line. The log files and the journal
        # get them from the EventLog itself.
        for event in records:
            record = event_record(event)
            log.write(json.dumps(record) + "\n")
            if terminal:
                out.write("\r\x1b[2K" + event_line(event) + "\n")
            else:
                out.write(json.dumps(record) + "\n")
        log.flush()

    events = EventLog(sinks=[show_events], source="collect")

    def feed_events() -> None:
        # Reconnects, silences, refusals, rate limits: drained from the source each status.
        drain = getattr(source, "events", None)
        if callable(drain):
            for item in drain():
                event = as_event(item)
                if event.kind == "auth" and event.needs_user:
                    auth_failed.append(event.message)
                events.record(event)
        events.flush()

    def report(status: EngineStatus, event: str = "status") -> None:
        store_instruments()
        feed_events()
        record = status_record(status, journal, event)
        line = json.dumps(record)
        log.write(line + "\n")
        log.flush()
        if terminal:
            out.write("\r\x1b[2K" + status_line(record))
        else:
            out.write(line + "\n")
        out.flush()

    source: Source | None = None
    try:
        # Events are stored in the journal too, so a TUI attached to this collector sees them.
        events.add_sink(journal.append_events)
        roller = Roller(journal, archive_root(settings), name)
        roller.recover()
        try:
            source = source_factory()
        except AuthError as exc:
            events.record(auth_event(str(exc)))
            print(f"optui: error: {exc}", file=err)
            return EXIT_AUTH
        watch = StorageWatch(
            journal.path,
            warn_bytes=settings.store.disk_warn_mb * 2**20,
            critical_bytes=settings.store.disk_critical_mb * 2**20,
            map_size=journal.map_size,
        )
        engine = Engine(
            source,
            journal,
            roller=roller,
            roll_interval=settings.store.roll_interval,
            on_event=events.record,
            watch=watch,
            quality=quality_monitor_for(source),
        )
        report(engine.status, "start")
        with stop_on_signals(stop, on_roll=engine.request_roll):
            engine.run(
                stop,
                duration=options.duration,
                on_status=report,
                status_interval=options.status_interval,
            )
        # Stopping: a live stream closes cleanly first (its last frames arrive during the close
        # handshake), then the last frames are committed and everything is rolled.
        close_source(source)
        engine.finish()
        feed_events()
        events.flush(everything=True)  # grouped repeats are counted before the stop record
        report(engine.status, "stop")
        if terminal:
            out.write("\n")
        if auth_failed:
            print(
                f"optui: error: {auth_failed[-1]}\nThe collector stopped; every frame that "
                "arrived is in the journal and archive.",
                file=err,
            )
            return EXIT_AUTH
        return 0
    except JournalError as exc:
        # Disk full, a damaged journal: what is committed stays committed; say what to do.
        # (Storing the event in the journal may fail too; the log files still get it.)
        events.record(storage_failed_event(str(exc)))
        print(f"\noptui: error: {exc}", file=err)
        return EXIT_STORAGE
    finally:
        events.flush(everything=True)
        close_source(source)
        journal.close()
        log.close()


def event_record(event: Event) -> dict[str, object]:
    """An event as a collect.log / stdout JSON record."""
    record: dict[str, object] = {"event": "event", **msgspec.to_builtins(event)}
    record["time"] = datetime.fromtimestamp(event.time, UTC).isoformat()
    return record


def event_line(event: Event) -> str:
    """An event as one line for a terminal: time, severity, code, message, and what to do
    when a person must act."""
    clock = datetime.fromtimestamp(event.time, UTC).strftime("%H:%M:%S")
    line = f"{clock} UTC {event.severity} {event.code}: {event.message}"
    if event.needs_user and event.do:
        line += f" → {event.do}"
    return line


def auth_event(message: str) -> Event:
    """No usable token: the collector cannot start (exit `EXIT_AUTH`)."""
    return Event(
        time=time.time(),
        kind="auth",
        severity="critical",
        code="auth.missing",
        message=message,
        did=f"Did not connect; the collector exits with code {EXIT_AUTH}.",
        do="Run `optui login` (tokens expire at 06:00 IST each day), then start it again.",
        needs_user=True,
    )


def storage_failed_event(message: str) -> Event:
    """The journal refused a write (disk full, damaged): the collector stops."""
    return Event(
        time=time.time(),
        kind="storage",
        severity="critical",
        code="storage.write_failed",
        message=message,
        did=f"Stopped the collector (exit code {EXIT_STORAGE}); everything committed before "
        "is safe.",
        do="Free space on the data folder's disk (or fix what the message names), then start "
        "the collector again: it archives what the journal holds.",
        needs_user=True,
    )


def close_source(source: object) -> None:
    """Close a source that holds connections (idempotent; demo and replay hold none)."""
    close = getattr(source, "close", None)
    if callable(close):
        close()


# -- the command line --------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--duration",
        metavar="S",
        type=positive_seconds,
        help="stop after S seconds (default: run until Ctrl-C or SIGTERM)",
    )
    replay = parser.add_argument_group("with --source replay")
    replay.add_argument(
        "--replay-from",
        metavar="ARCHIVE",
        help="archive (folder or URI) to replay from; it must not be this data dir's own",
    )
    replay.add_argument("--replay-date", metavar="DATE", type=iso_date, help="IST date to replay")


def source_for(
    settings: Settings,
    replay_from: str | None = None,
    replay_date: date | None = None,
    config_path: Path | None = None,
) -> Callable[[], Source]:
    """The source factory the settings ask for. Kite's is called inside `collect`, after the
    journal is locked, so a refused token never leaves a second collector connected."""
    if settings.source == "demo":
        from optui.feed.demo import DemoFeed  # noqa: PLC0415

        return lambda: DemoFeed(settings)
    if settings.source == "replay":
        from optui.feed.replay import NoDataError, ReplaySource  # noqa: PLC0415
        from optui.store.locations import archive_root  # noqa: PLC0415

        if replay_from is None or replay_date is None:
            raise SettingsError("--source replay needs --replay-from ARCHIVE and --replay-date")
        if _same_place(replay_from, archive_root(settings)):
            raise SettingsError(
                f"--replay-from {replay_from} is this data dir's own archive: collecting a "
                "replay into it would store every tick twice; pick another --data-dir"
            )
        try:
            source = ReplaySource(replay_from, replay_date, speed=settings.demo.speed)
        except NoDataError as exc:
            raise SettingsError(str(exc)) from None
        return lambda: source
    from optui.feed.live import open_live_feed  # noqa: PLC0415

    def live() -> Source:
        return open_live_feed(
            settings, config_path=config_path, on_progress=lambda m: print(m, file=sys.stderr)
        )

    return live


def run(args: argparse.Namespace) -> int:
    """`optui collect`."""
    from optui.cli import settings_from_args  # noqa: PLC0415

    settings = settings_from_args(args)
    source = source_for(settings, args.replay_from, args.replay_date, getattr(args, "config", None))
    return collect(settings, source, CollectOptions(duration=args.duration))


def _same_place(a: str, b: str) -> bool:
    if "://" in a or "://" in b:
        return a.rstrip("/") == b.rstrip("/")
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()
