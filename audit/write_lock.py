"""The lock that serialises the writers of one SQLite audit log across processes: `flock` on a file beside it.

SQLite's own write lock is taken by polling (a writer that finds it held sleeps 1, 2, 5, 10 ms...), so
two busy processes appending to one log waste most of their time asleep and one can starve the other.
A blocked `flock` wakes the moment the holder lets go, and the kernel drops the lock of a process that
dies holding it. The lock file holds nothing; its name is the database's with `-audit.lock` appended.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

LOCK_SUFFIX = "-audit.lock"


class LogWriteLock:
    """An exclusive, process-wide lock on one log (not re-entrant; one holder thread at a time)."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + LOCK_SUFFIX)
        self._fd: int | None = None

    def acquire(self) -> None:
        """Wait for the lock; OSError when the lock file cannot be opened or locked."""
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def release(self) -> None:
        """Let the next writer in."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def __enter__(self) -> LogWriteLock:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()

    def close(self) -> None:
        """Close the lock file (the lock is not held between blocks)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)
