"""The export key: the rows on view, as a CSV file a spreadsheet opens."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from optui.feed.calendar import IST

__all__ = ["export_view"]


def export_view(rows: Sequence[dict[str, object]], folder: Path, name: str, now: float) -> Path:
    """Write `rows` to `<folder>/<name>-YYYYMMDD-HHMMSS.csv` (IST) and return the path.

    Written to a temporary name and renamed, so a reader never sees half a file; an existing
    file is never overwritten (a second export in the same second gets a suffix).
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = datetime.fromtimestamp(now, IST).strftime("%Y%m%d-%H%M%S")
    path = folder / f"{name}-{stamp}.csv"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{name}-{stamp}-{n}.csv"
    columns = list(dict.fromkeys(key for row in rows for key in row))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(fd, "w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=columns)
            writer.writeheader()
            writer.writerows(rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
