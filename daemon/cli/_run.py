"""``actorgrid run``: the daemon."""

from __future__ import annotations

from actorgrid import ConfigError
from actorgrid.daemon import load_daemon_config, resolve_config_path, run_daemon

from ._errors import report
from ._options import ConfigFile, DaemonFlags

__all__ = ("run",)


def run(*, config: ConfigFile = None, flags: DaemonFlags | None = None) -> int:
    """Run the daemon: migrate the database, start the runtime and the app, serve the API.

    It runs until SIGTERM or SIGINT: intake stops (publishes answer 503), handlers in flight
    finish (up to [broker] drain_timeout), everything is flushed and closed, exit 0. A second
    signal exits at once (128 + the signal's number); nothing committed is lost.
    """
    try:
        settings = load_daemon_config(config, flags=(flags or DaemonFlags()).given())
    except ConfigError as exc:
        return report(exc)
    return run_daemon(settings, config_path=resolve_config_path(config))
