"""The background jobs' routes: ``GET /v1/jobs``, ``GET /v1/jobs/{id}``,
``DELETE /v1/jobs/{id}`` (see :mod:`._job_manager` for what a job does)."""

from __future__ import annotations

from litestar import Router, delete, get
from litestar.params import FromPath

from ._context import Ctx
from ._job_manager import JobView
from ._pages import Items

__all__ = ("jobs_router",)


@get("/", summary="List background jobs")
async def list_jobs(ctx: Ctx) -> Items[JobView]:
    """Every job remembered, oldest first."""
    return Items(ctx.jobs.views())


@get("/{job_id:str}", summary="Show a background job")
async def show_job(ctx: Ctx, job_id: FromPath[str]) -> JobView:
    """A job's state and progress."""
    return ctx.jobs.get(job_id)


@delete("/{job_id:str}", status_code=200, summary="Cancel a background job")
async def cancel_job(ctx: Ctx, job_id: FromPath[str]) -> JobView:
    """Stop the job after its current batch; what was replayed stays replayed."""
    return ctx.jobs.cancel(job_id)


def jobs_router() -> Router:
    """The background jobs, under ``/v1/jobs``."""
    return Router(path="/v1/jobs", route_handlers=[list_jobs, show_job, cancel_job], tags=["jobs"])
