"""``actorgrid jobs``: the daemon's background jobs (bulk dead-letter replays), and following
one with a progress bar."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import cyclopts

from actorgrid.daemon import ExitCode

from ._command import call_daemon
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations
from ._output import Column, progress_bar, relative

if TYPE_CHECKING:
    from ._client import DaemonClient
    from ._output import Output

__all__ = ("follow_job", "jobs", "show_job")

jobs = cyclopts.App(
    name="jobs",
    help="Background jobs (bulk replays): list, show, cancel.",
    help_format="plaintext",
)

_POLL = 0.2
"""Seconds between two looks at a job being followed."""
_RUNNING = frozenset({"selecting", "running"})
_COLUMNS = (
    Column("id", "id", no_wrap=True),
    Column("kind", "kind"),
    Column("state", "state"),
    Column("processed", "processed"),
    Column("total", "total"),
    Column("replayed", "replayed"),
    Column("failed", "failed"),
    Column("created", "created_at", relative),
)


def _path(job_id: str) -> str:
    return f"/v1/jobs/{quote(job_id, safe='')}"


def show_job(out: Output, job: dict[str, Any]) -> None:
    """One job for people: its state and counts."""
    counts = ", ".join(f"{job.get(k, 0)} {k}" for k in ("replayed", "already", "missing", "failed"))
    total = job.get("total")
    of = f" of {total}" if total is not None else ""
    out.line(f"job {job['id']} {job['state']}: {job.get('processed', 0)}{of} processed ({counts})")
    if job.get("error"):
        out.line(f"error: {job['error']}")


def _code(job: dict[str, Any]) -> int:
    return int(ExitCode.OK) if job["state"] == "done" else int(ExitCode.FAILURE)


def follow_job(client: DaemonClient, out: Output, job: dict[str, Any]) -> int:
    """Follow ``job`` with a progress bar until it ends; print it; return the exit code.

    0 when it is done, 1 when it failed or was cancelled. Ctrl-C cancels the job (what was
    replayed stays replayed) and returns 130.
    """
    interrupted = False
    with progress_bar() as bar:
        task = bar.add_task(f"{job.get('kind', 'job')} {job['id']}", total=job.get("total"))
        try:
            while job["state"] in _RUNNING:
                time.sleep(_POLL)
                job = client.get(_path(job["id"]))
                bar.update(task, total=job.get("total"), completed=job.get("processed", 0))
        except KeyboardInterrupt:
            interrupted = True
            job = client.delete(_path(job["id"]))
            while job["state"] in _RUNNING:  # it stops after the batch in progress
                time.sleep(_POLL)
                job = client.get(_path(job["id"]))
    out.result(job, lambda: show_job(out, job))
    return 130 if interrupted else _code(job)


@jobs.command(name="list")
def list_(*, options: ClientOptions | None = None) -> int:
    """List the background jobs the daemon remembers, oldest first (a restart forgets them;
    what they did stays done)."""

    def run(client: DaemonClient, out: Output) -> None:
        answer = client.get("/v1/jobs")
        out.result(answer, lambda: out.table(answer["items"], _COLUMNS, empty="no jobs"))

    return call_daemon(options, run)


@jobs.command
def show(job_id: str, /, *, follow: bool = False, options: ClientOptions | None = None) -> int:
    """Show a job's state and progress.

    Args:
        job_id: the job's id (printed by `actorgrid dlq replay --no-wait`).
        follow: follow it with a progress bar until it ends.
    """

    def run(client: DaemonClient, out: Output) -> int:
        job = client.get(_path(job_id))
        if follow:
            return follow_job(client, out, job)
        out.result(job, lambda: out.record(job, title="job", times=("created_at", "finished_at")))
        return 0

    return call_daemon(options, run)


@jobs.command
def cancel(job_id: str, /, *, options: ClientOptions | None = None) -> int:
    """Cancel a job after its current batch; what it replayed stays replayed.

    Args:
        job_id: the job's id.
    """

    def run(client: DaemonClient, out: Output) -> None:
        job = client.delete(_path(job_id))
        out.result(job, lambda: show_job(out, job))

    return call_daemon(options, run)
