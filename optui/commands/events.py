"""`optui events [--since DATE|--last N] [--kind K] [--problems] [--json]`: what went wrong.

The collector stores every event it records in its journal (`Journal.append_events`); this
reads them back, read-only (safe beside a running collector), for a user on a server without
the TUI: "what happened to my collector overnight?". It prints the events oldest first, then a
summary per code (how many, the last one) and the problems a person must still fix, each with
what to do. `--json` prints one JSON object per event instead (for scripts and alerting).

Exit code: 0 when no problem is open, 1 when one is (so a cron job or monitor can alert),
2 when there is no journal to read.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TextIO

import msgspec

from optui.commands import iso_date
from optui.events import KINDS, Event, EventLog
from optui.feed.calendar import IST, epoch_at

__all__ = ["add_arguments", "render", "run"]

EXIT_PROBLEMS = 1
EXIT_NO_JOURNAL = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--since", metavar="DATE", type=iso_date, help="only events from this IST date on"
    )
    parser.add_argument(
        "--last", metavar="N", type=int, default=50, help="show the newest N (default 50; 0: all)"
    )
    parser.add_argument("--kind", choices=KINDS, help="only events of this kind")
    parser.add_argument(
        "--problems", action="store_true", help="only the problems a person must still fix"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per event")


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, IST).strftime("%Y-%m-%d %H:%M:%S IST")


def render(events: list[Event], log: EventLog, shown: int, out: TextIO) -> None:
    """The human form: the events, a summary per code, the open problems."""
    for event in events[-shown:] if shown else events:
        times = f" ×{event.count:,}" if event.count > 1 else ""
        print(
            f"{_when(event.time)}  {event.severity:<8} {event.code}{times}: {event.message}",
            file=out,
        )
        if event.severity != "info" and event.do:
            print(f"{'':25}→ {event.do}", file=out)
    if not events:
        print("no events recorded", file=out)
        return
    print("\nby code (count, last):", file=out)
    for code in log.codes():
        print(f"  {code.code:<30} {code.count:>7,}  {_when(code.last.time)}", file=out)
    problems = log.open_problems()
    if problems:
        print("\nSTILL TO FIX:", file=out)
        for problem in problems:
            print(f"  {problem.code}: {problem.message}\n    → {problem.do}", file=out)
    else:
        print("\nno open problems", file=out)


def run(args: argparse.Namespace) -> int:
    """`optui events`."""
    from optui.cli import settings_from_args  # noqa: PLC0415
    from optui.store.journal import Journal, JournalError  # noqa: PLC0415
    from optui.store.locations import journal_dir  # noqa: PLC0415

    settings = settings_from_args(args)
    path = journal_dir(settings)
    try:
        with Journal(path, readonly=True) as journal:
            stored = journal.events(limit=10**9)
    except JournalError as exc:
        print(f"optui: error: {exc}", file=sys.stderr)
        return EXIT_NO_JOURNAL
    events = [s.event for s in stored]
    # Counted and grouped again here only to know the totals and what is still open.
    log = EventLog(log=False, group_window=0.0)
    log.record_many(events)
    if args.since is not None:
        start = epoch_at(args.since, datetime.min.time())
        events = [e for e in events if e.time >= start]
    if args.kind is not None:
        events = [e for e in events if e.kind == args.kind]
    if args.problems:
        events = log.open_problems()
    if args.problems and not events and not args.json:
        print("no open problems")
        return 0
    if args.json:
        for event in events[-args.last :] if args.last else events:
            print(json.dumps(msgspec.to_builtins(event)))
    else:
        render(events, log, max(args.last, 0), sys.stdout)
    return EXIT_PROBLEMS if log.open_problems() else 0
