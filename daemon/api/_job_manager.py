"""Background jobs: a bulk replay of dead letters, with progress, a rate cap and
cancellation.

A job first selects the ids of the dead letters it replays (the filter as it matched when
the job started: dead letters filed later are not in it), then replays them in batches
through ``Runtime.dead_letters.replay``, each batch one transaction. With a rate cap a
batch is at most one second's worth, and the job waits so that it never runs ahead of the
cap. A cancellation stops the job between batches: what was replayed stays replayed.
Jobs live in the daemon's memory; a restart forgets them (their replays are committed).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from typing import TYPE_CHECKING, Any, Literal

import anyio
import msgspec
import structlog

from ._errors import ApiError

if TYPE_CHECKING:
    from actorgrid import Runtime

__all__ = ("JobManager", "JobView")

_log = structlog.get_logger("actorgrid.daemon.jobs")

_BATCH = 500
_PAGE = 1000

JobState = Literal["selecting", "running", "done", "cancelled", "failed"]


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    """A background job and its progress."""

    id: str
    kind: str
    """``replay``."""
    state: JobState
    selection: dict[str, Any]
    """The filter it replays (``{"everything": true}`` for all)."""
    rate: float | None
    """Its cap in replays per second (``null``: none)."""
    total: int | None
    """Dead letters selected (``null`` while selecting)."""
    processed: int
    replayed: int
    already: int
    """Replayed before: nothing published again."""
    missing: int
    """Purged between the selection and their replay."""
    failed: int
    """Unreadable: left as they are."""
    created_at: float
    finished_at: float | None
    error: str | None


class _Job:
    __slots__ = (
        "already",
        "created_at",
        "error",
        "failed",
        "finished_at",
        "id",
        "missing",
        "processed",
        "rate",
        "replayed",
        "selection",
        "state",
        "stop",
        "task",
        "total",
    )

    def __init__(self, job_id: str, selection: dict[str, Any], rate: float | None) -> None:
        self.id = job_id
        self.selection = selection
        self.rate = rate
        self.state: JobState = "selecting"
        self.total: int | None = None
        self.processed = self.replayed = self.already = self.missing = self.failed = 0
        self.created_at = time.time()
        self.finished_at: float | None = None
        self.error: str | None = None
        self.stop = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def view(self) -> JobView:
        return JobView(
            id=self.id,
            kind="replay",
            state=self.state,
            selection=dict(self.selection),
            rate=self.rate,
            total=self.total,
            processed=self.processed,
            replayed=self.replayed,
            already=self.already,
            missing=self.missing,
            failed=self.failed,
            created_at=self.created_at,
            finished_at=self.finished_at,
            error=self.error,
        )


class JobManager:
    """Runs and remembers the background jobs of one API app.

    Args:
        runtime: the runtime whose dead letters are replayed.
        keep: finished jobs remembered (the oldest finished are forgotten first).
    """

    def __init__(self, runtime: Runtime, *, keep: int = 100) -> None:
        self._runtime = runtime
        self._keep = keep
        self._jobs: dict[str, _Job] = {}
        self._ids = itertools.count(1)

    def start_replay(
        self, filters: dict[str, Any], *, everything: bool, rate: float | None
    ) -> JobView:
        """Start replaying the dead letters matching ``filters`` (or ``everything``)."""
        job_id = f"job-{next(self._ids)}"
        selection = {"everything": True} if everything else dict(filters)
        job = _Job(job_id, selection, rate)
        self._jobs[job_id] = job
        job.task = asyncio.get_running_loop().create_task(
            self._run(job, filters), name=f"actorgrid-api:{job_id}"
        )
        self._forget_old()
        return job.view()

    def views(self) -> list[JobView]:
        """Every job remembered, oldest first."""
        return [job.view() for job in self._jobs.values()]

    def get(self, job_id: str) -> JobView:
        """One job.

        Raises:
            ApiError: 404, no such job.
        """
        return self._job(job_id).view()

    def cancel(self, job_id: str) -> JobView:
        """Ask a job to stop after the batch it is replaying (a finished job is left as is)."""
        job = self._job(job_id)
        job.stop.set()
        return job.view()

    @property
    def running(self) -> int:
        """Jobs not finished yet."""
        return sum(1 for job in self._jobs.values() if job.finished_at is None)

    async def wait_idle(self) -> None:
        """Wait until every job started so far has finished."""
        tasks = [job.task for job in self._jobs.values() if job.task is not None]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel every running job and wait for it (the app's shutdown)."""
        for job in self._jobs.values():
            job.stop.set()
            if job.task is not None and not job.task.done():
                job.task.cancel()
        await self.wait_idle()

    def _job(self, job_id: str) -> _Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise ApiError(404, "job_not_found", f"no job {job_id!r}")
        return job

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.finished_at is not None]
        for job in finished[: max(0, len(finished) - self._keep)]:
            del self._jobs[job.id]

    async def _run(self, job: _Job, filters: dict[str, Any]) -> None:
        try:
            ids = await self._select(filters)
            job.total = len(ids)
            job.state = "running"
            await self._replay(job, ids)
            job.state = "cancelled" if job.stop.is_set() else "done"
        except asyncio.CancelledError:
            job.state = "cancelled"
            raise
        except Exception as exc:
            job.state = "failed"
            job.error = f"{type(exc).__name__}: {exc}"
            _log.error("replay_job_failed", job=job.id, error=job.error)
        finally:
            job.finished_at = time.time()
            _log.info(
                "replay_job_finished",
                job=job.id,
                state=job.state,
                replayed=job.replayed,
                total=job.total,
            )

    async def _select(self, filters: dict[str, Any]) -> list[str]:
        dead = self._runtime.dead_letters
        ids: list[str] = []
        cursor: str | None = None
        while True:
            page = await dead.list(**filters, limit=_PAGE, cursor=cursor)
            ids.extend(e.id for e in page.entries)
            cursor = page.next_cursor
            if cursor is None:
                return ids

    async def _replay(self, job: _Job, ids: list[str]) -> None:
        size = _BATCH if job.rate is None else max(1, min(_BATCH, int(job.rate)))
        started = anyio.current_time()
        for start in range(0, len(ids), size):
            if job.stop.is_set():
                return
            if job.rate is not None:
                due = started + job.processed / job.rate
                wait = due - anyio.current_time()
                if wait > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(job.stop.wait(), wait)
                    if job.stop.is_set():
                        return
            batch = ids[start : start + size]
            result = await self._runtime.dead_letters.replay(batch)
            job.replayed += len(result.replayed)
            job.already += len(result.already)
            job.missing += len(result.missing)
            job.failed += len(result.failed)
            job.processed += len(batch)
