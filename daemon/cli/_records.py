"""``actorgrid retry``: a target's retry record (show, reset, request the early retry)."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import quote

import cyclopts

from ._command import call_daemon
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations
from ._retries import show_early_result

if TYPE_CHECKING:
    from ._client import DaemonClient
    from ._output import Output

__all__ = ("retry",)

retry = cyclopts.App(
    name="retry",
    help="A target's retry record: show, reset, early.",
    help_format="plaintext",
)

_TIMES = (
    "last_attempt_at",
    "last_success_at",
    "next_allowed_at",
    "last_explicit_early_granted_at",
)


def _path(target_type: str, target_id: str, action: str = "") -> str:
    return f"/v1/retry-records/{quote(target_type, safe='')}/{quote(target_id, safe='')}{action}"


@retry.command
def show(target_type: str, target_id: str, /, *, options: ClientOptions | None = None) -> int:
    """Show a target's retry record: failures in its cycle, the early retry, the windows.

    Args:
        target_type: the target's type (e.g. order).
        target_id: the target's id (e.g. o-17).
    """

    def run(client: DaemonClient, out: Output) -> None:
        answer = client.get(_path(target_type, target_id))
        title = f"retry record of {target_type}:{target_id}"
        out.result(answer, lambda: out.record(answer, title=title, times=_TIMES))

    return call_daemon(options, run)


@retry.command
def reset(target_type: str, target_id: str, /, *, options: ClientOptions | None = None) -> int:
    """Reset a target's retry record: its next attempt starts a fresh cycle.

    Args:
        target_type: the target's type.
        target_id: the target's id.
    """

    def run(client: DaemonClient, out: Output) -> None:
        client.delete(_path(target_type, target_id))
        answer = {"reset": [target_type, target_id]}
        out.result(answer, lambda: out.line(f"reset the retry record of {target_type}:{target_id}"))

    return call_daemon(options, run)


@retry.command
def early(target_type: str, target_id: str, /, *, options: ClientOptions | None = None) -> int:
    """Request the explicit early retry of the target's scheduled message (once per cycle,
    after the early wait); prints whether it was granted and, if not, why and when.

    Args:
        target_type: the target's type.
        target_id: the target's id.
    """

    def run(client: DaemonClient, out: Output) -> None:
        answer = client.post(_path(target_type, target_id, "/early"))
        out.result(answer, lambda: show_early_result(out, answer))

    return call_daemon(options, run)
