"""``actorgrid patterns``: recurring failure patterns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._command import call_daemon
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations
from ._output import Column, relative

if TYPE_CHECKING:
    from ._client import DaemonClient
    from ._output import Output

__all__ = ("patterns",)


def _chunks(value: object) -> str:
    """``source#id x count`` of each attached reference chunk."""
    if not isinstance(value, list):
        return ""
    uses: list[Any] = value
    return ", ".join(f"{u['source']}#{u['chunk_id']} x{u['count']}" for u in uses)


_COLUMNS = (
    Column("id", "id", no_wrap=True),
    Column("failures", "count"),
    Column("first seen", "first_seen", relative),
    Column("last seen", "last_seen", relative),
    Column("outcomes", "outcomes"),
    Column("targets", "targets"),
    Column("runbook chunks", "chunks", _chunks),
)


def patterns(*, options: ClientOptions | None = None) -> int:
    """List the recurring failure patterns the pattern engine found, most failures first."""

    def show(client: DaemonClient, out: Output) -> None:
        answer = client.get("/v1/patterns")
        out.result(
            answer,
            lambda: out.table(
                answer["items"], _COLUMNS, empty="no recurring failure patterns (yet)"
            ),
        )

    return call_daemon(options, show)
