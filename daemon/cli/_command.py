"""Running an operator command: find the daemon, call it, print, and map errors to codes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from actorgrid import ConfigError
from actorgrid.daemon import DaemonError

from ._client import DaemonClient, locate
from ._errors import report
from ._options import ClientOptions
from ._output import Output

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ("call_daemon",)


def call_daemon(
    options: ClientOptions | None, action: Callable[[DaemonClient, Output], int | None]
) -> int:
    """Run ``action`` with a client of the daemon and an output; return the exit code.

    ``action`` returns None for success or an exit code of its own; an error it raises
    (or the lookup of the daemon raises) is reported on stderr and gives its code.
    """
    opts = options or ClientOptions()
    try:
        endpoint = locate(opts.config, opts.url)
        with DaemonClient(endpoint, timeout=opts.timeout) as client:
            code = action(client, Output(opts.json_))
    except (DaemonError, ConfigError) as exc:
        return report(exc)
    return 0 if code is None else code
