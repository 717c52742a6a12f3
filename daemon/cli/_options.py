"""Options several commands share: the config file and the ``[daemon]`` flags."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

from cyclopts import Parameter

__all__ = ("ClientOptions", "ConfigFile", "DaemonFlags")

ConfigFile = Annotated[
    Path | None,
    Parameter(
        name="--config",
        help="TOML file (default: ./actorgrid.toml when it exists). "
        "ACTORGRID_<SECTION>__<FIELD> variables override it, flags override both.",
    ),
]


@Parameter(name="*")
@dataclasses.dataclass(frozen=True, kw_only=True)
class DaemonFlags:
    """The ``[daemon]`` settings a flag may override (unset: the file's or environment's)."""

    app: str | None = None
    """The application, as package.module:attribute (e.g. examples.app:app)."""
    host: str | None = None
    """The API's address (default 127.0.0.1; anything else needs a configured token)."""
    port: int | None = None
    """The API's port (default 8765; 0: any free port)."""
    log_level: str | None = None
    """debug, info, warning, error or critical."""

    def given(self) -> dict[str, object]:
        """The flags given, as ``[daemon]`` fields."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@Parameter(name="*")
@dataclasses.dataclass(frozen=True, kw_only=True)
class ClientOptions:
    """How a command reaches the daemon, and how it prints what it gets."""

    config: ConfigFile = None
    url: str | None = None
    """The daemon's API, e.g. http://127.0.0.1:8765 (default: from [daemon] host and port)."""
    json_: bool = False
    """Print the API's answer as JSON (for scripts) instead of tables."""
    timeout: float = 30.0
    """Seconds to wait for each answer of the daemon."""
