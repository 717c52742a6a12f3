"""How a command reports an error: one line on stderr that says what to do, and its code.

The errors of talking to the daemon live here too: each carries the exit code it means
(:class:`~actorgrid.daemon.ExitCode`), and its message says what to do about it.
"""

from __future__ import annotations

import sys

from actorgrid.daemon import DaemonError, ExitCode

__all__ = ("DaemonUnreachable", "RequestRefused", "UsageProblem", "report")


class UsageProblem(DaemonError):
    """Raised for a command line the API cannot be asked with (bad JSON in a file, an
    address that cannot be derived from the config, ...)."""

    exit_code = ExitCode.USAGE


class DaemonUnreachable(DaemonError):
    """Raised when nothing answers at the daemon's address (or it is stopping).

    Args:
        url: the address tried.
        problem: what happened (``connection refused``, ``timed out after 30 s``).
    """

    exit_code = ExitCode.NOT_RUNNING

    def __init__(self, url: str, problem: str) -> None:
        self.url = url
        self.problem = problem
        super().__init__(
            f"the daemon is not running at {url} ({problem}): start it with `actorgrid run`, "
            "or point at a running one with --url or [daemon] host/port"
        )


_HINTS = {
    "unknown_topic": "the topics are the ones the daemon's app declares",
    "dead_letter_not_found": "list the dead letters with `actorgrid dlq list`",
    "scheduled_not_found": (
        "list the scheduled retries with `actorgrid retries list`; "
        "it may have been retried, killed or deleted already"
    ),
    "retry_record_not_found": "the target has no failures in its current cycle",
    "bad_selector": "in the CLI: filters (--topic, --reason, ...) or --everything",
    "pattern_engine_disabled": "enable it with [pattern] enabled = true and restart the daemon",
}


class RequestRefused(DaemonError):
    """Raised when the daemon answers a request with an error (its ``{"error", "detail"}``).

    The exit code follows the status: 401 is ``BAD_TOKEN``, 404 ``NOT_FOUND``, any other
    4xx ``REJECTED``, 503 while the daemon stops ``NOT_RUNNING``, anything else ``FAILURE``.

    Args:
        status: the HTTP status code.
        error: the error kind of the body (``unknown_topic``, ``unauthorized``, ...).
        detail: the body's detail: what is wrong.
        hint: what to do, when the caller knows better than the kind's default.
    """

    def __init__(self, status: int, error: str, detail: str, hint: str | None = None) -> None:
        self.status = status
        self.error = error
        self.detail = detail
        if status == 401:
            self.exit_code = ExitCode.BAD_TOKEN
        elif status == 404:
            self.exit_code = ExitCode.NOT_FOUND
        elif 400 <= status < 500:
            self.exit_code = ExitCode.REJECTED
        elif status == 503 and error == "stopping":
            self.exit_code = ExitCode.NOT_RUNNING
        else:
            self.exit_code = ExitCode.FAILURE
        hint = hint or _HINTS.get(error)
        message = f"{detail} ({error}, HTTP {status})"
        super().__init__(f"{message}; {hint}" if hint else message)


def report(exc: Exception) -> int:
    """Print ``actorgrid: error: <exc>`` on stderr; return the exit code it means."""
    print(f"actorgrid: error: {exc}", file=sys.stderr)
    if isinstance(exc, DaemonError):
        return int(exc.exit_code)
    return int(ExitCode.USAGE)
