"""Telling a real cancellation from a stray ``CancelledError``.

On asyncio a task that is being cancelled (by ``Task.cancel()``, which anyio's cancel scopes
and task groups use) has ``Task.cancelling() > 0`` until the cancellation is consumed. A
``CancelledError`` raised while the count is zero came from awaiting a future that was
cancelled elsewhere: it says nothing about this task, and treating it as a stop would let
one handler's bug cancel its supervisor and every sibling.
"""

from __future__ import annotations

import asyncio

from ._exceptions import StrayCancellation

__all__ = ("being_cancelled", "stray_failure")


def being_cancelled() -> bool:
    """Whether the current task has a cancellation pending (a real stop, not a stray one)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def stray_failure(exc: asyncio.CancelledError) -> StrayCancellation:
    """Turn a stray ``CancelledError`` into the handler failure it is; re-raise a real one."""
    if being_cancelled():
        raise exc
    failure = StrayCancellation(
        "a CancelledError reached the handler while its task was not being cancelled "
        "(it awaited a future that was cancelled elsewhere)"
    )
    failure.__cause__ = exc
    return failure
