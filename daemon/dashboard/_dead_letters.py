"""Dead letters: the list (filters and search), one dead letter whole, and replay or purge
of one or of the filtered set, each behind a confirmation page. A bulk replay runs as the
API's background job (:class:`~actorgrid.daemon.api.JobManager`); its page polls it."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Request, get, post
from litestar.params import PathParameter
from litestar.response import Redirect, Template

from actorgrid import ScheduledNotFound

from ..api._context import Ctx
from ..api._dead_letters import (
    PurgeRequest,
    ReplayRequest,
    replay_single,
    selected_filters,
    shown_payload,
)
from ..api._errors import ApiError
from ._web import clean, done, page

if TYPE_CHECKING:
    from actorgrid import DeadLetterEntry, Runtime

__all__ = (
    "confirm_page",
    "dead_letter_page",
    "dead_letters_page",
    "purge_action",
    "replay_action",
)

FILTERS = ("topic", "reason", "error_type", "target_type", "target_id", "q")
"""The list's filters; ``q`` searches the error's type name and message."""
DeadLetterId = Annotated[str, PathParameter(min_length=1, max_length=64)]


def _filters(source: Any) -> dict[str, str | None]:
    return {name: clean(source.get(name)) for name in FILTERS}


def _search(filters: dict[str, str | None]) -> dict[str, Any]:
    """The runtime's keywords for the list's filters (``q`` is its ``search``)."""
    return {("search" if k == "q" else k): v for k, v in filters.items()}


@get("/ui/dead-letters", summary="Dashboard: dead letters")
async def dead_letters_page(ctx: Ctx, request: Request[Any, Any, Any]) -> Template:
    """Newest first, 50 a page."""
    q = request.query_params
    filters = _filters(q)
    found = await ctx.runtime.dead_letters.list(
        **_search(filters), limit=50, cursor=clean(q.get("cursor"))
    )
    return page(
        "dead_letters.html",
        "dead_letters",
        entries=found.entries,
        next=found.next_cursor,
        total=found.total,
        filters=filters,
        filtered=any(filters.values()),
        msg=clean(q.get("msg")),
        now=time.time(),
    )


async def _replay_outcome(runtime: Runtime, entry: DeadLetterEntry) -> dict[str, Any] | None:
    """What came of its replay: waiting for a retry, or handled (its target's record says
    so), or neither yet."""
    if entry.replayed_at is None or entry.replay_message_id is None:
        return None
    try:
        waiting = await runtime.scheduled_message(entry.replay_message_id)
    except ScheduledNotFound:
        waiting = None
    if waiting is not None:
        return {"state": "scheduled", "at": waiting.next_attempt_at}
    record = await runtime.retry_record(entry.target_type, entry.target_id)
    succeeded = record.last_success_at if record is not None else None
    if succeeded is not None and succeeded >= entry.replayed_at:
        return {"state": "processed", "at": succeeded}
    again = await runtime.dead_letters.list(
        target_type=entry.target_type,
        target_id=entry.target_id,
        since=entry.replayed_at,
        limit=1,
    )
    if again.entries:
        return {"state": "dead_again", "at": again.entries[0].created_at, "id": again.entries[0].id}
    return {"state": "pending", "at": None}


@get("/ui/dead-letters/{dead_letter_id:str}", summary="Dashboard: one dead letter")
async def dead_letter_page(
    ctx: Ctx, request: Request[Any, Any, Any], dead_letter_id: DeadLetterId
) -> Template:
    """Its envelope, error, traceback, retry record, and what came of a replay."""
    entry = await ctx.runtime.dead_letters.show(dead_letter_id)
    envelope = msgspec.to_builtins(entry.envelope)
    envelope.pop("payload", None)
    return page(
        "dead_letter.html",
        "dead_letters",
        entry=entry,
        envelope=envelope,
        payload=shown_payload(entry.envelope.payload),
        record=await ctx.runtime.retry_record(entry.target_type, entry.target_id),
        outcome=await _replay_outcome(ctx.runtime, entry),
        msg=clean(request.query_params.get("msg")),
        now=time.time(),
    )


@get("/ui/dead-letters/confirm", summary="Dashboard: confirm a replay or purge")
async def confirm_page(ctx: Ctx, request: Request[Any, Any, Any]) -> Template:
    """What the action would touch (one dead letter, or how many the filter selects)."""
    q = request.query_params
    action = q.get("action")
    if action not in {"replay", "purge"}:
        raise ApiError(400, "bad_action", "action must be replay or purge")
    one = clean(q.get("id"))
    filters = _filters(q)
    everything = q.get("everything") == "true"
    if one is not None:
        entry = await ctx.runtime.dead_letters.show(one)
        count = 1
    else:
        entry = None
        _selection(action, filters, everything)  # refuse a bad selection before asking
        count = await ctx.runtime.dead_letters.count(**_search(filters))
    return page(
        "confirm.html",
        "dead_letters",
        action=action,
        entry=entry,
        one=one,
        filters=filters,
        everything=everything,
        count=count,
    )


def _selection(action: str, filters: dict[str, str | None], everything: bool) -> dict[str, Any]:
    """The API's check of a selection (a filter, or everything; not both, not neither)."""
    given = {k: v for k, v in filters.items() if v is not None}
    kind = ReplayRequest if action == "replay" else PurgeRequest
    request = msgspec.convert({**given, "everything": everything}, kind)
    return selected_filters(request)


async def _confirmed(request: Request[Any, Any, Any]) -> tuple[str | None, Any]:
    form = await request.form()
    if form.get("confirm") != "yes":
        raise ApiError(400, "not_confirmed", "confirm the action on its confirmation page")
    return clean(form.get("id")), form


@post("/ui/dead-letters/replay", summary="Dashboard: replay one dead letter or a selection")
async def replay_action(ctx: Ctx, request: Request[Any, Any, Any]) -> Redirect:
    """One: replayed now, back to its page. A selection: a background job, to its page."""
    one, form = await _confirmed(request)
    if one is not None:
        result = await replay_single(ctx.runtime, one)
        msg = (
            f"Already replayed as message {result.message_id}."
            if result.already
            else f"Replayed as message {result.message_id}."
        )
        return done(f"/ui/dead-letters/{one}", msg)
    everything = form.get("everything") == "true"
    filters = _selection("replay", _filters(form), everything)
    job = ctx.jobs.start_replay(
        {k: v for k, v in filters.items() if v is not None}, everything=everything, rate=None
    )
    return Redirect(f"/ui/jobs/{job.id}", status_code=303)


@post("/ui/dead-letters/purge", summary="Dashboard: purge one dead letter or a selection")
async def purge_action(ctx: Ctx, request: Request[Any, Any, Any]) -> Redirect:
    """Delete for good, then back to the list."""
    one, form = await _confirmed(request)
    if one is not None:
        deleted = await ctx.runtime.dead_letters.purge([one])
        return done("/ui/dead-letters", f"Purged {deleted} dead letter ({one}).")
    everything = form.get("everything") == "true"
    filters = _selection("purge", _filters(form), everything)
    deleted = await ctx.runtime.dead_letters.purge(**filters, everything=everything)
    return done("/ui/dead-letters", f"Purged {deleted} dead letters.")
