"""The daemon's configuration: the runtime's sections plus ``[daemon]``, and where each value
came from.

Precedence, lowest first: the defaults, the TOML file, ``ACTORGRID_*`` environment variables
(``ACTORGRID_DAEMON__PORT=9000``), the command-line flags. The first three are the runtime's
own :func:`~actorgrid.load_config`; the flags are applied last and validated the same way.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from actorgrid import ConfigError, RuntimeConfig, load_config

from .alerts import AlertSettings
from .dashboard import DashboardSettings

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = (
    "DEFAULT_CONFIG_FILE",
    "ENV_PREFIX",
    "DaemonConfig",
    "DaemonSettings",
    "ValueSource",
    "config_sources",
    "load_daemon_config",
    "resolve_config_path",
)

ENV_PREFIX = "ACTORGRID_"
DEFAULT_CONFIG_FILE = Path("actorgrid.toml")
"""Read when it exists in the working directory and no ``--config`` is given."""

_LEVELS = ("debug", "info", "warning", "error", "critical")
_MIN_TOKEN = 16


class DaemonSettings(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``[daemon]``: where the API listens, its token, the log level and the app to run.

    How long a stop may take comes from ``[broker] drain_timeout`` (in-flight handlers) and
    ``[storage] close_timeout`` (saving and closing), as for an embedded runtime.
    """

    host: str = "127.0.0.1"
    """The address the API binds. Anything but a loopback address needs a ``token``."""
    port: int = 8765
    """The API's TCP port (0: any free port; the ``api_listening`` event names it)."""
    token: str | None = None
    """The bearer token of state-changing requests (at least 16 characters). Unset: a random
    one is created in ``<database>.token`` (mode 0600) and reused on restart."""
    log_level: str = "info"
    """``debug``, ``info``, ``warning``, ``error`` or ``critical``."""
    app: str | None = None
    """The application, as ``package.module:attribute`` (an ``actorgrid.App``)."""
    max_body_bytes: int = 1_048_576
    """The largest request body the API reads."""
    max_batch: int = 1000
    """The most messages one batch publish may carry."""

    def __post_init__(self) -> None:
        if not self.host:
            raise ValueError("host must not be empty")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be 0 to 65535, got {self.port}")
        if self.token is not None and len(self.token) < _MIN_TOKEN:
            raise ValueError(f"token must have at least {_MIN_TOKEN} characters")
        if self.log_level.lower() not in _LEVELS:
            raise ValueError(f"log_level must be one of {', '.join(_LEVELS)}")
        if self.app is not None and not self.app.strip():
            raise ValueError("app must be 'package.module:attribute'")
        if self.max_body_bytes < 1 or self.max_batch < 1:
            raise ValueError("max_body_bytes and max_batch must be >= 1")


class DaemonConfig(RuntimeConfig, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """The runtime's configuration with the daemon's own sections (an ``actorgrid.toml``):
    ``[daemon]``, ``[alerts]`` and ``[dashboard]``."""

    daemon: DaemonSettings = msgspec.field(default_factory=DaemonSettings)
    alerts: AlertSettings = msgspec.field(default_factory=AlertSettings)
    dashboard: DashboardSettings = msgspec.field(default_factory=DashboardSettings)


def resolve_config_path(path: str | os.PathLike[str] | None) -> Path | None:
    """The file to read: ``path``, else ``./actorgrid.toml`` when it exists, else none."""
    if path is not None:
        return Path(path)
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


def load_daemon_config(
    path: str | os.PathLike[str] | None = None,
    *,
    flags: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> DaemonConfig:
    """Load the daemon's configuration: defaults < file < environment < flags.

    Args:
        path: the TOML file (None: ``./actorgrid.toml`` if it exists, else no file).
        flags: ``[daemon]`` fields given on the command line (None values are not given).
        environ: the environment (default ``os.environ``).

    Raises:
        ConfigError: a missing or bad file, a bad variable or flag; it names the source,
            the field and what was expected.
    """
    config = load_config(
        DaemonConfig, resolve_config_path(path), env_prefix=ENV_PREFIX, environ=environ
    )
    given = {k: v for k, v in (flags or {}).items() if v is not None}
    if not given:
        return config
    fields = msgspec.structs.asdict(config.daemon) | given
    try:
        daemon = msgspec.convert(fields, DaemonSettings)
    except (msgspec.ValidationError, ValueError) as exc:
        names = ", ".join(f"--{k.replace('_', '-')}" for k in given)
        raise ConfigError(f"command-line flags {names}", "daemon", str(exc)) from None
    return msgspec.structs.replace(config, daemon=daemon)


class ValueSource(msgspec.Struct, frozen=True):
    """One effective setting: its dotted key, its value and where it came from."""

    key: str
    value: Any
    source: str
    """``default``, ``file <path>``, ``env <VARIABLE>`` or ``flag --<name>``."""


def config_sources(
    path: str | os.PathLike[str] | None = None,
    *,
    flags: Mapping[str, object] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[ValueSource]:
    """Load the configuration like :func:`load_daemon_config`; say where each value came from.

    Returns:
        Every leaf setting in field order; the token's value is shown as ``"<set>"``.

    Raises:
        ConfigError: as :func:`load_daemon_config`.
    """
    config = load_daemon_config(path, flags=flags, environ=environ)
    env = os.environ if environ is None else environ
    by_name = {name.upper(): name for name in env if name.upper().startswith(ENV_PREFIX)}
    file_path = resolve_config_path(path)
    file_data: dict[str, Any] = {}
    if file_path is not None:
        file_data = tomllib.loads(file_path.read_text(encoding="utf-8"))
    given = {k for k, v in (flags or {}).items() if v is not None}
    out: list[ValueSource] = []
    for keys, value in _leaves(config, ()):
        key = ".".join(keys)
        if keys[0] == "daemon" and len(keys) == 2 and keys[1] in given:
            source = f"flag --{keys[1].replace('_', '-')}"
        elif (variable := _env_name(keys, by_name)) is not None:
            source = f"env {variable}"
        elif _in_file(file_data, keys):
            source = f"file {file_path}"
        else:
            source = "default"
        if key == "daemon.token" and value is not None:
            value = "<set>"
        out.append(ValueSource(key, value, source))
    return out


def _leaves(struct: msgspec.Struct, prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any]]:
    found: list[tuple[tuple[str, ...], Any]] = []
    for field in msgspec.structs.fields(struct):
        value = getattr(struct, field.name)
        keys = (*prefix, field.encode_name)
        if isinstance(value, msgspec.Struct):
            found.extend(_leaves(value, keys))
        else:
            found.append((keys, msgspec.to_builtins(value)))
    return found


def _env_name(keys: tuple[str, ...], by_name: Mapping[str, str]) -> str | None:
    """The variable that set ``keys`` or a table above it, if any (the deepest wins)."""
    for depth in range(len(keys), 0, -1):
        name = by_name.get(ENV_PREFIX + "__".join(keys[:depth]).upper())
        if name is not None:
            return name
    return None


def _in_file(data: Mapping[str, Any], keys: tuple[str, ...]) -> bool:
    node: Any = data
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True
