"""Past days' premium overlay from the archive, for the price-toggle screen's small table.

Each archived day is read one index at a time (`optui.store.day_series.overlay_history`:
only the index and the options near its day range, one day in memory at a time) and only
the summary row is kept. That is seconds of work for a few weeks of days, so the screen runs
it once, in a worker thread. An archive that cannot be read is a message on screen, never a
crash: the live recording does not need it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Final

from optui.analytics.price_toggle import StraddleSummary
from optui.events import Event
from optui.settings import Settings

__all__ = ["HISTORY_DAYS", "OverlayHistory", "load_overlay_history"]

log = logging.getLogger(__name__)

HISTORY_DAYS: Final = 10
"""Archived days summarised (the latest before today): two weeks of sessions."""


@dataclass(frozen=True)
class OverlayHistory:
    """Summary rows of the archived days (oldest first, then by index), or why there are none."""

    rows: tuple[StraddleSummary, ...]
    days: tuple[date, ...]
    archive: str
    error: str | None = None


def load_overlay_history(
    settings: Settings,
    underlyings: Iterable[str],
    before: date,
    days: int = HISTORY_DAYS,
    on_event: Callable[[Event], object] | None = None,
) -> OverlayHistory:
    """The overlay summary of each of the last `days` archived days before `before`, for each
    underlying. Reads the archive: call it from a worker thread."""
    from optui.store.archive import ArchiveError  # noqa: PLC0415
    from optui.store.day_series import DaySeriesError, overlay_history  # noqa: PLC0415
    from optui.store.history import archived_days  # noqa: PLC0415
    from optui.store.locations import archive_root  # noqa: PLC0415

    root = archive_root(settings)
    try:
        chosen = [d for d in archived_days(root) if d < before][-days:]
        rows: list[StraddleSummary] = []
        for name in underlyings:
            rows += overlay_history(
                root, chosen, name, rate=settings.analytics.rate, on_event=on_event
            )
    except (ArchiveError, DaySeriesError, OSError, ValueError) as exc:
        log.warning("premium: archived overlay unreadable: %s", exc)
        return OverlayHistory((), (), root, f"the archive at {root} could not be read: {exc}")
    rows.sort(key=lambda r: (r.day, r.underlying))
    return OverlayHistory(tuple(rows), tuple(chosen), root)
