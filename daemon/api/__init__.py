"""The daemon's HTTP API (a minimal stand-in: health, readiness and publishing one message).

``create_api(runtime, settings)`` builds the Litestar application that ``actorgrid run``
serves on uvicorn. Every 4xx or 503 body is ``{"error": kind, "detail": what to do}``; a
state-changing request needs ``Authorization: Bearer <token>`` (compared in constant time).
See ``docs/api.md`` for the whole contract.
"""

from __future__ import annotations

import hmac
import typing

import litestar
import msgspec

import actorgrid

if typing.TYPE_CHECKING:
    from actorgrid import Runtime

_Any = typing.Any
_Response = litestar.Response

__all__ = ("ApiSettings", "create_api")


class ApiSettings(msgspec.Struct, frozen=True, kw_only=True):
    """What the API needs besides the runtime."""

    token: str
    """The bearer token of state-changing requests."""
    max_body_bytes: int = 1_048_576
    max_batch: int = 1000


class _Publish(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    payload: _Any
    target: tuple[str, str] | None = None
    headers: dict[str, str] = msgspec.field(default_factory=dict)


def _error(status: int, kind: str, detail: str) -> _Response[dict[str, str]]:
    return _Response({"error": kind, "detail": detail}, status_code=status)


def create_api(runtime: Runtime, settings: ApiSettings) -> litestar.Litestar:
    """Build the API of ``runtime``.

    Args:
        runtime: the running runtime the requests act on.
        settings: the token and the request bounds.
    """
    expected = f"Bearer {settings.token}".encode()

    def authorized(request: litestar.Request[_Any, _Any, _Any]) -> bool:
        given = request.headers.get("authorization", "").encode()
        return hmac.compare_digest(given, expected)

    @litestar.get("/health", sync_to_thread=False)
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @litestar.get("/ready", sync_to_thread=False)
    def ready() -> _Response[dict[str, str]]:
        try:
            runtime.statistics()
        except actorgrid.RuntimeClosed as exc:
            return _error(503, "not_ready", str(exc))
        return _Response({"status": "ready"}, status_code=200)

    @litestar.post("/v1/topics/{topic:str}/messages")
    async def publish(
        topic: str, request: litestar.Request[_Any, _Any, _Any]
    ) -> _Response[dict[str, str]]:
        if not authorized(request):
            return _error(401, "unauthorized", "send Authorization: Bearer <token>")
        body = await request.body()
        try:
            message = msgspec.json.decode(body, type=_Publish)
        except msgspec.DecodeError as exc:
            return _error(400, "bad_request", f"the body is not a publish request: {exc}")
        try:
            kind = runtime.payload_type(topic)
            payload = message.payload
            if kind is not None:
                payload = msgspec.convert(payload, kind)
            message_id = await runtime.publish(
                topic, payload, target=message.target, headers=message.headers
            )
        except actorgrid.RuntimeClosed as exc:
            return _error(503, "stopping", f"{exc}; publish again once it is back")
        except actorgrid.UnknownTopic as exc:
            return _error(404, "unknown_topic", str(exc))
        except msgspec.ValidationError as exc:
            return _error(422, "invalid_payload", f"payload for topic {topic!r}: {exc}")
        except (actorgrid.InvalidPayload, actorgrid.InvalidTarget, actorgrid.InvalidArgument) as e:
            return _error(422, "invalid_request", str(e))
        except actorgrid.NoSubscriber as exc:
            return _error(409, "no_subscriber", str(exc))
        except actorgrid.BrokerFull as exc:
            return _error(503, "busy", str(exc))
        return _Response({"id": message_id}, status_code=201)

    return litestar.Litestar(
        route_handlers=[health, ready, publish],
        request_max_body_size=settings.max_body_bytes,
        openapi_config=None,
        logging_config=None,  # the daemon configured logging (structlog) already
    )
