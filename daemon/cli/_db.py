"""``actorgrid db``: the database schema."""

from __future__ import annotations

import anyio
import cyclopts

from actorgrid import ConfigError, StorageError
from actorgrid.daemon import DaemonFiles, load_daemon_config
from actorgrid.storage import current_revision_async, migrate_async

from ._errors import report
from ._options import ConfigFile  # noqa: TC001 - cyclopts reads annotations

__all__ = ("db",)

db = cyclopts.App(name="db", help="The database schema.", help_format="plaintext")


@db.command
def upgrade(*, config: ConfigFile = None) -> int:
    """Upgrade the database of [storage] url to the newest schema (the daemon does it at start).

    Safe while a daemon runs on it: a database already at the newest revision is unchanged.
    """
    try:
        settings = load_daemon_config(config)
        url = settings.storage.url
        DaemonFiles.beside(url)  # a database file, as the daemon needs
        assert url is not None

        async def upgrade_now() -> str | None:
            await migrate_async(url)
            return await current_revision_async(url)

        revision = anyio.run(upgrade_now)
    except (ConfigError, StorageError) as exc:
        return report(exc)
    print(f"database {url} is at revision {revision}")
    return 0
