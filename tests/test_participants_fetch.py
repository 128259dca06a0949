"""Getting NSE's participant files: the store, `optui participants import|fetch|show`.

`fetch` runs against a local stand-in for NSE's archive host (127.0.0.1, a port of its own),
never NSE: it serves real files from ../shared/data, answers missing days the two ways NSE
does (a 404, or a 200 with an HTML page), fails on demand (5xx, 429 with Retry-After, a hang
past the client's timeout, 403) and records every request with its headers. Pauses go
through an injected `sleep` that records instead of waiting.
"""

from __future__ import annotations

import argparse
import http.server
import io
import shutil
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest

from optui import cli
from optui.analytics.participants import (
    KINDS,
    file_day,
    participant_file_name,
    read_participant_csv,
)
from optui.commands import participants as command
from optui.feed.calendar import TradingCalendar
from optui.settings import NseSettings, Settings, SettingsError
from optui.store.participants import ParticipantStore, participants_dir

FOLDER = "participant_oi_vol"
# 2025-08-01 .. 2025-08-14: ten trading days (the 15th is a holiday), both kinds on file.
FIRST, LAST = date(2025, 8, 1), date(2025, 8, 14)
DAYS = TradingCalendar.default().trading_days(FIRST, LAST)
NSE_404 = b"""<!DOCTYPE html><html><head><title>404 | NSE India</title></head>
<body>The page you are looking for could not be found.</body></html>"""


# -- a stand-in for NSE's archive host ----------------------------------------------------------


@dataclass
class Archive:
    """Serves `root` under /<style>/<file name>; `style` says how a missing file is answered:
    html404 (200 and an HTML page), plain404 (a 404), forbidden (403 for everything)."""

    root: Path
    port: int = 0
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    fail: dict[str, list[int]] = field(default_factory=dict)
    """File name -> statuses to answer its next requests with, one each, before serving it."""
    retry_after: str | None = None
    hang: set[str] = field(default_factory=set)
    """File names whose first request gets no answer (until the test ends)."""
    release: threading.Event = field(default_factory=threading.Event)
    in_flight: int = 0
    most_in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, style: str = "html404") -> str:
        return f"http://127.0.0.1:{self.port}/{style}"

    def requested(self) -> list[str]:
        return [path.rsplit("/", 1)[-1] for path, _ in self.requests]


def _handler(archive: Archive) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        finished: bool = False

        def log_message(self, format: str, *args: object) -> None:
            pass  # keep test output clean

        def _finish(self) -> None:
            # The request stops counting as in flight before its answer is written: the client
            # may send its next request the moment it has read this one's answer, which can be
            # before this thread gets to run again.
            if not self.finished:
                self.finished = True
                with archive.lock:
                    archive.in_flight -= 1

        def _send(self, status: int, body: bytes, kind: str = "text/html") -> None:
            self._finish()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            if status in (429, 503) and archive.retry_after:
                self.send_header("Retry-After", archive.retry_after)
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            self.finished = False
            with archive.lock:
                archive.requests.append((self.path, dict(self.headers.items())))
                archive.in_flight += 1
                archive.most_in_flight = max(archive.most_in_flight, archive.in_flight)
            try:
                self._answer()
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (a timeout test)
            finally:
                self._finish()

        def _answer(self) -> None:
            _, style, name = self.path.split("/", 2)
            if name in archive.hang:
                archive.hang.discard(name)
                archive.release.wait(10)
                return
            pending = archive.fail.get(name)
            if pending:
                self._send(pending.pop(0), b"<html><body>try later</body></html>")
                return
            if style == "forbidden":
                self._send(403, b"<html><body>Access Denied</body></html>")
                return
            path = archive.root / name
            if path.is_file():
                self._send(200, path.read_bytes(), "text/csv")
            elif style == "plain404":
                self._send(404, NSE_404)
            else:
                self._send(200, NSE_404)

    return Handler


@pytest.fixture
def archive(tmp_path: Path, shared_data: Path) -> Iterator[Archive]:
    root = tmp_path / "nse"
    root.mkdir()
    for day in DAYS:
        for kind in KINDS:
            name = participant_file_name(kind, day)
            shutil.copyfile(shared_data / FOLDER / name, root / name)
    served = Archive(root)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    served.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield served
    finally:
        served.release.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def nse(url: str, delay: float = 0.25, budget: int = 100) -> NseSettings:
    return NseSettings(archive_url=url, request_delay=delay, max_requests=budget)


def store_at(tmp_path: Path) -> ParticipantStore:
    return ParticipantStore(tmp_path / "data" / "participants")


# -- fetch --------------------------------------------------------------------------------------


def test_fetch_gets_the_missing_days_one_at_a_time_with_a_pause(
    archive: Archive, tmp_path: Path
) -> None:
    (archive.root / "fao_participant_oi_06082025.csv").unlink()
    (archive.root / "fao_participant_vol_06082025.csv").unlink()
    (archive.root / "fao_participant_vol_12082025.csv").unlink()
    store = store_at(tmp_path)
    have = archive.root / "fao_participant_oi_04082025.csv"
    assert store.add(have.read_bytes(), name=have.name).status == "imported"
    sleeps, progress = Sleeps(), io.StringIO()

    report = command.fetch(nse(archive.url()), store, DAYS, sleep=sleeps, progress=progress)

    assert report.ok and not report.left and not report.refused
    assert report.already == [("oi", date(2025, 8, 4))]
    assert sorted(report.not_published) == [
        ("oi", date(2025, 8, 6)),
        ("vol", date(2025, 8, 6)),
        ("vol", date(2025, 8, 12)),
    ]
    assert len(report.fetched) == 16
    assert report.requests == len(archive.requests) == 19
    assert archive.most_in_flight == 1  # one request at a time
    assert sleeps == [0.25] * 18  # the delay between every two requests, none before the first
    assert "fao_participant_oi_04082025.csv" not in archive.requested()  # stored: not asked
    for kind, day in report.fetched:
        name = participant_file_name(kind, day)
        assert store.path_for(kind, day).read_bytes() == (archive.root / name).read_bytes()
    for _, headers in archive.requests:
        assert headers["User-Agent"].startswith("Mozilla/5.0 (")
        assert "nseindia.com" in headers["Referer"]
    lines = progress.getvalue().splitlines()
    assert len(lines) == len(DAYS)
    assert lines[3] == "2025-08-06: oi not published, vol not published"
    assert lines[1].startswith("2025-08-04: oi already stored, vol fetched (")


def test_a_second_run_fetches_nothing_and_asks_nothing(archive: Archive, tmp_path: Path) -> None:
    store = store_at(tmp_path)
    first = command.fetch(nse(archive.url()), store, DAYS, sleep=Sleeps())
    assert len(first.fetched) == 20 and first.requests == 20
    asked = len(archive.requests)
    second = command.fetch(nse(archive.url()), store, DAYS, sleep=Sleeps())
    assert second.fetched == [] and second.requests == 0 and len(second.already) == 20
    assert len(archive.requests) == asked


def test_the_request_budget_is_respected_and_the_next_run_goes_on(
    archive: Archive, tmp_path: Path
) -> None:
    store = store_at(tmp_path)
    first = command.fetch(nse(archive.url(), budget=5), store, DAYS, sleep=Sleeps())
    assert first.requests == len(archive.requests) == 5
    assert len(first.fetched) == 5 and len(first.left) == 15 and first.ok
    assert "budget was spent" in command._summary(first, nse(archive.url(), budget=5))
    second = command.fetch(nse(archive.url(), budget=5), store, DAYS, sleep=Sleeps())
    assert len(second.fetched) == 5 and len(second.already) == 5
    assert len(set(archive.requested())) == 10  # nothing asked twice


def test_5xx_answers_are_retried_with_exponential_backoff(archive: Archive, tmp_path: Path) -> None:
    archive.fail["fao_participant_oi_01082025.csv"] = [503, 502]
    sleeps = Sleeps()
    report = command.fetch(nse(archive.url()), store_at(tmp_path), DAYS[:1], sleep=sleeps)
    assert report.ok and len(report.fetched) == 2
    assert archive.requested() == [
        "fao_participant_oi_01082025.csv",
        "fao_participant_oi_01082025.csv",
        "fao_participant_oi_01082025.csv",
        "fao_participant_vol_01082025.csv",
    ]
    # Backoff doubles from max(request_delay, 1 s); then the usual delay again.
    assert sleeps == [1.0, 2.0, 0.25]


def test_retry_after_is_honoured(archive: Archive, tmp_path: Path) -> None:
    archive.fail["fao_participant_oi_01082025.csv"] = [429]
    archive.retry_after = "7"
    sleeps = Sleeps()
    report = command.fetch(nse(archive.url()), store_at(tmp_path), DAYS[:1], sleep=sleeps)
    assert report.ok and len(report.fetched) == 2 and sleeps == [7.0, 0.25]


def test_a_timeout_is_retried(archive: Archive, tmp_path: Path) -> None:
    archive.hang.add("fao_participant_oi_01082025.csv")
    sleeps = Sleeps()
    report = command.fetch(
        nse(archive.url()), store_at(tmp_path), DAYS[:1], sleep=sleeps, timeout=0.3
    )
    assert report.ok and len(report.fetched) == 2 and report.requests == 3
    assert sleeps == [1.0, 0.25]


def test_a_server_that_keeps_failing_stops_the_run(archive: Archive, tmp_path: Path) -> None:
    archive.fail["fao_participant_oi_01082025.csv"] = [503] * 10
    sleeps = Sleeps()
    report = command.fetch(nse(archive.url()), store_at(tmp_path), DAYS, sleep=sleeps)
    assert not report.ok and report.requests == command.MAX_ATTEMPTS == 4
    assert sleeps == [1.0, 2.0, 4.0]
    assert "HTTP 503" in report.aborted and "fao_participant_oi_01082025.csv" in report.aborted
    assert len(report.left) == 20 and report.fetched == []


def test_a_refusal_stops_the_run_at_once(archive: Archive, tmp_path: Path) -> None:
    report = command.fetch(nse(archive.url("forbidden")), store_at(tmp_path), DAYS, sleep=Sleeps())
    assert report.requests == 1 and "HTTP 403" in report.aborted and "bots" in report.aborted


def test_a_404_means_not_published(archive: Archive, tmp_path: Path) -> None:
    (archive.root / "fao_participant_vol_01082025.csv").unlink()
    report = command.fetch(
        nse(archive.url("plain404")), store_at(tmp_path), DAYS[:1], sleep=Sleeps()
    )
    assert report.ok and report.not_published == [("vol", date(2025, 8, 1))]
    assert report.fetched == [("oi", date(2025, 8, 1))]


def test_an_unreachable_host_is_retried_then_reported(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sleeps = Sleeps()
    report = command.fetch(
        nse(f"http://127.0.0.1:{port}/x"), store_at(tmp_path), DAYS[:2], sleep=sleeps
    )
    assert report.requests == 4 and sleeps == [1.0, 2.0, 4.0]
    assert "ConnectionRefusedError" in report.aborted and "4 attempts" in report.aborted


def test_a_served_file_that_is_not_a_participant_file_is_refused(
    archive: Archive, tmp_path: Path
) -> None:
    (archive.root / "fao_participant_oi_01082025.csv").write_bytes(b"SYMBOL,OPEN\nNIFTY,1\n")
    store = store_at(tmp_path)
    report = command.fetch(nse(archive.url()), store, DAYS[:1], sleep=Sleeps())
    assert not report.ok
    assert [(k, d) for k, d, _ in report.refused] == [("oi", date(2025, 8, 1))]
    assert "no header row starting 'Client Type'" in report.refused[0][2]
    assert not store.has("oi", date(2025, 8, 1)) and store.has("vol", date(2025, 8, 1))


def test_a_served_file_for_another_day_is_refused(archive: Archive, tmp_path: Path) -> None:
    earlier = (archive.root / "fao_participant_oi_01082025.csv").read_bytes()
    (archive.root / "fao_participant_oi_04082025.csv").write_bytes(earlier)
    store, progress = store_at(tmp_path), io.StringIO()
    report = command.fetch(nse(archive.url()), store, DAYS[1:2], sleep=Sleeps(), progress=progress)
    assert report.fetched == [("vol", date(2025, 8, 4))] and not report.ok
    assert report.refused[0][2] == (
        "fao_participant_oi_04082025.csv: its title says 2025-08-01 but its name says "
        "2025-08-04; if the title is right, rename the file fao_participant_oi_01082025.csv"
    )
    assert "2025-08-04: oi refused: " in progress.getvalue()
    assert not store.has("oi", date(2025, 8, 4))


def test_days_to_fetch_skip_weekends_and_holidays_but_not_muhurat() -> None:
    days, skipped = command.days_to_fetch(date(2025, 10, 17), date(2025, 10, 26))
    # 21 Oct 2025 is a holiday with a Muhurat session (NSE publishes a file); 22 Oct is not.
    assert days == [date(2025, 10, d) for d in (17, 20, 21, 23, 24)]
    assert skipped == 5


def test_bad_archive_urls_are_settings_errors() -> None:
    for url in ("http://:8080/x", "http://[::1/x"):
        with pytest.raises(SettingsError, match=r"nse\.archive_url"):
            command.check_archive_url(url)
    assert command.check_archive_url("https://h.example/a/") == "https://h.example/a"


# -- the command line ---------------------------------------------------------------------------


@pytest.fixture
def optui() -> Iterator[None]:
    """`optui participants …` goes through the real entry point and its COMMANDS table."""
    assert "participants" in {c.name for c in cli.COMMANDS}
    yield


def test_fetch_on_the_command_line(
    optui: None,
    archive: Archive,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (archive.root / "fao_participant_vol_05082025.csv").unlink()
    monkeypatch.setenv("OPTUI_NSE__ARCHIVE_URL", archive.url())
    monkeypatch.setenv("OPTUI_NSE__REQUEST_DELAY", "0")
    data = tmp_path / "data"
    argv = ["participants", "fetch", "--from", "2025-08-01", "--to", "2025-08-14"]
    assert cli.main([*argv, "--data-dir", str(data)]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == (
        "19 files fetched, 0 already stored, 1 not published, 0 refused; 20 of 100 requests used"
    )
    assert "not published: 2025-08-05" in captured.out
    assert "fetching 2025-08-01 to 2025-08-14: 10 trading days (4 weekend days" in captured.err
    assert "2025-08-05: oi fetched (" in captured.err
    assert len(list((data / "participants").iterdir())) == 19
    # Again: nothing fetched, only the unpublished file asked for again.
    assert cli.main(["--data-dir", str(data), *argv]) == 0
    assert capsys.readouterr().out.startswith("0 files fetched, 19 already stored, 1 not published")
    assert archive.requested().count("fao_participant_vol_05082025.csv") == 2
    assert len(archive.requests) == 21


def test_fetch_settings_errors_exit_2(
    optui: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPTUI_NSE__ARCHIVE_URL", "ftp://example.com/x")
    assert cli.main(["participants", "fetch"]) == 2
    assert "OPTUI_NSE__ARCHIVE_URL=" in capsys.readouterr().err
    monkeypatch.setenv("OPTUI_NSE__ARCHIVE_URL", "http://:8080/x")
    assert cli.main(["participants", "fetch"]) == 2
    assert "must be an http(s) URL with a host name" in capsys.readouterr().err
    monkeypatch.setenv("OPTUI_NSE__ARCHIVE_URL", "http://127.0.0.1:9/x")
    assert cli.main(["participants", "fetch", "--from", "2025-08-14", "--to", "2025-08-01"]) == 2
    assert "--from 2025-08-14 is after --to 2025-08-01" in capsys.readouterr().err


def test_fetch_defaults_to_recent_days_and_never_the_future(
    archive: Archive, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = Settings(data_dir=tmp_path / "data", nse=nse(archive.url(), budget=1))
    err = io.StringIO()
    code = command.run_fetch(
        settings, None, date(2030, 1, 1), today=LAST, sleep=Sleeps(), err=err, out=io.StringIO()
    )
    assert code == 0
    first = TradingCalendar.default().last_trading_days(LAST, command.DEFAULT_DAYS)[0]
    assert err.getvalue().startswith(f"fetching {first} to {LAST}: 20 trading days")


def test_a_failed_fetch_exits_1_and_says_why(archive: Archive, tmp_path: Path) -> None:
    archive.fail["fao_participant_oi_01082025.csv"] = [500] * 4
    settings = Settings(data_dir=tmp_path / "data", nse=nse(archive.url()))
    out, err = io.StringIO(), io.StringIO()
    code = command.run_fetch(settings, FIRST, LAST, sleep=Sleeps(), out=out, err=err)
    assert code == 1
    assert "optui: error: " in err.getvalue() and "HTTP 500" in err.getvalue()
    assert "20 files left because the run stopped" in out.getvalue()


# -- import and the store -----------------------------------------------------------------------


def test_import_a_folder_then_again(
    optui: None, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    source = shared_data / FOLDER
    assert cli.main(["participants", "import", str(source), "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("221 imported, 0 replaced, 0 already stored (skipped), 0 refused, ")
    assert "1 other files ignored" in out  # derived/participant_oi.csv
    stored = sorted((data / "participants").iterdir())
    assert len(stored) == 221
    sources = {}
    for path in source.iterdir():
        named = file_day(path.name)
        if named is not None:
            sources[named[:2]] = path
    for path in stored:
        named = file_day(path.name)
        assert named is not None and not named[2]  # NSE's DDMMYYYY name, whatever it came as
        assert path.read_bytes() == sources.pop(named[:2]).read_bytes()  # the bytes as they were
    assert sources == {}
    assert cli.main(["participants", "--data-dir", str(data), "import", str(source)]) == 0
    assert capsys.readouterr().out.startswith("0 imported, 0 replaced, 221 already stored")
    assert sorted((data / "participants").iterdir()) == stored  # no temporary files left


def test_a_different_file_for_a_stored_day_is_refused_unless_replace(
    optui: None, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    name = "fao_participant_oi_01082025.csv"
    original = (shared_data / FOLDER / name).read_bytes()
    store = ParticipantStore(data / "participants")
    assert store.add(original, name=name).status == "imported"

    # The same figures with NSE's CRLF instead of the mirror's LF: kept as it was.
    crlf = tmp_path / "crlf" / name
    crlf.parent.mkdir()
    crlf.write_bytes(original.replace(b"\n", b"\r\n"))
    again = store.add_file(crlf)
    assert again.status == "unchanged" and "same figures" in again.reason
    assert store.path_for("oi", date(2025, 8, 1)).read_bytes() == original

    changed = tmp_path / "changed" / name
    changed.parent.mkdir()
    changed.write_bytes(original.replace(b"FII,16421,", b"FII,99999,"))
    argv = ["participants", "import", str(changed), "--data-dir", str(data)]
    assert cli.main(argv) == 1
    captured = capsys.readouterr()
    assert "0 imported, 0 replaced, 0 already stored (skipped), 1 refused" in captured.out
    assert f"refused  {changed}: " in captured.err and "add --replace" in captured.err
    assert "other figures" in captured.err
    assert store.path_for("oi", date(2025, 8, 1)).read_bytes() == original  # untouched

    assert cli.main([*argv, "--replace"]) == 0
    assert "1 replaced" in capsys.readouterr().out
    assert store.path_for("oi", date(2025, 8, 1)).read_bytes() == changed.read_bytes()
    assert store.load("oi", date(2025, 8, 1)).row("FII").future_index_long == 99999


def test_import_refuses_what_is_not_a_participant_file(
    optui: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html = tmp_path / "fao_participant_oi_04082025.csv"
    html.write_bytes(NSE_404)
    other = tmp_path / "notes.csv"
    other.write_text("a,b\n1,2\n")
    data = tmp_path / "data"
    argv = ["participants", "import", str(html), str(other), str(tmp_path / "gone.csv")]
    assert cli.main([*argv, "--data-dir", str(data)]) == 1
    captured = capsys.readouterr()
    assert "0 imported, 0 replaced, 0 already stored (skipped), 3 refused" in captured.out
    assert f"refused  {html}: is an HTML page titled '404 | NSE India'" in captured.err
    assert f"refused  {other}: is not an NSE participant file" in captured.err
    assert f"refused  {tmp_path / 'gone.csv'}: cannot read it" in captured.err
    assert ParticipantStore(data / "participants").files() == []


def test_the_store_lists_and_loads_only_its_own_files(shared_data: Path, tmp_path: Path) -> None:
    store = store_at(tmp_path)
    for day in DAYS[:3]:
        for kind in KINDS:
            path = shared_data / FOLDER / participant_file_name(kind, day)
            assert store.add_file(path).status == "imported"
    (store.root / "README.txt").write_text("mine")
    (store.root / ".fao_participant_oi_07082025.csv.123.tmp").write_text("half")
    assert [(f.kind, f.day) for f in store.files()] == [(k, d) for d in DAYS[:3] for k in KINDS]
    assert store.days("vol") == DAYS[:3]
    # A stored file damaged by hand is reported by load_all, not fatal.
    store.path_for("oi", DAYS[1]).write_bytes(b"<html></html>")
    days, problems = store.load_all("oi")
    assert [d.day for d in days] == [DAYS[0], DAYS[2]]
    assert len(problems) == 1 and "is an HTML page" in problems[0]
    assert store.load("vol", DAYS[0]) == read_participant_csv(store.path_for("vol", DAYS[0]))
    with pytest.raises(FileNotFoundError, match="no oi participant file for 2025-08-14"):
        store.load("oi", LAST)


def test_participants_dir_is_under_the_data_dir(tmp_path: Path) -> None:
    assert participants_dir(Settings(data_dir=tmp_path)) == tmp_path / "participants"


# -- show ---------------------------------------------------------------------------------------


def test_show_prints_the_day_and_its_change(
    optui: None, shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    assert cli.main(["participants", "show", "--data-dir", str(data)]) == 1
    assert "no oi participant files in" in capsys.readouterr().err
    store = ParticipantStore(data / "participants")
    for name in ("fao_participant_oi_01082025.csv", "fao_participant_oi_05082025.csv"):
        store.add_file(shared_data / FOLDER / name)

    assert cli.main(["participants", "show", "--data-dir", str(data)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].startswith("NSE participant-wise open interest on 2025-08-05 (")
    assert lines[1] == (
        "changes are against 2025-08-01, the previous file stored; 1 trading days without a file"
    )
    today = store.load("oi", date(2025, 8, 5))
    before = store.load("oi", date(2025, 8, 1))
    fii_long = today.row("FII").future_index_long
    row = next(line for line in lines if line.startswith("Future Index Long"))
    assert row.split()[-3] == f"{fii_long:,}"
    change = fii_long - before.row("FII").future_index_long
    assert any(
        line.startswith("Future Index Long") and line.split()[-3] == f"{change:+,}"
        for line in lines
    )
    fii_short = today.row("FII").future_index_short
    assert f"{fii_long / (fii_long + fii_short):.1%}" in out
    assert "check: Client + DII + FII + Pro = TOTAL in every column" in out

    assert cli.main(["participants", "show", "--date", "2025-08-01", "--data-dir", str(data)]) == 0
    assert "no earlier file stored" in capsys.readouterr().out
    assert cli.main(["participants", "show", "--date", "2025-08-04", "--data-dir", str(data)]) == 1
    assert "no oi participant file for 2025-08-04" in capsys.readouterr().err
    assert cli.main(["participants", "show", "--kind", "vol", "--data-dir", str(data)]) == 1


def test_render_shows_reported_discrepancies(shared_data: Path) -> None:
    text = (shared_data / FOLDER / "fao_participant_oi_01082025.csv").read_bytes()
    broken = read_participant_csv(
        text.replace(b"FII,16421,", b"FII,26421,"), name="fao_participant_oi_01082025.csv"
    )
    out = command.render_day(broken)
    assert "totals that do not add up (more than 5 contracts):" in out
    assert "TOTAL Future Index Long: Client+DII+FII+Pro = 331,758 but the file says 321,758" in out


def test_the_actions_take_the_global_flags_anywhere(optui: None) -> None:
    parser = cli.build_parser()
    args = parser.parse_args(["participants", "import", "x", "--data-dir", "d", "--replace"])
    assert (args.participants_action, args.data_dir, args.replace) == ("import", "d", True)
    args = parser.parse_args(["--data-dir", "d", "participants", "fetch", "--to", "2025-08-01"])
    assert args.data_dir == "d" and args.end == date(2025, 8, 1) and args.start is None
    assert isinstance(args, argparse.Namespace)
