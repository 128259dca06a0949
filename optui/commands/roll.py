"""`optui roll`: move everything journalled into the archive now.

With a collector running on this data dir, it asks that collector (SIGUSR1) to roll at its
next step, since only the journal's writer may delete rolled frames. With none running, it
opens the journal as the writer itself, recovers any interrupted roll and rolls everything.
"""

from __future__ import annotations

import argparse
import os
import signal

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    del parser  # no options: the global --data-dir and --config say which store


def run(args: argparse.Namespace) -> int:
    """`optui roll`."""
    from optui.cli import settings_from_args  # noqa: PLC0415
    from optui.store.archive import Roller  # noqa: PLC0415
    from optui.store.journal import Journal  # noqa: PLC0415
    from optui.store.locations import archive_root, collector_id, journal_dir  # noqa: PLC0415
    from optui.store.lock import writer_pid  # noqa: PLC0415

    settings = settings_from_args(args)
    path = journal_dir(settings)
    pid = writer_pid(path)
    if pid is not None:
        os.kill(pid, signal.SIGUSR1)
        print(f"asked the collector (pid {pid}) to roll now; `optui status` shows the result")
        return 0
    if not (path / "data.mdb").exists():
        print(f"nothing to roll: no journal at {path}")
        return 0
    name = collector_id(settings)
    with Journal(path, sync=settings.store.sync, writer_id=name) as journal:
        roller = Roller(journal, archive_root(settings), name)
        roller.recover()
        result = roller.roll()
    print(f"rolled {result.frames:,} frames ({result.rows:,} ticks) into {len(result.files)} files")
    return 0
