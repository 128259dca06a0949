"""The Kite frame codec against the official parser, Zerodha's sample packets and bad input.

Frames here are built with `struct` straight from Kite's documented layout, independently of
`optui.feed.codec.encode`, so the differential tests check the decoder against the official
`kiteconnect.KiteTicker._parse_binary` and not against itself.
"""

from __future__ import annotations

import base64
import json
import struct
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from kiteconnect import KiteTicker

from optui.feed.codec import (
    KIND_SIZES,
    MODE_FULL,
    MODE_INDEX_FULL,
    MODE_INDEX_QUOTE,
    MODE_LTP,
    MODE_QUOTE,
    TICK_DTYPE,
    FrameError,
    decode,
    empty_ticks,
    encode,
    kite_mode,
    price_divisor,
)

OFFICIAL = KiteTicker.__new__(KiteTicker)  # the parser needs no connection state
SIZE_TO_MODE = {size: mode for mode, size in KIND_SIZES.items()}
U32 = st.integers(0, 2**32 - 1)
# Segments that matter: 1 NSE, 2 NFO, 3 CDS (1e7), 5 BFO, 6 BCD (1e4), 9 indices, 12 NCO (1e4).
SEGMENTS = st.sampled_from([1, 2, 3, 4, 5, 6, 7, 9, 12])


@st.composite
def packets(draw: st.DrawFn, sizes: tuple[int, ...] = (8, 28, 32, 44, 184)) -> bytes:
    """One packet body with random field values, laid out as Kite documents it."""
    size = draw(st.sampled_from(sizes))
    token = (draw(st.integers(0, 2**24 - 1)) << 8) | draw(SEGMENTS)
    if size == 184:
        head = struct.pack(">16I", token, *draw(st.lists(U32, min_size=15, max_size=15)))
        depth = b"".join(
            struct.pack(">IIHxx", draw(U32), draw(U32), draw(st.integers(0, 2**16 - 1)))
            for _ in range(10)
        )
        return head + depth
    if size in (28, 32):
        words = draw(st.lists(U32, min_size=5, max_size=5))
        net = struct.pack(">i", draw(st.integers(-(2**31), 2**31 - 1)))
        tail = struct.pack(">I", draw(U32)) if size == 32 else b""
        return struct.pack(">6I", token, *words) + net + tail
    return struct.pack(
        f">{size // 4}I",
        token,
        *draw(st.lists(U32, min_size=size // 4 - 1, max_size=size // 4 - 1)),
    )


def frame_of(bodies: list[bytes]) -> bytes:
    return struct.pack(">H", len(bodies)) + b"".join(
        struct.pack(">H", len(body)) + body for body in bodies
    )


frames = st.lists(packets(), min_size=0, max_size=60).map(frame_of)


def epoch(value: datetime | None) -> int:
    assert value is not None
    return round(value.timestamp())


def assert_same_as_official(frame: bytes) -> None:
    """Every field the official parser returns equals ours, and ours has nothing extra."""
    ours = decode(frame)
    theirs: list[dict[str, Any]] = OFFICIAL._parse_binary(frame)
    assert len(ours) == len(theirs)
    for row, tick in zip(ours, theirs, strict=True):
        assert row["instrument_token"] == tick["instrument_token"]
        assert kite_mode(row["mode"]) == tick["mode"]
        assert bool(row["tradable"]) == tick["tradable"]
        assert row["last_price"] == tick["last_price"]
        mode = int(row["mode"])
        if mode == MODE_LTP:
            assert row["close"] == 0 and row["change"] == 0 and row["volume_traded"] == 0
            continue
        for key in ("open", "high", "low", "close"):
            assert row[key] == tick["ohlc"][key], key
        assert row["change"] == tick["change"]
        if mode in (MODE_INDEX_QUOTE, MODE_INDEX_FULL):
            if mode == MODE_INDEX_FULL:
                assert row["exchange_timestamp"] == epoch(tick["exchange_timestamp"])
            assert row["volume_traded"] == 0 and row["oi"] == 0
            continue
        for key in (
            "last_traded_quantity",
            "average_traded_price",
            "volume_traded",
            "total_buy_quantity",
            "total_sell_quantity",
        ):
            assert row[key] == tick[key], key
        if mode == MODE_QUOTE:
            assert row["oi"] == 0 and row["exchange_timestamp"] == 0
            assert not row["depth_buy_price"].any()
            continue
        for key in ("oi", "oi_day_high", "oi_day_low"):
            assert row[key] == tick[key], key
        assert row["last_trade_time"] == epoch(tick["last_trade_time"])
        assert row["exchange_timestamp"] == epoch(tick["exchange_timestamp"])
        for side in ("buy", "sell"):
            levels = tick["depth"][side]
            assert row[f"depth_{side}_price"].tolist() == [d["price"] for d in levels]
            assert row[f"depth_{side}_quantity"].tolist() == [d["quantity"] for d in levels]
            assert row[f"depth_{side}_orders"].tolist() == [d["orders"] for d in levels]


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames)
def test_decode_equals_official_parser(frame: bytes) -> None:
    assert_same_as_official(frame)


@settings(max_examples=300, deadline=None)
@given(st.lists(packets(), min_size=1, max_size=80))
def test_encode_is_the_exact_inverse(bodies: list[bytes]) -> None:
    frame = frame_of(bodies)
    ticks = decode(frame)
    assert encode(ticks) == frame
    again = decode(encode(ticks))
    for name in TICK_DTYPE.names or ():
        np.testing.assert_array_equal(again[name], ticks[name], err_msg=name)


@settings(max_examples=200, deadline=None)
@given(st.lists(packets(sizes=(28, 32)), min_size=1, max_size=20))
def test_index_packets_keep_the_signed_net_change(bodies: list[bytes]) -> None:
    ticks = decode(frame_of(bodies))
    for row, body in zip(ticks, bodies, strict=True):
        (token, net) = struct.unpack(">I20xi", body[:28])
        assert row["net_change"] == net / price_divisor(np.array([token]))[0]
        assert not row["tradable"] or (row["instrument_token"] & 0xFF) != 9


def test_long_runs_and_alternating_kinds_decode_alike() -> None:
    """Runs longer than the decoder's probe, single packets between them, all five kinds."""
    rng = np.random.default_rng(5)
    bodies = []
    for size in [184] * 300 + [8] + [32] * 40 + [44, 28, 184, 8] * 50 + [184] * 33:
        words = rng.integers(0, 2**32, size // 4, dtype=np.uint64).astype(">u4")
        body = bytearray(words.tobytes())
        if size == 184:  # zero the padding after each depth entry's order count
            for entry in range(10):
                body[64 + 12 * entry + 10 : 64 + 12 * entry + 12] = b"\0\0"
        bodies.append(bytes(body))
    frame = frame_of(bodies)
    assert_same_as_official(frame)
    assert encode(decode(frame)) == frame


def test_price_divisors_by_segment() -> None:
    bodies = [struct.pack(">II", (77 << 8) | segment, 123456789) for segment in (1, 3, 6, 9, 12)]
    ticks = decode(frame_of(bodies))
    assert ticks["last_price"].tolist() == [
        1234567.89,
        12.3456789,
        12345.6789,
        1234567.89,
        12345.6789,
    ]
    assert ticks["tradable"].tolist() == [True, True, True, False, True]


def test_fields_a_kind_lacks_are_zero() -> None:
    full = decode(frame_of([bytes(range(1, 185))]))
    # Decode a full packet, then an ltp packet into a fresh array: nothing carries over.
    assert full["oi"][0] != 0
    ltp = decode(frame_of([struct.pack(">II", 256265, 2400000)]))
    for name in TICK_DTYPE.names or ():
        if name not in ("instrument_token", "mode", "last_price", "tradable"):
            assert not np.any(ltp[name]), name
    assert ltp["mode"][0] == MODE_LTP and ltp["last_price"][0] == 24000.0


# -- Zerodha's published sample packets ------------------------------------------------------


def _mock(shared_data: Path, name: str) -> tuple[bytes, dict[str, Any]]:
    folder = shared_data / "kite_mocks"
    body = base64.b64decode((folder / f"{name}.packet").read_text())
    twin = json.loads((folder / f"{name}.json").read_text())
    return body, twin


def _assert_quote_fields(row: np.void, twin: dict[str, Any]) -> None:
    assert row["instrument_token"] == twin["instrument_token"]
    assert bool(row["tradable"]) is twin["tradable"]
    assert row["last_price"] == pytest.approx(twin["last_price"])
    assert row["last_traded_quantity"] == twin["last_quantity"]
    assert row["average_traded_price"] == pytest.approx(twin["average_price"])
    assert row["volume_traded"] == twin["volume"]
    assert row["total_buy_quantity"] == twin["buy_quantity"]
    assert row["total_sell_quantity"] == twin["sell_quantity"]
    for key in ("open", "high", "low", "close"):
        assert row[key] == pytest.approx(twin["ohlc"][key])
    # Ours is kiteconnect's percent change from close.
    assert row["change"] == 100 * (row["last_price"] - row["close"]) / row["close"]


def test_sample_full_packet_matches_its_json_twin(shared_data: Path) -> None:
    body, twin = _mock(shared_data, "ticker_full")
    assert len(body) == 184
    (row,) = decode(frame_of([body]))
    assert kite_mode(row["mode"]) == twin["mode"] == "full"
    _assert_quote_fields(row, twin)
    # The twin's "change" is the absolute change from close. (The quote twin repeats this
    # same 5.9, which does not match its own prices, so only the full twin is checked.)
    assert row["last_price"] - row["close"] == pytest.approx(twin["change"])
    for key in ("oi", "oi_day_high", "oi_day_low"):
        assert row[key] == twin[key]
    assert row["last_trade_time"] == epoch(datetime.fromisoformat(twin["last_trade_time"]))
    assert row["exchange_timestamp"] == epoch(datetime.fromisoformat(twin["timestamp"]))
    for side in ("buy", "sell"):
        levels = twin["depth"][side]
        assert row[f"depth_{side}_price"].tolist() == pytest.approx([d["price"] for d in levels])
        assert row[f"depth_{side}_quantity"].tolist() == [d["quantity"] for d in levels]
        assert row[f"depth_{side}_orders"].tolist() == [d["orders"] for d in levels]
    assert encode(decode(frame_of([body]))) == frame_of([body])


def test_sample_quote_packet_matches_its_json_twin(shared_data: Path) -> None:
    body, twin = _mock(shared_data, "ticker_quote")
    assert len(body) == 44
    (row,) = decode(frame_of([body]))
    assert kite_mode(row["mode"]) == twin["mode"] == "quote"
    _assert_quote_fields(row, twin)
    assert row["oi"] == 0 and row["exchange_timestamp"] == 0


def test_sample_ltp_twin_round_trips_through_encode(shared_data: Path) -> None:
    twin = json.loads((shared_data / "kite_mocks" / "ticker_ltp.json").read_text())
    ticks = empty_ticks(1)
    ticks["instrument_token"] = twin["instrument_token"]
    ticks["mode"] = MODE_LTP
    ticks["last_price"] = twin["last_price"]
    frame = encode(ticks)
    assert len(frame) == 2 + 2 + 8
    (row,) = decode(frame)
    assert row["last_price"] == twin["last_price"]
    assert OFFICIAL._parse_binary(frame)[0]["last_price"] == twin["last_price"]


# -- bad input --------------------------------------------------------------------------------


def test_heartbeat_is_zero_rows() -> None:
    assert len(decode(b"\x00")) == 0
    assert decode(b"\x00").dtype == TICK_DTYPE
    assert len(decode(b"\x00\x00")) == 0  # a frame that says it holds no packets


def test_empty_message_is_an_error() -> None:
    with pytest.raises(FrameError, match="empty"):
        decode(b"")


def test_every_truncation_of_a_frame_is_an_error() -> None:
    frame = frame_of([bytes(184), bytes(8), bytes(32)])
    for cut in range(2, len(frame)):
        with pytest.raises(FrameError) as caught:
            decode(frame[:cut])
        assert 0 <= caught.value.offset <= cut
        assert "at byte" in str(caught.value)


def test_unknown_packet_size_says_where() -> None:
    frame = frame_of([bytes(8), bytes(12)])
    with pytest.raises(FrameError, match=r"packet 2 of 2 has unknown size 12") as caught:
        decode(frame)
    assert caught.value.offset == 2 + 2 + 8


def test_length_past_the_end_says_where() -> None:
    frame = struct.pack(">HH", 1, 184) + bytes(100)
    with pytest.raises(FrameError, match=r"packet 1 of 1 \(184 bytes\) runs past the end"):
        decode(frame)


def test_count_beyond_the_packets_is_an_error() -> None:
    frame = struct.pack(">H", 3) + frame_of([bytes(8), bytes(8)])[2:]
    with pytest.raises(FrameError, match="before the length of packet 3 of 3"):
        decode(frame)


def test_trailing_bytes_are_an_error() -> None:
    with pytest.raises(FrameError, match="3 unexpected bytes after the last of 1 packets"):
        decode(frame_of([bytes(8)]) + b"abc")


@settings(max_examples=2000, deadline=None)
@given(st.binary(max_size=600))
def test_random_bytes_give_rows_or_frame_error(blob: bytes) -> None:
    try:
        ticks = decode(blob)
    except FrameError:
        return
    assert len(ticks) == (0 if len(blob) == 1 else int.from_bytes(blob[:2], "big"))


@settings(max_examples=300, deadline=None)
@given(frames, st.data())
def test_mutated_frames_give_rows_or_frame_error(frame: bytes, data: st.DataObject) -> None:
    if len(frame) < 3:
        return
    at = data.draw(st.integers(0, len(frame) - 1))
    mutated = bytearray(frame)
    mutated[at] ^= data.draw(st.integers(1, 255))
    try:
        ticks = decode(bytes(mutated))
    except FrameError:
        return
    # When the lengths still parse, the rows are exactly what the official parser sees.
    assert len(ticks) == len(OFFICIAL._parse_binary(bytes(mutated)))


# -- encode refuses what the wire cannot carry ------------------------------------------------


def _one(mode: int = MODE_FULL, **fields: float) -> np.ndarray:
    ticks = empty_ticks(1)
    ticks["instrument_token"] = 12345 << 8 | 2
    ticks["mode"] = mode
    for key, value in fields.items():
        ticks[key] = value
    return ticks


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"last_price": -1.0}, "last_price"),
        ({"last_price": float("nan")}, "last_price"),
        ({"volume_traded": 2**32}, "volume_traded"),
        ({"oi": -5}, "oi"),
        ({"depth_buy_orders": 70000}, "depth_buy_orders"),
    ],
)
def test_encode_refuses_values_the_wire_cannot_carry(
    fields: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        encode(_one(**fields))


def test_encode_refuses_an_unknown_mode() -> None:
    with pytest.raises(ValueError, match="unknown packet mode 9"):
        encode(_one(mode=9))


def test_encode_rounds_prices_to_paise() -> None:
    (row,) = decode(encode(_one(MODE_QUOTE, last_price=101.2349999, close=99.996)))
    assert row["last_price"] == 101.23 and row["close"] == 100.0
