"""What every route handler is given: the runtime, the settings and the background jobs."""

from __future__ import annotations

from dataclasses import dataclass

from litestar.di import NamedDependency

from actorgrid import Runtime  # noqa: TC001 (Litestar reads the fields at run time)

from ._job_manager import JobManager  # noqa: TC001
from ._settings import ApiSettings  # noqa: TC001

__all__ = ("ApiContext", "Ctx")


@dataclass(frozen=True, slots=True)
class ApiContext:
    """The handlers' dependency ``ctx``."""

    runtime: Runtime
    settings: ApiSettings
    jobs: JobManager


Ctx = NamedDependency[ApiContext]
"""How a handler asks for the context: ``ctx: Ctx``."""
