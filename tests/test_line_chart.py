"""The text chart: braille lines and block sparklines drawn from known arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult

from optui.tui.widgets.line_chart import (
    BLOCKS,
    BRAILLE_BASE,
    OVERLAP_STYLE,
    ChartSeries,
    LineChart,
    chart_text,
    plot,
    sparkline,
    value_range,
)


def braille(*dots: tuple[int, int]) -> str:
    """The braille character with dots at (column 0-1, row 0-3 from the top)."""
    bits = {(0, 0): 1, (0, 1): 2, (0, 2): 4, (1, 0): 8, (1, 1): 16, (1, 2): 32}
    bits |= {(0, 3): 64, (1, 3): 128}
    return chr(BRAILLE_BASE + sum(bits[d] for d in dots))


def test_a_rising_line_fills_the_diagonal_of_the_pixels() -> None:
    # 4 points on 2x1 cells (4x4 pixels): one pixel per column, bottom-left to top-right.
    drawn = plot([[0.0, 1.0, 2.0, 3.0]], 2, 1)
    assert drawn.rows == [braille((0, 3), (1, 2)) + braille((0, 1), (1, 0))]
    assert drawn.rows == ["⡠⠊"]
    assert drawn.owners.tolist() == [[1, 1]]
    assert (drawn.low, drawn.high) == (0.0, 3.0)


def pixels(rows: list[str]) -> set[tuple[int, int]]:
    """The lit pixels (x, y from the top) of plotted rows."""
    bits = {1: (0, 0), 2: (0, 1), 4: (0, 2), 8: (1, 0), 16: (1, 1), 32: (1, 2)}
    bits |= {64: (0, 3), 128: (1, 3)}
    lit = set()
    for r, row in enumerate(rows):
        for c, char in enumerate(row):
            code = ord(char) - BRAILLE_BASE if char != " " else 0
            lit |= {(2 * c + dx, 4 * r + dy) for bit, (dx, dy) in bits.items() if code & bit}
    return lit


def test_a_line_between_two_points_is_drawn_through_the_pixels_between() -> None:
    # Flat: the middle of the widened range (pixel row 2 of 4), across all 6 pixels.
    assert pixels(plot([[0.0, 0.0]], 3, 1).rows) == {(x, 2) for x in range(6)}
    # From the bottom-left to the top-right of 2x8 pixels: every pixel row is lit once.
    steep = pixels(plot([[0.0, 7.0]], 1, 2).rows)
    assert sorted(y for _, y in steep) == list(range(8))
    assert (0, 7) in steep and (1, 0) in steep


def test_nan_is_a_gap_never_bridged() -> None:
    drawn = plot([[1.0, math.nan, math.nan, 1.0]], 4, 1, low=0.0, high=2.0)
    # Points at pixel columns 0 and 7, nothing between them.
    assert drawn.rows[0][0] != " " and drawn.rows[0][3] != " "
    assert drawn.rows[0][1:3] == "  "
    assert plot([[math.nan, math.nan]], 3, 2).rows == ["   ", "   "]


def test_values_outside_the_given_range_are_clipped_to_the_edge() -> None:
    drawn = plot([[-5.0, 50.0]], 1, 1, low=0.0, high=1.0)
    # First point at the bottom-left pixel, second at the top-right, joined.
    assert drawn.rows == [braille((0, 3), (0, 2), (1, 1), (1, 0))]


def test_each_cell_knows_which_series_pass_through_it() -> None:
    drawn = plot([[0.0, 0.0, 0.0, 0.0], [3.0, 3.0, 0.0, 0.0]], 2, 1)
    # Series 0 along the bottom; series 1 along the top then down to the bottom: both in
    # the second cell.
    assert drawn.owners.tolist() == [[3, 3]]
    apart = plot([[0.0, 0.0, math.nan, math.nan], [math.nan, math.nan, 3.0, 3.0]], 2, 1)
    assert apart.owners.tolist() == [[1, 2]]


def test_the_range_covers_every_series_and_a_flat_one_is_widened() -> None:
    assert value_range([[1.0, math.nan, 3.0], [2.0, 5.0]]) == (1.0, 5.0)
    assert value_range([[math.nan]]) is None
    assert value_range([]) is None
    low, high = value_range([[100.0, 100.0]]) or (0.0, 0.0)
    assert low < 100.0 < high and high - 100.0 == pytest.approx(100.0 - low)


def test_sparkline_from_known_values() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == BLOCKS == "▁▂▃▄▅▆▇█"
    assert sparkline([1.0, math.nan, 3.0]) == "▁ █"
    assert sparkline([5.0, 5.0]) == "▅▅"  # flat: the middle
    assert sparkline([]) == ""
    assert sparkline([math.nan, math.nan]) == "  "
    # Bucketed to the width by the mean of each bucket: 0..99 into 4 buckets of 25.
    assert sparkline(np.arange(100.0), 4) == "▁▃▆█"
    assert sparkline([0.0, 10.0], low=0.0, high=20.0) == "▁▅"


def test_chart_text_labels_the_axes() -> None:
    text = chart_text(
        [ChartSeries.of([0.0, 1.0, 2.0, 3.0], "red", "a")],
        16,
        3,
        y_format="{:.1f}",
        x_labels=("09:15", "10:00"),
    )
    lines = text.plain.split("\n")
    assert lines[0].startswith("3.0│") and lines[1].startswith("0.0│")
    assert lines[2] == "    09:15  10:00"
    # The plot itself is `plot` at the size left beside the labels and above the x axis.
    assert [line[4:] for line in lines[:2]] == plot([[0.0, 1.0, 2.0, 3.0]], 12, 2).rows
    # Too narrow for the labels: only the plot.
    narrow = chart_text([ChartSeries.of([0.0, 3.0])], 5, 1, y_format="{:.1f}")
    assert narrow.plain == plot([[0.0, 3.0]], 5, 1).rows[0]


def test_chart_text_colours_each_series_and_marks_overlaps() -> None:
    text = chart_text(
        [ChartSeries.of([0.0, 0.0, 0.0, 0.0], "red"), ChartSeries.of([3.0, 3.0, 0.0, 0.0], "blue")],
        2,
        1,
        axes=False,
    )
    assert text.plain == plot([[0.0] * 4, [3.0, 3.0, 0.0, 0.0]], 2, 1).rows[0]
    styles = {str(span.style) for span in text.spans}
    assert styles == {OVERLAP_STYLE}
    alone = chart_text(
        [
            ChartSeries.of([0.0, 0.0, math.nan, math.nan], "red"),
            ChartSeries.of([math.nan, math.nan, 3.0, 3.0], "blue"),
        ],
        2,
        1,
        axes=False,
    )
    assert [str(span.style) for span in alone.spans] == ["red", "blue"]


def test_no_data_says_so() -> None:
    text = chart_text([ChartSeries.of([math.nan])], 20, 3)
    assert "no data yet" in text.plain
    assert len(text.plain.split("\n")) == 3


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 30),
    height=st.integers(1, 8),
    values=st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(math.nan)), max_size=40),
)
def test_any_size_and_data_gives_exactly_that_many_cells(
    width: int, height: int, values: list[float]
) -> None:
    text = chart_text([ChartSeries.of(values)], width, height, x_labels=("a", "b"))
    lines = text.plain.split("\n")
    assert len(lines) == height
    assert all(len(line) <= width for line in lines)
    drawn = plot([values], width, height)
    assert len(drawn.rows) == height and all(len(r) == width for r in drawn.rows)


class _ChartApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LineChart(id="chart", axes=False)


async def test_the_widget_draws_at_its_size_and_redraws_only_on_change() -> None:
    app = _ChartApp()
    async with app.run_test(size=(20, 8)) as pilot:
        chart = app.query_one(LineChart)
        series = [ChartSeries.of([0.0, 1.0, 2.0, 3.0], "red")]
        chart.set_data(series)
        await pilot.pause()
        size = chart.content_size
        assert (size.width, size.height) == (20, 8)
        assert chart.render().plain.split("\n") == plot([[0.0, 1.0, 2.0, 3.0]], 20, 8).rows
        key = chart._key
        chart.set_data([ChartSeries.of([0.0, 1.0, 2.0, 3.0], "red")])
        assert chart._key is key  # same data: nothing to redraw
        chart.set_data([ChartSeries.of([3.0, 2.0, 1.0, 0.0], "red")])
        assert chart._key is not key
        assert chart.series[0].values.tolist() == [3.0, 2.0, 1.0, 0.0]
