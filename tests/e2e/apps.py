"""Applications the end-to-end tests run under a real daemon (``--app tests.e2e.apps:app``)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import anyio
import msgspec
import structlog

from actorgrid import App

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

__all__ = ("Job", "app")

log = structlog.get_logger("tests.e2e")


class Job(msgspec.Struct, frozen=True):
    """A job: fail the first ``fail`` attempts; sleep ``sleep`` seconds first (unless
    ``E2E_NO_SLEEP`` is set in the daemon's environment)."""

    name: str
    fail: int = 0
    sleep: float = 0.0


app = App("e2e")
app.topic("jobs", payload_type=Job)


@app.handler("jobs", concurrency=2)
async def run_job(job: Job, ctx: DeliveryContext) -> None:
    """Log ``job_started``, sleep, then fail or succeed as the job says."""
    log.info("job_started", job=job.name, attempt=ctx.attempt)
    if job.sleep and not os.environ.get("E2E_NO_SLEEP"):
        await anyio.sleep(job.sleep)
    if ctx.attempt <= job.fail:
        raise RuntimeError(f"job {job.name} fails attempt {ctx.attempt}")
