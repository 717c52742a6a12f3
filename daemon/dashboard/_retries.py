"""Scheduled retries: the table (filters on topic, phase, target, error type) and its
actions (retry now, kill, delete), each the runtime call the API makes."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qsl, urlsplit

from litestar import Request, get, post
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from ..api._context import Ctx
from ._web import clean, done, page

if TYPE_CHECKING:
    from actorgrid import ScheduledMessage

__all__ = ("delete_retry", "kill_retry", "retries_page", "retry_now")

PHASES = ("base", "revise", "exhausted")
_FILTERS = ("topic", "target_type", "target_id", "error_type")
MessageId = Annotated[str, PathParameter(min_length=1, max_length=64)]
_PAGES = 20
"""At most this many runtime pages are read to fill one filtered by phase."""


@get("/ui/retries", summary="Dashboard: scheduled retries")
async def retries_page(ctx: Ctx, request: Request[Any, Any, Any]) -> Template:
    """Earliest due first; ``phase`` filters what the runtime's other filters select."""
    q = request.query_params
    filters = {name: clean(q.get(name)) for name in _FILTERS}
    phase = clean(q.get("phase"))
    cursor = clean(q.get("cursor"))
    limit = 50
    items: list[ScheduledMessage] = []
    for _ in range(_PAGES):
        found = await ctx.runtime.scheduled(**filters, limit=limit, cursor=cursor)
        items.extend(m for m in found.items if phase is None or m.phase == phase)
        cursor = found.next_cursor
        if cursor is None or len(items) >= limit:
            break
    now = time.time()
    return page(
        "retries.html",
        "retries",
        items=items[:limit],
        next=cursor,
        filters={**filters, "phase": phase},
        phases=PHASES,
        now=now,
        msg=clean(q.get("msg")),
        here=str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
    )


async def _back(request: Request[Any, Any, Any]) -> str:
    form = await request.form()
    back = clean(form.get("back")) or "/ui/retries"
    return back if back.startswith("/ui/retries") and "//" not in back else "/ui/retries"


def _strip(back: str) -> tuple[str, dict[str, str | None]]:
    parts = urlsplit(back)
    query = {k: v for k, v in parse_qsl(parts.query) if k not in {"msg", "cursor"}}
    return parts.path, dict(query)


@post("/ui/retries/{message_id:str}/now", summary="Dashboard: retry now")
async def retry_now(
    ctx: Ctx,
    request: Request[Any, Any, Any],
    message_id: MessageId,
) -> Redirect:
    """The explicit early retry under the policy's rules."""
    path, query = _strip(await _back(request))
    result = await ctx.runtime.retry_scheduled_now(message_id)
    if result.granted:
        msg = f"Retry of {message_id} granted: its attempt starts now."
    else:
        msg = f"Retry of {message_id} not granted now ({result.reason})."
    return done(path, msg, **query)


@post("/ui/retries/{message_id:str}/kill", summary="Dashboard: kill a scheduled retry")
async def kill_retry(
    ctx: Ctx,
    request: Request[Any, Any, Any],
    message_id: MessageId,
) -> Redirect:
    """To the dead letters, reason ``killed``."""
    path, query = _strip(await _back(request))
    dead_letter_id = await ctx.runtime.kill_scheduled(message_id)
    return done(path, f"Killed {message_id}: dead letter {dead_letter_id}.", **query)


@post("/ui/retries/{message_id:str}/delete", summary="Dashboard: delete a scheduled retry")
async def delete_retry(
    ctx: Ctx,
    request: Request[Any, Any, Any],
    message_id: MessageId,
) -> Redirect:
    """Delete the message for good."""
    path, query = _strip(await _back(request))
    await ctx.runtime.delete_scheduled(message_id)
    return done(path, f"Deleted {message_id}.", **query)
