"""Kite websocket binary frames <-> numpy structured arrays.

A Kite binary message is a big-endian frame: a 2-byte packet count, then for each packet a
2-byte length and the packet's bytes. The packet's length says what kind it is:

======  ===========  =========================================================
 bytes  kind         fields
======  ===========  =========================================================
     8  ltp          token, last price
    28  index quote  token, last, high, low, open, close, net change
    32  index full   index quote + exchange timestamp
    44  quote        token, last, last qty, avg price, volume, buy qty, sell qty,
                     open, high, low, close
   184  full         quote + last trade time, oi, oi high, oi low, exchange
                     timestamp, 5 bids and 5 asks (qty, price, orders, 2 pad)
======  ===========  =========================================================

`decode` turns a frame into one row per packet with a few dozen numpy operations per packet
kind present, however many packets the frame holds (never a `struct.unpack` per field).
`encode` is its exact inverse; the simulator and the Kite emulator use it so that every
source produces the bytes Kite sends.

Field names follow `kiteconnect`'s parser; prices are divided by the segment's divisor
(CDS 1e7, BCD and NCO 1e4, others 100); timestamps stay epoch seconds (convert to
Asia/Kolkata explicitly where shown); fields a packet kind lacks are zero.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

__all__ = [
    "KIND_SIZES",
    "MODE_FULL",
    "MODE_INDEX_FULL",
    "MODE_INDEX_QUOTE",
    "MODE_LTP",
    "MODE_NAMES",
    "MODE_QUOTE",
    "SEGMENT_BCD",
    "SEGMENT_CDS",
    "SEGMENT_INDICES",
    "SEGMENT_NCO",
    "TICK_DTYPE",
    "FrameError",
    "Ticks",
    "decode",
    "empty_ticks",
    "encode",
    "kite_mode",
    "price_divisor",
]

# -- packet kinds ----------------------------------------------------------------------------
# `mode` in a decoded row says which of the five packet kinds the row came from. Kite's own
# mode names ("ltp", "quote", "full") are `kite_mode(mode)`.
MODE_LTP: Final = 1
MODE_INDEX_QUOTE: Final = 2
MODE_INDEX_FULL: Final = 3
MODE_QUOTE: Final = 4
MODE_FULL: Final = 5

KIND_SIZES: Final[dict[int, int]] = {
    MODE_LTP: 8,
    MODE_INDEX_QUOTE: 28,
    MODE_INDEX_FULL: 32,
    MODE_QUOTE: 44,
    MODE_FULL: 184,
}
_SIZE_TO_MODE: Final[dict[int, int]] = {size: mode for mode, size in KIND_SIZES.items()}

MODE_NAMES: Final[dict[int, str]] = {
    MODE_LTP: "ltp",
    MODE_INDEX_QUOTE: "quote",
    MODE_INDEX_FULL: "full",
    MODE_QUOTE: "quote",
    MODE_FULL: "full",
}

# -- segments (token & 0xff), as in kiteconnect.KiteTicker.EXCHANGE_MAP ----------------------
SEGMENT_CDS: Final = 3
SEGMENT_BCD: Final = 6
SEGMENT_INDICES: Final = 9
SEGMENT_NCO: Final = 12

DEPTH: Final = 5

# -- the decoded row ------------------------------------------------------------------------
# Native byte order. The prices the wire carries sit side by side as 17 float64 values, so
# dividing by the segment's divisor is one operation over an (n, 17) view; the ten depth
# quantities, and the ten depth order counts, sit side by side too (bids then offers, as on
# the wire), so a block of full packets moves its depth in three (n, 10) operations. Quantities and
# times are int64 so that differences (volume added, OI change) never wrap; every wire value
# is an unsigned 32-bit integer and fits exactly.
_PRICE_FIELDS: Final = (
    "last_price",
    "average_traded_price",
    "open",
    "high",
    "low",
    "close",
)
TICK_DTYPE: Final = np.dtype(
    [
        ("instrument_token", np.uint32),
        ("mode", np.uint8),
        ("tradable", np.bool_),
        *((name, np.float64) for name in _PRICE_FIELDS),
        ("depth_buy_price", np.float64, (DEPTH,)),
        ("depth_sell_price", np.float64, (DEPTH,)),
        # Signed, unlike every other wire value: last in the price block so that the
        # unsigned prices before it form one block for range checks.
        ("net_change", np.float64),
        ("change", np.float64),
        ("last_traded_quantity", np.int64),
        ("volume_traded", np.int64),
        ("total_buy_quantity", np.int64),
        ("total_sell_quantity", np.int64),
        ("last_trade_time", np.int64),
        ("oi", np.int64),
        ("oi_day_high", np.int64),
        ("oi_day_low", np.int64),
        ("exchange_timestamp", np.int64),
        ("depth_buy_quantity", np.int64, (DEPTH,)),
        ("depth_sell_quantity", np.int64, (DEPTH,)),
        ("depth_buy_orders", np.int64, (DEPTH,)),
        ("depth_sell_orders", np.int64, (DEPTH,)),
    ],
    align=True,  # floats and ints on 8-byte boundaries: aligned numpy loops are faster
)
_PRICE_BLOCK_OFFSET: Final = int(TICK_DTYPE.fields["last_price"][1])  # type: ignore[index]
_PRICE_BLOCK_WIDTH: Final = len(_PRICE_FIELDS) + 2 * DEPTH + 1  # + net_change

Ticks = npt.NDArray[np.void]


class FrameError(ValueError):
    """A binary message that is not a well-formed Kite frame.

    `offset` is the byte position where the problem was found, so a kept copy of the frame
    can be inspected there.
    """

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.offset = offset


def empty_ticks(n: int = 0) -> Ticks:
    """`n` zeroed rows of `TICK_DTYPE`."""
    return np.zeros(n, dtype=TICK_DTYPE)


def kite_mode(mode: int) -> str:
    """Kite's mode name ("ltp", "quote" or "full") for a packet kind."""
    return MODE_NAMES[int(mode)]


def price_divisor(tokens: npt.NDArray[np.integer]) -> npt.NDArray[np.float64]:
    """Per-token price divisor: CDS 1e7, BCD and NCO 1e4, everything else 100."""
    segment = np.asarray(tokens, dtype=np.uint32) & 0xFF
    divisor: npt.NDArray[np.float64] = np.full(segment.shape, 100.0)
    divisor[segment == SEGMENT_CDS] = 1e7
    divisor[(segment == SEGMENT_BCD) | (segment == SEGMENT_NCO)] = 1e4
    return divisor


# -- wire layouts ----------------------------------------------------------------------------
# Every field of every packet kind is one 4-byte big-endian word, so a kind is the list of
# fields its words hold, in order. A full packet's words 16..45 are its depth: ten entries of
# (quantity, price, orders in the upper 2 bytes), five bids then five offers.
#
# Decoding the packets of one kind: copy their bodies into one aligned block, convert all
# words to float64 at once, divide the price words by the segment divisor (x / 1.0 is exact
# for the others), then move each scalar column into the rows and the depth as three (n, 10)
# blocks. A 500-packet frame costs a few dozen numpy calls, whatever its packet count.
# Encoding is one structured assignment per run (numpy assigns structured arrays field by
# field *by position*, casting as it goes) into a big-endian view of the packets.
_LTP_WORDS: Final = ("instrument_token", "last_price")
_INDEX_QUOTE_WORDS: Final = (
    *_LTP_WORDS,
    "high",
    "low",
    "open",
    "close",
    # The official parser skips this word; it is the signed net change from close.
    "net_change",
)
_QUOTE_WORDS: Final = (
    *_LTP_WORDS,
    "last_traded_quantity",
    "average_traded_price",
    "volume_traded",
    "total_buy_quantity",
    "total_sell_quantity",
    "open",
    "high",
    "low",
    "close",
)
_FULL_WORDS: Final = (
    *_QUOTE_WORDS,
    "last_trade_time",
    "oi",
    "oi_day_high",
    "oi_day_low",
    "exchange_timestamp",
)
_WORDS: Final[dict[int, tuple[str, ...]]] = {
    MODE_LTP: _LTP_WORDS,
    MODE_INDEX_QUOTE: _INDEX_QUOTE_WORDS,
    MODE_INDEX_FULL: (*_INDEX_QUOTE_WORDS, "exchange_timestamp"),
    MODE_QUOTE: _QUOTE_WORDS,
    MODE_FULL: _FULL_WORDS,
}
_NET_CHANGE_WORD: Final = _INDEX_QUOTE_WORDS.index("net_change")
_DEPTH_FIRST_WORD: Final = len(_FULL_WORDS)  # 16
_DEPTH_QUANTITY: Final = slice(_DEPTH_FIRST_WORD, None, 3)
_DEPTH_PRICE: Final = slice(_DEPTH_FIRST_WORD + 1, None, 3)
_DEPTH_ORDERS: Final = slice(_DEPTH_FIRST_WORD + 2, None, 3)


def _field_offset(field: str) -> int:
    return int(TICK_DTYPE.fields[field][1])  # type: ignore[index]


def _row_dtype(fields: tuple[str, ...]) -> np.dtype[np.void]:
    """A view of a decoded row holding just `fields`, in that order."""
    return np.dtype(
        {
            "names": list(fields),
            "formats": [TICK_DTYPE[field] for field in fields],
            "offsets": [_field_offset(field) for field in fields],
            "itemsize": TICK_DTYPE.itemsize,
        }
    )


def _word_dtype(fields: tuple[str, ...], fmt: str, prefix: int, size: int) -> np.dtype[np.void]:
    """A view of a packet's words as `fields` of `fmt`, after `prefix` bytes, `size` apart.

    On the wire (`fmt` ">u4") the net change is the one signed word.
    """
    width = np.dtype(fmt).itemsize
    signed = ">i4" if fmt == ">u4" else fmt
    return np.dtype(
        {
            "names": list(fields),
            "formats": [signed if field == "net_change" else fmt for field in fields],
            "offsets": [prefix + width * i for i in range(len(fields))],
            "itemsize": size,
        }
    )


def _scale(mode: int) -> npt.NDArray[np.float64]:
    """Per word of a packet kind: 100.0 for price words, 1.0 for the rest."""
    words = KIND_SIZES[mode] // 4
    is_price = np.zeros(words, dtype=bool)
    for i, field in enumerate(_WORDS[mode]):
        is_price[i] = field in _PRICE_FIELDS or field == "net_change"
    if mode == MODE_FULL:
        is_price[_DEPTH_PRICE] = True
    return np.where(is_price, 100.0, 1.0)


_ROW_VIEWS: Final = {mode: _row_dtype(fields) for mode, fields in _WORDS.items()}
# Encoding writes big-endian words behind the 2-byte length prefix.
_WIRE_VIEWS: Final = {
    mode: _word_dtype(fields, ">u4", 2, 2 + KIND_SIZES[mode]) for mode, fields in _WORDS.items()
}
_IS_PRICE_WORD: Final = {mode: _scale(mode) != 1.0 for mode in KIND_SIZES}
_SCALE: Final = {mode: _scale(mode) for mode in KIND_SIZES}
_TILED: dict[int, npt.NDArray[np.float64]] = {}
_TILE_ROWS: Final = 1024

_DEPTH_ORDERS16: Final = slice(2 * _DEPTH_FIRST_WORD + 4, None, 6)


def _unwritten(mode: int) -> np.dtype[np.void]:
    """A row view of the fields a packet kind does not carry (zeroed on decode)."""
    written = {*_WORDS[mode], "mode", "tradable", "change"}
    if mode == MODE_FULL:
        written |= {name for name in TICK_DTYPE.names or () if name.startswith("depth_")}
    return _row_dtype(tuple(name for name in TICK_DTYPE.names or () if name not in written))


_UNWRITTEN: Final = {mode: _unwritten(mode) for mode in KIND_SIZES}

_WIRE_SIZE_BY_MODE: Final = np.zeros(max(KIND_SIZES) + 1, dtype=np.int64)
for _mode, _size in KIND_SIZES.items():
    _WIRE_SIZE_BY_MODE[_mode] = 2 + _size

_KNOWN_MODE: Final = np.zeros(256, dtype=bool)
_KNOWN_MODE[list(KIND_SIZES)] = True
# Segments whose prices are not in paise (see price_divisor).
_SPECIAL_SEGMENT: Final = np.zeros(256, dtype=bool)
_SPECIAL_SEGMENT[[SEGMENT_CDS, SEGMENT_BCD, SEGMENT_NCO]] = True
_KNOWN_LENGTH: Final = np.zeros(2**16, dtype=bool)
_KNOWN_LENGTH[list(KIND_SIZES.values())] = True
# A frame of more runs than this (kinds interleaved) is decoded kind by kind instead.
_MAX_RUNS: Final = 8
_PROBE: Final = 32
_BYTE_OFFSETS: Final = {size: np.arange(size) for size in KIND_SIZES.values()}


def _block(ticks: Ticks, field: str, width: int) -> npt.NDArray[Any]:
    """An (n, width) view of `width` same-typed values of each row, from `field` on.

    `ticks` must be a contiguous TICK_DTYPE array (views write through to it).
    """
    base = TICK_DTYPE[field].base
    return np.ndarray(
        (len(ticks), width),
        dtype=base,
        buffer=ticks,
        offset=_field_offset(field),
        strides=(TICK_DTYPE.itemsize, base.itemsize),
    )


def _price_block(ticks: Ticks) -> npt.NDArray[np.float64]:
    """An (n, 17) float64 view of the prices that travel on the wire."""
    return _block(ticks, "last_price", _PRICE_BLOCK_WIDTH)


def decode(frame: bytes | bytearray | memoryview) -> Ticks:
    """Decode one Kite binary websocket message into rows of `TICK_DTYPE`.

    A 1-byte heartbeat gives zero rows. Anything that is not a whole, well-formed frame raises
    `FrameError` saying where; no partial result is ever returned.
    """
    data = bytes(frame) if not isinstance(frame, bytes) else frame
    size = len(data)
    if size == 1:  # heartbeat
        return empty_ticks()
    if size < 2:
        raise FrameError("empty message: no packet count", 0)
    count = (data[0] << 8) | data[1]
    # `_decode_block` writes every field (it zeroes those a kind lacks), so the rows need no
    # zero-fill up front.
    ticks = np.empty(count, dtype=TICK_DTYPE)
    raw = np.frombuffer(data, dtype=np.uint8)
    runs = _runs(data, count)
    if runs is not None:
        # The common case: one kind throughout, or a few long runs of kinds (indices, then
        # stocks, then options). Each run's bodies are one strided block of the frame.
        row = 0
        for pos, length, n in runs:
            body = raw[pos : pos + n * (length + 2)].reshape(n, length + 2)[:, 2:].copy()
            _decode_block(body, ticks[row : row + n], _SIZE_TO_MODE[length])
            row += n
    else:
        starts, lengths = _locate(data, raw, count)
        for length in np.unique(lengths).tolist():
            rows = np.flatnonzero(lengths == length)
            # Gather this kind's bodies into one aligned block, decode it once.
            body = raw[starts[rows, None] + _BYTE_OFFSETS[length]]
            if len(rows) == count:
                _decode_block(body, ticks, _SIZE_TO_MODE[length])
            else:
                part = np.zeros(len(rows), dtype=TICK_DTYPE)
                _decode_block(body, part, _SIZE_TO_MODE[length], zeroed=True)
                ticks[rows] = part
    close = ticks["close"]
    # kiteconnect: change = (last - close) * 100 / close, 0 when close is 0 (always for ltp).
    change = ticks["change"]
    change[...] = 0.0
    np.divide((ticks["last_price"] - close) * 100, close, out=change, where=close != 0)
    return ticks


def _runs(data: bytes, count: int) -> list[tuple[int, int, int]] | None:
    """The frame as runs of same-sized packets, (prefix position, length, packets), when it
    is well formed and has at most `_MAX_RUNS` runs; None otherwise (the caller then walks
    it packet by packet, which also names any problem).

    Extended slices of bytes pick every packet's length prefix of a run in C, and counting
    the expected byte in them is a C loop too, so a run costs microseconds whatever its size.
    A short probe first keeps a frame of alternating kinds from costing a full scan per run.
    """
    size = len(data)
    runs: list[tuple[int, int, int]] = []
    pos, row = 2, 0
    while row < count:
        if pos + 2 > size or len(runs) == _MAX_RUNS:
            return None
        high, low = data[pos], data[pos + 1]
        length = (high << 8) | low
        if length not in _SIZE_TO_MODE:
            return None
        stride = length + 2
        fits = min(count - row, (size - pos) // stride)
        if fits == 0:
            return None
        n = fits
        for upto in (min(fits, _PROBE), fits):
            end = pos + upto * stride
            highs, lows = data[pos:end:stride], data[pos + 1 : end : stride]
            if highs.count(high) != upto or lows.count(low) != upto:
                n = next(i for i in range(upto) if highs[i] != high or lows[i] != low)
                break
        runs.append((pos, length, n))
        row += n
        pos += n * stride
    return runs if pos == size else None


def _locate(
    data: bytes, raw: npt.NDArray[np.uint8], count: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Where each packet's body starts, and its length, for a frame of mixed kinds.

    The lengths chain (each packet's position depends on the one before), so this walks
    them in a tight loop and checks the result afterwards in numpy; anything amiss is
    walked again by `_scan`, which names the first problem.
    """
    prefixes = [0] * count
    pos = 2
    try:
        for i in range(count):
            prefixes[i] = pos
            pos += ((data[pos] << 8) | data[pos + 1]) + 2
    except IndexError:
        return _scan(data, count)
    at = np.array(prefixes, dtype=np.intp)
    lengths = (raw[at].astype(np.intp) << 8) | raw[at + 1]
    if pos != len(data) or not _KNOWN_LENGTH[lengths].all():
        return _scan(data, count)
    return at + 2, lengths


def _scan(data: bytes, count: int) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Where each packet's body starts, and its length; FrameError at the first problem."""
    size = len(data)
    starts = [0] * count
    lengths = [0] * count
    pos = 2
    for i in range(count):
        if pos + 2 > size:
            raise FrameError(f"frame ends before the length of packet {i + 1} of {count}", pos)
        length = (data[pos] << 8) | data[pos + 1]
        if length not in _SIZE_TO_MODE:
            raise FrameError(
                f"packet {i + 1} of {count} has unknown size {length} (known: 8, 28, 32, 44, 184)",
                pos,
            )
        if pos + 2 + length > size:
            raise FrameError(
                f"packet {i + 1} of {count} ({length} bytes) runs past the end of the "
                f"{size}-byte frame",
                pos,
            )
        starts[i] = pos + 2
        lengths[i] = length
        pos += 2 + length
    if pos != size:
        raise FrameError(f"{size - pos} unexpected bytes after the last of {count} packets", pos)
    return np.array(starts, dtype=np.intp), np.array(lengths, dtype=np.intp)


def _decode_block(
    body: npt.NDArray[np.uint8], rows: Ticks, mode: int, *, zeroed: bool = False
) -> None:
    """Decode an aligned (n, length) block of packet bodies of one kind into `rows`.

    Every field of `rows` is written: those the kind lacks are zeroed unless the caller says
    the rows are `zeroed` already.
    """
    # The caller copied the bodies out of the frame: numpy converts aligned words far faster
    # than words at the frame's odd offsets, and the copy is one call.
    words = body.view(">u4")
    # Byte-swap first, then widen: two simple casts beat one swapping cast to float64.
    values = words.astype(np.uint32).astype(np.float64)
    if mode in (MODE_INDEX_QUOTE, MODE_INDEX_FULL):
        values[:, _NET_CHANGE_WORD] = words.view(">i4")[:, _NET_CHANGE_WORD]
    # The token's low byte (its segment) is the 4th byte of every packet.
    segments = body[:, 3]
    _divide_prices(values, segments, words[:, 0], mode)
    for column, field in enumerate(_WORDS[mode]):
        rows[field] = values[:, column]
    if not zeroed:
        unwritten = _UNWRITTEN[mode]
        if len(unwritten.names or ()) == 1:  # full packets lack only net_change
            rows[unwritten.names[0]] = 0  # type: ignore[index]
        else:
            rows.view(unwritten)[...] = 0
    rows["mode"] = mode
    rows["tradable"] = segments != SEGMENT_INDICES
    if mode == MODE_FULL:
        _block(rows, "depth_buy_quantity", 2 * DEPTH)[...] = values[:, _DEPTH_QUANTITY]
        _block(rows, "depth_buy_price", 2 * DEPTH)[...] = values[:, _DEPTH_PRICE]
        # Orders are the upper 2 bytes of each entry's third word.
        _block(rows, "depth_buy_orders", 2 * DEPTH)[...] = body.view(">u2")[:, _DEPTH_ORDERS16]


def _divide_prices(
    values: npt.NDArray[np.float64],
    segment: npt.NDArray[np.uint8],
    tokens: npt.NDArray[np.integer[Any]],
    mode: int,
) -> None:
    """Divide the price words of a run by their segment's divisor, in place.

    Dividing every word (by 1.0 where it is not a price, which is exact) keeps this a single
    contiguous operation; kiteconnect divides the same integers by the same float.
    """
    if _SPECIAL_SEGMENT[segment].any():
        values /= np.where(_IS_PRICE_WORD[mode], price_divisor(tokens)[:, None], 1.0)
        return
    if len(values) > _TILE_ROWS:
        values /= _SCALE[mode]
        return
    tiled = _TILED.get(mode)
    if tiled is None:
        tiled = _TILED[mode] = np.tile(_SCALE[mode], _TILE_ROWS)
    values.reshape(-1)[...] /= tiled[: values.size]


def encode(ticks: Ticks) -> bytes:
    """Encode rows of `TICK_DTYPE` as one Kite binary message, the exact inverse of `decode`.

    Each row's `mode` picks its packet kind; prices are rounded to the segment's unit
    (paise for most). A value the wire cannot carry raises ValueError naming the field.
    """
    # One contiguous copy: prices are scaled to wire units in it, the caller's rows untouched.
    if ticks.dtype != TICK_DTYPE:
        # A cast between structured dtypes goes by position and would scramble fields.
        raise TypeError(f"encode takes rows of TICK_DTYPE (see empty_ticks), not {ticks.dtype}")
    scaled = ticks.copy(order="C")
    count = len(scaled)
    if count > 0xFFFF:
        raise ValueError(f"a frame holds at most 65535 packets, got {count}")
    modes = scaled["mode"]
    unknown = ~_KNOWN_MODE[modes]
    if unknown.any():
        bad = int(modes[np.flatnonzero(unknown)[0]])
        raise ValueError(f"unknown packet mode {bad}; expected one of {sorted(KIND_SIZES)}")
    prices = _price_block(scaled)
    if _SPECIAL_SEGMENT[scaled["instrument_token"] & 0xFF].any():
        np.rint(prices * price_divisor(scaled["instrument_token"])[:, None], out=prices)
    else:
        np.rint(prices * 100.0, out=prices)
    _check_wire_range(scaled)

    out = bytearray(2 + int(_WIRE_SIZE_BY_MODE[modes].sum()))
    out[0:2] = count.to_bytes(2, "big")
    pos = 2
    # One structured assignment per run of same-kind rows (a frame usually holds few runs).
    bounds = np.flatnonzero(np.diff(modes)) + 1
    for start, stop in zip([0, *bounds.tolist()], [*bounds.tolist(), count], strict=True):
        if start == stop:
            continue
        mode = int(modes[start])
        wire = np.zeros(stop - start, dtype=_WIRE_VIEWS[mode])
        wire[...] = scaled.view(_ROW_VIEWS[mode])[start:stop]
        size = KIND_SIZES[mode]
        packed = wire.view(np.uint8).reshape(stop - start, 2 + size)
        packed[:, 0] = size >> 8
        packed[:, 1] = size & 0xFF
        if mode == MODE_FULL:
            depth = packed[:, 2:].view(">u4")
            depth[:, _DEPTH_QUANTITY] = _block(scaled, "depth_buy_quantity", 2 * DEPTH)[start:stop]
            depth[:, _DEPTH_PRICE] = _block(scaled, "depth_buy_price", 2 * DEPTH)[start:stop]
            depth[:, _DEPTH_ORDERS] = (
                _block(scaled, "depth_buy_orders", 2 * DEPTH)[start:stop] << 16
            )
        out[pos : pos + packed.size] = packed.tobytes()
        pos += packed.size
    return bytes(out)


# The wire fields as blocks of one range each: (first field, width, low, high). Prices are
# checked after scaling to wire units (paise for most segments).
_RANGE_BLOCKS: Final = (
    ("last_price", _PRICE_BLOCK_WIDTH - 1, 0, 2**32),
    ("net_change", 1, -(2**31), 2**31),
    ("last_traded_quantity", 9 + 2 * DEPTH, 0, 2**32),
    ("depth_buy_orders", 2 * DEPTH, 0, 2**16),
)


def _column_names(first: str, width: int) -> list[str]:
    """The field of each column of `_block(_, first, width)`."""
    names = list(TICK_DTYPE.names or ())
    columns: list[str] = []
    for name in names[names.index(first) :]:
        columns += [name] * int(np.prod(TICK_DTYPE[name].shape or (1,)))
    return columns[:width]


def _check_wire_range(scaled: Ticks) -> None:
    """Refuse values the wire cannot carry instead of letting a cast wrap them silently.

    One min and one max per block (not per field) keeps this cheap on the simulator's path;
    only a failing block is searched for the field to name.
    """
    if len(scaled) == 0:
        return
    for first, width, low, high in _RANGE_BLOCKS:
        block = _block(scaled, first, width)
        # NaN fails both comparisons, so it is refused too.
        if block.min() >= low and block.max() < high:
            continue
        inside = (block >= low) & (block < high)
        column = int(np.flatnonzero(~inside.all(axis=0))[0])
        name = _column_names(first, width)[column]
        raise ValueError(
            f"{name} cannot be sent in a Kite frame: wire values (prices times the "
            f"segment divisor) must lie in [{low}, {high})"
        )
