"""The demo market: its universe, its frames, and prices that behave like a market."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date

import numpy as np
import numpy.typing as npt
import pytest

from optui.feed import reference
from optui.feed.calendar import TradingCalendar
from optui.feed.codec import MODE_FULL, MODE_INDEX_FULL, decode
from optui.feed.simulator import DemoMarket
from optui.feed.universe import (
    CSV_COLUMNS,
    SEGMENT_CODES,
    Kind,
    Universe,
    UniverseConfig,
    build_universe,
)

SESSION = date(2026, 11, 23)  # Monday; Tuesday 24 Nov is a holiday, so today is expiry day
SMALL = UniverseConfig(strikes_near=8, strikes_far=4)
CAL = TradingCalendar.default()
KITE_INDEX_TOKENS = {
    "NIFTY 50": 256265,
    "NIFTY BANK": 260105,
    "NIFTY FIN SERVICE": 257801,
    "NIFTY MID SELECT": 288009,
    "SENSEX": 265,
}
SECTORS = (
    "NIFTY BANK",
    "NIFTY IT",
    "NIFTY AUTO",
    "NIFTY FMCG",
    "NIFTY PHARMA",
    "NIFTY METAL",
    "NIFTY REALTY",
    "NIFTY ENERGY",
    "NIFTY FIN SERVICE",
)
MONTHS = "JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"


def reference_levels() -> dict[str, float]:
    levels = {ix.tradingsymbol: ix.ref_level for ix in reference.index_specs()}
    levels.update({eq.symbol: eq.ref_price for eq in reference.equity_specs()})
    return levels


@pytest.fixture(scope="module")
def universe() -> Universe:
    return build_universe(SESSION, reference_levels())


# -- the universe -------------------------------------------------------------------------------
def test_universe_size_is_a_realistic_subscription(universe: Universe) -> None:
    assert 1_500 <= len(universe) <= 3_000
    kinds = np.bincount(universe.kind, minlength=5)
    assert kinds[Kind.INDEX] == 13  # five F&O indices, INDIA VIX, seven more sectors
    assert kinds[Kind.EQUITY] == 56  # NIFTY 50 plus NIFTY REALTY's members
    assert kinds[Kind.FUTURE] == 15  # three months of five underlyings
    assert kinds[Kind.CALL] == kinds[Kind.PUT]


def test_instruments_csv_parses_back_in_kite_schema(universe: Universe) -> None:
    text = universe.to_csv()
    header = text.splitlines()[0]
    assert header == (
        "instrument_token,exchange_token,tradingsymbol,name,last_price,expiry,strike,"
        "tick_size,lot_size,instrument_type,segment,exchange"
    )
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert len(rows) == len(universe)
    tokens = [int(r["instrument_token"]) for r in rows]
    assert len(set(tokens)) == len(tokens)
    for row in rows:
        token, exchange_token = int(row["instrument_token"]), int(row["exchange_token"])
        segment = row["segment"]
        code = SEGMENT_CODES["INDICES" if segment == "INDICES" else segment.split("-")[0]]
        assert token == (exchange_token << 8) | code, row
        assert 0 < token < 2**31  # fits a signed 32-bit column too
        kind = row["instrument_type"]
        assert kind in {"EQ", "FUT", "CE", "PE"}
        if kind in {"CE", "PE"}:
            assert segment in {"NFO-OPT", "BFO-OPT"}
            assert float(row["strike"]) > 0 and date.fromisoformat(row["expiry"]) >= SESSION
        elif kind == "FUT":
            assert segment in {"NFO-FUT", "BFO-FUT"} and float(row["strike"]) == 0.0
        else:
            assert row["expiry"] == "" and segment in {"INDICES", "NSE"}


def test_index_tokens_are_kites_where_known_and_segment_9_otherwise(universe: Universe) -> None:
    index_rows = universe.slice_of(Kind.INDEX)
    tokens = {
        universe.tradingsymbol[i]: int(universe.instrument_token[i])
        for i in range(index_rows.start, index_rows.stop)
    }
    for name, token in KITE_INDEX_TOKENS.items():
        assert tokens[name] == token
    assert set(SECTORS) <= set(tokens)
    assert all(token & 0xFF == 9 for token in tokens.values())


def test_option_symbols_lots_strikes_and_expiries(universe: Universe) -> None:
    specs = reference.derivative_specs()
    for (name, expiry), chain in universe.chains.items():
        spec = specs[name]
        rows = np.concatenate([chain.calls, chain.puts])
        assert (universe.lot_size[rows] == spec.lot_size).all()
        assert (universe.tick_size[rows] == 0.05).all()
        steps = np.diff(chain.strikes)
        assert len(set(steps.tolist())) == 1 and steps[0] in (
            spec.strike_step,
            spec.strike_step_far,
        )
        exchange = {universe.exchange[i] for i in rows.tolist()}
        assert exchange == {spec.exchange}
        monthly = CAL.monthly_expiry(expiry.year, expiry.month, spec.expiry_weekday, spec.exchange)
        yy = f"{expiry.year % 100:02d}"
        for i in chain.calls[:3].tolist():
            symbol = universe.tradingsymbol[i]
            if expiry == monthly:
                assert re.fullmatch(rf"{name}{yy}({MONTHS})\d+CE", symbol), symbol
            else:
                assert re.fullmatch(rf"{name}{yy}[1-9OND]{expiry.day:02d}\d+CE", symbol), symbol
    assert universe.tradingsymbol[universe.chain("NIFTY", date(2026, 12, 1)).calls[0]].startswith(
        "NIFTY26D01"
    )
    assert universe.expiries("NIFTY")[0] == SESSION
    assert universe.expiries("SENSEX")[0] == date(2026, 11, 26)


def test_strikes_are_centred_on_the_previous_close(universe: Universe) -> None:
    chain = universe.chain("NIFTY", SESSION)
    level = reference_levels()["NIFTY 50"]
    assert len(chain.strikes) == 81
    assert chain.strikes[40] == round(level / 50) * 50
    far = universe.chain("NIFTY", date(2027, 1, 25))
    assert len(far.strikes) == 41


def test_tokens_of_a_contract_do_not_change_from_day_to_day() -> None:
    levels = reference_levels()
    today = build_universe(SESSION, levels)
    friday = build_universe(date(2026, 11, 20), levels)
    token_today = dict(zip(today.tradingsymbol, today.instrument_token.tolist(), strict=True))
    token_friday = dict(zip(friday.tradingsymbol, friday.instrument_token.tolist(), strict=True))
    common = set(token_today) & set(token_friday)
    assert len(common) > 1000
    assert all(token_today[s] == token_friday[s] for s in common)


@pytest.mark.parametrize("size", [200, 20_000])
def test_universe_size_is_exact_small_or_huge(size: int) -> None:
    universe = build_universe(SESSION, reference_levels(), UniverseConfig(size=size))
    assert len(universe) == size
    assert (universe.strike[universe.kind >= Kind.CALL] > 0).all()


def test_universe_can_be_built_to_an_exact_size() -> None:
    big = build_universe(SESSION, reference_levels(), UniverseConfig(size=9000))
    assert len(big) == 9000
    assert len(set(big.instrument_token.tolist())) == 9000
    chain = big.chain("NIFTY", SESSION)
    assert len(chain.strikes) > 200
    assert big.row(int(chain.calls[0])).instrument_type == "CE"


def test_index_membership_and_sectors_are_data_with_an_as_of_date() -> None:
    members = reference.index_members()
    assert len(members["NIFTY 50"]) == 50
    stocks = {eq.symbol: eq for eq in reference.equity_specs()}
    for sector in SECTORS:
        assert members[sector], sector
        assert set(members[sector]) <= set(stocks)
    for name in SECTORS[:-1]:
        if name != "NIFTY REALTY":  # no NIFTY 50 stock is a realty stock
            assert set(members[name]) <= set(members["NIFTY 50"]), name
    for asset in ("equities.csv", "index_members.csv", "indices.csv", "derivatives.csv"):
        rows = list(csv.DictReader(io.StringIO(reference.read_asset(asset))))
        assert rows and all(date.fromisoformat(r["as_of"]) for r in rows), asset


# -- the market ------------------------------------------------------------------------------
def frames_bytes(market: DemoMarket, *targets: float) -> bytes:
    return b"".join(b"".join(market.advance_to(t)) for t in targets)


def test_same_seed_same_bytes_different_seed_different_bytes() -> None:
    a = DemoMarket(seed=7, session=SESSION, universe=SMALL)
    b = DemoMarket(seed=7, session=SESSION, universe=SMALL)
    c = DemoMarket(seed=8, session=SESSION, universe=SMALL)
    t = a.open_epoch + 30
    assert frames_bytes(a, t) == frames_bytes(b, t)
    assert frames_bytes(a, t + 30) != frames_bytes(c, t + 30)
    assert a.instruments_csv() == b.instruments_csv()


def test_output_does_not_depend_on_how_the_clock_is_advanced() -> None:
    whole = DemoMarket(seed=3, session=SESSION, universe=SMALL)
    steps = DemoMarket(seed=3, session=SESSION, universe=SMALL)
    open_ = whole.open_epoch
    targets = [open_ + s for s in (0.5, 1, 1, 7.25, 20)]
    assert frames_bytes(whole, open_ + 20) == frames_bytes(steps, *targets)
    assert whole.advance_to(open_ + 20) == []  # nothing is due twice


def test_frames_decode_and_respect_the_frame_limit() -> None:
    market = DemoMarket(seed=1, session=SESSION, max_packets_per_frame=200)
    n = len(market.instruments)
    frames = market.advance_to(market.open_epoch + 2)
    assert len(frames) == 3 * -(-n // 200)  # three rounds (09:15:00, :01, :02)
    rounds = [decode(f) for f in frames]
    assert all(0 < len(r) <= 200 for r in rounds)
    rows = np.concatenate(rounds).reshape(3, n)
    assert (rows["instrument_token"] == market.instruments.instrument_token).all()
    stamps = rows["exchange_timestamp"][:, 0]
    assert stamps.tolist() == [market.open_epoch + k for k in range(3)]
    assert (rows["exchange_timestamp"] == stamps[:, None]).all()
    kind = market.instruments.kind
    assert (rows["mode"][:, kind == Kind.INDEX] == MODE_INDEX_FULL).all()
    assert (rows["mode"][:, kind != Kind.INDEX] == MODE_FULL).all()
    assert (rows["tradable"] == (kind != Kind.INDEX)).all()


def test_a_holiday_cannot_be_a_session() -> None:
    with pytest.raises(ValueError, match="not an NSE trading day"):
        DemoMarket(seed=1, session=date(2026, 11, 24))


@dataclass(frozen=True)
class HourRun:
    market: DemoMarket
    rows: npt.NDArray[np.void]  # (rounds, instruments)


@pytest.fixture(scope="module")
def hour() -> HourRun:
    """One simulated hour from the open, a round every 10 s, decoded from the frames."""
    market = DemoMarket(seed=11, session=SESSION, universe=SMALL, tick_interval=10.0)
    frames = market.advance_to(market.open_epoch + 3600)
    rows = np.concatenate([decode(f) for f in frames])
    return HourRun(market, rows.reshape(-1, len(market.instruments)))


def test_an_hour_of_rounds_arrives(hour: HourRun) -> None:
    assert hour.rows.shape[0] == 361  # 09:15:00 to 10:15:00 every 10 s
    assert hour.market.clock == hour.market.open_epoch + 3600


def test_ohlc_vwap_and_volume_are_consistent(hour: HourRun) -> None:
    trade = hour.rows[:, hour.market.instruments.kind != Kind.INDEX]
    last, high, low = trade["last_price"], trade["high"], trade["low"]
    assert (low <= last).all() and (last <= high).all()
    avg = trade["average_traded_price"]
    assert (low <= avg).all() and (avg <= high).all()
    assert (trade["open"] > 0).all() and ((low <= trade["open"]) & (trade["open"] <= high)).all()
    assert (np.diff(trade["volume_traded"], axis=0) >= 0).all()
    assert (np.diff(high, axis=0) >= 0).all() and (np.diff(low, axis=0) <= 0).all()
    assert (trade["volume_traded"][-1] > trade["volume_traded"][0]).all()
    lot = hour.market.instruments.lot_size[hour.market.instruments.kind != Kind.INDEX]
    assert (trade["last_traded_quantity"] % lot == 0).all()
    assert (trade["last_traded_quantity"] > 0).all()
    assert (trade["last_traded_quantity"] <= trade["volume_traded"]).all()
    assert (trade["last_trade_time"] <= trade["exchange_timestamp"]).all()


def test_prices_sit_on_the_tick_grid(hour: HourRun) -> None:
    u = hour.market.instruments
    trade = hour.rows[:, u.kind != Kind.INDEX]
    tick = u.tick_size[u.kind != Kind.INDEX]
    for field in ("last_price", "open", "high", "low"):
        units = trade[field] / tick
        assert np.allclose(units, np.rint(units), atol=1e-6), field
    depth = trade["depth_sell_price"] / tick[:, None]
    assert np.allclose(depth, np.rint(depth), atol=1e-6)


def test_depth_straddles_the_last_price(hour: HourRun) -> None:
    trade = hour.rows[:, hour.market.instruments.kind != Kind.INDEX]
    bids, asks = trade["depth_buy_price"], trade["depth_sell_price"]
    last = trade["last_price"]
    quoted = bids[..., 0] > 0
    assert quoted.mean() > 0.8
    assert (bids[..., 0][quoted] < asks[..., 0][quoted]).all()
    assert (bids[..., 0][quoted] <= last[quoted]).all() and (last <= asks[..., 0]).all()
    assert (np.diff(asks, axis=-1) > 0).all()  # asks rise level by level
    live = bids[..., 1:] > 0
    assert (np.diff(bids, axis=-1)[live] < 0).all()  # bids fall level by level
    assert ((bids > 0) == (trade["depth_buy_quantity"] > 0)).all()
    assert (trade["depth_buy_orders"][bids > 0] > 0).all()
    assert (trade["total_sell_quantity"] >= trade["depth_sell_quantity"].sum(axis=-1)).all()
    assert (trade["total_buy_quantity"] >= trade["depth_buy_quantity"].sum(axis=-1)).all()


def test_open_interest_builds_and_stays_consistent(hour: HourRun) -> None:
    u = hour.market.instruments
    is_derivative = u.kind >= Kind.FUTURE
    rows = hour.rows[:, is_derivative]
    oi, high, low = rows["oi"], rows["oi_day_high"], rows["oi_day_low"]
    assert (oi >= 0).all() and (low <= oi).all() and (oi <= high).all()
    assert (np.diff(high, axis=0) >= 0).all() and (np.diff(low, axis=0) <= 0).all()
    assert (oi % u.lot_size[is_derivative] == 0).all()
    assert oi[-1].sum() > oi[0].sum()  # positions are opened through the morning
    _, previous = hour.market.previous_close_oi()
    prev = previous[is_derivative]
    assert (low[-1] <= prev).all() and (prev <= high[-1]).all()  # the day starts from it
    spot = hour.rows[:, ~is_derivative]
    assert (spot["oi"] == 0).all() and (previous[~is_derivative] == 0).all()


def test_close_is_the_previous_close_and_indices_carry_net_change(hour: HourRun) -> None:
    u = hour.market.instruments
    tokens, close = hour.market.previous_close()
    assert (tokens == u.instrument_token).all()
    assert np.allclose(hour.rows["close"], close[None, :])
    index = hour.rows[:, u.kind == Kind.INDEX]
    assert np.allclose(index["net_change"], index["last_price"] - index["close"], atol=0.011)
    assert ((index["low"] <= index["last_price"]) & (index["last_price"] <= index["high"])).all()
    nifty = index["last_price"][:, list(u.tradingsymbol).index("NIFTY 50")]
    moves = np.abs(np.diff(np.log(nifty)))
    assert 0 < moves.max() < 0.01  # it moves, like an index: no 1% jump in 10 s
    csv_rows = list(csv.DictReader(io.StringIO(hour.market.instruments_csv())))
    assert [float(r["last_price"]) for r in csv_rows[:5]] == pytest.approx(close[:5].tolist())


def test_indices_are_correlated(hour: HourRun) -> None:
    u = hour.market.instruments
    symbols = list(u.tradingsymbol)
    level = hour.market.paths.levels  # second by second, the whole session
    returns = np.diff(np.log(level[::60]), axis=0)  # one-minute returns
    names = hour.market.paths.names
    corr = np.corrcoef(returns.T)
    nifty, sensex, bank, fin = (
        names.index(s) for s in ("NIFTY 50", "SENSEX", "NIFTY BANK", "NIFTY FIN SERVICE")
    )
    assert corr[nifty, sensex] > 0.9 and corr[bank, fin] > 0.8 and corr[nifty, bank] > 0.6
    assert "INDIA VIX" in symbols


def test_put_call_parity_at_the_forward(hour: HourRun) -> None:
    """C - P = F - K (rate 0) for strikes where both legs printed in the last round; each leg
    is rounded to the 0.05 tick, and never printed below one tick."""
    market = hour.market
    last = hour.rows[-1]
    checked = 0
    for (name, expiry), chain in market.instruments.chains.items():
        both = (chain.calls >= 0) & (chain.puts >= 0)
        calls, puts, strikes = chain.calls[both], chain.puts[both], chain.strikes[both]
        now = last["exchange_timestamp"][calls]
        fresh = (last["last_trade_time"][calls] == now) & (last["last_trade_time"][puts] == now)
        c, p = last["last_price"][calls], last["last_price"][puts]
        error = (c - p) - (market.forward(name, expiry) - strikes)
        priced = fresh & (c > 0.05) & (p > 0.05)
        assert np.abs(error[priced]).max(initial=0.0) <= 0.05 + 1e-6, (name, expiry)
        assert np.abs(error[fresh]).max(initial=0.0) <= 0.075 + 1e-6, (name, expiry)
        checked += int(priced.sum())
    assert checked > 50


def test_futures_trade_at_the_carried_forward(hour: HourRun) -> None:
    market = hour.market
    u = market.instruments
    last = hour.rows[-1]
    for i in np.flatnonzero(u.kind == Kind.FUTURE).tolist():
        if last["last_trade_time"][i] != last["exchange_timestamp"][i]:
            continue
        expiry = u.expiry[i].astype(date)
        spot = market.spot(u.tradingsymbol[u.underlying[i]])
        carried = spot * np.exp(market.model.carry * market.time_to_expiry(expiry))
        assert last["last_price"][i] == pytest.approx(carried, abs=u.tick_size[i] / 2 + 1e-9)
        assert last["last_price"][i] >= spot - 0.05  # contango


def test_starting_mid_session_fast_forwards_the_day() -> None:
    open_ = TradingCalendar.default().session_bounds(SESSION)[0]
    start = open_ + 2 * 3600 + 0.5
    later = DemoMarket(seed=5, session=SESSION, universe=SMALL, start=start)
    assert later.advance_to(start - 60) == []
    first = decode(later.advance_to(start + 0.5)[0])
    assert (first["exchange_timestamp"] == int(start + 0.5)).all()
    tradable = first[first["tradable"]]
    assert (tradable["volume_traded"] > 0).all()
    assert (tradable["high"] >= tradable["low"]).all()
    assert (tradable["last_trade_time"] < start).any()  # quiet contracts last traded earlier
    # Index levels and day ranges follow one path per (seed, session), wherever the demo
    # started.
    earlier = DemoMarket(seed=5, session=SESSION, universe=SMALL, start=start - 5)
    same_time = earlier.ticks_to(start + 0.5)[-1]
    index = np.flatnonzero(~same_time["tradable"])
    assert index.max() < len(first)  # indices come first, in the first frame
    for field in ("last_price", "open", "high", "low"):
        assert np.allclose(first[field][index], same_time[field][index], rtol=0, atol=1e-6), field


def test_wall_clock_demo_replays_the_latest_session_at_speed() -> None:
    evening = TradingCalendar.default().session_bounds(SESSION)[1] + 3 * 3600  # 18:30 IST
    market, chosen = DemoMarket.for_wall_clock(evening, seed=1, speed=60.0, universe=SMALL)
    assert market.session == SESSION and not chosen.live
    frames = market.advance_to(chosen.at(evening + 2))  # two wall seconds: two minutes
    rows = np.concatenate([decode(f) for f in frames])
    assert rows["exchange_timestamp"].min() == market.open_epoch
    assert rows["exchange_timestamp"].max() == market.open_epoch + 120


def test_the_session_ends_at_1530_with_expiring_options_at_intrinsic_value() -> None:
    close = TradingCalendar.default().session_bounds(SESSION)[1]
    market = DemoMarket(
        seed=2, session=SESSION, universe=SMALL, start=close - 600, tick_interval=30.0
    )
    rounds = market.ticks_to(close + 3600)
    assert len(rounds) == 21 and rounds[-1]["exchange_timestamp"][0] == close
    assert market.advance_to(market.close_epoch + 7200) == []
    last = rounds[-1]
    chain = market.instruments.chain("NIFTY", SESSION)
    fresh = last["last_trade_time"][chain.calls] == market.close_epoch
    forward = market.forward("NIFTY", SESSION)
    intrinsic = np.maximum(forward - chain.strikes, 0.0)
    expected = np.maximum(np.rint(intrinsic / 0.05), 1) * 0.05
    assert fresh.any()
    assert last["last_price"][chain.calls][fresh] == pytest.approx(expected[fresh], abs=0.026)


def test_nine_thousand_instruments_tick_every_second() -> None:
    market = DemoMarket(seed=9, session=SESSION, instruments=9000)
    frames = market.advance_to(market.open_epoch + 1)
    assert len(frames) == 2 * 18  # two rounds of 9000 packets, 500 a frame
    assert sum(len(decode(f)) for f in frames) == 18_000
