"""actorgrid.daemon.api: the HTTP admin and intake API (Litestar), over a running runtime.

``create_api(runtime, settings)`` returns the Litestar app; the daemon serves it with
uvicorn. The route contract is ``docs/api.md``; the OpenAPI document is served at
``/schema/openapi.json``. It uses the runtime's public API only.
"""

from __future__ import annotations

from ._app import create_api as create_api
from ._errors import ApiError as ApiError
from ._errors import ErrorBody as ErrorBody
from ._job_manager import JobManager as JobManager
from ._job_manager import JobView as JobView
from ._settings import ApiSettings as ApiSettings

__all__ = ("ApiError", "ApiSettings", "ErrorBody", "JobManager", "JobView", "create_api")
