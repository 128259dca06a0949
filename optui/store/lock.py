"""The journal's single-writer lock, and the errors a user of the journal can meet.

LMDB itself serialises write transactions, but two collectors writing one journal would
interleave two feeds' frames and fight over the sequence counter, so a journal has exactly
one writer. The lock is `fcntl.flock` on ``<journal>/writer.lock``:

- the kernel releases it when the holder dies (even on SIGKILL or a power cut), so a lock
  left behind by a crashed collector is never stale: the next writer simply takes it;
- flock belongs to an open file description, so a second writer in the *same* process is
  refused too (POSIX fcntl locks would let it through);
- the file holds the holder's pid, writer id, host and start time as text, only so that the
  refusal can say who holds the lock and what to do. The text is never trusted for locking.

Readers never take the lock.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

__all__ = ["LOCK_NAME", "JournalError", "JournalLockedError", "WriterLock", "describe_writer"]

LOCK_NAME: Final = "writer.lock"
# A refused writer tries again for this long first: `describe_writer` holds a shared lock for
# a few microseconds while it looks, and a new holder takes a moment to write its details.
_RETRY_SECONDS: Final = 0.05
_RETRY_STEP: Final = 0.005


class JournalError(RuntimeError):
    """A journal problem a user can meet; the message names the path and what to do."""


class JournalLockedError(JournalError):
    """Another writer holds the journal's single-writer lock.

    `pid` and `writer_id` describe the holder as it recorded itself (None when it had not
    written its details yet, or wrote something unreadable).
    """

    def __init__(self, message: str, *, pid: int | None, writer_id: str | None) -> None:
        super().__init__(message)
        self.pid = pid
        self.writer_id = writer_id


class WriterLock:
    """An exclusive, non-blocking flock on ``directory/writer.lock``.

    `acquire` either takes the lock at once or raises `JournalLockedError`; it never waits,
    because a collector that silently queued behind another would look hung.
    """

    def __init__(self, directory: Path, writer_id: str) -> None:
        self.path = directory / LOCK_NAME
        self.writer_id = writer_id
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise JournalError(
                f"cannot open the journal's lock file {self.path}: {exc.strerror}. "
                "Make the folder writable for this user, or choose another data folder "
                "(--data-dir)."
            ) from exc
        deadline = time.monotonic() + _RETRY_SECONDS
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    if time.monotonic() < deadline:
                        time.sleep(_RETRY_STEP)
                        continue
                    holder = _read_holder(fd)
                    os.close(fd)
                    raise _locked_error(self.path.parent, holder) from None
                os.close(fd)
                raise JournalError(
                    f"cannot lock the journal at {self.path.parent}: {exc.strerror}. "
                    "The folder must be on a local file system that supports flock."
                ) from exc
        # Ours now: record who we are, for the message a second writer will get.
        started = datetime.now(UTC).isoformat(timespec="seconds")
        text = f"{os.getpid()}\n{self.writer_id}\n{socket.gethostname()}\n{started}\n"
        with contextlib.suppress(OSError):  # the details are a courtesy, the flock is the lock
            os.ftruncate(fd, 0)
            os.pwrite(fd, text.encode(), 0)
        self._fd = fd

    def release(self) -> None:
        """Drop the lock. The file stays: deleting it would race with a new writer."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the descriptor releases the flock


def current_writer(
    directory: Path,
) -> tuple[int | None, str | None, str | None, str | None] | None:
    """(pid, writer id, host, start time) of the process holding the journal's writer lock
    in `directory`, or None when none does. Never takes the lock for more than a moment."""
    try:
        fd = os.open(directory / LOCK_NAME, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None  # never had a writer (or unreadable: then we cannot tell either)
    try:
        try:
            # A shared lock is refused exactly while a writer holds its exclusive one.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return None
            return _read_holder(fd)
        return None
    finally:
        os.close(fd)  # also drops the shared lock, if we got it


def describe_writer(directory: Path) -> str | None:
    """Who writes the journal in `directory` ("pid 123, writer 'x' on host, since t"), or
    None when no writer holds its lock."""
    holder = current_writer(directory)
    if holder is None:
        return None
    pid, writer_id, host, started = holder
    text = f"pid {pid}" if pid is not None else "pid unknown"
    text += f", writer {writer_id!r}" if writer_id else ""
    text += f" on {host}" if host else ""
    text += f", since {started}" if started else ""
    return text


def writer_pid(directory: Path) -> int | None:
    """The pid of the process writing the journal in `directory`, when it runs on this host
    (so it can be signalled), else None."""
    holder = current_writer(directory)
    if holder is None:
        return None
    pid, _, host, _ = holder
    return pid if host in (None, socket.gethostname()) else None


def _read_holder(fd: int) -> tuple[int | None, str | None, str | None, str | None]:
    """(pid, writer id, host, start time) as the holder wrote them, None where unknown."""
    try:
        lines = os.pread(fd, 4096, 0).decode("utf-8", "replace").splitlines()
    except OSError:
        lines = []
    lines += [""] * (4 - len(lines))
    pid = int(lines[0]) if lines[0].strip().isdigit() else None
    return pid, lines[1] or None, lines[2] or None, lines[3] or None


def _locked_error(
    directory: Path, holder: tuple[int | None, str | None, str | None, str | None]
) -> JournalLockedError:
    pid, writer_id, host, started = holder
    if pid is None:
        who = "another process (it has not recorded its pid yet)"
    elif pid == os.getpid():
        who = f"this process (pid {pid}, writer {writer_id!r}): another Journal object"
    else:
        who = f"process {pid} (writer {writer_id!r}"
        who += f" on {host}" if host else ""
        who += f", since {started})" if started else ")"
    if pid == os.getpid():
        advice = "Close that Journal first, or open this one with readonly=True."
    else:
        stop = f"`kill {pid}`" if pid is not None else "stopping it"
        advice = (
            "Only one collector may write a journal. Stop the other collector "
            f"({stop}), or give this one another data folder (--data-dir). To watch "
            "the journal while it runs, open it read-only (the TUI and `optui status` do)."
        )
    return JournalLockedError(
        f"the journal at {directory} is already being written by {who}. {advice}",
        pid=pid,
        writer_id=writer_id,
    )
