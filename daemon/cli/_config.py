"""``actorgrid config``: the effective configuration."""

from __future__ import annotations

import json
import sys

import cyclopts
import msgspec

from actorgrid import ConfigError
from actorgrid.daemon import config_sources

from ._errors import report
from ._options import ConfigFile, DaemonFlags

__all__ = ("config",)

config = cyclopts.App(name="config", help="The configuration.", help_format="plaintext")


@config.command
def show(
    *, config: ConfigFile = None, flags: DaemonFlags | None = None, json_: bool = False
) -> int:
    """Print every setting `actorgrid run` would use with these options, and its source.

    The source is default, file <path>, env <VARIABLE> or flag --<name>, in rising
    precedence. The token is never printed (<set> when one is configured).

    Args:
        config: the TOML file.
        flags: as for `actorgrid run`.
        json_: one JSON array of {key, value, source} instead of the table.
    """
    try:
        values = config_sources(config, flags=(flags or DaemonFlags()).given())
    except ConfigError as exc:
        return report(exc)
    if json_:
        print(json.dumps(msgspec.to_builtins(values), indent=2))
        return 0
    width = max(len(v.key) for v in values)
    shown = [(v.key, json.dumps(v.value), v.source) for v in values]
    value_width = min(40, max(len(s[1]) for s in shown))
    for key, value, source in shown:
        sys.stdout.write(f"{key:<{width}}  {value:<{value_width}}  {source}\n")
    return 0
