"""Kite's instruments list: reading it, picking the universe, and the daily Arrow cache.

The lists are real: Kite's NFO dumps and its official sample list in ../shared/data (tests
skip without them), and the demo market's own instruments.csv. Kite itself is stood in for by
`CsvKite`, which hands the CSV text to the official client's own parser, or by the emulator.
"""

from __future__ import annotations

import socket
from collections import Counter
from datetime import date, datetime, time, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from kiteconnect import KiteConnect

from optui.feed import reference
from optui.feed.calendar import IST
from optui.feed.simulator import DemoMarket
from optui.feed.universe import Kind, Universe
from optui.kite.instruments import (
    CACHE_KEEP,
    InstrumentsError,
    asset_index_table,
    cache_path,
    list_date,
    load_instruments,
    table_from_csv,
    table_from_rows,
    universe_from_instruments,
)
from optui.settings import UNDERLYINGS, Settings

SESSION = date(2026, 9, 1)  # a Tuesday: NIFTY's weekly expiry
NSE_UNDERLYINGS = ("NIFTY", "BANKNIFTY", "FINNIFTY", "MIDCPNIFTY")


class CsvKite:
    """Serves instrument lists from CSV text through `KiteConnect._parse_instruments`, the
    official client's own parser, so our code gets exactly the rows `KiteConnect.instruments()`
    returns for that text. It is not a mock of optui: it stands in for Kite's HTTP server, and
    the parsing is the real client's. `requests` counts the calls."""

    def __init__(self, lists: dict[str, str]) -> None:
        self.lists = lists
        self.requests: Counter[str] = Counter()

    def instruments(self, exchange: str) -> list[dict[str, Any]]:
        self.requests[exchange] += 1
        return list(_parsed(self.lists[exchange]))


@cache
def _parsed(text: str) -> tuple[dict[str, Any], ...]:
    """The official parser's rows for a list (parsed once per text: it takes ~50 µs a row)."""
    return tuple(KiteConnect(api_key="csvkite")._parse_instruments(text.encode()))


def _dead_kite() -> KiteConnect:
    """The real client pointed at a port nothing listens on: every call fails to connect."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return KiteConnect(api_key="offline", access_token="x", root=f"http://127.0.0.1:{port}")


@cache
def _demo(session: date = SESSION, instruments: int | None = None) -> DemoMarket:
    return DemoMarket(7, session, instruments=instruments)


@cache
def _demo_lists(session: date = SESSION) -> dict[str, str]:
    """The demo's instruments.csv split per exchange, as Kite serves /instruments/<exchange>."""
    lines = _demo(session).instruments_csv().splitlines(keepends=True)
    header, rows = lines[0], lines[1:]
    exchanges = _demo(session).instruments.exchange
    lists: dict[str, str] = {}
    for exchange in sorted(set(exchanges)):
        lists[exchange] = header + "".join(
            line for line, ex in zip(rows, exchanges, strict=True) if ex == exchange
        )
    return lists


@cache
def _dump(path: Path) -> pa.Table:
    return table_from_csv(path.read_bytes())


def _nfo_rows(shared: Path, name: str = "nfo_instruments.csv") -> pa.Table:
    """A real NFO dump plus the index rows Kite lists on NSE/BSE (the dumps are NFO only)."""
    return pa.concat_tables(
        [_dump(shared / "kite_instruments" / name), asset_index_table(("NSE", "BSE"))]
    )


def _assert_same_universe(a: Universe, b: Universe) -> None:
    for column in ("instrument_token", "exchange_token", "strike", "tick_size", "lot_size"):
        np.testing.assert_array_equal(getattr(a, column), getattr(b, column), err_msg=column)
    for column in ("kind", "underlying"):
        np.testing.assert_array_equal(getattr(a, column), getattr(b, column), err_msg=column)
    assert np.array_equal(np.isnat(a.expiry), np.isnat(b.expiry))
    assert (a.expiry[~np.isnat(a.expiry)] == b.expiry[~np.isnat(b.expiry)]).all()
    for column in ("tradingsymbol", "name", "segment", "exchange"):
        assert getattr(a, column) == getattr(b, column), column
    assert a.chains.keys() == b.chains.keys()
    for key, chain in a.chains.items():
        other = b.chains[key]
        np.testing.assert_array_equal(chain.strikes, other.strikes)
        np.testing.assert_array_equal(chain.calls, other.calls)
        np.testing.assert_array_equal(chain.puts, other.puts)


# -- reading the list --------------------------------------------------------------------------
def test_rows_of_the_official_client_and_the_csv_text_give_the_same_table() -> None:
    text = _demo().instruments_csv()
    rows = KiteConnect(api_key="x")._parse_instruments(text.encode())
    from_rows = table_from_rows(rows)
    from_csv = table_from_csv(text)
    assert from_rows.equals(from_csv)
    assert from_rows.num_rows == len(_demo().instruments)
    assert from_rows.schema.field("expiry").type == pa.date32()
    # Index and stock rows have no expiry: null, not a 1970 date.
    assert from_rows["expiry"].null_count == int(np.isnat(_demo().instruments.expiry).sum())


def test_a_row_without_kite_columns_is_refused_by_name() -> None:
    with pytest.raises(InstrumentsError, match="row 0 lacks name, last_price, expiry, strike"):
        table_from_rows([{"instrument_token": 1, "exchange_token": "1", "tradingsymbol": "X"}])
    with pytest.raises(InstrumentsError, match="lot_size 'many' is not a number"):
        rows = KiteConnect(api_key="x")._parse_instruments(_demo().instruments_csv().encode())
        table_from_rows([*rows[:3], {**rows[3], "lot_size": "many"}])


# -- picking the universe ----------------------------------------------------------------------
@pytest.mark.parametrize("instruments", [None, 300])
def test_the_demo_csv_round_trips_to_the_demo_universe(instruments: int | None) -> None:
    market = _demo(SESSION, instruments)
    picked = universe_from_instruments(
        table_from_csv(market.instruments_csv()), SESSION, UNDERLYINGS
    )
    _assert_same_universe(picked, market.instruments)
    assert picked.session == SESSION
    # A size-limited demo drops single legs; the chain keeps the strike with -1 for the leg.
    if instruments is not None:
        legs = np.concatenate([np.r_[c.calls, c.puts] for c in picked.chains.values()])
        assert (legs >= 0).sum() == int((picked.kind >= Kind.CALL).sum())


@pytest.mark.shared_data
def test_the_aug_2026_nfo_dump_gives_every_live_contract_with_its_own_lot_and_tick(
    shared_data: Path,
) -> None:
    rows = _nfo_rows(shared_data)
    session = date(2026, 8, 18)
    u = universe_from_instruments(rows, session, NSE_UNDERLYINGS)
    dump = _dump(shared_data / "kite_instruments" / "nfo_instruments.csv").to_pylist()
    for name in NSE_UNDERLYINGS:
        listed = [r for r in dump if r["name"] == name and r["expiry"] >= session]
        mine = [i for i in range(len(u)) if u.name[i] == name]
        assert {u.tradingsymbol[i] for i in mine} == {r["tradingsymbol"] for r in listed}
        by_symbol = {r["tradingsymbol"]: r for r in listed}
        for i in mine:
            r = by_symbol[u.tradingsymbol[i]]
            assert int(u.instrument_token[i]) == r["instrument_token"]
            assert int(u.lot_size[i]) == r["lot_size"]
            assert float(u.tick_size[i]) == r["tick_size"]
            assert float(u.strike[i]) == r["strike"]
        index = reference.derivative_specs()[name].underlying_index
        assert {u.tradingsymbol[int(u.underlying[i])] for i in mine} == {index}
        futures = [i for i in mine if u.kind[i] == Kind.FUTURE]
        assert [str(u.expiry[i]) for i in futures] == sorted(str(u.expiry[i]) for i in futures)
    # Kite's real index tokens: NIFTY 50 is 256265 (exchange token 1001, segment 9).
    assert u.instrument_token[u.row_of(256265)] == 256265
    assert u.tradingsymbol[u.row_of(256265)] == "NIFTY 50"
    # Rows in the demo's order: indices, futures, options by underlying, expiry, strike, CE/PE.
    kinds = u.kind.tolist()
    assert kinds == sorted(kinds, key=lambda k: min(k, int(Kind.CALL)))
    chain = u.chain("NIFTY", session)
    assert (np.diff(chain.strikes) > 0).all()
    assert all(u.tradingsymbol[c].endswith("CE") for c in chain.calls if c >= 0)
    assert all(u.tradingsymbol[p].endswith("PE") for p in chain.puts if p >= 0)
    assert (chain.calls < chain.puts).all()


@pytest.mark.shared_data
def test_expired_contracts_are_dropped_and_a_monday_expiry_is_kept(shared_data: Path) -> None:
    rows = _nfo_rows(shared_data, "instruments_nfo.csv")
    u = universe_from_instruments(rows, date(2025, 10, 20), ("NIFTY",))
    expiries = u.expiries("NIFTY")
    assert expiries[0] == date(2025, 10, 20)  # Diwali moved it to a Monday
    assert date(2025, 9, 30) not in expiries
    assert not (u.expiry[~np.isnat(u.expiry)] < np.datetime64("2025-10-20")).any()
    assert set(u.lot_size[u.kind >= Kind.FUTURE].tolist()) == {75}  # that year's lot


@pytest.mark.shared_data
def test_a_missing_index_or_exchange_is_named(shared_data: Path) -> None:
    nfo = _dump(shared_data / "kite_instruments" / "nfo_instruments.csv")
    with pytest.raises(InstrumentsError, match=r"NIFTY: its index 'NIFTY 50' \(NSE"):
        universe_from_instruments(nfo, date(2026, 8, 18), ("NIFTY",))
    with pytest.raises(InstrumentsError, match=r"SENSEX: no options on BFO .*BFO list missing"):
        universe_from_instruments(_nfo_rows(shared_data), date(2026, 8, 18), ("SENSEX",))
    with pytest.raises(InstrumentsError, match="no options on NFO expiring on or after 2032"):
        universe_from_instruments(_nfo_rows(shared_data), date(2032, 1, 1), ("NIFTY",))
    with pytest.raises(InstrumentsError, match="unknown underlying"):
        universe_from_instruments(_nfo_rows(shared_data), date(2026, 8, 18), ("NIFTYIT",))


@pytest.mark.shared_data
def test_a_contract_listed_twice_or_two_contracts_on_one_token_are_refused(
    shared_data: Path,
) -> None:
    rows = _nfo_rows(shared_data)
    nifty = rows.filter(
        pc.and_(pc.equal(rows["name"], "NIFTY"), pc.equal(rows["instrument_type"], "CE"))
    )
    option = nifty.slice(0, 1)
    with pytest.raises(InstrumentsError, match=r"NFO: NIFTY 2026-\S+ \d+ CALL is listed twice"):
        universe_from_instruments(pa.concat_tables([rows, option]), date(2026, 8, 18), ("NIFTY",))
    other = nifty.slice(1, 1).to_pylist()[0]
    clash = table_from_rows([{**other, "instrument_token": option["instrument_token"][0].as_py()}])
    body = rows.filter(pc.not_equal(rows["tradingsymbol"], other["tradingsymbol"]))
    with pytest.raises(InstrumentsError, match="listed for more than one instrument"):
        universe_from_instruments(pa.concat_tables([body, clash]), date(2026, 8, 18), ("NIFTY",))


@pytest.mark.shared_data
def test_kites_sample_list_with_nameless_options_and_stocks(shared_data: Path) -> None:
    """Kite's official sample list: 2017 BANKNIFTY options with an empty `name`, NSE stocks
    and BSE and stock-option rows that optui does not watch."""
    sample = table_from_csv((shared_data / "kite_mocks" / "instruments_all.csv").read_bytes())
    rows = pa.concat_tables([sample, asset_index_table(("NSE",))])
    u = universe_from_instruments(rows, date(2017, 11, 1), ("BANKNIFTY",))
    expected = sample.filter(
        pc.and_(
            pc.starts_with(sample["tradingsymbol"], "BANKNIFTY"),
            pc.greater_equal(sample["expiry"], pa.scalar(date(2017, 11, 1), pa.date32())),
        )
    )
    options = np.flatnonzero(u.kind >= Kind.CALL)
    assert {u.tradingsymbol[i] for i in options} == set(expected["tradingsymbol"].to_pylist())
    assert {u.name[i] for i in options} == {"BANKNIFTY"}
    assert u.expiries("BANKNIFTY") == [date(2017, 11, 30), date(2017, 12, 28), date(2018, 1, 25)]
    assert set(u.lot_size[options].tolist()) == {40}
    stocks = [u.tradingsymbol[i] for i in np.flatnonzero(u.kind == Kind.EQUITY)]
    assert stocks == ["ADANIPORTS"]  # the one NIFTY 50 stock the sample has, EQ series only
    assert not any(s.startswith(("INDIACEM", "ADANIPORTS1")) for s in u.tradingsymbol)
    # the index row drives the options
    assert {u.tradingsymbol[int(u.underlying[i])] for i in options} == {"NIFTY BANK"}


# -- the daily cache ---------------------------------------------------------------------------
def _settings(tmp_path: Path, underlyings: tuple[str, ...] = UNDERLYINGS) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", underlyings=underlyings)  # type: ignore[arg-type]


def _at(day: date, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), IST)


def test_list_date_turns_over_at_0830_ist() -> None:
    assert list_date(_at(SESSION, 8, 29)) == SESSION - timedelta(days=1)
    assert list_date(_at(SESSION, 8, 30)) == SESSION
    # the rule is in IST whatever zone `now` carries: 02:59 UTC is 08:29 IST, 03:00 is 08:30
    assert list_date(datetime.fromisoformat("2026-09-01T02:59:00+00:00")) == date(2026, 8, 31)
    assert list_date(datetime.fromisoformat("2026-09-01T03:00:00+00:00")) == SESSION
    with pytest.raises(ValueError, match="timezone-aware"):
        list_date(datetime(2026, 9, 1, 9, 0))


def test_the_first_load_fetches_nfo_bfo_nse_and_the_second_reads_the_cache(
    tmp_path: Path,
) -> None:
    kite = CsvKite(_demo_lists())
    settings = _settings(tmp_path)
    messages: list[str] = []
    first = load_instruments(settings, kite, now=_at(SESSION, 9, 0), on_progress=messages.append)
    assert dict(kite.requests) == {"NFO": 1, "BFO": 1, "NSE": 1}  # no BSE list: SENSEX from assets
    path = cache_path(settings.cache_dir, SESSION)
    assert first.path == path and path.is_file()
    assert not first.stale and first.note == ""
    assert first.session == SESSION
    assert first.fetched_at == _at(SESSION, 9, 0)
    _assert_same_universe(first.universe, _demo().instruments)
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left
    assert any("NFO" in m and "instruments" in m for m in messages)
    assert any(str(path) in m for m in messages)

    second = load_instruments(settings, kite, now=_at(SESSION, 15, 0))
    assert dict(kite.requests) == {"NFO": 1, "BFO": 1, "NSE": 1}
    _assert_same_universe(second.universe, first.universe)
    assert second.fetched_at == first.fetched_at
    assert second.csv_text == first.csv_text
    # the archived CSV is the universe in Kite's columns and reads back to the same universe
    again = universe_from_instruments(table_from_csv(first.csv_text), SESSION, UNDERLYINGS)
    _assert_same_universe(again, first.universe)
    assert first.csv_text.splitlines()[0] == _demo().instruments_csv().splitlines()[0]
    # SENSEX's index row came from the assets, with Kite's token
    sensex = first.universe.row_of(265)
    assert (first.universe.tradingsymbol[sensex], first.universe.exchange[sensex]) == (
        "SENSEX",
        "BSE",
    )


def test_before_0830_yesterdays_list_is_current_and_after_it_is_refetched(
    tmp_path: Path,
) -> None:
    kite = CsvKite(_demo_lists())
    settings = _settings(tmp_path)
    load_instruments(settings, kite, now=_at(SESSION, 9, 0))
    next_day = SESSION + timedelta(days=1)
    early = load_instruments(settings, kite, now=_at(next_day, 7, 0))
    assert kite.requests["NFO"] == 1
    assert not early.stale
    assert early.session == next_day  # contracts that expired on the 1st are gone
    assert SESSION not in early.universe.expiries("NIFTY")
    later = load_instruments(settings, kite, now=_at(next_day, 8, 30))
    assert kite.requests["NFO"] == 2
    assert later.path == cache_path(settings.cache_dir, next_day)
    assert later.path.is_file()


def test_offline_without_a_cache_is_a_clear_error(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with pytest.raises(InstrumentsError, match=r"no instruments list for 2026-09-01 .*offline"):
        load_instruments(settings, None, now=_at(SESSION, 9, 0))
    with pytest.raises(InstrumentsError, match=r"fetching it failed \(.*Connection.*optui login"):
        load_instruments(settings, _dead_kite(), now=_at(SESSION, 9, 0))


@pytest.mark.parametrize("offline", [True, False])
def test_an_older_list_is_used_stale_when_fetching_fails(tmp_path: Path, offline: bool) -> None:
    settings = _settings(tmp_path)
    old = SESSION - timedelta(days=4)
    load_instruments(settings, CsvKite(_demo_lists()), now=_at(old, 9, 0))
    messages: list[str] = []
    listing = load_instruments(
        settings,
        None if offline else _dead_kite(),
        now=_at(SESSION, 10, 0),
        on_progress=messages.append,
    )
    assert listing.stale
    assert listing.path == cache_path(settings.cache_dir, old)
    assert "instruments list of 2026-08-28 (4 days old)" in listing.note
    assert "expiries and strikes listed since then are missing" in listing.note
    assert ("offline" if offline else "fetching it failed") in listing.note
    assert listing.note in messages
    assert listing.session == SESSION
    assert listing.fetched_at == _at(old, 9, 0)
    # picked for today: nothing that expired before it
    assert not (
        listing.universe.expiry[~np.isnat(listing.universe.expiry)] < np.datetime64(SESSION)
    ).any()
    # the stale file is not renamed to today's
    assert not cache_path(settings.cache_dir, SESSION).exists()


def test_a_corrupt_cache_is_refetched_or_named(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    path = cache_path(settings.cache_dir, SESSION)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"ARROW1\x00\x00 this is not a whole file")
    with pytest.raises(InstrumentsError, match=rf"{path} is unreadable.*fetching it failed"):
        load_instruments(settings, _dead_kite(), now=_at(SESSION, 9, 0))
    assert path.read_bytes().startswith(b"ARROW1\x00\x00 this")  # left for the user to see

    kite = CsvKite(_demo_lists())
    messages: list[str] = []
    listing = load_instruments(settings, kite, now=_at(SESSION, 9, 0), on_progress=messages.append)
    assert kite.requests["NFO"] == 1
    assert any("unreadable" in m for m in messages)
    assert not listing.stale
    again = load_instruments(settings, None, now=_at(SESSION, 9, 5))  # the new file reads back
    _assert_same_universe(again.universe, listing.universe)


def test_a_cache_file_holding_another_days_list_is_not_trusted(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    load_instruments(settings, CsvKite(_demo_lists()), now=_at(SESSION, 9, 0))
    wrong = cache_path(settings.cache_dir, SESSION + timedelta(days=1))
    wrong.write_bytes(cache_path(settings.cache_dir, SESSION).read_bytes())
    with pytest.raises(InstrumentsError, match="holds the list of 2026-09-01, not of its name"):
        load_instruments(settings, None, now=_at(SESSION + timedelta(days=1), 9, 0))


def test_a_list_that_lacks_an_underlying_is_an_error_and_not_cached(tmp_path: Path) -> None:
    lists = dict(_demo_lists())
    lists["BFO"] = (
        lists["BFO"].splitlines(keepends=True)[0] + lists["BFO"].splitlines(keepends=True)[1]
    )  # the header and one SENSEX future, no options
    settings = _settings(tmp_path)
    with pytest.raises(InstrumentsError, match="SENSEX: no options on BFO"):
        load_instruments(settings, CsvKite(lists), now=_at(SESSION, 9, 0))
    assert not cache_path(settings.cache_dir, SESSION).exists()
    # the same list serves a configuration without SENSEX
    listing = load_instruments(
        _settings(tmp_path, NSE_UNDERLYINGS), CsvKite(lists), now=_at(SESSION, 9, 0)
    )
    assert "SENSEX" not in {name for name, _ in listing.universe.chains}


def test_an_empty_list_from_kite_counts_as_a_failed_fetch(tmp_path: Path) -> None:
    lists = dict(_demo_lists())
    lists["NFO"] = ""
    with pytest.raises(InstrumentsError, match="empty NFO instruments list"):
        load_instruments(_settings(tmp_path), CsvKite(lists), now=_at(SESSION, 9, 0))


def test_only_the_newest_daily_files_are_kept(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    kite = CsvKite(_demo_lists())
    days = [SESSION - timedelta(days=n) for n in range(CACHE_KEEP + 3)]
    for day in reversed(days):
        load_instruments(settings, kite, now=_at(day, 9, 0))
    kept = sorted(p.name for p in cache_path(settings.cache_dir, SESSION).parent.iterdir())
    assert kept == sorted(f"{d}.arrow" for d in days[:CACHE_KEEP])


def test_end_to_end_through_the_official_client_and_the_emulator(tmp_path: Path) -> None:
    server = pytest.importorskip("optui.emulator.server", reason="the emulator is not built yet")
    with server.Emulator(seed=7) as emu:
        kite = KiteConnect(
            server.DEMO_API_KEY, access_token=emu.issue_access_token(), root=emu.api_url
        )
        now = _at(emu.market.session, 9, 30)
        listing = load_instruments(_settings(tmp_path), kite, now=now)
        assert emu.stats().rest_requests >= 3
        _assert_same_universe(listing.universe, emu.market.instruments)
