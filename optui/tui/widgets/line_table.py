"""A small table of fixed columns drawn through Textual's line API, looking like a DataTable.

The breadth board and its movers are updated in place every second at full load. A
`DataTable` renders every visible cell through Rich again whenever any one cell changes
(60-100 ms a refresh for the breadth board under load, on the UI thread), where this table
keeps one `Strip` per row, builds a row's segments directly (no Rich render) only when one
of its cells changed, and a redraw with nothing new costs nothing, as `ChainTable` does for
the chain.

It draws what a DataTable with `cell_padding=1`, fixed column widths, optional zebra
stripes and a row cursor (or none) draws, segment for segment (the same component styles,
under `linetable--` names), so screens keep their look; the row under the mouse pointer is
highlighted as a DataTable's is (`linetable--hover`, its background only).
Keys are a DataTable's in row mode: up and down move the cursor, page up and down move it a
page, ctrl+home and ctrl+end go to the first and last row, left and right, home and end
scroll sideways. A click puts the cursor on a row. Moving the cursor posts `RowHighlighted`.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from typing import ClassVar, NamedTuple

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

__all__ = ["CellRuns", "Column", "LineTable", "cell_runs", "cell_segments", "same_text"]

CellRuns = tuple[tuple[str, Style | None], ...]
"""A cell's content as runs of text and the style the cell's `Text` gives them."""

_PAD = 1
"""Blank cells each side of a column, as a DataTable's default `cell_padding`."""


class Column(NamedTuple):
    """A column: its key (what `get_cell` takes), its title and its width in cells.

    `keep_colors`: the cells keep their own colours under the cursor (a DataTable paints
    the cursor's over them), for a cell whose colours are its meaning, such as a bar."""

    key: str
    label: str
    width: int
    keep_colors: bool = False


def same_text(a: Text, b: Text) -> bool:
    """Whether two cells look the same (skipping a cell that did not change saves a redraw)."""
    return (
        a.plain == b.plain and a.style == b.style and a.spans == b.spans and a.justify == b.justify
    )


def _style(style: str | Style) -> Style:
    return Style.parse(style) if isinstance(style, str) else style


def cell_runs(text: Text, width: int) -> CellRuns:
    """The runs of a cell `width` cells wide showing `text`, as Rich draws a `Text` there
    without wrapping: cropped to the width, justified right when the text asks for it (the
    blank takes the text's own style) and left otherwise (the blank unstyled), each run styled
    by the text's style and its spans. Runs of the same style are merged, as a DataTable's
    line is simplified."""
    plain = text.plain
    base = _style(text.style) if text.style else None
    pieces: list[tuple[str, Style | None]] = []
    if text.spans:
        cuts = {0, len(plain)} | {s.start for s in text.spans} | {s.end for s in text.spans}
        for start, end in itertools.pairwise(sorted(cuts)):
            if start >= len(plain) or start == end:
                continue
            active = [_style(s.style) for s in text.spans if s.start <= start and s.end >= end]
            layers = [base, *active] if base else active
            pieces.append((plain[start:end], Style.combine(layers) if layers else None))
    elif plain:
        pieces.append((plain, base))
    # Crop to the width.
    used = 0
    cropped: list[tuple[str, Style | None]] = []
    for piece, style in pieces:
        shown, size = piece, cell_len(piece)
        if used + size > width:
            shown = set_cell_size(piece, width - used)
            size = cell_len(shown)
        if size:
            cropped.append((shown, style))
        used += size
        if used >= width:
            break
    blank = " " * max(width - used, 0)
    if blank:
        if text.justify == "right":
            cropped.insert(0, (blank, base))
        else:
            cropped.append((blank, None))
    merged: list[tuple[str, Style | None]] = []
    for piece, style in cropped:
        if merged and merged[-1][1] == style:
            merged[-1] = (merged[-1][0] + piece, style)
        else:
            merged.append((piece, style))
    return tuple(merged)


def cell_segments(runs: CellRuns, pre: Style, post: Style) -> list[Segment]:
    """A cell drawn between its padding, each run styled `pre + its style + post` (as
    Textual's `Styled` does in a DataTable); neighbours of one style make one segment."""
    pad = " " * _PAD
    parts: list[tuple[str, Style]] = [(pad, pre + post)]
    for text, style in (*runs, (pad, None)):
        final = pre + style + post if style is not None else pre + post
        if final == parts[-1][1]:
            parts[-1] = (parts[-1][0] + text, final)
        else:
            parts.append((text, final))
    return [Segment(text, style) for text, style in parts]


@functools.lru_cache(maxsize=4096)
def _cell_meta(row: int, column: int) -> Style:
    """Where a cell is, as a DataTable marks it: it also keeps two neighbouring cells of one
    style from being merged into one segment on the way to the terminal, so what is drawn
    is a DataTable's, segment for segment."""
    return Style.from_meta({"row": row, "column": column})


@functools.lru_cache(maxsize=1024)
def _beyond_meta(row: int) -> Style:
    return Style.from_meta({"row": row, "column": 0, "out_of_bounds": True})


class LineTable(ScrollView, can_focus=True):
    """Rows of cells (`rich.text.Text`) under a header; see the module docstring."""

    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;

        &:focus {
            background-tint: $foreground 5%;
            & > .linetable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .linetable--header {
                background-tint: $foreground 5%;
            }
        }
        &:dark {
            & > .linetable--even-row {
                background: $surface-darken-1 40%;
            }
        }
        & > .linetable--header {
            text-style: bold;
            background: $panel;
            color: $foreground;
        }
        &:ansi > .linetable--header {
            background: ansi_bright_blue;
            color: ansi_default;
        }
        & > .linetable--odd-row {
        }
        & > .linetable--even-row {
            background: $surface-lighten-1 50%;
        }
        & > .linetable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        & > .linetable--hover {
            background: $block-hover-background;
        }
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "linetable--header",
        "linetable--odd-row",
        "linetable--even-row",
        "linetable--cursor",
        "linetable--hover",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Cursor up", show=False),
        Binding("down", "cursor(1)", "Cursor down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("ctrl+home", "edge(0)", "Top", show=False),
        Binding("ctrl+end", "edge(1)", "Bottom", show=False),
        Binding("left", "scroll_left", "Scroll left", show=False),
        Binding("right", "scroll_right", "Scroll right", show=False),
        Binding("home", "scroll_home_x", "Home", show=False),
        Binding("end", "scroll_end_x", "End", show=False),
    ]

    class RowHighlighted(Message):
        """The cursor moved to a row."""

        def __init__(self, table: LineTable, cursor_row: int, row_key: str) -> None:
            super().__init__()
            self.table = table
            self.cursor_row = cursor_row
            self.row_key = row_key

        @property
        def control(self) -> LineTable:
            return self.table

    cursor_row: reactive[int] = reactive(0, layout=False, always_update=False, init=False)

    def __init__(
        self,
        columns: Sequence[Column],
        *,
        id: str | None = None,
        zebra_stripes: bool = True,
        show_cursor: bool = True,
    ) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.zebra_stripes = zebra_stripes
        self.show_cursor = show_cursor
        self._column_index = {c.key: i for i, c in enumerate(self.columns)}
        self._keeps_colors = [c.keep_colors for c in self.columns]
        self._table_width = sum(c.width + 2 * _PAD for c in self.columns)
        self._keys: list[str] = []
        self._row_index: dict[str, int] = {}
        self._cells: list[list[Text]] = []
        self._runs: list[list[CellRuns]] = []
        self._header_runs = [cell_runs(Text(c.label), c.width) for c in self.columns]
        self._strips: dict[int, Strip] = {}
        self._header: Strip | None = None
        self._styles: dict[tuple[int, bool, bool], tuple[Style, Style, Style, Style]] = {}
        self._hover = -1
        """The row under the mouse pointer (-1: none)."""
        self.virtual_size = Size(self._table_width, 1)

    # -- rows -----------------------------------------------------------------------------
    @property
    def row_count(self) -> int:
        return len(self._keys)

    @property
    def keys(self) -> tuple[str, ...]:
        """Row keys in the order on screen."""
        return tuple(self._keys)

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor (None: no rows)."""
        return self._keys[self.cursor_row] if self._keys else None

    def set_rows(self, keys: Sequence[str], rows: Sequence[Sequence[Text]]) -> None:
        """Lay out these rows (key and cells each), replacing any."""
        self._keys = list(keys)
        self._row_index = {k: i for i, k in enumerate(self._keys)}
        self._cells = [list(r) for r in rows]
        self._runs = [
            [cell_runs(t, c.width) for t, c in zip(r, self.columns, strict=True)]
            for r in self._cells
        ]
        self._strips.clear()
        self.virtual_size = Size(self._table_width, len(self._keys) + 1)
        self.cursor_row = min(self.cursor_row, max(len(self._keys) - 1, 0))
        self.refresh()

    def update_row(self, key: str, cells: dict[str, Text]) -> bool:
        """Write the cells of a row (column key -> text); True when any changed. Only a row
        with a changed cell is drawn again."""
        row = self._row_index[key]
        current, runs = self._cells[row], self._runs[row]
        changed = False
        for column_key, text in cells.items():
            i = self._column_index[column_key]
            if not same_text(current[i], text):
                current[i] = text
                runs[i] = cell_runs(text, self.columns[i].width)
                changed = True
        if changed:
            self._strips.pop(row, None)
            self._refresh_row(row)
        return changed

    def get_cell(self, key: str, column_key: str) -> Text:
        """The cell of row `key` in column `column_key`, as last written."""
        return self._cells[self._row_index[key]][self._column_index[column_key]]

    # -- drawing --------------------------------------------------------------------------
    def _row_styles(
        self, row: int, cursor: bool, hover: bool = False
    ) -> tuple[Style, Style, Style, Style]:
        """The row's own style, the cursor's (or the hover's), the style after a cell's and
        the style beyond the columns, of row `row` (-1: the header), as a DataTable layers
        them."""
        parity = -1 if row < 0 else (row % 2 if self.zebra_stripes else 2)
        key = (parity, cursor, hover)
        styles = self._styles.get(key)
        if styles is None:
            if parity == -1:
                row_style = self.get_component_styles("linetable--header").rich_style
            elif parity == 2:
                row_style = self.rich_style
            else:
                name = "linetable--odd-row" if parity else "linetable--even-row"
                row_style = self.get_component_styles(name).rich_style
            if cursor:
                component = self.get_component_rich_style("linetable--cursor")
                post = Style.from_color(component.color, component.bgcolor)
            elif hover:
                # Under the pointer only the background changes; the cells keep their colours.
                component = self.get_component_rich_style("linetable--hover")
                post = Style()
            else:
                component = post = Style()
            if self.show_cursor:
                beyond = row_style + component
            elif row_style.bgcolor is not None:
                faded = Color.from_rich_color(row_style.bgcolor).blend(
                    self.background_colors[1], factor=0.25
                )
                beyond = Style.from_color(color=row_style.color, bgcolor=faded.rich_color)
            else:
                beyond = Style.from_color(row_style.color, row_style.bgcolor)
            styles = self._styles[key] = (row_style, component, post, beyond)
        return styles

    def _strip(
        self, row: int, runs: Sequence[CellRuns], cursor: bool, hover: bool = False
    ) -> Strip:
        row_style, component, post, beyond = self._row_styles(row, cursor, hover)
        kept = Style.from_color(bgcolor=post.bgcolor)
        segments: list[Segment] = []
        for column, cell in enumerate(runs):
            pre = row_style + _cell_meta(row, column) + component
            after = kept if self._keeps_colors[column] else post
            segments.extend(cell_segments(cell, pre, after))
        remaining = max(0, self.size.width - self._table_width)
        segments.append(Segment(" " * remaining, beyond + _beyond_meta(row)))
        return Strip(segments, self._table_width + remaining)

    def _row_strip(self, row: int) -> Strip:
        cursor = self.show_cursor and row == self.cursor_row
        hover = self.show_cursor and row == self._hover and not cursor
        if not (cursor or hover) and (cached := self._strips.get(row)) is not None:
            return cached
        strip = self._strip(row, self._runs[row], cursor, hover)
        if not (cursor or hover):
            self._strips[row] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.rich_style
        if y == 0:
            if self._header is None:
                self._header = self._strip(-1, self._header_runs, False)
            strip = self._header
        else:
            row = round(self.scroll_y) + y - 1
            if not 0 <= row < self.row_count:
                return Strip.blank(width, base)
            strip = self._row_strip(row)
        x = round(self.scroll_x)
        return strip.crop(x, x + width).adjust_cell_length(width, base)

    def _forget_drawing(self) -> None:
        self._styles.clear()
        self._strips.clear()
        self._header = None

    def notify_style_update(self) -> None:
        """The theme or a pseudo-class changed: styles are recomputed and every row drawn
        again."""
        super().notify_style_update()
        self._forget_drawing()

    def on_focus(self, _: events.Focus) -> None:
        self._forget_drawing()
        self.refresh()

    def on_blur(self, _: events.Blur) -> None:
        self._forget_drawing()
        self.refresh()

    def on_resize(self, _: events.Resize) -> None:
        self._forget_drawing()  # the blank beyond the columns is as wide as the widget
        self._scroll_to_cursor()

    # -- moving ---------------------------------------------------------------------------
    @property
    def page_rows(self) -> int:
        """Rows the view shows at once (below the header)."""
        return max(self.scrollable_content_region.height - 1, 1)

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        self._scroll_to_cursor()
        if self._keys and 0 <= new < len(self._keys):
            self.post_message(self.RowHighlighted(self, new, self._keys[new]))

    def _refresh_row(self, row: int) -> None:
        y = row - round(self.scroll_y) + 1
        if 1 <= y <= self.page_rows:
            self.refresh_line(y)

    def _scroll_to_cursor(self) -> None:
        if not self.show_cursor:
            return
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self._scroll(self.cursor_row)
        elif self.cursor_row >= top + self.page_rows:
            self._scroll(self.cursor_row - self.page_rows + 1)

    def _scroll(self, top: int) -> None:
        self.scroll_to(y=max(top, 0), animate=False, force=True, immediate=True)

    def move_cursor(self, *, row: int) -> None:
        """Put the cursor on row `row` (clamped to the rows)."""
        if self.row_count:
            self.cursor_row = min(max(row, 0), self.row_count - 1)

    def action_cursor(self, by: int) -> None:
        """Cursor up (-1) or down (1) a row."""
        if self.show_cursor:
            self.move_cursor(row=self.cursor_row + by)
        else:
            self._scroll(round(self.scroll_y) + by)

    def action_page(self, by: int) -> None:
        """A page up (-1) or down (1): the view and the cursor move together."""
        self._scroll(round(self.scroll_y) + by * self.page_rows)
        if self.show_cursor:
            self.move_cursor(row=self.cursor_row + by * self.page_rows)

    def action_edge(self, end: int) -> None:
        """First (0) or last (1) row."""
        if self.show_cursor:
            self.move_cursor(row=self.row_count - 1 if end else 0)
        else:
            self._scroll(self.row_count if end else 0)

    def action_scroll_home_x(self) -> None:
        self.scroll_to(x=0, animate=False)

    def action_scroll_end_x(self) -> None:
        self.scroll_to(x=self.max_scroll_x, animate=False)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        offset = event.get_content_offset(self)
        row = -1 if offset is None or offset.y < 1 else round(self.scroll_y) + offset.y - 1
        self._hover_on(row if 0 <= row < self.row_count else -1)

    def on_leave(self, _: events.Leave) -> None:
        self._hover_on(-1)

    def _hover_on(self, row: int) -> None:
        if row != self._hover:
            old, self._hover = self._hover, row
            self._refresh_row(old)
            self._refresh_row(row)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if self.show_cursor and offset is not None and offset.y >= 1:
            self.move_cursor(row=round(self.scroll_y) + offset.y - 1)
