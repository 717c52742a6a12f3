"""The API's bearer token: configured, or created once beside the database (mode 0600)."""

from __future__ import annotations

import os
import secrets
import stat
from typing import TYPE_CHECKING

import structlog

from ._errors import DaemonError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ("ensure_token", "read_token")

_log = structlog.get_logger("actorgrid.daemon")


def read_token(path: Path) -> str | None:
    """The token kept in ``path`` (None: no such file or an empty one)."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return text or None


def ensure_token(configured: str | None, path: Path) -> str:
    """Return the configured token, else the one in ``path``, else a new one written there.

    A new file is created readable and writable by its owner only (0600); an existing one
    that others may read is made so again (``token_file_mode_fixed``).

    Raises:
        DaemonError: the file cannot be read or written.
    """
    if configured is not None:
        _log.info("token_ready", source="config")
        return configured
    try:
        token = read_token(path)
        if token is not None:
            mode = stat.S_IMODE(os.stat(path).st_mode)
            if mode & 0o077:
                os.chmod(path, 0o600)
                _log.warning("token_file_mode_fixed", path=str(path), was=oct(mode))
            _log.info("token_ready", source="file", path=str(path))
            return token
        token = secrets.token_urlsafe(32)
        # 0600 from the first byte: never readable by others, not even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            os.fchmod(out.fileno(), 0o600)  # an empty file left before had its own mode
            out.write(token + "\n")
    except OSError as exc:
        raise DaemonError(f"cannot keep the API token in {path}: {exc.strerror}") from exc
    _log.info("token_created", path=str(path), mode="0600")
    return token
