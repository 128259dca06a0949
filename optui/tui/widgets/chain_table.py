"""The option chain as a table: calls left, strikes down the middle, puts right.

Redraws are frequent (four a second) and a deep chain has ~300 strikes whose every figure
moves each second, so this is a line-API widget rather than a `DataTable`: a DataTable
renders every visible cell through Rich again whenever any cell changes (hundreds of
milliseconds a second at full load), where here a row is a handful of segments built once
per change of that row, and a redraw with nothing new costs nothing. The table does the
least it can: rows are laid out only when the strikes or the columns change; otherwise only
the rows on view (and a few beyond) whose numbers changed are written, and rows scrolled
into view later are brought up to date as they appear, from the same chain.

The ATM row is marked (►24550◄) and followed: when the ATM strike moves, the cursor moves
with it if it was on the old ATM row, and the view scrolls to keep the ATM on screen, unless
the user moved the cursor or scrolled in the last `FOLLOW_PAUSE_S` seconds. In-the-money
cells are shaded (calls below the ATM strike, puts above) and changes are green or red; the
colours come from the theme's variables (component classes below), so light and dark
themes both read.
"""

from __future__ import annotations

import math
from typing import ClassVar, Final, NamedTuple

import numpy as np
import numpy.typing as npt
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from optui.analytics.chain import OptionChain
from optui.settings import PriceBasis
from optui.tui.widgets.chain_columns import STRIKE_WIDTH, Field, fmt_strike, price_label

__all__ = [
    "ATM",
    "DOWN",
    "FOLLOW_PAUSE_S",
    "PLAIN",
    "STRIKE",
    "UP",
    "Cell",
    "ChainTable",
    "Column",
    "column_key",
]

FOLLOW_PAUSE_S: Final = 5.0
"""After the user moves the cursor or scrolls, the view stays put this long."""

_MARGIN_ROWS: Final = 4
"""Rows beyond the visible ones kept up to date, so a step of the cursor shows fresh data."""

# What colours a cell.
PLAIN, UP, DOWN, STRIKE, ATM = range(5)


def column_key(side: str, name: str) -> str:
    """Key of a column: "c_price", "p_oi" ..., or "strike"."""
    return f"{side}_{name}"


class Column(NamedTuple):
    """A column of the table: its key, title, width in cells, and whether it is centred."""

    key: str
    label: str
    width: int
    centre: bool


class Cell(NamedTuple):
    """What a cell shows: its text, its tone (PLAIN, UP ...) and whether it is in the money."""

    text: str
    tone: int
    shaded: bool


class ChainTable(ScrollView, can_focus=True):
    """One chain, updated in place; see the module docstring."""

    DEFAULT_CSS = """
    ChainTable {
        background: $surface;
        color: $foreground;
        scrollbar-size-vertical: 1;
        overflow-x: hidden;
    }
    ChainTable > .chain--header { background: $panel; text-style: bold; }
    ChainTable > .chain--itm { background: $warning 12%; }
    ChainTable > .chain--up { color: $text-success; }
    ChainTable > .chain--down { color: $text-error; }
    ChainTable > .chain--strike { text-style: bold; }
    ChainTable > .chain--atm { background: $accent 45%; text-style: bold; }
    ChainTable > .chain--cursor { background: $block-cursor-blurred-background; }
    ChainTable:focus > .chain--cursor {
        background: $block-cursor-background;
        color: $block-cursor-foreground;
        text-style: $block-cursor-text-style;
    }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "chain--header",
        "chain--itm",
        "chain--up",
        "chain--down",
        "chain--strike",
        "chain--atm",
        "chain--cursor",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,ctrl+home", "edge(0)", "First strike", show=False),
        Binding("end,ctrl+end", "edge(1)", "Last strike", show=False),
    ]

    cursor_row: reactive[int] = reactive(0, layout=False, always_update=False, init=False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.columns: tuple[Column, ...] = ()
        self.fields: tuple[Field, ...] = ()
        self.chain: OptionChain | None = None
        self.strikes = np.zeros(0)
        self.cells: list[list[Cell]] = []
        self._layout: tuple[object, ...] = ()
        self._column_index: dict[str, int] = {}
        self._width = 0
        self._stale = np.zeros(0, dtype=bool)
        self._strips: dict[int, Strip] = {}
        self._palette: dict[tuple[int, bool, bool], Style] = {}
        self._palette_focus: bool | None = None
        self._atm_row = -1
        self._now = 0.0
        self._moved_at: float | None = None

    # -- what the screen calls --------------------------------------------------------------
    def show_chain(
        self, chain: OptionChain, fields: tuple[Field, ...], basis: PriceBasis, now: float
    ) -> bool:
        """Show `chain` with `fields` on each side; True when the rows were laid out anew."""
        self._now = now
        same_strikes = np.array_equal(chain.strikes, self.strikes)
        same_chain = self.chain is not None and (
            (self.chain.underlying, self.chain.expiry) == (chain.underlying, chain.expiry)
        )
        layout = (fields, basis)
        rebuilt = not (same_strikes and same_chain and layout == self._layout)
        # Only the columns changed (greeks, width, basis): the view stays where it was.
        keep = rebuilt and same_strikes and same_chain
        if rebuilt:
            self._lay_out(chain, fields, basis)
            self._layout = layout
        previous_atm = self._atm_row
        if not rebuilt:
            self._stale |= self._changed_rows(chain)
        self.chain = chain
        self._atm_row = chain.atm_row
        if rebuilt and not keep:
            self.jump_to_atm()
        elif previous_atm < 0 <= chain.atm_row and self._moved_at is None:
            self.jump_to_atm()  # the first ticks: the ATM is known at last
        elif not rebuilt and chain.atm_row != previous_atm:
            self._follow_atm(previous_atm)
        self._apply_window()
        return rebuilt

    def jump_to_atm(self) -> None:
        """Put the cursor on the ATM row, in the middle of the view, and follow it again."""
        self._moved_at = None
        if self._atm_row < 0:
            return
        self.cursor_row = self._atm_row
        self._centre(self._atm_row)

    @property
    def row_count(self) -> int:
        return len(self.cells)

    @property
    def page_rows(self) -> int:
        """Rows the view shows at once (below the header)."""
        return max(self.scrollable_content_region.height - 1, 1)

    def visible_rows(self) -> range:
        """Rows on screen now."""
        top = round(self.scroll_y)
        return range(top, min(top + self.page_rows, self.row_count))

    def cell(self, row: int, key: str) -> Cell:
        """The cell of row `row` (an index into the strikes) in column `key`, as last written:
        rows off screen are written when they scroll into view (`sync_all` writes all)."""
        return self.cells[row][self._column_index[key]]

    def sync_all(self) -> None:
        """Bring every row up to date now (not only those on view)."""
        self._apply_rows(range(self.row_count))

    # -- layout ---------------------------------------------------------------------------
    def _lay_out(self, chain: OptionChain, fields: tuple[Field, ...], basis: PriceBasis) -> None:
        def column(side: str, field: Field) -> Column:
            label = price_label(basis) if field.name == "price" else field.label
            return Column(column_key(side, field.name), label, field.width, False)

        self.fields = fields
        self.columns = (
            *(column("c", f) for f in fields),
            Column("strike", "Strike", STRIKE_WIDTH, True),
            *(column("p", f) for f in reversed(fields)),
        )
        self._column_index = {c.key: i for i, c in enumerate(self.columns)}
        self._width = sum(c.width for c in self.columns)
        self.strikes = chain.strikes.copy()
        blank = [Cell("", PLAIN, False)] * len(self.columns)
        self.cells = [list(blank) for _ in range(len(self.strikes))]
        self._stale = np.ones(len(self.strikes), dtype=bool)
        self._strips.clear()
        self.virtual_size = Size(self._width, len(self.strikes) + 1)
        self.cursor_row = min(self.cursor_row, max(len(self.strikes) - 1, 0))
        self.refresh()

    # -- writing rows ---------------------------------------------------------------------
    def _changed_rows(self, chain: OptionChain) -> npt.NDArray[np.bool_]:
        """Rows whose cells `chain` changes from the chain on view (compared as numbers,
        NaN equal to NaN): quotes arrive about once a second and the screen redraws four
        times a second, so most redraws change few rows, and only those are formatted."""
        old = self.chain
        if old is None or old.atm_strike != chain.atm_strike or old.atm_row != chain.atm_row:
            return np.ones(len(self.strikes), dtype=bool)  # the ATM mark and shading move
        changed = np.zeros(len(self.strikes), dtype=bool)
        for field in self.fields:
            for new, was in ((chain.calls, old.calls), (chain.puts, old.puts)):
                a, b = getattr(new, field.name), getattr(was, field.name)
                changed |= (a != b) & ~(np.isnan(a) & np.isnan(b))
        return changed

    def _apply_window(self) -> None:
        if not self.cells:
            return
        shown = self.visible_rows()
        if not len(shown):
            # Not on screen yet: the rows around the cursor.
            shown = range(max(self.cursor_row - 30, 0), min(self.cursor_row + 30, self.row_count))
        start = max(shown.start - _MARGIN_ROWS, 0)
        stop = min(shown.stop + _MARGIN_ROWS, self.row_count)
        self._apply_rows(range(start, stop))

    def _apply_rows(self, rows: range) -> None:
        chain = self.chain
        if chain is None:
            return
        todo = (np.flatnonzero(self._stale[rows.start : rows.stop]) + rows.start).tolist()
        if not todo:
            return
        atm = chain.atm_strike
        sides: list[tuple[bool, Field, list[float]]] = []
        for is_call, side in ((True, chain.calls), (False, chain.puts)):
            fields = self.fields if is_call else tuple(reversed(self.fields))
            sides.extend((is_call, f, getattr(side, f.name)[todo].tolist()) for f in fields)
        n_calls = len(self.fields)
        strikes = self.strikes[todo].tolist()
        changed = False
        for n, i in enumerate(todo):
            strike = strikes[n]
            itm_call = atm is not None and strike < atm
            itm_put = atm is not None and strike > atm
            row: list[Cell] = []
            for is_call, field, values in sides:
                value = values[n]
                tone = PLAIN
                if field.signed and not math.isnan(value):
                    tone = UP if value > 0 else DOWN if value < 0 else PLAIN
                row.append(Cell(field.fmt(value), tone, itm_call if is_call else itm_put))
            text = fmt_strike(strike)
            strike_cell = (
                Cell(f"►{text}◄", ATM, False) if i == chain.atm_row else Cell(text, STRIKE, False)
            )
            row.insert(n_calls, strike_cell)
            self._stale[i] = False
            if row != self.cells[i]:
                self.cells[i] = row
                self._strips.pop(i, None)
                changed = True
        if changed:
            self.refresh()

    # -- drawing --------------------------------------------------------------------------
    def _style(self, tone: int, shaded: bool, cursor: bool) -> Style:
        """The Rich style of a cell (tone -1: the header), blended over the background."""
        focus = self.has_focus
        if focus != self._palette_focus:
            self._palette.clear()
            self._palette_focus = focus
        key = (tone, shaded, cursor)
        style = self._palette.get(key)
        if style is None:
            style = self._palette[key] = self._make_style(tone, shaded, cursor)
        return style

    def _make_style(self, tone: int, shaded: bool, cursor: bool) -> Style:
        component = self.get_component_styles
        background: Color = self.background_colors[1]
        color: Color = self.colors[3]
        text = Style()
        layers = []
        if tone == -1:
            layers.append("chain--header")
        if shaded:
            layers.append("chain--itm")
        if tone == STRIKE:
            layers.append("chain--strike")
        elif tone == ATM:
            layers.append("chain--atm")
        if cursor:
            layers.append("chain--cursor")
        elif tone in (UP, DOWN):
            color = component("chain--up" if tone == UP else "chain--down").color
        for name in layers:
            styles = component(name)
            background += styles.background
            if styles.has_rule("color"):
                color = styles.color
            if styles.has_rule("text_style"):
                text += styles.text_style
        return text + Style(color=(background + color).rich_color, bgcolor=background.rich_color)

    def _row_strip(self, row: int, cursor: bool) -> Strip:
        if not cursor and (cached := self._strips.get(row)) is not None:
            return cached
        segments = [
            Segment(
                cell.text.center(column.width) if column.centre else cell.text.rjust(column.width),
                self._style(cell.tone, cell.shaded, cursor),
            )
            for column, cell in zip(self.columns, self.cells[row], strict=True)
        ]
        strip = Strip(segments, self._width)
        if not cursor:
            self._strips[row] = strip
        return strip

    def _header_strip(self) -> Strip:
        style = self._style(-1, False, False)
        return Strip(
            [
                Segment(c.label.center(c.width) if c.centre else c.label.rjust(c.width), style)
                for c in self.columns
            ],
            self._width,
        )

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        blank = self._style(PLAIN, False, False)
        if y == 0:
            strip = self._header_strip()
        else:
            row = round(self.scroll_y) + y - 1
            if not 0 <= row < self.row_count:
                return Strip.blank(width, blank)
            strip = self._row_strip(row, row == self.cursor_row)
        x = round(self.scroll_x)
        return strip.crop(x, x + width).extend_cell_length(width, blank)

    def notify_style_update(self) -> None:
        """The theme changed: styles are recomputed and every row drawn again."""
        super().notify_style_update()
        self._palette.clear()
        self._strips.clear()

    def on_focus(self, _: events.Focus) -> None:
        self.refresh()

    def on_blur(self, _: events.Blur) -> None:
        self.refresh()

    # -- moving ---------------------------------------------------------------------------
    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        self._scroll_to_cursor()

    def _refresh_row(self, row: int) -> None:
        y = row - round(self.scroll_y) + 1
        if 1 <= y <= self.page_rows:
            self.refresh_line(y)

    def _scroll_to_cursor(self) -> None:
        top = round(self.scroll_y)
        if self.cursor_row < top:
            self._scroll(self.cursor_row)
        elif self.cursor_row >= top + self.page_rows:
            self._scroll(self.cursor_row - self.page_rows + 1)

    def _centre(self, row: int) -> None:
        self._scroll(row - self.page_rows // 2)

    def _scroll(self, top: int) -> None:
        self.scroll_to(y=max(top, 0), animate=False, force=True, immediate=True)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self._apply_window()

    def on_resize(self, _: events.Resize) -> None:
        if (
            self._moved_at is None
            and self._atm_row >= 0
            and self._atm_row not in self.visible_rows()
        ):
            self._centre(self._atm_row)
        self._apply_window()

    def _follow_atm(self, previous: int) -> None:
        """The ATM moved from row `previous`: keep it in view, unless the user is busy."""
        atm = self._atm_row
        if atm < 0:
            return
        if self._moved_at is not None and self._now - self._moved_at < FOLLOW_PAUSE_S:
            return
        if self.cursor_row == previous:
            self.cursor_row = atm
        if atm not in self.visible_rows():
            self._centre(atm)

    def _user_moved(self) -> None:
        self._moved_at = self._now

    def _move_to(self, row: int) -> None:
        self._user_moved()
        if self.row_count:
            self.cursor_row = min(max(row, 0), self.row_count - 1)

    def action_cursor(self, by: int) -> None:
        """Cursor up (-1) or down (1) a strike."""
        self._move_to(self.cursor_row + by)

    def action_page(self, by: int) -> None:
        """A page up (-1) or down (1): the view and the cursor move together."""
        self._scroll(round(self.scroll_y) + by * self.page_rows)
        self._move_to(self.cursor_row + by * self.page_rows)

    def action_edge(self, end: int) -> None:
        """First (0) or last (1) strike."""
        self._move_to(self.row_count - 1 if end else 0)

    def on_click(self, event: events.Click) -> None:
        self._user_moved()
        offset = event.get_content_offset(self)
        if offset is not None and offset.y >= 1:
            self._move_to(round(self.scroll_y) + offset.y - 1)

    def on_mouse_scroll_down(self, _: events.MouseScrollDown) -> None:
        self._user_moved()

    def on_mouse_scroll_up(self, _: events.MouseScrollUp) -> None:
        self._user_moved()
