"""The API's settings."""

from __future__ import annotations

import msgspec

__all__ = ("ApiSettings",)


class ApiSettings(msgspec.Struct, frozen=True, kw_only=True):
    """How the HTTP API guards itself.

    Attributes:
        token: the bearer token every state-changing request must carry
            (``Authorization: Bearer <token>``); compared in constant time.
        max_body_bytes: the largest request body accepted (413 past it).
        max_batch: the most messages one batch publish, or chunks one add, may carry.
        max_jobs_kept: finished background jobs remembered for ``GET /v1/jobs``.
    """

    token: str
    max_body_bytes: int = 1_048_576
    max_batch: int = 1000
    max_jobs_kept: int = 100

    def __post_init__(self) -> None:
        if not self.token:
            raise ValueError("token must not be empty")
        if self.max_body_bytes < 1:
            raise ValueError("max_body_bytes must be >= 1")
        if self.max_batch < 1:
            raise ValueError("max_batch must be >= 1")
        if self.max_jobs_kept < 0:
            raise ValueError("max_jobs_kept must be >= 0")
