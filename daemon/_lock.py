"""The lock file that keeps a second daemon off a database.

``<db>.lock`` holds the pid of the daemon running on ``<db>``, under an exclusive
``fcntl.flock``. The operating system drops the lock when the process ends however it ends,
so the file a killed daemon leaves behind is stale: the next daemon locks it and takes it
over (``stale_lock_taken_over`` names the old pid). A daemon that finds the file locked
refuses to start and names the pid of the one running.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from typing import TYPE_CHECKING

import structlog

from ._errors import DaemonError, DaemonLocked

if TYPE_CHECKING:
    from pathlib import Path
    from types import TracebackType

__all__ = ("DaemonLock",)

_log = structlog.get_logger("actorgrid.daemon")


class DaemonLock:
    """Hold ``path`` for this process: ``with DaemonLock(path): ...``.

    Raises:
        DaemonLocked: another live process holds it (on enter).
        DaemonError: the file cannot be created or written.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.stale_pid: int | None = None
        """The pid found in a stale lock file that was taken over (None: none found)."""
        self._fd: int | None = None

    def __enter__(self) -> DaemonLock:
        self.acquire()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    def acquire(self) -> None:
        """Take the lock (see the class)."""
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise DaemonError(f"cannot create lock file {self.path}: {exc.strerror}") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pid = _read_pid(fd)
                os.close(fd)
                raise DaemonLocked(str(self.path), pid) from None
            # The holder before us may have removed the file between our open and our lock:
            # then we hold a lock on a name nobody sees; open the file there now instead.
            if _same_file(fd, self.path):
                break
            os.close(fd)
        self.stale_pid = _read_pid(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd
        if self.stale_pid is not None:
            _log.warning(
                "stale_lock_taken_over",
                path=str(self.path),
                stale_pid=self.stale_pid,
                note="a daemon that ended without stopping left it; its lock was gone",
            )
        _log.info("lock_acquired", path=str(self.path), pid=os.getpid())

    def release(self) -> None:
        """Remove the file and drop the lock (nothing when not held)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        os.close(fd)  # closing drops the flock
        _log.info("lock_released", path=str(self.path))


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 64, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(fd)
    return (mine.st_dev, mine.st_ino) == (on_disk.st_dev, on_disk.st_ino)
