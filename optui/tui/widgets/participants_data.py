"""What the participants screen shows, computed without Textual: the stored (or, on the demo,
simulated) participant days, and each day's table and change as plain numbers.

Participant files change once a day, so they are read once (in a worker thread: a few
hundred files parse in well under a second, but never on the UI loop) and kept; switching
days or between open interest and volume only indexes what was read. The figures come
straight from `optui.analytics.participants` (`positions`, `change_vs_previous`, `history`),
so the screen and `optui participants show` can never disagree.

On the demo with an empty store the screen shows the demo market's simulated files (its
`participant_history`), parsed by the same reader as NSE's, and says so: a trader must never
mistake them for NSE's figures.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Final, Protocol

import numpy as np
import numpy.typing as npt

from optui.analytics.participants import (
    GROUPS,
    KINDS,
    ROWS,
    DayChange,
    Kind,
    ParticipantDay,
    ParticipantHistory,
    change_vs_previous,
    history,
    participant_file_name,
    positions,
    read_participant_text,
)
from optui.feed.calendar import TradingCalendar
from optui.store.participants import ParticipantStore

__all__ = [
    "COLUMNS",
    "DEMO_DAYS",
    "ParticipantData",
    "TableColumn",
    "change_cells",
    "day_cells",
    "export_rows",
    "load_participant_data",
]

IntArray = npt.NDArray[np.int64]

DEMO_DAYS: Final = 30
"""Simulated trading days shown on the demo (NSE's files go back years; a month shows the
shape of a history without slowing the start)."""

# The table's column order: what traders read first (index futures and options) to the left.
_GROUP_ORDER: Final = (
    ("index_futures", "IdxFut"),
    ("index_calls", "IdxCall"),
    ("index_puts", "IdxPut"),
    ("stock_futures", "StkFut"),
    ("stock_calls", "StkCall"),
    ("stock_puts", "StkPut"),
)
_OPTIONS_NET: Final = {"index_puts": ("index", "IdxOpt net"), "stock_puts": ("stock", "StkOpt net")}


@dataclass(frozen=True)
class TableColumn:
    """One column of the table: `key` names it in exports and in the DataTable."""

    key: str
    label: str
    net: bool
    """A signed figure (net or options net): shown with its sign and coloured."""


def _columns() -> tuple[TableColumn, ...]:
    columns: list[TableColumn] = []
    for group, short in _GROUP_ORDER:
        columns += [
            TableColumn(f"{group}_long", f"{short} L", False),
            TableColumn(f"{group}_short", f"{short} S", False),
            TableColumn(f"{group}_net", f"{short} net", True),
        ]
        if group in _OPTIONS_NET:
            which, label = _OPTIONS_NET[group]
            columns.append(TableColumn(f"{which}_options_net", label, True))
    return tuple(columns)


COLUMNS: Final = _columns()


class DemoParticipants(Protocol):
    """What is needed of `DemoMarket`: its simulated participant files."""

    def participant_history(
        self, end_day: date | None = None, days: int = 30, kind: str = "oi"
    ) -> list[tuple[date, str]]: ...


@dataclass(frozen=True)
class ParticipantData:
    """Every participant day available, by kind, oldest first."""

    days: dict[Kind, tuple[ParticipantDay, ...]]
    origin: str
    """Where they came from: the store's folder, or the simulated demo files."""
    simulated: bool
    problems: tuple[str, ...] = ()
    """Stored files that could not be read (each message names the file)."""
    _histories: dict[Kind, ParticipantHistory] = field(default_factory=dict, repr=False)

    @property
    def empty(self) -> bool:
        return not any(self.days.values())

    def dates(self, kind: Kind) -> list[date]:
        return [d.day for d in self.days.get(kind, ())]

    def day(self, kind: Kind, when: date) -> ParticipantDay | None:
        for candidate in self.days.get(kind, ()):
            if candidate.day == when:
                return candidate
        return None

    def change(self, today: ParticipantDay) -> DayChange | None:
        """`today` against the previous stored day of its kind (trading days in between
        without a file listed in `missing_days`)."""
        return change_vs_previous(today, self.days.get(today.kind, ()), TradingCalendar.default())

    def history(self, kind: Kind) -> ParticipantHistory:
        if kind not in self._histories:
            self._histories[kind] = history(self.days.get(kind, ()), kind)
        return self._histories[kind]


def load_participant_data(
    root: Path, demo: DemoParticipants | None = None, demo_days: int = DEMO_DAYS
) -> ParticipantData:
    """Every day stored under `root`; when nothing is stored and `demo` is given, the demo's
    simulated open-interest files instead. Runs in a worker thread: it reads files."""
    store = ParticipantStore(root)
    days: dict[Kind, tuple[ParticipantDay, ...]] = {}
    problems: list[str] = []
    for kind in KINDS:
        loaded, bad = store.load_all(kind)
        days[kind] = tuple(loaded)
        problems += bad
    if any(days.values()) or demo is None:
        return ParticipantData(days, str(store.root), False, tuple(problems))
    simulated = {
        kind: tuple(
            read_participant_text(text, name=participant_file_name(kind, when))
            for when, text in demo.participant_history(days=demo_days, kind=kind)
        )
        for kind in KINDS
    }
    return ParticipantData(simulated, "the demo market's simulated files", True, tuple(problems))


def day_cells(day: ParticipantDay) -> dict[str, dict[str, int]]:
    """Row name (Client, DII, FII, Pro, TOTAL) -> column key -> contracts."""
    held = positions(day)
    net = held.net
    return {
        row: _cells(held.long[r], held.short[r], net[r], held.options_net[r])
        for r, row in enumerate(ROWS)
    }


def change_cells(change: DayChange) -> dict[str, dict[str, int]]:
    """Row name -> column key -> change in contracts since `change.previous_day`."""
    return {
        row: _cells(change.long[r], change.short[r], change.net[r], change.options_net[r])
        for r, row in enumerate(ROWS)
    }


def _cells(long: IntArray, short: IntArray, net: IntArray, options_net: IntArray) -> dict[str, int]:
    values: dict[str, int] = {}
    sides = {"long": long, "short": short, "net": net}
    for column in COLUMNS:
        if column.key.endswith("_options_net"):
            which = 0 if column.key.startswith("index") else 1
            values[column.key] = int(options_net[which])
            continue
        group, side = column.key.rsplit("_", 1)
        values[column.key] = int(sides[side][GROUPS.index(group)])
    return values


def export_rows(day: ParticipantDay, change: DayChange | None) -> list[dict[str, object]]:
    """The table on view, one row per participant (and TOTAL): the figures, then their change
    since the previous day (empty when there is none)."""
    figures = day_cells(day)
    changes = change_cells(change) if change is not None else None
    rows: list[dict[str, object]] = []
    for name in ROWS:
        row: dict[str, object] = {
            "day": day.day.isoformat(),
            "kind": day.kind,
            "participant": name,
            **figures[name],
        }
        row["previous_day"] = change.previous_day.isoformat() if change is not None else ""
        for key in figures[name]:
            row[f"change_{key}"] = changes[name][key] if changes is not None else ""
        rows.append(row)
    return rows
