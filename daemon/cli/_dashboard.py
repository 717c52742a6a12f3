"""``actorgrid dashboard``: a fresh one-time login URL of the daemon's dashboard."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from ._command import call_daemon
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations

if TYPE_CHECKING:
    from ._client import DaemonClient
    from ._output import Output

__all__ = ("dashboard",)


def dashboard(*, options: ClientOptions | None = None) -> int:
    """Print a new one-time login URL of the dashboard (POST /v1/dashboard/login-url, with
    the daemon's token). Open it in a browser: it logs in once and is spent."""

    def show(client: DaemonClient, out: Output) -> None:
        answer = client.post("/v1/dashboard/login-url")
        hours = answer["expires_in"] / 3600

        def people() -> None:
            # Printed whole, never wrapped: it is copied or clicked.
            sys.stdout.write(f"{answer['url']}\n(one use, valid {hours:g} h unused)\n")

        out.result(answer, people)

    return call_daemon(options, show)
