"""``actorgrid status``: what the daemon's runtime is doing."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._command import call_daemon
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations

if TYPE_CHECKING:
    from ._client import DaemonClient
    from ._output import Output

__all__ = ("status",)


def status(*, options: ClientOptions | None = None) -> int:
    """Show the daemon's status: actors, mailbox depths, restarts, topics, writer lag, gate
    and pattern-engine statistics (GET /v1/status), and whether it is ready."""

    def show(client: DaemonClient, out: Output) -> None:
        answer = client.get("/v1/status")
        title = f"actorgrid daemon at {client.endpoint.url}"
        out.result(answer, lambda: out.record(answer, title=title))

    return call_daemon(options, show)
