"""Events: one typed record, counted and grouped, stored in the journal and the log files."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import lmdb
import pytest

from optui.events import Event, EventLog, decode_event, encode_event
from optui.logs import AUTH_LOG_FILE, ERRORS_LOG_FILE, LOG_FILE_NAME, log_to_file
from optui.store.journal import Journal


def ev(t: float, code: str = "feed.disconnected", **kw: object) -> Event:
    fields: dict[str, object] = {
        "time": t,
        "kind": "feed",
        "severity": "warning",
        "code": code,
        "message": f"{code} at {t}",
    }
    fields.update(kw)
    return Event(**fields)  # type: ignore[arg-type]


class Collected:
    def __init__(self) -> None:
        self.records: list[Event] = []

    def __call__(self, records: object) -> None:
        self.records.extend(records)  # type: ignore[call-overload]


def test_an_event_survives_its_json_form() -> None:
    event = ev(1.5, details={"subject": "NIFTY", "frames": 3}, did="reconnected", do="nothing")
    assert decode_event(encode_event(event)) == event


def test_repeats_within_the_window_are_counted_and_summarised_once() -> None:
    sink = Collected()
    log = EventLog(sinks=[sink], group_window=60.0, burst=3)
    for t in range(3):  # the first few pass at once: a drop and a reconnect are news
        assert log.record(ev(float(t) / 10, details={"subject": "A"})) is not None
    for t in range(1, 40):
        assert log.record(ev(float(t), details={"subject": "B" if t % 2 else "C"})) is None
    assert [r.count for r in sink.records] == [1, 1, 1]  # three records so far: no flood
    # A different code is not held back by the first one's group.
    log.record(ev(41.0, code="feed.silent"))
    assert [r.code for r in sink.records] == [*["feed.disconnected"] * 3, "feed.silent"]
    # The window closes: one summary that stands for the 39 repeats, naming their subjects.
    summaries = log.flush(61.0)
    assert len(summaries) == 1 and summaries[0].count == 39 and summaries[0].first_time == 1.0
    assert "39 more times" in summaries[0].message
    assert summaries[0].details["subjects"] == "B, C"
    assert log.counts()["feed"] == 43
    codes = {c.code: c.count for c in log.codes()}
    assert codes == {"feed.disconnected": 42, "feed.silent": 1}


def test_flush_everything_at_exit_loses_no_count() -> None:
    sink = Collected()
    log = EventLog(sinks=[sink], group_window=60.0, burst=1)
    for t in range(5):
        log.record(ev(float(t)))
    assert sum(r.count for r in sink.records) == 1
    log.flush(5.0, everything=True)
    assert sum(r.count for r in sink.records) == 5


def test_a_problem_a_person_must_fix_stays_open_until_cleared() -> None:
    log = EventLog()
    low = ev(1.0, code="storage.disk_low", kind="storage", needs_user=True, do="free disk")
    log.record(low)
    log.record(ev(2.0))
    assert [p.code for p in log.open_problems()] == ["storage.disk_low"]
    ok = ev(3.0, code="storage.disk_ok", kind="storage", severity="info", clears="storage.disk_low")
    assert log.record(ok) is not None
    assert log.open_problems() == []


def test_a_failing_sink_is_counted_and_never_raises() -> None:
    def broken(records: object) -> None:
        raise OSError("disk full")

    good = Collected()
    log = EventLog(sinks=[broken, good])
    log.record(ev(1.0))
    assert log.sink_errors == 1 and len(good.records) == 1


def test_events_are_stored_in_the_journal_and_read_on_by_a_reader(tmp_path: Path) -> None:
    with Journal(tmp_path / "j", sync=False) as journal:
        reader = Journal(tmp_path / "j", readonly=True)
        log = EventLog(sinks=[journal.append_events], source="collect")
        log.record(ev(10.0))
        log.record(ev(5.0, code="storage.roll_failed", kind="storage"))  # an older clock
        stored = reader.events()
        assert [s.event.code for s in stored] == ["feed.disconnected", "storage.roll_failed"]
        assert all(s.event.source == "collect" for s in stored)
        log.record(ev(11.0, code="feed.connected", severity="info"))
        newer = reader.events(after=stored[-1].key)
        assert [s.event.code for s in newer] == ["feed.connected"]
        assert reader.last_event_key() == newer[-1].key
        assert reader.events(after=newer[-1].key) == []
        with pytest.raises(Exception, match="read-only"):
            reader.append_events([ev(1.0)])
        reader.close()


def test_a_journal_made_before_events_gets_them_when_a_writer_opens_it(tmp_path: Path) -> None:
    folder = tmp_path / "old"
    folder.mkdir()
    env = lmdb.open(str(folder), max_dbs=4)
    with env.begin(write=True) as txn:
        for name in (b"frames", b"meta", b"latest"):
            env.open_db(name, txn=txn, create=True)
    env.close()
    with Journal(folder, readonly=True) as reader:
        assert reader.events() == [] and reader.last_event_key() is None
    with Journal(folder, sync=False) as writer:
        writer.append_events([ev(1.0)])
        assert [s.event for s in writer.events()] == [ev(1.0)]


def _lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_events_reach_the_three_rotating_json_logs_private_and_scrubbed(
    tmp_path: Path, restore_optui_logger: logging.Logger
) -> None:
    log_dir = tmp_path / "log"
    log_to_file(log_dir)
    token = "abcdefghijklmnopqrstuvwxyz012345"  # the shape of a Kite access token
    log = EventLog()
    log.record(ev(1.0, code="feed.connected", severity="info"))
    log.record(
        ev(2.0, code="auth.refused", kind="auth", severity="error", message=f"refused {token}")
    )
    logging.getLogger("optui.feed.kite").info("plain record")
    for handler in restore_optui_logger.handlers:
        handler.flush()
    app = _lines(log_dir / LOG_FILE_NAME)
    errors = _lines(log_dir / ERRORS_LOG_FILE)
    auth = _lines(log_dir / AUTH_LOG_FILE)
    assert [line.get("code") for line in app] == ["feed.connected", "auth.refused", None]
    assert app[0]["kind"] == "feed" and app[0]["unix_time"] == 1.0
    assert app[0]["time"] == "1970-01-01T00:00:01+00:00"
    assert app[2]["message"] == "plain record"
    assert [line["code"] for line in errors] == ["auth.refused"]
    assert [line["code"] for line in auth] == ["auth.refused"]
    for name in (LOG_FILE_NAME, ERRORS_LOG_FILE, AUTH_LOG_FILE):
        text = (log_dir / name).read_text(encoding="utf-8")
        assert token not in text
        assert stat.S_IMODE((log_dir / name).stat().st_mode) == 0o600


def test_the_log_files_rotate_and_keep_a_bounded_number_of_old_ones(
    tmp_path: Path, restore_optui_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optui.logs  # noqa: PLC0415

    monkeypatch.setattr(optui.logs, "MAX_BYTES", 4096)
    log_dir = tmp_path / "log"
    log_to_file(log_dir)
    log = EventLog(group_window=0.0)
    for t in range(200):
        log.record(ev(float(t), code=f"feed.code{t}"))
    for handler in restore_optui_logger.handlers:
        handler.flush()
    files = sorted(p.name for p in log_dir.iterdir() if p.name.startswith(LOG_FILE_NAME))
    assert files == [LOG_FILE_NAME, *(f"{LOG_FILE_NAME}.{n}" for n in range(1, 6))]
    for name in files:
        path = log_dir / name
        assert path.stat().st_size <= 4096 + 1024
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    newest = _lines(log_dir / LOG_FILE_NAME)[-1]
    assert newest["code"] == "feed.code199"  # the newest are kept, the oldest rotated out
