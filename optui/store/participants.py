"""Where NSE's participant-wise OI and volume files live once imported or fetched.

`<data_dir>/participants/` holds the files exactly as NSE published them (the original bytes,
so they can be re-read by any tool and re-parsed when the reader learns something new), each
under NSE's own name `fao_participant_{oi,vol}_DDMMYYYY.csv` whatever it was called where it
came from. There is one file per (kind, day):

- a file is read (`read_participant_csv`) before it is stored, so only participant files get
  in, and the figures of a stored file always parse; a file whose title names another day
  than its file name is refused (another day's figures under this day's name);
- storing the same file again changes nothing, and so does a copy with the same figures but
  other bytes (LF instead of NSE's CRLF, say, as some mirrors have them): the first copy stays;
- a file with other figures for a day already stored is refused unless `replace=True`, so an
  import of a wrong folder never overwrites good data silently;
- every write goes to a temporary file that is fsynced and renamed (`write_private`), so a
  crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from optui.analytics.participants import (
    KINDS,
    Kind,
    ParticipantDay,
    ParticipantFileError,
    file_day,
    participant_file_name,
    read_participant_csv,
)
from optui.paths import write_private
from optui.settings import Settings

__all__ = [
    "FOLDER",
    "ImportResult",
    "ImportStatus",
    "ParticipantStore",
    "StoredFile",
    "participants_dir",
]

FOLDER = "participants"

ImportStatus = Literal["imported", "replaced", "unchanged", "refused", "ignored"]


def participants_dir(settings: Settings) -> Path:
    """`<data_dir>/participants`."""
    return settings.data_dir / FOLDER


@dataclass(frozen=True)
class StoredFile:
    kind: Kind
    day: date
    path: Path


@dataclass(frozen=True)
class ImportResult:
    """What happened to one file: `reason` says why for all but "imported".

    "ignored" is a file met in a folder that is not named as NSE names participant files."""

    status: ImportStatus
    source: str
    kind: Kind | None = None
    day: date | None = None
    path: Path | None = None
    reason: str = ""
    notes: tuple[str, ...] = field(default=())


class ParticipantStore:
    """The participant files under one folder (`participants_dir(settings)`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, kind: Kind, day: date) -> Path:
        return self.root / participant_file_name(kind, day)

    def has(self, kind: Kind, day: date) -> bool:
        return self.path_for(kind, day).is_file()

    def add(self, data: bytes, *, name: str, replace: bool = False) -> ImportResult:
        """Store the bytes of a file called `name` (its day and kind come from that name)."""
        try:
            parsed = read_participant_csv(data, name=name)
        except ParticipantFileError as exc:
            return ImportResult("refused", name, reason=str(exc))
        if parsed.title_day is not None and parsed.title_day != parsed.day:
            # Another day's figures under this day's name (a server or a mirror mixed them
            # up): storing them would give this day the wrong numbers.
            right = participant_file_name(parsed.kind, parsed.title_day)
            return ImportResult(
                "refused",
                name,
                parsed.kind,
                parsed.day,
                reason=f"{name}: its title says {parsed.title_day} but its name says "
                f"{parsed.day}; if the title is right, rename the file {right}",
            )
        target = self.path_for(parsed.kind, parsed.day)
        result = ImportResult(
            "imported", name, parsed.kind, parsed.day, target, notes=_notes(parsed)
        )
        if target.is_file():
            stored = target.read_bytes()
            if stored == data:
                return _with(result, "unchanged", "already stored, identical")
            try:
                same = read_participant_csv(stored, name=target.name).rows == parsed.rows
                problem = "" if same else "other figures"
            except ParticipantFileError as exc:
                same, problem = False, f"the stored copy cannot be read ({exc})"
            if same:
                return _with(
                    result,
                    "unchanged",
                    "already stored with the same figures (the bytes differ, e.g. line "
                    "endings); kept the stored copy",
                )
            if not replace:
                return _with(
                    result,
                    "refused",
                    f"{target} already holds {problem} for {parsed.day} "
                    f"({parsed.kind}); add --replace to overwrite it",
                )
            result = _with(result, "replaced", f"replaced {problem} stored for {parsed.day}")
        write_private(target, data)
        return result

    def add_file(self, path: Path, *, replace: bool = False) -> ImportResult:
        """Store the file at `path` (see `add`)."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            return ImportResult("refused", str(path), reason=f"cannot read it: {exc.strerror}")
        # The whole path as the name: the reader takes the day from its last part, and
        # messages name the file as the user gave it.
        return self.add(data, name=str(path), replace=replace)

    def files(self, kind: Kind | None = None) -> list[StoredFile]:
        """Stored files (of `kind`, or both), by day then kind. Other files are not listed."""
        found: list[StoredFile] = []
        if not self.root.is_dir():
            return found
        for entry in self.root.iterdir():
            named = file_day(entry.name)
            if (
                named is None
                or named[2]  # only NSE's own DDMMYYYY names are ours
                or entry.name != participant_file_name(named[0], named[1])
                or (kind is not None and named[0] != kind)
                or not entry.is_file()
            ):
                continue
            found.append(StoredFile(named[0], named[1], entry))
        found.sort(key=lambda f: (f.day, KINDS.index(f.kind)))
        return found

    def days(self, kind: Kind) -> list[date]:
        return [f.day for f in self.files(kind)]

    def load(self, kind: Kind, day: date) -> ParticipantDay:
        """One stored day; `FileNotFoundError` when it is not stored."""
        path = self.path_for(kind, day)
        if not path.is_file():
            raise FileNotFoundError(f"no {kind} participant file for {day} in {self.root}")
        return read_participant_csv(path)

    def load_all(self, kind: Kind) -> tuple[list[ParticipantDay], list[str]]:
        """Every stored day of `kind`, oldest first, and a message for each file that could
        not be read (only possible if it was changed by hand after it was stored)."""
        days: list[ParticipantDay] = []
        problems: list[str] = []
        for stored in self.files(kind):
            try:
                days.append(read_participant_csv(stored.path))
            except ParticipantFileError as exc:
                problems.append(str(exc))
        return days, problems

    def import_paths(
        self, paths: Iterable[Path], *, replace: bool = False
    ) -> Iterable[ImportResult]:
        """Import files and folders: a file given is always tried; a folder is searched
        recursively for files named as NSE names them, the others in it being "ignored", so
        a folder of downloads can be imported as it is."""
        for path in paths:
            if path.is_dir():
                for found in sorted(p for p in path.rglob("*") if p.is_file()):
                    if file_day(found.name) is not None and not found.name.startswith("."):
                        yield self.add_file(found, replace=replace)
                    else:
                        yield ImportResult(
                            "ignored",
                            str(found),
                            reason="not named fao_participant_oi_DDMMYYYY.csv or "
                            "fao_participant_vol_DDMMYYYY.csv",
                        )
            else:
                yield self.add_file(path, replace=replace)


def _notes(parsed: ParticipantDay) -> tuple[str, ...]:
    return parsed.notes + tuple(str(d) for d in parsed.discrepancies)


def _with(result: ImportResult, status: ImportStatus, reason: str) -> ImportResult:
    return ImportResult(
        status, result.source, result.kind, result.day, result.path, reason, result.notes
    )
