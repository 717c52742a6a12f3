"""``actorgrid retries``: the scheduled retries (messages waiting for their next attempt)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import cyclopts

from ._command import call_daemon
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations
from ._output import Column, relative, short, target_text, when

if TYPE_CHECKING:
    from ._client import DaemonClient
    from ._output import Output

__all__ = ("retries", "show_early_result")

retries = cyclopts.App(
    name="retries",
    help="Scheduled retries: list, show, now, kill, delete.",
    help_format="plaintext",
)


_COLUMNS = (
    Column("id", "id", no_wrap=True),
    Column("topic", "topic"),
    Column("target", "target"),
    Column("attempts", "attempts"),
    Column("phase", "phase"),
    Column("next attempt", "next_attempt_at", relative),
    Column("last error", "last_error", short(60)),
)
_TIMES = ("next_attempt_at", "created_at")


def _path(message_id: str, action: str = "") -> str:
    return f"/v1/retries/{quote(message_id, safe='')}{action}"


@retries.command(name="list")
def list_(
    *,
    topic: str | None = None,
    target_type: str | None = None,
    target_id: str | None = None,
    error_type: str | None = None,
    limit: int = 50,
    cursor: str | None = None,
    options: ClientOptions | None = None,
) -> int:
    """List the scheduled retries, earliest due first, with their next attempt time, phase,
    attempts and last error.

    Args:
        topic: only this topic's.
        target_type: only targets of this type.
        target_id: only this target id.
        error_type: only those whose last error is of this type (e.g. TimeoutError).
        limit: at most this many (1 to 1000).
        cursor: the page after the one that printed it.
    """

    def run(client: DaemonClient, out: Output) -> None:
        answer = client.get(
            "/v1/retries",
            topic=topic,
            target_type=target_type,
            target_id=target_id,
            error_type=error_type,
            limit=limit,
            cursor=cursor,
        )

        def people() -> None:
            items = [item | {"target": target_text(item)} for item in answer["items"]]
            out.table(items, _COLUMNS, empty="no scheduled retries")
            out.next_page(answer)

        out.result(answer, people)

    return call_daemon(options, run)


@retries.command
def show(message_id: str, /, *, options: ClientOptions | None = None) -> int:
    """Show one scheduled retry: next attempt time, phase, attempts, last error.

    Args:
        message_id: the scheduled message's id (from `actorgrid retries list`).
    """

    def run(client: DaemonClient, out: Output) -> None:
        answer = client.get(_path(message_id))
        out.result(answer, lambda: out.record(answer, title="scheduled retry", times=_TIMES))

    return call_daemon(options, run)


def show_early_result(out: Output, answer: dict[str, Any]) -> None:
    """An ``EarlyRetryResult`` for people."""
    if answer.get("granted"):
        out.line(f"early retry granted: message {answer.get('message_id')} is attempted now")
        return
    after = answer.get("retry_after")
    later = f"; next allowed {when(after)}" if after is not None else ""
    out.line(f"early retry not granted: {answer.get('reason')}{later}")


@retries.command
def now(message_id: str, /, *, options: ClientOptions | None = None) -> int:
    """Retry it now: the explicit early retry, under the policy's rules (once per cycle,
    after the early wait). Prints whether it was granted and, if not, why and when.

    Args:
        message_id: the scheduled message's id.
    """

    def run(client: DaemonClient, out: Output) -> None:
        answer = client.post(_path(message_id, "/now"))
        out.result(answer, lambda: show_early_result(out, answer))

    return call_daemon(options, run)


@retries.command
def kill(message_id: str, /, *, options: ClientOptions | None = None) -> int:
    """Kill it: move it to the dead letters now, with reason `killed`.

    Args:
        message_id: the scheduled message's id.
    """

    def run(client: DaemonClient, out: Output) -> None:
        answer = client.post(_path(message_id, "/kill"))
        out.result(answer, lambda: out.line(f"killed: dead letter {answer['dead_letter_id']}"))

    return call_daemon(options, run)


@retries.command
def delete(message_id: str, /, *, options: ClientOptions | None = None) -> int:
    """Delete the scheduled message for good (no dead letter is kept).

    Args:
        message_id: the scheduled message's id.
    """

    def run(client: DaemonClient, out: Output) -> None:
        client.delete(_path(message_id))
        answer = {"deleted": message_id}
        out.result(answer, lambda: out.line(f"deleted scheduled message {message_id}"))

    return call_daemon(options, run)
