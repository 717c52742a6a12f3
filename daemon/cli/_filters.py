"""The dead-letter filters ``dlq list``, ``dlq replay`` and ``dlq purge`` share, and the
time values they take."""

from __future__ import annotations

import dataclasses
import re
from datetime import datetime
from typing import Any

from cyclopts import Parameter

from ._errors import UsageProblem

__all__ = ("DeadLetterFilters", "parse_duration", "parse_moment")

_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")


def parse_moment(text: str, flag: str) -> float:
    """Epoch seconds of ``text``: epoch seconds, or an ISO 8601 time (local unless it has
    an offset).

    Raises:
        UsageProblem: neither.
    """
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        raise UsageProblem(
            f"{flag} must be epoch seconds or an ISO 8601 time (2026-12-04T19:00), got {text!r}"
        ) from None


def parse_duration(text: str, flag: str) -> float:
    """Seconds of ``text``: a number with an optional unit ``s``, ``m``, ``h`` or ``d``.

    Raises:
        UsageProblem: not such a duration.
    """
    match = _DURATION.match(text)
    if match is None:
        raise UsageProblem(f"{flag} must be a duration like 90, 30m, 12h or 7d, got {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


@Parameter(name="*")
@dataclasses.dataclass(frozen=True, kw_only=True)
class DeadLetterFilters:
    """Which dead letters: every filter given must match."""

    topic: str | None = None
    """Only this topic's."""
    reason: str | None = None
    """Only this reason's: exhausted, non_retryable, undecodable or killed."""
    error_type: str | None = None
    """Only errors of this type (e.g. TimeoutError)."""
    target_type: str | None = None
    """Only targets of this type."""
    target_id: str | None = None
    """Only this target id."""
    q: str | None = None
    """Only those whose error text (type name or message) contains this."""
    since: str | None = None
    """Only those filed at or after this time (epoch seconds or ISO 8601)."""
    until: str | None = None
    """Only those filed before this time (epoch seconds or ISO 8601)."""

    def values(self) -> dict[str, Any]:
        """The filters given, as the API's fields (times in epoch seconds).

        Raises:
            UsageProblem: a time that cannot be read.
        """
        fields: dict[str, Any] = {
            "topic": self.topic,
            "reason": self.reason,
            "error_type": self.error_type,
            "target_type": self.target_type,
            "target_id": self.target_id,
            "q": self.q,
        }
        if self.since is not None:
            fields["since"] = parse_moment(self.since, "--since")
        if self.until is not None:
            fields["until"] = parse_moment(self.until, "--until")
        return {k: v for k, v in fields.items() if v is not None}
