"""A bulk replay's page: its progress, polled with htmx until it finishes."""

from __future__ import annotations

from typing import Annotated

from litestar import get
from litestar.params import PathParameter
from litestar.response import Template

from ..api._context import Ctx
from ._web import page

__all__ = ("job_page", "job_progress")

JobId = Annotated[str, PathParameter(min_length=1, max_length=64)]


@get("/ui/jobs/{job_id:str}", summary="Dashboard: a background job")
async def job_page(ctx: Ctx, job_id: JobId) -> Template:
    """The job and its progress bar."""
    return page("job.html", "dead_letters", job=ctx.jobs.get(job_id))


@get("/ui/jobs/{job_id:str}/progress", summary="Dashboard: a job's progress (htmx fragment)")
async def job_progress(ctx: Ctx, job_id: JobId) -> Template:
    """The progress bar alone; it stops asking once the job is finished."""
    return page("_job.html", "dead_letters", job=ctx.jobs.get(job_id))
