"""``actorgrid alerts``: the daemon's own alerts (``GET /v1/alerts``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._command import call_daemon
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations
from ._output import Column, relative

if TYPE_CHECKING:
    from ._client import DaemonClient
    from ._output import Output

__all__ = ("alerts",)


def _value(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


_COLUMNS = (
    Column("alert", "name", no_wrap=True),
    Column("severity", "severity"),
    Column("state", "state"),
    Column("since", "since", relative),
    Column("value", "value", _value),
    Column("threshold", "threshold", _value),
    Column("summary", "summary"),
)


def alerts(*, all_: bool = False, options: ClientOptions | None = None) -> int:
    """List the daemon's alerts that are firing: the retry rate, dead letters, writer lag,
    retry-gate and broker restarts, readiness (thresholds in [alerts]).

    Args:
        all_: list every alert, those that are ok too.
    """

    def show(client: DaemonClient, out: Output) -> None:
        answer = client.get("/v1/alerts", all="true" if all_ else None)
        empty = "no alerts" if all_ else "no alert is firing"
        out.result(answer, lambda: out.table(answer["items"], _COLUMNS, empty=empty))

    return call_daemon(options, show)
