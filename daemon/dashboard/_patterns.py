"""Recurring failure patterns and the retry record look-up by target (with its actions:
reset, request the explicit early retry)."""

from __future__ import annotations

import time
from typing import Any

from litestar import Request, get, post
from litestar.response import Redirect, Template

from actorgrid import InvalidArgument

from ..api._context import Ctx
from ..api._errors import ApiError
from ._web import clean, done, page

__all__ = ("early_action", "patterns_page", "record_page", "reset_action")


@get("/ui/patterns", summary="Dashboard: recurring failure patterns")
async def patterns_page(ctx: Ctx) -> Template:
    """Most failures first: count, targets, outcomes, the runbook chunks attached."""
    try:
        patterns = await ctx.runtime.recurring_patterns()
    except InvalidArgument as exc:
        if exc.name != "pattern.enabled":
            raise
        return page("patterns.html", "patterns", patterns=[], disabled=True, now=time.time())
    return page("patterns.html", "patterns", patterns=patterns, disabled=False, now=time.time())


def _target(source: Any) -> tuple[str | None, str | None]:
    return clean(source.get("target_type")), clean(source.get("target_id"))


@get("/ui/records", summary="Dashboard: a retry record by target")
async def record_page(ctx: Ctx, request: Request[Any, Any, Any]) -> Template:
    """The target's record in its current cycle and its scheduled messages."""
    q = request.query_params
    target_type, target_id = _target(q)
    record = scheduled = None
    if target_type and target_id:
        record = await ctx.runtime.retry_record(target_type, target_id)
        found = await ctx.runtime.scheduled(target_type=target_type, target_id=target_id, limit=20)
        scheduled = found.items
    return page(
        "record.html",
        "records",
        target_type=target_type,
        target_id=target_id,
        record=record,
        scheduled=scheduled,
        msg=clean(q.get("msg")),
        now=time.time(),
    )


async def _form_target(request: Request[Any, Any, Any]) -> tuple[str, str]:
    target_type, target_id = _target(await request.form())
    if target_type is None or target_id is None:
        raise ApiError(400, "bad_target", "give target_type and target_id")
    return target_type, target_id


@post("/ui/records/reset", summary="Dashboard: reset a retry record")
async def reset_action(ctx: Ctx, request: Request[Any, Any, Any]) -> Redirect:
    """Clear it: the target's next attempt starts a fresh cycle."""
    target_type, target_id = await _form_target(request)
    await ctx.runtime.reset_retry(target_type, target_id)
    return done(
        "/ui/records",
        f"Reset the retry record of {target_type}:{target_id}.",
        target_type=target_type,
        target_id=target_id,
    )


@post("/ui/records/early", summary="Dashboard: request the explicit early retry")
async def early_action(ctx: Ctx, request: Request[Any, Any, Any]) -> Redirect:
    """Ask for the early retry of the target's scheduled message."""
    target_type, target_id = await _form_target(request)
    result = await ctx.runtime.request_early_retry(target_type, target_id)
    msg = (
        "Early retry granted: its attempt starts now."
        if result.granted
        else f"Early retry not granted ({result.reason})."
    )
    return done("/ui/records", msg, target_type=target_type, target_id=target_id)
