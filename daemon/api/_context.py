"""What every route handler is given: the runtime, the settings, the background jobs and the
alert monitor."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.di import NamedDependency

from actorgrid import Runtime  # noqa: TC001 (Litestar reads the fields at run time)

from ..alerts import AlertMonitor  # noqa: TC001
from ._job_manager import JobManager  # noqa: TC001
from ._settings import ApiSettings  # noqa: TC001

__all__ = ("ApiContext", "Ctx")


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The handlers' dependency ``ctx``."""

    runtime: Runtime
    settings: ApiSettings
    jobs: JobManager
    alerts: AlertMonitor | None = None
    """The daemon's alert monitor (None: alerts are off)."""


Ctx = NamedDependency[ApiContext]
"""How a handler asks for the context: ``ctx: Ctx``."""
