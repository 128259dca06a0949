"""The export key: the rows on view, as a CSV file a spreadsheet opens.

Numbers are written as a person would read them: a float that is a whole number (an OI, a
strike) without ".0", any other to 12 significant digits, so the sums behind a change in
price (671.70 − 704.75) read -33.05, not -33.05000000000018. Twelve digits keep every
figure optui computes (prices to the paisa, IVs and greeks far below what they mean). A NaN
(unknown) is an empty cell, never "nan" or 0.
"""

from __future__ import annotations

import csv
import math
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
            writer.writerows({key: _cell(value) for key, value in row.items()} for row in rows)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _cell(value: object) -> object:
    """`value` as the CSV shows it (see the module docstring); NaN, unknown, is empty."""
    if isinstance(value, float):
        if not math.isfinite(value):
            return ""
        if value.is_integer() and abs(value) < 1e15:
            return int(value)
        return f"{value:.12g}"
    return value
