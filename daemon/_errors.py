"""The daemon's exit codes and its error tree (each error knows the exit code it means)."""

from __future__ import annotations

import enum

__all__ = ("AppLoadError", "BindRefused", "DaemonError", "DaemonLocked", "ExitCode")


class ExitCode(enum.IntEnum):
    """What ``actorgrid`` exits with; scripts may rely on these.

    A daemon stopped at once by a second signal exits with 128 plus the signal's number
    (143 for SIGTERM, 130 for SIGINT), as shells report a process killed by a signal.
    """

    OK = 0
    """Done; for ``run``: stopped gracefully by SIGTERM or SIGINT."""
    FAILURE = 1
    """Something failed while running (the runtime's supervisor gave up, the database failed)."""
    USAGE = 2
    """A bad command line, a bad config value, an app that cannot be imported or declares
    something invalid, an address that may not be bound."""
    NOT_RUNNING = 3
    """The daemon is not running (nothing answers), or another daemon holds the database."""
    BAD_TOKEN = 4
    """The daemon refused the bearer token (missing or wrong)."""
    NOT_FOUND = 5
    """The daemon has no such thing: an unknown topic, dead letter, scheduled message, job,
    retry record or chunk."""
    REJECTED = 6
    """The daemon rejected the request as invalid (a 4xx answer other than 401 and 404)."""


class DaemonError(Exception):
    """Root of the daemon's errors; ``exit_code`` is what ``actorgrid`` exits with."""

    exit_code: ExitCode = ExitCode.FAILURE


class DaemonLocked(DaemonError):
    """Raised when another daemon holds the lock file of the database.

    Args:
        path: the lock file.
        pid: the process id written in it by the daemon holding it (None: unreadable).
    """

    exit_code = ExitCode.NOT_RUNNING

    def __init__(self, path: str, pid: int | None) -> None:
        self.path = path
        self.pid = pid
        holder = f"pid {pid}" if pid is not None else "a process whose pid is unreadable"
        super().__init__(
            f"another actorgrid daemon ({holder}) is running on this database "
            f"(lock file {path}); stop it first, or give this one another database"
        )


class AppLoadError(DaemonError):
    """Raised when ``--app module:attribute`` cannot be imported, is not an ``App``, or its
    declarations fail.

    Args:
        spec: the ``module:attribute`` given.
        problem: what went wrong, naming the module.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, spec: str, problem: str) -> None:
        self.spec = spec
        self.problem = problem
        super().__init__(f"cannot load app {spec!r}: {problem}")


class BindRefused(DaemonError):
    """Raised when the API may not, or cannot, listen on the configured address.

    Args:
        host: the configured host.
        port: the configured port.
        problem: why not, and what to do.
    """

    exit_code = ExitCode.USAGE

    def __init__(self, host: str, port: int, problem: str) -> None:
        self.host = host
        self.port = port
        super().__init__(f"cannot serve the API on {host}:{port}: {problem}")
