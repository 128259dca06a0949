"""The option chain screen on the seeded demo market with a frozen clock: the table shows
exactly what `build_chain` computes, follows the price basis, the underlying and the expiry,
keeps the ATM row marked and in view, swaps in the greeks, and exports what it shows."""

from __future__ import annotations

import csv
import math
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from textual.app import App, ComposeResult
from textual.pilot import Pilot

from optui.analytics.chain import OptionChain, build_chain, iv_percentile_rank
from optui.feed.calendar import IST
from optui.feed.codec import decode
from optui.feed.demo import DemoFeed
from optui.feed.state import MarketState
from optui.settings import load_settings
from optui.tui.app import OptuiApp, create_app
from optui.tui.screens.chain import ChainScreen
from optui.tui.widgets.chain_columns import (
    FIELDS,
    MISSING,
    STRIKE_WIDTH,
    chain_columns,
    fmt_compact,
    fmt_gamma,
    fmt_iv,
    fmt_price,
    fmt_strike,
    table_width,
)
from optui.tui.widgets.chain_header import ChainHeader, model_badge, pack_lines, time_left
from optui.tui.widgets.chain_table import ATM, DOWN, FOLLOW_PAUSE_S, PLAIN, UP, ChainTable

# Friday 20 Nov 2026, 11:00 IST: inside market hours of a trading day.
FROZEN = datetime(2026, 11, 20, 11, 0, tzinfo=IST).timestamp()


def frozen_app(**overrides: Any) -> OptuiApp:
    return create_app(load_settings(overrides=overrides), clock=lambda: FROZEN)


async def until_full(pilot: Pilot[Any]) -> None:
    """Wait (on the condition) until every instrument has ticked once, then redraw."""
    app = pilot.app
    assert isinstance(app, OptuiApp)
    for _ in range(500):
        if app.state.snapshot().packets >= len(app.feed.universe):
            break
        await pilot.pause(0.02)
    else:
        raise AssertionError("the demo feed did not tick every instrument within 10 s")
    app.refresh_view()
    await pilot.pause()


def parts(app: OptuiApp) -> tuple[ChainScreen, ChainTable, str]:
    screen = app.screen
    assert isinstance(screen, ChainScreen)
    header = str(screen.query_one(ChainHeader).render())
    return screen, screen.query_one(ChainTable), header


def expected(app: OptuiApp, screen: ChainScreen) -> OptionChain:
    """The chain on view, built independently from the app's own context."""
    ctx = app.context()
    assert screen.underlying is not None and screen.expiry is not None
    return build_chain(
        ctx.universe,
        ctx.snapshot,
        screen.underlying,
        screen.expiry,
        now=ctx.pricing_clock,
        basis=ctx.basis,
        previous_oi=ctx.previous_oi,
    )


def texts(table: ChainTable, key: str) -> list[str]:
    return [table.cell(i, key).text for i in range(table.row_count)]


# -- the table ------------------------------------------------------------------------------
async def test_opens_on_nifty_nearest_expiry_as_build_chain_computes_it() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until_full(pilot)
        screen, table, header = parts(app)
        nearest = app.feed.universe.expiries("NIFTY")[0]
        assert (screen.underlying, screen.expiry) == ("NIFTY", nearest)
        assert "NIFTY" in header and f"{nearest:%d %b %Y}" in header
        chain = expected(app, screen)
        table.sync_all()
        assert table.row_count == len(chain.strikes) > 40
        assert texts(table, "strike")[0] == fmt_strike(float(chain.strikes[0]))
        for side, prefix in ((chain.calls, "c"), (chain.puts, "p")):
            for name in ("price", "oi", "iv", "oi_change", "volume", "delta", "change"):
                field = FIELDS[name]
                want = [field.fmt(v) for v in getattr(side, name).tolist()]
                assert texts(table, f"{prefix}_{name}") == want, (prefix, name)
        # The same numbers by hand at the ATM row: IV in percent, price to the paisa.
        atm = chain.atm_row
        assert 0 < atm < len(chain.strikes) - 1
        assert table.cell(atm, "c_iv").text == f"{chain.calls.iv[atm] * 100:.2f}"
        assert table.cell(atm, "p_price").text == f"{chain.puts.price[atm]:.2f}"
        assert chain.atm_iv is not None and f"ATM IV {chain.atm_iv * 100:.2f}%" in header
        assert "Black-76 · forward · r 0.0% · 15:30 IST" in header
        assert "updated 11:00:00" in header
        # Missing is "—", never 0: deep in-the-money puts admit no IV in the demo.
        missing = np.flatnonzero(np.isnan(chain.puts.iv))
        assert len(missing) and all(table.cell(int(i), "p_iv").text == MISSING for i in missing)

        # The ATM row is marked and on view, in-the-money cells shaded, OI change coloured.
        assert chain.atm_strike is not None
        marked = [i for i in range(table.row_count) if table.cell(i, "strike").tone == ATM]
        assert marked == [atm]
        assert table.cell(atm, "strike").text == f"►{fmt_strike(chain.atm_strike)}◄"
        assert atm in table.visible_rows() and table.cursor_row == atm
        for i in table.visible_rows():
            strike = float(chain.strikes[i])
            assert table.cell(i, "c_price").shaded == (strike < chain.atm_strike)
            assert table.cell(i, "p_price").shaded == (strike > chain.atm_strike)
            change = chain.calls.oi_change[i]
            if change > 0:
                assert table.cell(i, "c_oi_change").tone == UP
            elif change < 0:
                assert table.cell(i, "c_oi_change").tone == DOWN
        # What is drawn: shaded cells sit on another background, build-up and unwinding
        # in two different colours.
        top = table.visible_rows().start

        def segment(row: int, column: int) -> Any:
            return list(table.render_line(row - top + 1))[column]

        itm, otm = atm - 2, atm + 2
        assert segment(itm, 0).style.bgcolor != segment(otm, 0).style.bgcolor
        table.sync_all()
        rows = [i for i in table.visible_rows() if i != table.cursor_row]
        ups = [i for i in rows if table.cell(i, "c_oi_change").tone == UP]
        downs = [i for i in rows if table.cell(i, "p_oi_change").tone == DOWN]
        assert ups and downs, "the demo has build-up and unwinding on view"
        calls, puts = (
            [c.key for c in table.columns].index(key) for key in ("c_oi_change", "p_oi_change")
        )
        up, down = segment(ups[0], calls).style.color, segment(downs[0], puts).style.color
        plain = segment(ups[0], calls - 1).style.color  # OI beside it: not coloured
        assert len({up, down, plain}) == 3

        # IV percentile and rank show once the app knows past days' ATM IVs.
        assert "IVP" not in header and "IVR" not in header
        assert chain.atm_iv is not None
        past = [chain.atm_iv * (0.5 + k / 40) for k in range(40)]  # 0.5x .. 1.475x today's
        ctx = app.context()
        with_history = replace(ctx, atm_iv_history={"NIFTY": past})
        screen.show(with_history)
        percentile, rank = iv_percentile_rank(chain.atm_iv, past)
        assert percentile is not None and rank is not None
        header = str(screen.query_one(ChainHeader).render())
        assert f"IVP {percentile * 100:.0f}%" in header and f"IVR {rank * 100:.0f}%" in header


async def test_out_of_hours_the_demo_s_session_is_priced_at_its_own_time() -> None:
    """At 22:00 the demo replays the day's session from 09:15: IV, greeks, time to expiry and
    the data's age are reckoned at the replayed market's time, not at the wall clock's 22:00
    (which would take 13 hours off every option's life and mis-state every IV)."""
    night = datetime(2026, 11, 20, 22, 0, tzinfo=IST).timestamp()
    app = create_app(load_settings(), clock=lambda: night)
    async with app.run_test(size=(120, 40)) as pilot:
        await until_full(pilot)
        screen, _, header = parts(app)
        ctx = app.context()
        assert isinstance(app.feed, DemoFeed)
        market = app.feed.market_time()
        assert ctx.market_clock == market and night - market > 10 * 3600
        assert ctx.feed.market_time is not None
        assert ctx.pricing_clock == ctx.feed.market_time and market - 1 <= ctx.pricing_clock
        chain = expected(app, screen)
        assert screen.chain is not None and screen.chain.atm_iv == chain.atm_iv
        assert screen.chain.days_to_expiry == chain.days_to_expiry
        assert screen.underlying is not None and screen.expiry is not None
        at_wall_clock = build_chain(
            ctx.universe,
            ctx.snapshot,
            screen.underlying,
            screen.expiry,
            now=night,
            basis=ctx.basis,
        )
        assert chain.days_to_expiry - at_wall_clock.days_to_expiry == pytest.approx(
            (night - ctx.pricing_clock) / 86400
        )
        assert chain.atm_iv is not None and at_wall_clock.atm_iv is not None
        assert abs(chain.atm_iv - at_wall_clock.atm_iv) > 1e-4
        assert f"updated {datetime.fromtimestamp(market, IST):%H:%M}" in header
        assert "(0 s ago)" in header or "(1 s ago)" in header


class LiveLike:
    """The demo's frames as a live feed gives them: no market clock of its own (the market
    runs on the wall clock), so the app must go by the ticks' exchange timestamps."""

    label = "LIVE"

    def __init__(self, feed: DemoFeed) -> None:
        self.feed = feed
        self.universe = feed.universe
        self.session = feed.session.session

    def poll(self) -> list[bytes]:
        return self.feed.poll()

    @property
    def finished(self) -> bool:
        return False

    def instruments(self) -> None:
        return None


async def test_a_live_chain_looked_at_after_the_close_is_priced_at_its_last_tick() -> None:
    """Ticks up to 11:00, looked at 9 hours later (the evening, or a feed stalled that long):
    IV and greeks are those of the prices at 11:00, the age says how old they are."""
    evening = FROZEN + 9 * 3600
    feed = LiveLike(DemoFeed(load_settings(), clock=lambda: FROZEN))
    app = create_app(load_settings(), clock=lambda: evening, feed=feed)  # type: ignore[arg-type]
    async with app.run_test(size=(120, 40)) as pilot:
        await until_full(pilot)
        screen, _, header = parts(app)
        ctx = app.context()
        assert ctx.market_now is None and ctx.feed.market_time is not None
        assert ctx.pricing_clock == ctx.feed.market_time <= FROZEN
        chain = expected(app, screen)
        assert screen.chain is not None and screen.chain.atm_iv == chain.atm_iv is not None
        assert screen.underlying is not None and screen.expiry is not None
        at_wall_clock = build_chain(
            ctx.universe, ctx.snapshot, screen.underlying, screen.expiry, now=evening
        )
        assert at_wall_clock.atm_iv != chain.atm_iv
        age = evening - ctx.feed.market_time
        assert f"updated 11:00:00 ({age:,.0f} s ago)" in header


async def test_cells_follow_the_market_in_place() -> None:
    clock = [FROZEN]
    app = create_app(load_settings(), clock=lambda: clock[0])
    async with app.run_test(size=(120, 40)) as pilot:
        await until_full(pilot)
        screen, table, _ = parts(app)
        before = expected(app, screen)
        await pilot.press("down", "down")
        cursor = table.cursor_row
        clock[0] += 30.0  # half a minute of market: 30 more tick rounds
        for _ in range(500):
            if app.state.snapshot().packets >= 31 * len(app.feed.universe):
                break
            await pilot.pause(0.02)
        app.refresh_view()
        chain = expected(app, screen)
        assert table.cursor_row == cursor, "updated in place: the rows were not laid out anew"
        moved = 0
        for i in table.visible_rows():
            for name in ("price", "oi", "iv", "delta"):
                text = table.cell(i, f"c_{name}").text
                assert text == FIELDS[name].fmt(getattr(chain.calls, name)[i])
                moved += text != FIELDS[name].fmt(getattr(before.calls, name)[i])
        assert moved, "the market moved in 30 s"
        assert "updated 11:00:30" in str(screen.query_one(ChainHeader).render())


async def test_p_switches_the_price_cells_to_the_average_price() -> None:
    app = frozen_app(theme="light")
    async with app.run_test(size=(120, 40)) as pilot:
        await until_full(pilot)
        _, table, _ = parts(app)
        assert table.columns[[c.key for c in table.columns].index("c_price")].label == "LTP"
        await pilot.press("p")
        await pilot.pause()
        screen, table, _ = parts(app)
        assert app.basis == "average"
        assert table.columns[[c.key for c in table.columns].index("c_price")].label == "Avg"
        snapshot = app.state.snapshot()
        chain = expected(app, screen)
        differ = 0
        for i in table.visible_rows():
            token = int(chain.calls.tokens[i])
            row = snapshot.row(token)
            assert row is not None
            tick = snapshot.ticks[row]
            average = float(tick["average_traded_price"]) or float(tick["last_price"])
            assert table.cell(i, "c_price").text == f"{average:.2f}"
            differ += f"{float(tick['last_price']):.2f}" != f"{average:.2f}"
        assert differ, "the average price differs from the last somewhere on view"
        # The light theme keeps shading and colours apart too.
        plain = table._style(PLAIN, False, False)
        assert table._style(PLAIN, True, False).bgcolor != plain.bgcolor
        assert (
            len(
                {
                    plain.color,
                    table._style(UP, False, False).color,
                    table._style(DOWN, False, False).color,
                }
            )
            == 3
        )


async def test_u_and_e_switch_underlying_and_expiry() -> None:
    app = frozen_app(underlyings=["NIFTY", "SENSEX"])
    async with app.run_test(size=(120, 40)) as pilot:
        await until_full(pilot)
        universe = app.feed.universe
        nifty = universe.expiries("NIFTY")
        await pilot.press("e")
        screen, table, header = parts(app)
        assert screen.expiry == nifty[1] and f"{nifty[1]:%d %b %Y}" in header
        assert np.array_equal(table.strikes, universe.chain("NIFTY", nifty[1]).strikes)
        await pilot.press("E", "E")  # wraps round to the farthest
        assert parts(app)[0].expiry == nifty[-1]
        await pilot.press("u")
        screen, table, header = parts(app)
        sensex = universe.expiries("SENSEX")[0]
        assert (screen.underlying, screen.expiry) == ("SENSEX", sensex)
        assert "SENSEX" in header and f"{sensex:%d %b %Y}" in header
        assert np.array_equal(table.strikes, universe.chain("SENSEX", sensex).strikes)
        chain = expected(app, screen)
        assert table.cell(chain.atm_row, "c_oi").text == fmt_compact(chain.calls.oi[chain.atm_row])
        await pilot.press("u")  # only the configured underlyings, wrapping
        assert parts(app)[0].underlying == "NIFTY"
        await pilot.press("U")
        assert parts(app)[0].underlying == "SENSEX"


async def test_at_80x24_a_brings_the_atm_into_view_and_volume_and_change_give_way() -> None:
    app = frozen_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until_full(pilot)
        screen, table, _ = parts(app)
        keys = [c.key for c in table.columns]
        assert keys[:5] == ["c_oi", "c_oi_change", "c_delta", "c_iv", "c_price"]
        assert table_width(table.fields) <= 79
        atm = table.cursor_row
        assert screen.chain is not None and atm == screen.chain.atm_row
        assert atm in table.visible_rows()
        await pilot.press("home")
        assert table.cursor_row == 0 and atm not in table.visible_rows()
        await pilot.press("a")
        assert table.cursor_row == atm and atm in table.visible_rows()
        await pilot.press("pagedown")
        assert table.cursor_row == atm + table.page_rows
        assert table.cursor_row in table.visible_rows()
        await pilot.press("g")
        keys = [c.key for c in parts(app)[1].columns]
        assert {"c_gamma", "c_theta", "c_iv", "c_price"} <= set(keys)


class TableApp(App[None]):
    """The chain table alone, so a test moves the ATM by hand without the app's timer."""

    def compose(self) -> ComposeResult:
        yield ChainTable()


def demo_chain() -> OptionChain:
    settings = load_settings()
    feed = DemoFeed(settings, lambda: FROZEN)
    state = MarketState(feed.universe.instrument_token)
    for frame in feed.poll():
        state.update(decode(frame), received=FROZEN)
    expiry = feed.universe.expiries("NIFTY")[0]
    return build_chain(feed.universe, state.snapshot(), "NIFTY", expiry, now=FROZEN)


async def test_the_view_follows_the_atm_unless_the_user_just_moved() -> None:
    chain = demo_chain()
    atm = chain.atm_row
    fields = chain_columns(79, greeks=False)

    def moved(row: int) -> OptionChain:
        return replace(chain, atm_row=row, atm_strike=float(chain.strikes[row]))

    app = TableApp()
    async with app.run_test(size=(80, 20)) as pilot:
        table = app.query_one(ChainTable)
        # Before the first tick there is no ATM; once there is, the view goes to it.
        assert table.show_chain(replace(chain, atm_row=-1, atm_strike=None), fields, "last", 0)
        assert table.cursor_row == 0
        assert not table.show_chain(chain, fields, "last", FROZEN)
        await pilot.pause()
        assert table.cursor_row == atm and atm in table.visible_rows()
        far = atm + table.page_rows + 5
        assert far < table.row_count
        # The ATM moves (a market move, made here by hand): the cursor and the view follow.
        assert not table.show_chain(moved(far), fields, "last", FROZEN)
        assert table.cursor_row == far and far in table.visible_rows()
        assert table.cell(far, "strike").tone == ATM
        table.sync_all()  # the old ATM row is off screen: written when it scrolls into view
        assert table.cell(atm, "strike").tone != ATM
        # The user moves the cursor: the ATM moving again leaves the view alone ...
        await pilot.press("up")
        view = table.visible_rows()
        table.show_chain(moved(atm), fields, "last", FROZEN + 1)
        assert table.visible_rows() == view and table.cursor_row == far - 1
        assert atm not in view
        # ... until the user has left it alone for a few seconds.
        table.show_chain(moved(far), fields, "last", FROZEN + FOLLOW_PAUSE_S + 1)
        table.show_chain(moved(atm), fields, "last", FROZEN + FOLLOW_PAUSE_S + 2)
        assert atm in table.visible_rows()


async def test_g_shows_the_greeks_columns_instead_of_volume_and_change() -> None:
    app = frozen_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await until_full(pilot)
        _, table, _ = parts(app)
        keys = {c.key for c in table.columns}
        assert {"c_volume", "c_change", "p_volume"} <= keys
        assert not keys & {"c_gamma", "c_theta", "c_vega"}
        cursor = table.cursor_row
        await pilot.press("g")
        screen, table, _ = parts(app)
        keys = {c.key for c in table.columns}
        assert {"c_gamma", "c_theta", "c_vega", "p_gamma", "p_theta", "p_vega"} <= keys
        assert not keys & {"c_volume", "c_change"}
        assert table.cursor_row == cursor  # the view stays where it was
        chain = expected(app, screen)
        for i in table.visible_rows():
            assert table.cell(i, "p_gamma").text == fmt_gamma(chain.puts.gamma[i])
        await pilot.press("g")
        assert "c_volume" in {c.key for c in parts(app)[1].columns}
        await pilot.resize_terminal(80, 24)
        await pilot.pause()
        keys = {c.key for c in parts(app)[1].columns}
        assert "c_volume" not in keys and "c_price" in keys


async def test_export_writes_one_row_per_strike_matching_the_table(tmp_path: Path) -> None:
    app = frozen_app(data_dir=str(tmp_path))
    async with app.run_test(size=(120, 40)) as pilot:
        await until_full(pilot)
        await pilot.press("x")
        await pilot.pause()
        screen, table, _ = parts(app)
        files = list((tmp_path / "exports").glob("chain-*.csv"))
        assert len(files) == 1
        with files[0].open(newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
        table.sync_all()
        assert len(rows) == table.row_count
        chain = screen.chain
        assert chain is not None
        for i, row in enumerate(rows):
            assert float(row["strike"]) == chain.strikes[i]
            for side, prefix in (("call", "c"), ("put", "p")):
                for name in ("price", "oi", "iv"):
                    value = float(row[f"{side}_{name}"]) if row[f"{side}_{name}"] else math.nan
                    assert FIELDS[name].fmt(value) == table.cell(i, f"{prefix}_{name}").text
            assert row["atm"] == str(i == chain.atm_row)
            assert row["underlying"] == "NIFTY" and row["expiry"] == chain.expiry.isoformat()
        assert {f"{s}_{n}" for s in ("call", "put") for n in FIELDS} <= set(rows[0])
        figures = {"spot", "forward", "atm_strike", "pcr_oi", "max_pain", "atm_iv", "rr25"}
        assert figures <= set(rows[0])
        assert float(rows[0]["atm_iv"]) == pytest.approx(chain.atm_iv)
        # Missing is empty, never 0.
        assert any(r["put_iv"] == "" for r in rows)
        # Written as read: whole numbers without ".0", nothing past 12 significant digits
        # (no -33.05000000000018 from the subtraction behind a change).
        assert all(r["call_oi"].isdigit() and r["strike"].isdigit() for r in rows)
        for r in rows:
            for key in ("call_price", "call_change", "put_change", "call_iv", "call_gamma"):
                if r[key]:
                    digits = r[key].lstrip("-").split("e")[0].replace(".", "").lstrip("0")
                    assert len(digits) <= 12, (key, r[key])


class SilentDemo(DemoFeed):
    """The demo market's instruments with no tick at all (a feed before the open)."""

    def poll(self) -> list[bytes]:
        return []


async def test_before_any_tick_everything_is_missing_never_zero() -> None:
    settings = load_settings()
    app = create_app(settings, clock=lambda: FROZEN, feed=SilentDemo(settings, lambda: FROZEN))
    async with app.run_test(size=(120, 40)) as pilot:
        app.refresh_view()
        await pilot.pause()
        _, table, header = parts(app)
        table.sync_all()
        assert table.row_count > 0
        for column in table.columns:
            if column.key != "strike":
                assert set(texts(table, column.key)) == {MISSING}, column.key
        assert "spot —" in header and "ATM —" in header and "no tick yet" in header
        assert "0.00" not in header


# -- pure pieces ----------------------------------------------------------------------------
def test_formats() -> None:
    assert fmt_compact(math.nan) == MISSING and fmt_price(math.nan) == MISSING
    assert fmt_compact(0.0) == "0" and fmt_compact(0.0, signed=True) == "0"
    assert fmt_compact(99_999) == "99,999"
    assert fmt_compact(1_386_138) == "13.86L"
    assert fmt_compact(-1_386_138, signed=True) == "-13.86L"
    assert fmt_compact(53_042_665) == "5.30Cr"
    assert fmt_compact(1_234_567_890) == "123Cr"
    assert fmt_iv(0.10939) == "10.94" and fmt_price(96.4) == "96.40"
    assert fmt_strike(24550.0) == "24550" and fmt_strike(24537.5) == "24537.5"
    for value in (0, 5, 99_999.4, 99_999.6, 9.994e6, 9.996e6, 9.99e8, 1e9, 5e10):
        for signed in (False, True):
            text = fmt_compact(-value if signed else value, signed=signed)
            assert len(text) <= (7 if signed else 6), text
    assert time_left(3.1875) == "3d 4h 30m" and time_left(0.5) == "12h 00m"
    assert time_left(0.0) == "expired"


def test_columns_fit_the_width_by_priority() -> None:
    for width in range(40, 200):
        for greeks in (False, True):
            columns = chain_columns(width, greeks=greeks)
            assert columns and columns[-1].name == "price"
            assert table_width(columns) <= max(width, STRIKE_WIDTH + 2 * FIELDS["price"].width)
    names = {f.name for f in chain_columns(79, greeks=False)}
    assert names == {"price", "oi", "oi_change", "iv", "delta"}
    assert {f.name for f in chain_columns(119, greeks=False)} == names | {"volume", "change"}
    assert {"gamma", "theta"} <= {f.name for f in chain_columns(79, greeks=True)}


def test_badge_and_packing() -> None:
    settings = load_settings(overrides={"analytics.model": "nse-black-scholes"})
    assert model_badge(load_settings().analytics) == "Black-76 · forward · r 0.0% · 15:30 IST"
    assert model_badge(settings.analytics) == "Black-Scholes (NSE) · spot · r 10.0% · 15:30 IST"
    words = ["[b]NIFTY[/b]", "spot 24,529.65", "x" * 30, "ATM 24550", "y" * 50]
    assert pack_lines(words, 45) == [
        "[b]NIFTY[/b] · spot 24,529.65",
        "x" * 30 + " · ATM 24550",
        "y" * 50,  # wider than the line: a line of its own, never split
    ]
    assert pack_lines(words[:2], 22) == ["[b]NIFTY[/b] · spot 24,529.65"]  # markup is free
    assert pack_lines(words[:2], 21) == ["[b]NIFTY[/b]", "spot 24,529.65"]


# -- snapshots ------------------------------------------------------------------------------
@pytest.mark.parametrize("size", [(80, 24), (120, 40)], ids=["80x24", "120x40"])
def test_snapshot_of_the_chain_screen(snap_compare: Any, size: tuple[int, int]) -> None:
    assert snap_compare(frozen_app(), terminal_size=size, run_before=until_full)


def test_snapshot_of_the_chain_screen_on_the_light_theme(snap_compare: Any) -> None:
    assert snap_compare(frozen_app(theme="light"), terminal_size=(120, 40), run_before=until_full)
