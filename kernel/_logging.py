"""Logging configuration for runtime entry points; library modules only call ``get_logger()``.

This module is the one home of the process-wide logging state: structlog's configuration and
the handler installed on the stdlib root logger. :func:`reset_logging` undoes both.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, TextIO

import msgspec
import structlog

from ._exceptions import ConfigError

if TYPE_CHECKING:
    from structlog.typing import Processor

__all__ = ("configure_logging", "reset_logging")

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


def _fallback(obj: object) -> str:
    return repr(obj)


_json_encoder = msgspec.json.Encoder(enc_hook=_fallback)


def _dumps(obj: object, **_: object) -> str:
    return _json_encoder.encode(obj).decode()


class _State:
    """What configure_logging changed in the stdlib, so that reset_logging can undo it."""

    handler: logging.Handler | None = None
    root_level: int | None = None


_state = _State()


def configure_logging(
    level: str = "info",
    *,
    json: bool | None = None,
    stream: TextIO | None = None,
    cache_logger_on_first_use: bool = True,
) -> None:
    """Configure structlog and route stdlib logging to the same output.

    Call this from runtime entry points only (the daemon, the CLI, examples), never from
    library code. Calling it again replaces the previous configuration. Every event carries
    an ISO-8601 UTC ``timestamp`` and its ``level``. Records from stdlib loggers (SQLAlchemy,
    Alembic, aiosqlite) at WARNING or above, or at ``level`` if that is higher, are rendered
    the same way with their ``logger`` name.

    Args:
        level: The lowest level emitted: ``debug``, ``info``, ``warning``, ``error`` or
            ``critical`` (any case).
        json: True for JSON lines, False for the human console renderer, None to choose
            the console renderer when ``stream`` is a TTY and JSON lines otherwise.
        stream: Where to write; defaults to ``sys.stderr`` at the time of the call.
        cache_logger_on_first_use: Let structlog cache bound loggers (production). Tests pass
            False so that ``structlog.testing.capture_logs`` sees every event.

    Raises:
        ConfigError: ``level`` is not one of the names above.
    """
    threshold = _LEVELS.get(level.lower())
    if threshold is None:
        problem = f"expected one of {', '.join(_LEVELS)}, got {level!r}"
        raise ConfigError("logging configuration", "level", problem)
    out = sys.stderr if stream is None else stream
    if json is None:
        json = not _isatty(out)

    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    renderer: Processor
    if json:
        renderer = structlog.processors.JSONRenderer(serializer=_dumps)
        exceptions: Processor = structlog.processors.format_exc_info
    else:
        renderer = structlog.dev.ConsoleRenderer(colors=_isatty(out))
        exceptions = structlog.dev.set_exc_info
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.StackInfoRenderer(),
            exceptions,
            timestamper,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        context_class=dict,
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=cache_logger_on_first_use,
    )

    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if json:
        final.append(structlog.processors.format_exc_info)
    final.append(renderer)
    formatter = structlog.stdlib.ProcessorFormatter(
        processors=final,
        foreign_pre_chain=[
            structlog.stdlib.add_log_level,
            structlog.stdlib.add_logger_name,
            structlog.stdlib.ExtraAdder(),
            timestamper,
        ],
    )
    stdlib_threshold = max(logging.WARNING, threshold)
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    # On the handler too: libraries set their own logger levels (SQLAlchemy sets WARN).
    handler.setLevel(stdlib_threshold)
    root = logging.getLogger()
    if _state.handler is not None:
        root.removeHandler(_state.handler)
    else:
        _state.root_level = root.level
    _state.handler = handler
    root.addHandler(handler)
    root.setLevel(stdlib_threshold)


def reset_logging() -> None:
    """Restore structlog's defaults and remove what :func:`configure_logging` added to stdlib.

    Safe to call when logging was never configured.
    """
    structlog.reset_defaults()
    root = logging.getLogger()
    if _state.handler is not None:
        root.removeHandler(_state.handler)
    if _state.root_level is not None:
        root.setLevel(_state.root_level)
    _state.handler = None
    _state.root_level = None


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
