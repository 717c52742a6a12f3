"""Every error the API answers, and the one place that maps them to status codes.

Each 4xx and 5xx body is ``{"error": "<kind>", "detail": "<what is wrong>"}``. The
runtime's typed errors map by class (the first matching entry of :data:`RUNTIME_ERRORS`,
most specific first); Litestar's own (a bad body or parameter, an unknown route, an
oversized body) keep their status and get a kind; anything else is a 500, logged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec
import structlog
from litestar import Response
from litestar.exceptions import HTTPException, ValidationException

from actorgrid import (
    AnalyticsQueryError,
    AskTimeout,
    BrokerFull,
    DatabaseBusy,
    DeadLetterNotFound,
    EmbeddingError,
    InvalidArgument,
    InvalidPayload,
    InvalidQuery,
    InvalidTarget,
    MessageInFlight,
    NoSubscriber,
    RuntimeClosed,
    ScheduledNotFound,
    StorageError,
    TopicConflict,
    UnknownTopic,
)

if TYPE_CHECKING:
    from litestar import Request

__all__ = ("RUNTIME_ERRORS", "ApiError", "ErrorBody", "error_response", "handle_exception")

_log = structlog.get_logger("actorgrid.daemon.api")


class ErrorBody(msgspec.Struct, frozen=True):
    """The body of every error answer."""

    error: str
    """A stable, machine-readable kind (``unknown_topic``, ``unauthorized``, ...)."""
    detail: str
    """What is wrong, and what to do about it."""


class ApiError(Exception):
    """An error the API itself raises (a check beyond the runtime's own).

    Args:
        status: the HTTP status code.
        error: the error kind.
        detail: what is wrong.
        headers: extra response headers.
    """

    def __init__(
        self, status: int, error: str, detail: str, headers: dict[str, str] | None = None
    ) -> None:
        self.status = status
        self.error = error
        self.detail = detail
        self.headers = headers or {}
        super().__init__(detail)


RUNTIME_ERRORS: tuple[tuple[type[BaseException], int, str], ...] = (
    (UnknownTopic, 404, "unknown_topic"),
    (DeadLetterNotFound, 404, "dead_letter_not_found"),
    (ScheduledNotFound, 404, "scheduled_not_found"),
    (InvalidPayload, 422, "invalid_payload"),
    (InvalidTarget, 422, "invalid_target"),
    (EmbeddingError, 422, "invalid_chunk"),
    (InvalidQuery, 400, "invalid_query"),
    (AnalyticsQueryError, 400, "bad_query"),
    (InvalidArgument, 400, "invalid_argument"),
    (MessageInFlight, 409, "in_flight"),
    (TopicConflict, 409, "topic_conflict"),
    (NoSubscriber, 409, "no_subscriber"),
    (BrokerFull, 503, "busy"),
    (DatabaseBusy, 503, "database_busy"),
    (RuntimeClosed, 503, "stopping"),
    (StorageError, 503, "storage_unavailable"),
    (AskTimeout, 503, "timeout"),
)
"""The runtime's errors: class, status code, kind. The first match wins."""

_HTTP_KINDS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, error: str, detail: str, headers: dict[str, str] | None = None
) -> Response[ErrorBody]:
    """The answer for an error."""
    return Response(ErrorBody(error, detail), status_code=status, headers=headers)


def _validation_detail(exc: ValidationException) -> str:
    extra: Any = exc.extra
    if isinstance(extra, list) and extra:
        parts = []
        for item in extra:
            if isinstance(item, dict):
                where = item.get("key") or item.get("source") or ""
                message = item.get("message", "")
                parts.append(f"{where}: {message}" if where else str(message))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    return str(exc.detail)


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
    """The exception handler of the whole app."""
    if isinstance(exc, ApiError):
        return error_response(exc.status, exc.error, exc.detail, exc.headers)
    for cls, status, error in RUNTIME_ERRORS:
        if isinstance(exc, cls):
            if isinstance(exc, InvalidArgument) and exc.name == "pattern.enabled":
                return error_response(
                    409, "pattern_engine_disabled", "the pattern engine is disabled"
                )
            return error_response(status, error, str(exc))
    if isinstance(exc, ValidationException):
        return error_response(400, "bad_request", _validation_detail(exc))
    if isinstance(exc, HTTPException):
        status = exc.status_code
        kind = _HTTP_KINDS.get(status, "http_error")
        detail = str(exc.detail)
        if status == 413:
            detail = f"the request body is too large: {detail}"
        return error_response(status, kind, detail, dict(exc.headers or {}))
    _log.error("api_error", path=request.url.path, method=request.method, exc_info=exc)
    return error_response(500, "internal_error", f"{type(exc).__name__}: the server failed")
