"""Scheduled retries: messages waiting for their next attempt after a failure.

List (earliest due first, filtered, in keyset pages), show, retry now (the explicit early
retry under the policy's rules), kill (to the dead letters, reason ``killed``) and delete.
A kill, delete or retry now of a message whose attempt is running is a 409 and changes
nothing.
"""

from __future__ import annotations

import msgspec
from litestar import Router, delete, get, post

from actorgrid import EarlyRetryResult, ScheduledMessage

from ._context import Ctx
from ._pages import Page
from ._params import Cursor, Key, Limit, MessageId

__all__ = ("Killed", "retries_router")


class Killed(msgspec.Struct, frozen=True):
    """The dead letter a kill filed."""

    dead_letter_id: str


@get("/", summary="List scheduled retries")
async def list_retries(
    ctx: Ctx,
    topic: Key = None,
    target_type: Key = None,
    target_id: Key = None,
    error_type: Key = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[ScheduledMessage]:
    """Scheduled messages with their next attempt time, phase, attempts and last error."""
    page = await ctx.runtime.scheduled(
        topic=topic,
        target_type=target_type,
        target_id=target_id,
        error_type=error_type,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=list(page.items), next=page.next_cursor)


@get("/{message_id:str}", summary="Show a scheduled retry")
async def show_retry(ctx: Ctx, message_id: MessageId) -> ScheduledMessage:
    """One scheduled message."""
    return await ctx.runtime.scheduled_message(message_id)


@post("/{message_id:str}/now", status_code=200, summary="Retry now (the explicit early retry)")
async def retry_now(ctx: Ctx, message_id: MessageId) -> EarlyRetryResult:
    """Ask for the explicit early retry; ``granted`` says whether its attempt starts now,
    ``reason`` and ``retry_after`` why not."""
    return await ctx.runtime.retry_scheduled_now(message_id)


@post("/{message_id:str}/kill", status_code=200, summary="Kill: to the dead letters")
async def kill_retry(ctx: Ctx, message_id: MessageId) -> Killed:
    """Move it to the dead letters with reason ``killed`` (committed on return)."""
    return Killed(await ctx.runtime.kill_scheduled(message_id))


@delete("/{message_id:str}", status_code=204, summary="Delete a scheduled retry")
async def delete_retry(ctx: Ctx, message_id: MessageId) -> None:
    """Delete the message for good (committed on return)."""
    await ctx.runtime.delete_scheduled(message_id)


def retries_router() -> Router:
    """The scheduled retries, under ``/v1/retries``."""
    return Router(
        path="/v1/retries",
        route_handlers=[list_retries, show_retry, retry_now, kill_retry, delete_retry],
        tags=["scheduled retries"],
    )
