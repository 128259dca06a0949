"""`optui participants import|fetch|show`: NSE's participant-wise OI and volume files.

`import` stores files the user already has; `fetch` downloads the trading days not yet stored
from NSE's archive host; `show` prints a stored day for people without the TUI.

Fetching is deliberately slow and polite, because NSE blocks clients that are not: one request
at a time, `[nse] request_delay` seconds between two requests, at most `[nse] max_requests`
requests per run (retries included; the next run carries on where this one stopped), retries
with exponential backoff only for answers that say "try later" (5xx, 429, timeouts, dropped
connections), and the headers of a browser (NSE refuses bare HTTP clients). A day NSE has not
published is answered with a 404, or with a 200 and an HTML page: both mean "not published"
(a holiday the calendar does not know, or today's file before the evening), not an error.
Days already stored cost no request, so running `fetch` again fetches only what is missing.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Final, TextIO

from optui.commands import iso_date
from optui.settings import NseSettings, Settings, SettingsError

if TYPE_CHECKING:
    from optui.analytics.participants import DayChange, Kind, ParticipantDay
    from optui.feed.calendar import TradingCalendar
    from optui.store.participants import ParticipantStore

__all__ = [
    "HEADERS",
    "MAX_ATTEMPTS",
    "FetchReport",
    "add_arguments",
    "days_to_fetch",
    "fetch",
    "render_day",
    "run",
]

MAX_ATTEMPTS: Final = 4
"""Requests for one file before the run gives up (the first and three retries)."""
DEFAULT_DAYS: Final = 20
"""Trading days `fetch` looks back over when `--from` is not given."""
TIMEOUT: Final = 30.0
_BACKOFF_CAP: Final = 60.0
_RETRY_AFTER_CAP: Final = 120.0

HEADERS: Final = {
    # NSE's servers refuse clients that do not look like a browser coming from its site.
    "User-Agent": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/126.0.0.0 Safari/537.36"
    ),
    "Referer": "https://www.nseindia.com/all-reports-derivatives",
    "Accept": "text/csv,text/plain,application/octet-stream;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.9",
}


# -- arguments ----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    # The actions are subcommands of their own; each gets a copy of the options `parser`
    # already has (optui's global flags), so `optui participants fetch --data-dir X` works
    # like every other command.
    inherited = argparse.ArgumentParser(add_help=False, parents=[parser])
    actions = parser.add_subparsers(
        title="actions", metavar="ACTION", dest="participants_action", required=True
    )

    def action(name: str, help_text: str) -> argparse.ArgumentParser:
        return actions.add_parser(
            name,
            help=help_text,
            description=help_text,
            parents=[inherited],
            conflict_handler="resolve",
        )

    add = action(
        "import",
        "store NSE participant files (fao_participant_oi_/vol_DDMMYYYY.csv) from files or "
        "folders (searched recursively)",
    )
    add.add_argument("paths", metavar="PATH", nargs="+", type=Path, help="a file or a folder")
    add.add_argument(
        "--replace",
        action="store_true",
        help="overwrite a stored day whose figures differ (default: refuse, saying so)",
    )

    get = action(
        "fetch",
        "download the trading days not yet stored from NSE's archive (politely: see [nse] "
        "request_delay and max_requests)",
    )
    get.add_argument(
        "--from",
        dest="start",
        metavar="DATE",
        type=iso_date,
        help=f"first day, YYYY-MM-DD (default: the {DEFAULT_DAYS} trading days up to --to)",
    )
    get.add_argument(
        "--to", dest="end", metavar="DATE", type=iso_date, help="last day (default: today, IST)"
    )

    show = action("show", "print a stored day as a table, with the change since the day before")
    show.add_argument(
        "--date", metavar="DATE", type=iso_date, help="the day (default: the latest stored)"
    )
    show.add_argument(
        "--kind",
        choices=("oi", "vol"),
        default="oi",
        help="open interest (default) or trading volume",
    )


def run(args: argparse.Namespace) -> int:
    from optui.cli import settings_from_args  # noqa: PLC0415

    settings = settings_from_args(args)
    if args.participants_action == "import":
        return run_import(settings, args.paths, replace=args.replace)
    if args.participants_action == "fetch":
        return run_fetch(settings, args.start, args.end)
    return run_show(settings, args.date, args.kind)


def _store(settings: Settings) -> ParticipantStore:
    from optui.store.participants import ParticipantStore, participants_dir  # noqa: PLC0415

    return ParticipantStore(participants_dir(settings))


# -- import -------------------------------------------------------------------------------------


def run_import(
    settings: Settings,
    paths: Sequence[Path],
    *,
    replace: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Import files and folders; exit 1 if any file was refused."""
    out = out or sys.stdout
    err = err or sys.stderr
    store = _store(settings)
    counts = dict.fromkeys(("imported", "replaced", "unchanged", "refused", "ignored"), 0)
    for result in store.import_paths(paths, replace=replace):
        counts[result.status] += 1
        if result.status == "refused":
            reason = result.reason
            if not reason.startswith(result.source):
                reason = f"{result.source}: {reason}"
            print(f"refused  {reason}", file=err)
        elif result.status == "replaced":
            print(f"replaced {result.path} with {result.source}", file=err)
        for note in result.notes:
            print(f"  note: {note}", file=err)
    print(
        f"{counts['imported']} imported, {counts['replaced']} replaced, "
        f"{counts['unchanged']} already stored (skipped), {counts['refused']} refused, "
        f"{counts['ignored']} other files ignored; stored in {store.root}",
        file=out,
    )
    return 1 if counts["refused"] else 0


# -- fetch --------------------------------------------------------------------------------------


@dataclass
class FetchReport:
    """What one fetch run did. Each entry is (kind, day) or (kind, day, reason)."""

    fetched: list[tuple[Kind, date]] = field(default_factory=list)
    already: list[tuple[Kind, date]] = field(default_factory=list)
    not_published: list[tuple[Kind, date]] = field(default_factory=list)
    refused: list[tuple[Kind, date, str]] = field(default_factory=list)
    left: list[tuple[Kind, date]] = field(default_factory=list)
    """Not tried: the request budget was spent, or the run was aborted."""
    requests: int = 0
    aborted: str = ""
    """Why the run stopped early (NSE unreachable, refusing us), "" when it did not."""

    @property
    def ok(self) -> bool:
        return not self.aborted and not self.refused


class _AbortError(Exception):
    """Stop the run: going on would only repeat the failure (and spend the budget)."""


class _BudgetSpentError(Exception):
    pass


@dataclass(frozen=True)
class _Answer:
    status: int
    body: bytes


class _Client:
    """One request at a time, spaced, counted and retried."""

    def __init__(
        self,
        nse: NseSettings,
        *,
        sleep: Callable[[float], None],
        timeout: float,
        opener: urllib.request.OpenerDirector,
    ) -> None:
        self.nse = nse
        self.sleep = sleep
        self.timeout = timeout
        self.opener = opener
        self.requests = 0

    def get(self, url: str) -> _Answer:
        last = ""
        wait: float | None = None
        for attempt in range(MAX_ATTEMPTS):
            if self.requests >= self.nse.max_requests:
                raise _BudgetSpentError
            if self.requests:
                # Between two requests the configured delay; before a retry the backoff,
                # which is never shorter.
                self.sleep(self.nse.request_delay if wait is None else wait)
            self.requests += 1
            retry_after: float | None = None
            try:
                with self.opener.open(
                    urllib.request.Request(url, headers=HEADERS), timeout=self.timeout
                ) as response:
                    return _Answer(int(response.status), response.read())
            except urllib.error.HTTPError as exc:
                body = _read_quietly(exc)
                if exc.code in (404, 410):
                    return _Answer(exc.code, body)
                if exc.code != 429 and exc.code < 500:
                    raise _AbortError(
                        f"NSE refused {url} with HTTP {exc.code} {exc.reason}: it blocks "
                        "clients it takes for bots; try again later, and check "
                        f"nse.archive_url ({self.nse.archive_url})"
                    ) from None
                last = f"HTTP {exc.code} {exc.reason}"
                retry_after = _retry_after(exc.headers.get("Retry-After"))
            except (TimeoutError, urllib.error.URLError, http.client.HTTPException, OSError) as exc:
                last = _describe_error(exc)
            backoff = min(max(self.nse.request_delay, 1.0) * 2.0**attempt, _BACKOFF_CAP)
            wait = max(backoff, retry_after or 0.0)
        raise _AbortError(f"{url}: {last} ({MAX_ATTEMPTS} attempts); NSE or the network is down")


def _read_quietly(exc: urllib.error.HTTPError) -> bytes:
    try:
        return exc.read()
    except (OSError, http.client.HTTPException):
        return b""


def _retry_after(value: str | None) -> float | None:
    try:
        return min(float(value), _RETRY_AFTER_CAP) if value else None
    except ValueError:
        return None  # an HTTP date: the backoff will do


def _describe_error(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.URLError) and not isinstance(exc.reason, str):
        exc = exc.reason if isinstance(exc.reason, BaseException) else exc
    if isinstance(exc, TimeoutError):
        return "timed out"
    reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
    return f"{type(exc).__name__}: {reason}"


def days_to_fetch(
    start: date, end: date, calendar: TradingCalendar | None = None
) -> tuple[list[date], int]:
    """Days NSE publishes files for between `start` and `end`: trading days, and holidays
    with a special (Muhurat) session, which have files too. Also how many days were skipped."""
    from optui.feed import reference  # noqa: PLC0415
    from optui.feed.calendar import TradingCalendar  # noqa: PLC0415

    cal = calendar or TradingCalendar.default()
    special = {
        h.day
        for h in reference.holidays()
        if h.exchange == "NSE" and "muhurat" in h.description.casefold()
    }
    days = sorted(set(cal.trading_days(start, end)) | {d for d in special if start <= d <= end})
    return days, (end - start).days + 1 - len(days)


def check_archive_url(url: str) -> str:
    """The URL without a trailing slash, or a SettingsError saying what is wrong with it."""
    try:
        parts = urllib.parse.urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise SettingsError(f"nse.archive_url {url!r} is not a valid URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not host:
        raise SettingsError(
            f"nse.archive_url {url!r} must be an http(s) URL with a host name, such as "
            "https://nsearchives.nseindia.com/content/nsccl"
        )
    return url.rstrip("/")


def fetch(
    nse: NseSettings,
    store: ParticipantStore,
    days: Sequence[date],
    *,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = TIMEOUT,
    progress: TextIO | None = None,
    opener: urllib.request.OpenerDirector | None = None,
) -> FetchReport:
    """Fetch the files of `days` that `store` lacks, oldest first, both kinds per day.

    `sleep` is called for every pause (tests record instead of waiting).
    """
    from optui.analytics.participants import KINDS, participant_file_name  # noqa: PLC0415

    base = check_archive_url(nse.archive_url)
    client = _Client(
        nse, sleep=sleep, timeout=timeout, opener=opener or urllib.request.build_opener()
    )
    report = FetchReport()
    stop = False
    for day in days:
        said: list[str] = []
        notes: list[str] = []
        for kind in KINDS:
            if store.has(kind, day):
                report.already.append((kind, day))
                said.append(f"{kind} already stored")
                continue
            if stop:
                report.left.append((kind, day))
                continue
            name = participant_file_name(kind, day)
            try:
                answer = client.get(f"{base}/{name}")
            except _BudgetSpentError:
                stop = True
                report.left.append((kind, day))
                said.append(f"{kind} left (request budget spent)")
                continue
            except _AbortError as exc:
                stop = True
                report.aborted = str(exc)
                report.left.append((kind, day))
                said.append(f"{kind} failed")
                continue
            if answer.status != 200 or _is_html(answer.body):
                report.not_published.append((kind, day))
                said.append(f"{kind} not published")
                continue
            result = store.add(answer.body, name=name)
            if result.status == "refused":
                report.refused.append((kind, day, result.reason))
                said.append(f"{kind} refused: {result.reason}")
            else:
                report.fetched.append((kind, day))
                said.append(f"{kind} fetched ({len(answer.body):,} bytes)")
                notes += result.notes  # a title for another day, totals that do not add up
        if progress is not None and said:
            print(f"{day.isoformat()}: {', '.join(said)}", file=progress)
            for note in notes:
                print(f"  note: {note}", file=progress)
    report.requests = client.requests
    return report


def _is_html(body: bytes) -> bool:
    head = body[:2048].lstrip().lower()
    return head.startswith(b"<") or b"<html" in head or b"<!doctype" in head


def run_fetch(
    settings: Settings,
    start: date | None,
    end: date | None,
    *,
    today: date | None = None,
    sleep: Callable[[float], None] = time.sleep,
    timeout: float = TIMEOUT,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """`optui participants fetch`: exit 0 when every day was fetched, stored already or is not
    published (or the budget ran out: the next run goes on), 1 on a refusal or a failure."""
    from optui.feed.calendar import TradingCalendar, ist_date  # noqa: PLC0415

    out = out or sys.stdout
    err = err or sys.stderr
    check_archive_url(settings.nse.archive_url)
    today = today or ist_date(time.time())
    end = min(end or today, today)
    cal = TradingCalendar.default()
    if start is None:
        start = cal.last_trading_days(end, DEFAULT_DAYS)[0]
    if start > end:
        raise SettingsError(f"--from {start} is after --to {end} (the latest day is today)")
    days, skipped = days_to_fetch(start, end, cal)
    store = _store(settings)
    print(
        f"fetching {start} to {end}: {len(days)} trading days ({skipped} weekend days and "
        f"holidays skipped) from {settings.nse.archive_url}",
        file=err,
    )
    report = fetch(settings.nse, store, days, sleep=sleep, timeout=timeout, progress=err)
    print(_summary(report, settings.nse), file=out)
    if report.aborted:
        print(f"optui: error: {report.aborted}", file=err)
    return 0 if report.ok else 1


def _summary(report: FetchReport, nse: NseSettings) -> str:
    lines = [
        f"{len(report.fetched)} files fetched, {len(report.already)} already stored, "
        f"{len(report.not_published)} not published, {len(report.refused)} refused; "
        f"{report.requests} of {nse.max_requests} requests used"
    ]
    if report.not_published:
        days = sorted({d for _, d in report.not_published})
        lines.append(f"not published: {', '.join(d.isoformat() for d in days)}")
    if report.not_published and not report.fetched and not report.already:
        lines.append(f"hint: nothing was found at all; check nse.archive_url ({nse.archive_url})")
    for kind, day, reason in report.refused:
        lines.append(f"refused {kind} {day}: {reason}")
    if report.left:
        why = "the run stopped" if report.aborted else "the request budget was spent"
        lines.append(
            f"{len(report.left)} files left because {why}; run `optui participants fetch` "
            "again to continue"
        )
    return "\n".join(lines)


# -- show ---------------------------------------------------------------------------------------


def run_show(
    settings: Settings, day: date | None, kind: Kind = "oi", *, out: TextIO | None = None
) -> int:
    """`optui participants show`: exit 1 when nothing (or not that day) is stored."""
    from optui.analytics.participants import ParticipantFileError, day_change  # noqa: PLC0415
    from optui.feed.calendar import TradingCalendar  # noqa: PLC0415

    out = out or sys.stdout
    store = _store(settings)
    stored = store.days(kind)
    if not stored:
        print(
            f"optui: no {kind} participant files in {store.root}; get them with "
            "`optui participants fetch` or `optui participants import DIR`",
            file=sys.stderr,
        )
        return 1
    wanted = day or stored[-1]
    if wanted not in stored:
        near = ", ".join(d.isoformat() for d in stored[-5:])
        print(
            f"optui: no {kind} participant file for {wanted}; the latest stored: {near}",
            file=sys.stderr,
        )
        return 1
    try:
        today = store.load(kind, wanted)
        earlier = [d for d in stored if d < wanted]
        change = None
        if earlier:
            previous = store.load(kind, earlier[-1])
            between = TradingCalendar.default().trading_days(previous.day, wanted)
            change = day_change(today, previous, [d for d in between if previous.day < d < wanted])
    except ParticipantFileError as exc:
        print(f"optui: error: {exc}", file=sys.stderr)
        return 1
    print(render_day(today, change), file=out, end="")
    return 0


_LABEL: Final = 28
_CELL: Final = 13


def _table(
    title: str, labels: Sequence[str], rows: Sequence[Sequence[object]], head: Sequence[str]
) -> list[str]:
    lines = [f"{title:<{_LABEL}}" + "".join(f"{h:>{_CELL}}" for h in head)]
    for label, values in zip(labels, rows, strict=True):
        cells = "".join(f"{v:>{_CELL}}" for v in values)
        lines.append(f"{label:<{_LABEL}}{cells}")
    return lines


def _n(value: int, signed: bool = False) -> str:
    return f"{value:+,}" if signed else f"{value:,}"


def render_day(day: ParticipantDay, change: DayChange | None = None) -> str:
    """A day as plain text: NSE's figures, long/short/net by group, options net, the FII
    index-futures long ratio, each with its change since the previous file when given."""
    from optui.analytics.participants import (  # noqa: PLC0415
        COLUMNS,
        GROUP_NAMES,
        IDENTITY_TOLERANCE,
        KIND_NAMES,
        PARTICIPANTS,
        ROWS,
        positions,
    )

    table = day.table()
    held = positions(day)
    lines = [f"NSE participant-wise {KIND_NAMES[day.kind]} on {day.day} ({day.source})"]
    if change is not None:
        gap = (
            f"; {len(change.missing_days)} trading days without a file"
            if change.missing_days
            else ""
        )
        lines.append(f"changes are against {change.previous_day}, the previous file stored{gap}")
    else:
        lines.append("no earlier file stored: no changes shown")
    lines.append("")
    lines += _table(
        "contracts", COLUMNS, [[_n(int(v)) for v in table[:, c]] for c in range(len(COLUMNS))], ROWS
    )
    if change is not None:
        lines.append("")
        lines += _table(
            f"change since {change.previous_day}",
            COLUMNS,
            [[_n(int(v), True) for v in change.table[:, c]] for c in range(len(COLUMNS))],
            ROWS,
        )
    lines.append("")
    net_rows = [[_n(int(v), True) for v in held.net[:4, g]] for g in range(len(GROUP_NAMES))]
    net_rows += [[_n(int(v), True) for v in held.options_net[:4, k]] for k in range(2)]
    net_labels = [*GROUP_NAMES, "Index options net (1)", "Stock options net (1)"]
    lines += _table("net (long - short)", net_labels, net_rows, PARTICIPANTS)
    if change is not None:
        lines.append("")
        rows = [[_n(int(v), True) for v in change.net[:4, g]] for g in range(len(GROUP_NAMES))]
        rows += [[_n(int(v), True) for v in change.options_net[:4, k]] for k in range(2)]
        lines += _table(f"net change since {change.previous_day}", net_labels, rows, PARTICIPANTS)
    lines.append("(1) (call long + put short) - (put long + call short): positive is bullish")
    lines.append("")
    ratio = held.fii_index_futures_long_ratio
    text = "none held" if ratio is None else f"{ratio:.1%}"
    if change is not None and change.fii_index_futures_long_ratio is not None:
        text += f" ({change.fii_index_futures_long_ratio * 100:+.1f} points)"
    lines.append(f"FII index futures long ratio (long / (long + short)): {text}")
    worst = int(abs(day.identity_gap).max())
    if day.discrepancies:
        lines.append(f"totals that do not add up (more than {IDENTITY_TOLERANCE} contracts):")
        lines += [f"  {d}" for d in day.discrepancies]
    else:
        lines.append(
            f"check: Client + DII + FII + Pro = TOTAL in every column (largest gap: {worst} "
            f"contract{'' if worst == 1 else 's'}; NSE rounds, up to {IDENTITY_TOLERANCE} "
            "is not reported)"
        )
    lines += [f"note: {note}" for note in day.notes]
    return "\n".join(lines) + "\n"
