"""Line charts and sparklines in text, for the screens that plot a day or a history.

A terminal cell holds a 2×4 grid of braille dots (U+2800-U+28FF), so a chart of `width` ×
`height` cells has `2 * width` × `4 * height` pixels: enough to tell two lines a few rupees
apart. `plot` is pure (arrays in, characters and the series in each cell out) so tests check
exact output; `chart_text` adds the y-axis labels, the x-axis labels and colours; `LineChart`
is the widget that draws `chart_text` at whatever size the layout gives it. `sparkline` is
the one-line form with block characters (▁▂▃▄▅▆▇█), for a table cell.

NaN is a gap: a line is never drawn across a missing value, so an hour without data shows as
an hour without a line, not as a straight segment that was never observed.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt
from rich.text import Text
from textual.widget import Widget

__all__ = [
    "BLOCKS",
    "BRAILLE_BASE",
    "ChartSeries",
    "LineChart",
    "Plot",
    "chart_text",
    "plot",
    "sparkline",
    "value_range",
]

FloatArray = npt.NDArray[np.float64]

BRAILLE_BASE: Final = 0x2800
# Bit of the braille dot at (column 0-1, row 0-3 from the top) of a cell (Unicode's numbering:
# dots 1-3 and 7 on the left, 4-6 and 8 on the right).
_DOT: Final = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
BLOCKS: Final = "▁▂▃▄▅▆▇█"
OVERLAP_STYLE: Final = "bold"
"""Style of a cell that two or more series pass through (each keeps its own colour alone)."""


@dataclass(frozen=True, eq=False)
class ChartSeries:
    """One line: its values (NaN where missing), its Rich style and its name for a legend."""

    values: FloatArray
    style: str = ""
    label: str = ""

    @classmethod
    def of(cls, values: npt.ArrayLike, style: str = "", label: str = "") -> ChartSeries:
        return cls(np.asarray(values, dtype=np.float64).reshape(-1), style, label)


@dataclass(frozen=True, eq=False)
class Plot:
    """A plotted chart: `rows[r]` is row r (top first) of braille characters; `owners[r, c]`
    has bit i set when series i has a dot in cell (r, c)."""

    rows: list[str]
    owners: npt.NDArray[np.int64]
    low: float
    high: float


def value_range(series: Sequence[npt.ArrayLike]) -> tuple[float, float] | None:
    """(lowest, highest) finite value over all series; None when there is none. A flat range
    is widened a little so a constant line sits in the middle of the chart."""
    finite = [a[np.isfinite(a)] for a in (np.asarray(s, dtype=np.float64) for s in series)]
    values = np.concatenate(finite) if finite else np.zeros(0)
    if len(values) == 0:
        return None
    low, high = float(values.min()), float(values.max())
    if high == low:
        pad = max(abs(high) * 0.01, 1e-9)
        return low - pad, high + pad
    return low, high


def _pixels(
    values: FloatArray, px_width: int, px_height: int, low: float, high: float
) -> list[tuple[int, int] | None]:
    """Each value's pixel (x, y from the top), None where it is missing."""
    n = len(values)
    span = high - low
    out: list[tuple[int, int] | None] = []
    for i, v in enumerate(values.tolist()):
        if not math.isfinite(v):
            out.append(None)
            continue
        x = 0 if n == 1 else round(i * (px_width - 1) / (n - 1))
        frac = (v - low) / span if span > 0 else 0.5
        y = round((1.0 - min(max(frac, 0.0), 1.0)) * (px_height - 1))
        out.append((x, y))
    return out


def _segment(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    """Pixels of the straight line from a to b (Bresenham), both ends included."""
    (x0, y0), (x1, y1) = a, b
    dx, dy = abs(x1 - x0), -abs(y1 - y0)
    sx, sy = (1 if x1 >= x0 else -1), (1 if y1 >= y0 else -1)
    err = dx + dy
    points = []
    while True:
        points.append((x0, y0))
        if x0 == x1 and y0 == y1:
            return points
        e2 = 2 * err
        if e2 >= dy:
            err += dy
            x0 += sx
        if e2 <= dx:
            err += dx
            y0 += sy


def plot(
    series: Sequence[npt.ArrayLike],
    width: int,
    height: int,
    *,
    low: float | None = None,
    high: float | None = None,
) -> Plot:
    """Draw each series as a line across `width` × `height` cells (point i of n at
    x = i / (n - 1) of the width), on a common y scale from `low` to `high` (default: the
    values' range; values outside are clipped to the edge)."""
    if width < 1 or height < 1:
        raise ValueError(f"a chart needs at least 1x1 cells, not {width}x{height}")
    arrays = [np.asarray(s, dtype=np.float64).reshape(-1) for s in series]
    found = value_range(arrays)
    lo = low if low is not None else (found[0] if found else 0.0)
    hi = high if high is not None else (found[1] if found else 1.0)
    px_w, px_h = 2 * width, 4 * height
    dots = np.zeros((height, width), dtype=np.int64)
    owners = np.zeros((height, width), dtype=np.int64)
    for i, values in enumerate(arrays):
        lit: set[tuple[int, int]] = set()
        previous: tuple[int, int] | None = None
        for point in _pixels(values, px_w, px_h, lo, hi):
            if point is None:
                previous = None
                continue
            lit.update(_segment(previous, point) if previous else [point])
            previous = point
        for x, y in lit:
            row, col = y // 4, x // 2
            dots[row, col] |= _DOT[x % 2][y % 4]
            owners[row, col] |= 1 << i
    rows = [
        "".join(chr(BRAILLE_BASE + int(d)) if d else " " for d in line.tolist()) for line in dots
    ]
    return Plot(rows, owners, lo, hi)


def sparkline(
    values: npt.ArrayLike,
    width: int | None = None,
    *,
    low: float | None = None,
    high: float | None = None,
) -> str:
    """One line of block characters, one per value (or per bucket of values, averaged, when
    `width` is smaller than their number); a space where a value (bucket) is missing."""
    arr = np.asarray(values, dtype=np.float64).reshape(-1)
    if width is not None and 0 < width < len(arr):
        edges = np.linspace(0, len(arr), width + 1).round().astype(int)
        buckets = [arr[a:b][np.isfinite(arr[a:b])] for a, b in itertools.pairwise(edges)]
        arr = np.array([b.mean() if len(b) else np.nan for b in buckets])
    found = value_range([arr])
    if found is None:
        return " " * len(arr)
    lo = low if low is not None else found[0]
    hi = high if high is not None else found[1]
    span = hi - lo
    top = len(BLOCKS) - 1
    chars = []
    for v in arr.tolist():
        if not math.isfinite(v):
            chars.append(" ")
            continue
        frac = (v - lo) / span if span > 0 else 0.5
        chars.append(BLOCKS[round(min(max(frac, 0.0), 1.0) * top)])
    return "".join(chars)


def chart_text(
    series: Sequence[ChartSeries],
    width: int,
    height: int,
    *,
    y_format: str = "{:,.2f}",
    x_labels: tuple[str, str] = ("", ""),
    axes: bool = True,
) -> Text:
    """The chart as Rich text of `width` × `height` cells: y labels (highest at the top,
    lowest at the bottom) left of the plot and, on the last line, the x labels under its two
    ends. Without `axes`, only the plot. Too small a space gives what fits (never an error)."""
    width, height = max(width, 1), max(height, 1)
    found = value_range([s.values for s in series])
    label_w = 0
    plot_h = height
    top_label = bottom_label = ""
    if axes and found is not None:
        top_label, bottom_label = y_format.format(found[1]), y_format.format(found[0])
        label_w = max(len(top_label), len(bottom_label)) + 1
        plot_h = height - 1 if height > 2 else height
    if width - label_w < 4:
        label_w = 0
    plot_w = max(width - label_w, 1)
    out = Text(no_wrap=True, overflow="crop")
    if found is None:
        blank = "no data yet"[:width]
        lines = [
            blank.ljust(width) if r == (height - 1) // 2 else " " * width for r in range(height)
        ]
        out.append("\n".join(lines), style="dim")
        return out
    drawn = plot([s.values for s in series], plot_w, plot_h, low=found[0], high=found[1])
    for r, row in enumerate(drawn.rows):
        if r:
            out.append("\n")
        if label_w:
            label = top_label if r == 0 else bottom_label if r == plot_h - 1 else ""
            out.append(label.rjust(label_w - 1) + "│", style="dim")
        # One span per run of cells with the same style, not one per cell.
        styles = [_cell_style(int(mask), series) for mask in drawn.owners[r].tolist()]
        start = 0
        for c in range(1, len(row) + 1):
            if c == len(row) or styles[c] != styles[start]:
                out.append(row[start:c], style=styles[start])
                start = c
    if plot_h < height:
        left, right = x_labels
        room = plot_w - len(left) - len(right)
        axis = (left + " " * room + right) if room >= 1 else left[:plot_w]
        out.append("\n" + " " * label_w + axis[:plot_w], style="dim")
    return out


def _cell_style(mask: int, series: Sequence[ChartSeries]) -> str:
    if not mask:
        return ""
    if mask & (mask - 1):
        return OVERLAP_STYLE
    return series[mask.bit_length() - 1].style


class LineChart(Widget):
    """A chart of one or more series that fills its space (set the size in CSS)."""

    DEFAULT_CSS = """
    LineChart {
        height: 8;
        width: 1fr;
    }
    """

    def __init__(
        self,
        *,
        y_format: str = "{:,.2f}",
        axes: bool = True,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.y_format = y_format
        self.axes = axes
        self._series: tuple[ChartSeries, ...] = ()
        self._x_labels: tuple[str, str] = ("", "")
        self._key: _ChartKey | None = None
        self._rendered: tuple[tuple[_ChartKey | None, int, int], Text] | None = None

    @property
    def series(self) -> tuple[ChartSeries, ...]:
        return self._series

    def set_data(self, series: Sequence[ChartSeries], x_labels: tuple[str, str] = ("", "")) -> None:
        """Show these series; redraws only when something changed (screens call this on every
        refresh, a few times a second)."""
        key = _ChartKey.of(series, x_labels)
        if key == self._key:
            return
        self._key = key
        self._series = tuple(series)
        self._x_labels = x_labels
        self.refresh()

    def render(self) -> Text:
        size = self.content_size
        drawn = (self._key, size.width, size.height)
        if self._rendered is None or self._rendered[0] != drawn:
            text = chart_text(
                self._series,
                size.width,
                size.height,
                y_format=self.y_format,
                x_labels=self._x_labels,
                axes=self.axes,
            )
            self._rendered = (drawn, text)
        return self._rendered[1]


@dataclass(frozen=True)
class _ChartKey:
    """What a chart shows, comparable: values as bytes (NaN-safe), styles, labels."""

    parts: tuple[tuple[bytes, str, str], ...]
    x_labels: tuple[str, str] = field(default=("", ""))

    @classmethod
    def of(cls, series: Sequence[ChartSeries], x_labels: tuple[str, str]) -> _ChartKey:
        return cls(tuple((s.values.tobytes(), s.style, s.label) for s in series), x_labels)
