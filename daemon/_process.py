"""The daemon process: ``actorgrid run`` from start to exit.

Start, each step one log event: ``daemon_starting``, ``app_loaded``, ``lock_acquired``,
``token_ready``/``token_created``, ``database_migrated``, ``runtime_started``,
``app_started``, ``alerts_started`` (unless ``[alerts]`` is off), ``api_listening``,
``dashboard_url`` (the one-time login URL of the dashboard, carrying its token: the Jupyter
convention). Then it serves, evaluating its alerts (``alert_firing`` / ``alert_resolved``),
until SIGTERM or SIGINT: ``signal_received``, ``intake_stopped`` (publishes answer 503 from
here on), the runtime's
drain, flush and close (``runtime_stopped``), ``api_stopped``, ``lock_released``,
``daemon_stopped``; exit 0. A second signal exits at once (see ``_signals``).
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

import anyio
import msgspec
import structlog

from actorgrid import ConfigError, Runtime, SystemClock
from actorgrid.kernel import RestartLimitExceeded, configure_logging, run
from actorgrid.storage import current_revision_async, migrate_async

from ._errors import AppLoadError, DaemonError, ExitCode
from ._files import DaemonFiles
from ._loader import load_app
from ._lock import DaemonLock
from ._server import ApiServer, bind_socket
from ._signals import SignalWatch
from ._token import ensure_token
from .alerts import AlertMonitor
from .api import ApiSettings, create_api
from .dashboard import DashboardAuth

if TYPE_CHECKING:
    import socket
    from pathlib import Path

    from anyio.abc import TaskGroup

    from actorgrid import App

    from ._settings import DaemonConfig

__all__ = ("run_daemon", "serve")

_log = structlog.get_logger("actorgrid.daemon")


def run_daemon(config: DaemonConfig, *, config_path: Path | None = None) -> int:
    """Configure logging, run the daemon until it is signalled, return the exit status.

    Errors at start (a bad app, the lock held, an address refused) are logged as
    ``daemon_failed`` with the error and exit with their code (see ``ExitCode``).
    """
    configure_logging(config.daemon.log_level)
    _log.info(
        "daemon_starting",
        pid=os.getpid(),
        config=str(config_path) if config_path is not None else None,
        database=config.storage.url,
    )
    try:
        status: int = run(serve, config)  # on uvloop when it is installed
    except (DaemonError, ConfigError) as exc:
        code = exc.exit_code if isinstance(exc, DaemonError) else ExitCode.USAGE
        _log.error("daemon_failed", error=str(exc), exit_status=int(code))
        return int(code)
    except RestartLimitExceeded as exc:
        _log.error("daemon_failed", error=str(exc), child=exc.child, exit_status=1)
        return int(ExitCode.FAILURE)
    return status


async def serve(config: DaemonConfig) -> int:
    """Run the daemon of ``config`` in the running event loop until it is signalled.

    Returns:
        0 after a graceful stop.

    Raises:
        AppLoadError: the app cannot be imported or its installation failed.
        DaemonLocked: another daemon runs on the database.
        BindRefused: the API's address is refused or cannot be bound.
        ConfigError: no app, or no database file.
        RestartLimitExceeded: the runtime's root supervisor gave up.
    """
    settings = config.daemon
    if settings.app is None:
        raise ConfigError("daemon", "daemon.app", "no app to run: give --app package.module:app")
    files = DaemonFiles.beside(config.storage.url)
    app = load_app(settings.app)
    _log.info("app_loaded", app=settings.app, topics=len(app.topics), handlers=len(app.handlers))
    stop = anyio.Event()

    def on_stop(name: str) -> None:
        _log.info("signal_received", signal=name, note="a second signal exits at once")
        stop.set()

    with DaemonLock(files.lock), SignalWatch(asyncio.get_running_loop(), on_stop):
        configured = settings.token is not None
        sock = bind_socket(settings.host, settings.port, token_configured=configured)
        try:
            token = ensure_token(settings.token, files.token)
            await _migrate(config)
            try:
                await _run(config, app, token, sock, stop)
            except BaseExceptionGroup as group:  # the server's task group wraps what it ends by
                raise _single(group) from None
        finally:
            sock.close()
    _log.info("daemon_stopped", exit_status=0)
    return int(ExitCode.OK)


async def _migrate(config: DaemonConfig) -> None:
    url = config.storage.url
    if url is None or not config.storage.migrate:
        return
    await migrate_async(url)
    _log.info("database_migrated", revision=await current_revision_async(url))


async def _run(
    config: DaemonConfig, app: App, token: str, sock: socket.socket, stop: anyio.Event
) -> None:
    settings = config.daemon
    # Migrated above, once, before the runtime starts.
    runtime_config = msgspec.structs.replace(
        config, storage=msgspec.structs.replace(config.storage, migrate=False)
    )
    api_settings = ApiSettings(
        token=token, max_body_bytes=settings.max_body_bytes, max_batch=settings.max_batch
    )
    async with anyio.create_task_group() as tg:
        server: ApiServer | None = None
        try:
            async with Runtime(runtime_config) as rt:
                try:
                    await app.install(rt)
                except Exception as exc:
                    raise _install_failed(settings.app, exc) from exc
                monitor = _monitor(config, rt)
                logins = DashboardAuth(token, config.dashboard, SystemClock())
                server = ApiServer(
                    create_api(rt, api_settings, alerts=monitor, dashboard=logins),
                    graceful_timeout=config.broker.drain_timeout,
                )
                await _start_server(tg, server, sock)
                host, port = sock.getsockname()[:2]
                base = f"http://{_url_host(host)}:{port}"
                _log.info("api_listening", url=base, port=port)
                _log.info(
                    "dashboard_url",
                    url=logins.mint().url(_browser_base(host, port)),
                    note="open it once to log in; `actorgrid dashboard` mints another",
                )
                async with anyio.create_task_group() as watch:
                    if monitor is not None:
                        watch.start_soon(monitor.run)
                    async with app.tasks(rt):
                        await stop.wait()
                    watch.cancel_scope.cancel()  # the stop is not an alert
                _log.info(
                    "intake_stopped",
                    note="publishes answer 503; handlers in flight finish",
                    drain_timeout=config.broker.drain_timeout,
                )
        finally:
            if server is not None:
                server.should_exit = True
    _log.info("api_stopped")


def _monitor(config: DaemonConfig, rt: Runtime) -> AlertMonitor | None:
    """The alert monitor on the runtime's clock, unless ``[alerts]`` is off."""
    if not config.alerts.enabled:
        return None
    assert rt.kernel is not None  # the runtime has started
    monitor = AlertMonitor(rt, config.alerts, rt.kernel.clock)
    _log.info("alerts_started", interval=config.alerts.interval, window=config.alerts.window)
    return monitor


def _install_failed(spec: str | None, exc: Exception) -> DaemonError:
    return AppLoadError(spec or "?", f"installing it failed: {type(exc).__name__}: {exc}")


async def _start_server(tg: TaskGroup, server: ApiServer, sock: socket.socket) -> None:
    """Start serving on ``sock``; return once it listens.

    Raises:
        DaemonError: the server ended before it listened.
    """
    done = anyio.Event()

    async def serve_api() -> None:
        try:
            await server.serve(sockets=[sock])
        finally:
            done.set()

    tg.start_soon(serve_api)
    while not server.started:
        if done.is_set():
            raise DaemonError("the HTTP server stopped while starting (see the errors above)")
        with anyio.move_on_after(0.01):
            await done.wait()


def _single(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error a task group ended by (the group itself when there are several)."""
    while len(group.exceptions) == 1 and isinstance(group.exceptions[0], BaseExceptionGroup):
        group = group.exceptions[0]
    return group.exceptions[0] if len(group.exceptions) == 1 else group


def _browser_base(host: str, port: int) -> str:
    """The base URL a browser on this machine opens (a wildcard bind is reached on loopback)."""
    shown = {"0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)
    return f"http://{_url_host(shown)}:{port}"


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host
