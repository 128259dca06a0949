"""What the engine and the collector report as events: frames that do not decode, rolls that
fail and recover, a filling disk, a growing map, a missing token; and where those events go
(the journal, collect.log, the terminal, the log files)."""

from __future__ import annotations

import io
import json
import logging
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from optui.commands.collect import EXIT_AUTH, CollectOptions, collect, event_line, source_for
from optui.engine import Engine, EngineStatus, quality_monitor_for
from optui.events import Event, EventLog
from optui.feed.calendar import IST
from optui.feed.codec import decode, encode
from optui.feed.demo import DemoFeed
from optui.feed.feed_events import as_event, feed_event, rest_event
from optui.feed.kite_events import StreamEvent
from optui.feed.quality import market_open_at
from optui.settings import Settings, load_settings
from optui.store.archive import Roller
from optui.store.disk_watch import StorageWatch
from optui.store.journal import Journal, split_key
from optui.store.locations import journal_dir

FAST = {"demo.speed": "120", "demo.instruments": "300"}


def settings_for(data_dir: Path, **extra: str) -> Settings:
    return load_settings(overrides={"data_dir": str(data_dir), **FAST, **extra})


class Frames:
    """A source that hands out the demo's frames with given extra frames mixed in."""

    def __init__(self, settings: Settings, extra: list[bytes]) -> None:
        self.feed = DemoFeed(settings)
        self.extra = extra

    def poll(self) -> list[bytes]:
        frames = self.feed.poll()
        if self.extra:
            frames = [*frames, self.extra.pop(0)]
        return frames

    @property
    def finished(self) -> bool:
        return False

    def instruments(self) -> tuple[date, str]:
        return self.feed.instruments()


def test_a_frame_that_does_not_decode_is_an_event_naming_where_it_is_kept(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    bad = b"\x00\x02\x00\x08garbage!"  # says two packets, holds half of one
    seen: list[Event] = []
    with Journal(journal_dir(settings), sync=False) as journal:
        engine = Engine(Frames(settings, [bad]), journal, on_event=seen.append)
        engine.step()
        assert engine.status.bad_frames == 1
        [event] = seen
        assert event.code == "feed.bad_frame" and event.kind == "feed"
        assert event.details["head"] == bad.hex() and event.details["bytes"] == len(bad)
        key_hex = str(event.details["subject"]).removeprefix("journal key ")
        stored = dict(journal.frames())
        assert stored[bytes.fromhex(key_hex)] == bad  # kept byte for byte where it says


def test_a_failed_roll_is_an_event_and_the_next_good_roll_clears_it(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    archive = tmp_path / "archive"
    archive.write_text("a file where the archive folder should be")
    log = EventLog()
    with Journal(journal_dir(settings), sync=False) as journal:
        roller = Roller(journal, archive, "test")
        engine = Engine(Frames(settings, []), journal, roller=roller, on_event=log.record)
        for _ in range(3):
            engine.step()
        assert engine.roll(everything=True) is None
        failed = [e for e in log.recent if e.code == "storage.roll_failed"]
        assert len(failed) == 1 and "retries in" in failed[0].did
        assert journal.stats().frames > 0  # nothing deleted before it is archived
        archive.unlink()  # the user (or the disk) fixes it
        result = engine.roll(everything=True)
        assert result is not None and result.rows > 0
        recovered = [e for e in log.recent if e.code == "storage.roll_recovered"]
        assert len(recovered) == 1 and recovered[0].clears == "storage.roll_failed"
        assert engine.status.failed_rolls == 0 and journal.stats().frames == 0


def test_the_storage_watch_warns_once_per_crossing_and_says_when_it_is_over(
    tmp_path: Path,
) -> None:
    free = [10_000]
    map_size = [64]
    watch = StorageWatch(
        tmp_path,
        warn_bytes=1_000,
        critical_bytes=100,
        map_size=lambda: map_size[0],
        disk_free=lambda _path: free[0],
    )
    log = EventLog(group_window=0)

    def codes(now: float) -> list[str]:
        found = watch.check(now)
        log.record_many(found)
        return [e.code for e in found]

    assert codes(1) == []
    free[0] = 900
    assert codes(2) == ["storage.disk_low"]
    assert codes(3) == []  # once per crossing, not every check
    assert [p.code for p in log.open_problems()] == ["storage.disk_low"]
    free[0] = 50
    assert codes(4) == ["storage.disk_full"]
    assert [p.code for p in log.open_problems()] == ["storage.disk_full"]
    free[0] = 1_050  # above the line but inside the margin: no flapping
    assert codes(5) == []
    free[0] = 2_000
    map_size[0] = 128
    assert codes(6) == ["storage.disk_ok", "storage.map_grown"]
    assert log.open_problems() == []


def test_the_feed_s_own_events_become_typed_events_with_advice() -> None:
    refused = feed_event(StreamEvent(5.0, "auth", "Kite rejected the access token (403)"))
    assert refused.kind == "auth" and refused.needs_user and "optui login" in refused.do
    drop = as_event(StreamEvent(6.0, "disconnected", "connection 1 closed", connection=1))
    assert (drop.kind, drop.severity, drop.details["connection"]) == ("feed", "warning", 1)
    assert "reconnects by itself" in drop.did
    left = feed_event(StreamEvent(7.0, "message", "left out: 40 strikes of SENSEX"))
    assert left.code == "config.left_out" and "[kite] strikes" in left.do
    limited = rest_event(8.0, "ratelimit", "429: too many requests, retrying in 1.2 s")
    assert limited.kind == "rate_limit" and not limited.needs_user
    assert as_event(limited) is limited


def test_collect_stores_its_events_in_the_journal_and_prints_them(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    bad = b"\x00\x01\x00\x2c" + b"\x01" * 10

    def factory() -> Frames:
        return Frames(settings, [bad])

    out = io.StringIO()
    code = collect(settings, factory, CollectOptions(duration=1.0, status_interval=0.2), out=out)
    assert code == 0
    printed = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["code"] for r in printed if r["event"] == "event"] == ["feed.bad_frame"]
    with Journal(journal_dir(settings), readonly=True) as journal:
        stored = journal.events()
    assert [s.event.code for s in stored] == ["feed.bad_frame"]
    assert stored[0].event.source == "collect"
    key = bytes.fromhex(str(stored[0].event.details["subject"]).removeprefix("journal key "))
    assert split_key(key)[1] >= 1
    logged = (settings.log_dir / "optui.log").read_text(encoding="utf-8")
    assert '"code": "feed.bad_frame"' in logged


def test_collect_without_a_token_records_why_in_the_auth_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, restore_optui_logger: logging.Logger
) -> None:
    monkeypatch.delenv("KITE_ACCESS_TOKEN", raising=False)
    settings = load_settings(
        overrides={
            "data_dir": str(tmp_path / "data"),
            "log_dir": str(tmp_path / "log"),
            "source": "kite",
            "kite.api_key": "fakekey123",
            "kite.api_url": "http://127.0.0.1:9",
            "kite.ws_url": "ws://127.0.0.1:9",
        }
    )
    err = io.StringIO()
    code = collect(
        settings,
        source_for(settings, config_path=tmp_path / "none.toml"),
        CollectOptions(),
        out=io.StringIO(),
        err=err,
    )
    assert code == EXIT_AUTH and "optui login" in err.getvalue()
    for handler in restore_optui_logger.handlers:
        handler.flush()
    auth = [json.loads(x) for x in (tmp_path / "log" / "auth.log").read_text().splitlines()]
    assert [a["code"] for a in auth if "code" in a] == ["auth.missing"]
    assert auth[-1]["needs_user"] is True


def test_an_event_line_says_what_to_do_when_a_person_must_act() -> None:
    event = feed_event(StreamEvent(0.0, "auth", "Kite rejected the access token (403)"))
    line = event_line(event)
    assert line.startswith("00:00:00 UTC critical auth.refused: Kite rejected")
    assert line.endswith("→ " + event.do)
    assert "→" not in event_line(feed_event(StreamEvent(0.0, "connected", "connected")))


def _crossed_copy(frame: bytes) -> bytes | None:
    """`frame` re-encoded with its first full-mode row's best bid above its best ask."""
    ticks = decode(frame)
    full = np.flatnonzero(
        (ticks["mode"] == ticks["mode"].max()) & (ticks["depth_sell_price"][:, 0] > 0)
    )
    if len(full) == 0:
        return None
    i = int(full[0])
    ticks["depth_buy_price"][i, 0] = ticks["depth_sell_price"][i, 0] + 5.0
    return encode(ticks[i : i + 1])


class Crossing(Frames):
    """The demo's frames, one of which (once) has a row whose book is crossed."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, [])
        self.done = False

    def poll(self) -> list[bytes]:
        frames = self.feed.poll()
        if not self.done:
            for at, frame in enumerate(frames):
                crossed = _crossed_copy(frame)
                if crossed is not None:
                    frames[at] = crossed
                    self.done = True
                    break
        return frames


def test_the_collector_reports_a_data_quality_problem_it_sees_in_the_stream(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "data")
    sources: list[Crossing] = []

    def factory() -> Crossing:
        sources.append(Crossing(settings))
        return sources[0]

    out = io.StringIO()
    code = collect(settings, factory, CollectOptions(duration=1.0, status_interval=0.2), out=out)
    assert code == 0 and sources[0].done
    with Journal(journal_dir(settings), readonly=True) as journal:
        codes = [s.event.code for s in journal.events()]
    assert codes == ["quality.crossed_book"]  # and nothing else: the demo stream itself is clean


class Muted:
    """The demo feed with one instrument's ticks taken out from `after` polls on."""

    def __init__(self, feed: DemoFeed, token: int, after: int, market_clock: bool) -> None:
        self.feed, self.token, self.after = feed, token, after
        self.universe = feed.universe
        self.polls = 0
        if market_clock:
            self.market_time = feed.market_time

    def poll(self) -> list[bytes]:
        self.polls += 1
        frames = self.feed.poll()
        if self.polls <= self.after:
            return frames
        kept = []
        for frame in frames:
            ticks = decode(frame)
            ticks = ticks[ticks["instrument_token"] != self.token]
            if len(ticks):
                kept.append(encode(ticks))
        return kept

    @property
    def finished(self) -> bool:
        return False


@pytest.mark.parametrize("market_clock", [True, False], ids=["its-clock", "wall-clock"])
def test_an_instrument_that_stops_ticking_in_a_session_replayed_at_night_is_reported(
    tmp_path: Path, market_clock: bool
) -> None:
    """The demo outside market hours replays a session from 09:15: its market is open by its
    own clock, so an instrument that goes quiet is reported though the wall clock says
    night. Judged by the wall clock alone (a source without a market clock, as a live feed),
    the same night reports nothing."""
    night = datetime(2026, 11, 20, 22, 0, tzinfo=IST).timestamp()
    wall = [night]
    settings = load_settings(
        overrides={"data_dir": str(tmp_path), "demo.speed": "1", "demo.instruments": "300"}
    )
    feed = DemoFeed(settings, clock=lambda: wall[0])
    assert not market_open_at(night) and market_open_at(feed.market_time())
    token = int(feed.universe.instrument_token[0])
    source = Muted(feed, token, after=10, market_clock=market_clock)
    log = EventLog(group_window=0, clock=lambda: wall[0])
    engine = Engine(
        source,
        None,
        clock=lambda: wall[0],
        on_event=log.record,
        quality=quality_monitor_for(source),
    )
    for _ in range(30):  # 150 s of the session, the instrument muted after 50 s
        wall[0] += 5.0
        engine.step()
    silent = [e for e in log.recent if e.code == "quality.silent"]
    if market_clock:
        assert len(silent) == 1
        assert silent[0].details["instruments"] == 1
    else:
        assert silent == []


def test_the_tick_rate_falls_away_once_polling_stops() -> None:
    """The header's ticks/s: a stream stopped for good polls no more, and its last rate must
    not stay on screen as if ticks still came."""
    status = EngineStatus(started=100.0)
    status.rates = [(100.0 + t, 1000 * t) for t in range(5)]  # 1,000 packets a second
    assert status.ticks_per_s() == 1000.0
    assert status.ticks_per_s(now=104.0) == 1000.0
    assert status.ticks_per_s(now=114.0) == pytest.approx(4000 / 14)
    assert status.ticks_per_s(now=10_000.0) < 1.0
    assert EngineStatus(started=0.0).ticks_per_s(now=1.0) == 0.0
