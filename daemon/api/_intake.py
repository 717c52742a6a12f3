"""Intake: publish one message, or a batch in one transaction.

A payload is JSON. When the topic has a payload type it is converted to that type first
(``msgspec.convert``): a payload that does not fit is a 422 and nothing is stored. A batch
is validated whole before any message of it is stored.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Router, post
from litestar.params import JSONBody, PathParameter

from ._context import Ctx
from ._errors import ApiError
from ._pages import Ids

__all__ = ("PublishBatch", "PublishMessage", "Published", "intake_router")

TopicName = Annotated[str, PathParameter(min_length=1, max_length=255)]


class PublishMessage(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One message to publish."""

    payload: Any
    """Any JSON value; converted to the topic's payload type when it has one."""
    target: tuple[str, str] | None = None
    """``[target_type, target_id]``: whose retry record its failures count against
    (default: the message itself)."""
    headers: dict[str, str] = msgspec.field(default_factory=dict)


class PublishBatch(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Messages to publish in one transaction."""

    messages: list[PublishMessage]


class Published(msgspec.Struct, frozen=True):
    """The id of the message published."""

    id: str


def _payload(ctx: Ctx, topic: str, payload: Any, where: str) -> Any:
    kind = ctx.runtime.topic(topic).payload_type
    if kind is None:
        return payload
    try:
        return msgspec.convert(payload, kind)
    except (msgspec.ValidationError, TypeError, ValueError) as exc:
        name = getattr(kind, "__name__", repr(kind))
        raise ApiError(
            422,
            "invalid_payload",
            f"{where} does not match the payload type {name} of topic {topic!r}: {exc}",
        ) from None


@post("/{topic:str}/messages", status_code=201, summary="Publish one message")
async def publish_one(ctx: Ctx, topic: TopicName, data: JSONBody[PublishMessage]) -> Published:
    """Publish one message; answers once it is stored (a durable topic: committed)."""
    payload = _payload(ctx, topic, data.payload, "payload")
    message_id = await ctx.runtime.publish(
        topic, payload, target=data.target, headers=data.headers or None
    )
    return Published(message_id)


@post("/{topic:str}/messages/batch", status_code=201, summary="Publish a batch")
async def publish_batch(ctx: Ctx, topic: TopicName, data: JSONBody[PublishBatch]) -> Ids:
    """Publish many messages in one transaction: all or none are stored."""
    count = len(data.messages)
    limit = ctx.settings.max_batch
    if count > limit:
        raise ApiError(
            413, "batch_too_large", f"{count} messages in one batch; at most {limit} are allowed"
        )
    if count == 0:
        raise ApiError(400, "empty_batch", "a batch needs at least one message")
    payloads = [
        _payload(ctx, topic, m.payload, f"messages[{i}].payload")
        for i, m in enumerate(data.messages)
    ]
    ids = await ctx.runtime.publish_batch(
        topic,
        payloads,
        targets=[m.target for m in data.messages],
        headers=[m.headers or None for m in data.messages],
    )
    return Ids(ids)


def intake_router() -> Router:
    """The intake routes, under ``/v1/topics``."""
    return Router(path="/v1/topics", route_handlers=[publish_one, publish_batch], tags=["intake"])
