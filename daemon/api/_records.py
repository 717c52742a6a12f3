"""Retry records: show a target's, reset it, request its explicit early retry."""

from __future__ import annotations

from typing import Annotated

from litestar import Router, delete, get, post
from litestar.params import PathParameter

from actorgrid import EarlyRetryResult, RetryRecord

from ._context import Ctx
from ._errors import ApiError

__all__ = ("records_router",)

Part = Annotated[str, PathParameter(min_length=1, max_length=255)]


@get("/{target_type:str}/{target_id:str}", summary="Show a retry record")
async def show_record(ctx: Ctx, target_type: Part, target_id: Part) -> RetryRecord:
    """The target's retry record in its current cycle."""
    record = await ctx.runtime.retry_record(target_type, target_id)
    if record is None:
        raise ApiError(
            404, "retry_record_not_found", f"no retry record for {target_type}:{target_id}"
        )
    return record


@delete("/{target_type:str}/{target_id:str}", status_code=204, summary="Reset a retry record")
async def reset_record(ctx: Ctx, target_type: Part, target_id: Part) -> None:
    """Clear the record: the target's next attempt starts a fresh cycle."""
    await ctx.runtime.reset_retry(target_type, target_id)


@post("/{target_type:str}/{target_id:str}/early", status_code=200, summary="Early retry")
async def early_retry(ctx: Ctx, target_type: Part, target_id: Part) -> EarlyRetryResult:
    """Request the explicit early retry of the target's scheduled message."""
    return await ctx.runtime.request_early_retry(target_type, target_id)


def records_router() -> Router:
    """The retry records, under ``/v1/retry-records``."""
    return Router(
        path="/v1/retry-records",
        route_handlers=[show_record, reset_record, early_retry],
        tags=["retry records"],
    )
