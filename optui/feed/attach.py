"""A collector's store as a read-only source: `optui --attach` shows what another process
collects, without a second connection to Kite (Kite allows 3 per API key) and without
touching the store.

The journal is opened read-only (LMDB: many readers beside the one writer). The first poll
hands over the collector's current market (`Journal.latest`: its snapshot plus the frames
after it), re-encoded as Kite frames so the engine takes it like any other; every later poll
hands over the frames the collector committed since, byte for byte. The instruments come from
the archive, where the collector keeps each day's list beside its ticks.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, timedelta

from optui.events import Event
from optui.feed.calendar import ist_date
from optui.feed.codec import encode
from optui.feed.universe import Universe
from optui.settings import Settings, SettingsError
from optui.store.journal import FrameKey, Journal

__all__ = ["AttachedFeed"]

_LOOK_BACK_DAYS = 10
"""How far back to look for the collector's instruments list (a long weekend and holidays)."""
_FRAMES_PER_POLL = 4096
"""At most this many frames per poll, so a viewer that was paused catches up in steps."""
_PACKETS_PER_FRAME = 500


class AttachedFeed:
    """The engine's source for `optui --attach`."""

    label = "ATTACHED"

    def __init__(self, settings: Settings, *, clock: Callable[[], float] = time.time) -> None:
        from optui.kite.instruments import conform, universe_from_instruments  # noqa: PLC0415
        from optui.store.instruments import read_instruments  # noqa: PLC0415
        from optui.store.locations import archive_root, journal_dir  # noqa: PLC0415

        path = journal_dir(settings)
        if not (path / "data.mdb").exists():
            raise SettingsError(
                f"no collector store at {settings.data_dir}: start `optui collect` with this "
                "--data-dir, or attach to the one it uses (`optui --attach --data-dir DIR`)"
            )
        today = ist_date(clock())
        for back in range(_LOOK_BACK_DAYS):
            day = today - timedelta(days=back)
            table = read_instruments(archive_root(settings), day)
            if table is not None:
                break
        else:
            raise SettingsError(
                f"the collector at {settings.data_dir} has stored no instruments list in the "
                f"last {_LOOK_BACK_DAYS} days; it writes one when it starts collecting"
            )
        self.session: date = day
        self.universe: Universe = universe_from_instruments(
            conform(table), day, settings.underlyings
        )
        self.journal = Journal(path, readonly=True)
        self._journal_dir = path
        self._clock = clock
        self._running: tuple[float, bool] | None = None
        self._last: FrameKey | None = None
        self._started = False
        self._last_event: FrameKey | None = None

    def poll(self) -> list[bytes]:
        if not self._started:
            self._started = True
            ticks, self._last = self.journal.latest()
            return [
                encode(ticks[i : i + _PACKETS_PER_FRAME])
                for i in range(0, len(ticks), _PACKETS_PER_FRAME)
            ]
        frames: list[bytes] = []
        for key, frame in self.journal.frames(self._last, limit=_FRAMES_PER_POLL + 1):
            if key == self._last:
                continue  # `frames` starts at its `start`, which was already handed over
            frames.append(frame)
            self._last = key
        return frames

    @property
    def finished(self) -> bool:
        return False

    def instruments(self) -> tuple[date, str] | None:
        return None  # the collector keeps the list; a viewer stores nothing

    def stored_events(self) -> list[Event]:
        """The collector's events stored since the last call (all of them the first time):
        what went wrong there is shown here too."""
        stored = self.journal.events(self._last_event)
        if stored:
            self._last_event = stored[-1].key
        return [s.event for s in stored]

    def collector_running(self) -> bool:
        """Whether a collector holds the store's writer lock now (checked at most once a
        second: the header asks on every refresh)."""
        from optui.store.lock import current_writer  # noqa: PLC0415

        now = self._clock()
        if self._running is None or not 0 <= now - self._running[0] < 1.0:
            self._running = (now, current_writer(self._journal_dir) is not None)
        return self._running[1]

    def close(self) -> None:
        self.journal.close()
