"""The ``actorgrid`` command's root and the one list of its command groups.

Each group lives in a module of its own (``_run``, ``_db``, ...) and is loaded only when it
is used, so ``actorgrid version`` does not import the runtime. Adding a group is one line in
:data:`COMMANDS`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import cyclopts

__all__ = ("COMMANDS", "EXIT_CODES", "root", "version_text")

EXIT_CODES = """\
Exit codes:
  0      done (run: stopped gracefully by SIGTERM or SIGINT)
  1      failed while running (a replay job failed or was cancelled,
         the daemon answered 5xx)
  2      bad usage or config: a flag, a config value, an app that
         cannot be imported or declares something invalid, an
         address that may not be bound
  3      the daemon is not running (nothing answers at its address, or
         it is stopping), or another one holds the database
  4      the daemon refused the token (missing or wrong)
  5      not found: an unknown topic, dead letter, scheduled retry,
         job, retry record or chunk
  6      the daemon rejected the request as invalid (a 4xx answer)
  130    a followed replay job interrupted by Ctrl-C (and cancelled)
  128+N  run: stopped at once by a second signal N (143: SIGTERM)

docs/operations.md describes the commands, the config and the files."""

COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("actorgrid.daemon.cli._run:run", "Run the daemon until SIGTERM or SIGINT."),
    "publish": ("actorgrid.daemon.cli._publish:publish", "Publish one message or a batch."),
    "status": ("actorgrid.daemon.cli._status:status", "The daemon's status."),
    "retries": (
        "actorgrid.daemon.cli._retries:retries",
        "Scheduled retries: list, show, now, kill, delete.",
    ),
    "dlq": ("actorgrid.daemon.cli._dlq:dlq", "Dead letters: list, show, replay, purge."),
    "jobs": ("actorgrid.daemon.cli._jobs:jobs", "Background jobs: list, show, cancel."),
    "retry": (
        "actorgrid.daemon.cli._records:retry",
        "A target's retry record: show, reset, early.",
    ),
    "chunks": ("actorgrid.daemon.cli._chunks:chunks", "Reference chunks: add, search, delete."),
    "patterns": ("actorgrid.daemon.cli._patterns:patterns", "Recurring failure patterns."),
    "dashboard": (
        "actorgrid.daemon.cli._dashboard:dashboard",
        "A one-time login URL of the dashboard.",
    ),
    "alerts": ("actorgrid.daemon.cli._alerts:alerts", "The daemon's alerts that are firing."),
    "analytics": (
        "actorgrid.daemon.cli._analytics:analytics",
        "Retry analytics over a recent range.",
    ),
    "db": ("actorgrid.daemon.cli._db:db", "The database schema: upgrade."),
    "config": ("actorgrid.daemon.cli._config:config", "The effective configuration: show."),
    "version": ("actorgrid.daemon.cli._version:version", "Print the version."),
}
"""``{name: ("module:object", one-line help)}``; the object is a function or a
``cyclopts.App`` of subcommands, imported when the command runs."""


def version_text() -> str:
    """``actorgrid <version>``."""
    try:
        return f"actorgrid {package_version('actorgrid')}"
    except PackageNotFoundError:  # a source tree that was never installed
        return "actorgrid (not installed)"


root = cyclopts.App(
    name="actorgrid",
    help=(
        "actorgrid: an asyncio actor runtime, served as a daemon (`actorgrid run`) and "
        "driven from here.\n\n" + EXIT_CODES
    ),
    help_format="plaintext",
    version=version_text,
)
for _name, (_target, _help) in COMMANDS.items():
    root.command(_target, name=_name, help=_help)
