"""Dead letters: list (filtered, paginated), search the error text, show, replay one,
replay a filtered set or all as a background job, purge by the same filters."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Router, get, post
from litestar.params import JSONBody, PathParameter, QueryParameter

from actorgrid import DeadLetterEntry, DeadLetterFilter, DeadLetterNotFound, Runtime

from ._context import Ctx
from ._errors import ApiError
from ._job_manager import JobView
from ._pages import Page
from ._params import Cursor, Key, Limit, Text

__all__ = (
    "DeadLetterDetail",
    "DeadLetterItem",
    "PurgeRequest",
    "Purged",
    "ReplayOne",
    "ReplayRequest",
    "dead_letters_router",
    "replay_single",
    "selected_filters",
    "shown_payload",
)

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]
Epoch = Annotated[float, msgspec.Meta(description="epoch seconds")]


class DeadLetterItem(msgspec.Struct, frozen=True, kw_only=True):
    """A dead letter in a listing (``GET /v1/dead-letters/{id}`` has its envelope and
    traceback)."""

    id: str
    message_id: str | None
    topic: str
    target_type: str
    target_id: str
    reason: str
    error_type: str | None
    error_message: str | None
    attempts: int
    created_at: float
    replayed_at: float | None
    replay_message_id: str | None


class DeadLetterDetail(msgspec.Struct, frozen=True, kw_only=True):
    """One dead letter whole: its envelope (payload as stored, base64), error, traceback
    and retry record, and its payload decoded (``null`` when it cannot be shown as JSON)."""

    entry: DeadLetterEntry
    payload: Any


class ReplayOne(msgspec.Struct, frozen=True, kw_only=True):
    """What a replay of one dead letter did."""

    dead_letter_id: str
    message_id: str
    """The live message its replay published (now, or the first time)."""
    already: bool
    """It had been replayed before; nothing was published again."""


class _Selection(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    topic: Name | None = None
    reason: Name | None = None
    error_type: Name | None = None
    target_type: Name | None = None
    target_id: Name | None = None
    q: Name | None = None
    """Text the error's type name or message contains."""
    since: Epoch | None = None
    until: Epoch | None = None
    everything: bool = False
    """Select every dead letter (instead of a filter)."""

    def filters(self) -> dict[str, Any]:
        """The filter keywords of ``Runtime.dead_letters``."""
        return {
            "topic": self.topic,
            "reason": self.reason,
            "error_type": self.error_type,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "search": self.q,
            "since": self.since,
            "until": self.until,
        }


class ReplayRequest(_Selection, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which dead letters to replay (a filter, or ``everything``), and how fast."""

    rate: Annotated[float, msgspec.Meta(gt=0, le=1_000_000)] | None = None
    """At most this many replays per second (none: as fast as they go)."""


class PurgeRequest(_Selection, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Which dead letters to delete for good: a filter and/or ``older_than``,
    ``everything``, or ``ids`` (alone: the CLI purges a large selection page by page)."""

    older_than: Annotated[float, msgspec.Meta(ge=0)] | None = None
    """Only those filed more than this many seconds ago."""
    ids: Annotated[list[Name], msgspec.Meta(min_length=1, max_length=1000)] | None = None
    """These dead letters (unknown ids are skipped), instead of a filter."""


class Purged(msgspec.Struct, frozen=True):
    """How many dead letters were deleted."""

    deleted: int


def _item(e: DeadLetterEntry) -> DeadLetterItem:
    return DeadLetterItem(
        id=e.id,
        message_id=e.message_id,
        topic=e.topic,
        target_type=e.target_type,
        target_id=e.target_id,
        reason=e.reason,
        error_type=e.error_type,
        error_message=e.error_message,
        attempts=e.attempts,
        created_at=e.created_at,
        replayed_at=e.replayed_at,
        replay_message_id=e.replay_message_id,
    )


def shown_payload(payload: bytes) -> Any:
    """The payload decoded for display (``None`` when it cannot be shown as JSON)."""
    try:
        value = msgspec.msgpack.decode(payload)
        msgspec.json.encode(value)
    except (msgspec.DecodeError, TypeError, ValueError):
        return None
    return value


@get("/", summary="List dead letters")
async def list_dead_letters(
    ctx: Ctx,
    topic: Key = None,
    reason: Key = None,
    error_type: Key = None,
    target_type: Key = None,
    target_id: Key = None,
    q: Text = None,
    since: Annotated[float | None, QueryParameter(description="epoch seconds")] = None,
    until: Annotated[float | None, QueryParameter(description="epoch seconds")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> Page[DeadLetterItem]:
    """Newest first; ``q`` searches the error text (type name and message)."""
    page = await ctx.runtime.dead_letters.list(
        topic=topic,
        reason=reason,
        error_type=error_type,
        target_type=target_type,
        target_id=target_id,
        search=q,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return Page(items=[_item(e) for e in page.entries], next=page.next_cursor, total=page.total)


@get("/{dead_letter_id:str}", summary="Show a dead letter")
async def show_dead_letter(
    ctx: Ctx, dead_letter_id: Annotated[str, PathParameter(min_length=1, max_length=64)]
) -> DeadLetterDetail:
    """Its envelope, error, traceback and retry record."""
    entry = await ctx.runtime.dead_letters.show(dead_letter_id)
    return DeadLetterDetail(entry=entry, payload=shown_payload(entry.envelope.payload))


@post("/{dead_letter_id:str}/replay", status_code=200, summary="Replay one dead letter")
async def replay_one(
    ctx: Ctx, dead_letter_id: Annotated[str, PathParameter(min_length=1, max_length=64)]
) -> ReplayOne:
    """Put it back on its topic with a fresh retry cycle (once: a second replay reports
    the first one's message)."""
    return await replay_single(ctx.runtime, dead_letter_id)


async def replay_single(runtime: Runtime, dead_letter_id: str) -> ReplayOne:
    """Replay one dead letter (the API's and the dashboard's replay of one).

    Raises:
        DeadLetterNotFound: no such dead letter.
        ApiError: 422, it cannot be read back.
    """
    result = await runtime.dead_letters.replay([dead_letter_id])
    for dl_id, message_id in result.replayed:
        return ReplayOne(dead_letter_id=dl_id, message_id=message_id, already=False)
    for dl_id, message_id in result.already:
        return ReplayOne(dead_letter_id=dl_id, message_id=message_id, already=True)
    for dl_id, problem in result.failed:
        raise ApiError(422, "unreadable_dead_letter", f"dead letter {dl_id!r}: {problem}")
    raise DeadLetterNotFound(dead_letter_id)


def selected_filters(request: _Selection) -> dict[str, Any]:
    """Check the selection (exactly one of a filter and ``everything``)."""
    filters = request.filters()
    empty = DeadLetterFilter(**filters).empty  # raises InvalidArgument for a bad one
    older = getattr(request, "older_than", None)
    if request.everything and (not empty or older is not None):
        raise ApiError(400, "bad_selector", "give a filter or everything=true, not both")
    if not request.everything and empty and older is None:
        raise ApiError(
            400, "bad_selector", "give a filter, or everything=true to select every dead letter"
        )
    return filters


@post("/replay", status_code=202, summary="Replay dead letters in a background job")
async def replay_many(ctx: Ctx, data: JSONBody[ReplayRequest]) -> JobView:
    """Start a replay of the selected dead letters; follow it at ``/v1/jobs/{id}``."""
    filters = selected_filters(data)
    return ctx.jobs.start_replay(
        {k: v for k, v in filters.items() if v is not None},
        everything=data.everything,
        rate=data.rate,
    )


@post("/purge", status_code=200, summary="Purge dead letters")
async def purge(ctx: Ctx, data: JSONBody[PurgeRequest]) -> Purged:
    """Delete the selected dead letters for good."""
    if data.ids is not None:
        others = DeadLetterFilter(**data.filters()).empty and data.older_than is None
        if data.everything or not others:
            raise ApiError(400, "bad_selector", "give ids, a filter or everything=true: one")
        return Purged(await ctx.runtime.dead_letters.purge(data.ids))
    filters = selected_filters(data)
    deleted = await ctx.runtime.dead_letters.purge(
        **filters, older_than=data.older_than, everything=data.everything
    )
    return Purged(deleted)


def dead_letters_router() -> Router:
    """The dead letters, under ``/v1/dead-letters``."""
    return Router(
        path="/v1/dead-letters",
        route_handlers=[list_dead_letters, show_dead_letter, replay_one, replay_many, purge],
        tags=["dead letters"],
    )
