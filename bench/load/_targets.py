"""Where the load goes: an embedded runtime running the user's app, or a daemon over HTTP.

Both give the runner the same three things: the topics to send to, ``send`` (one
publish; it returns once the message is stored and raises when it is refused) and
``snapshot`` (the runtime's counters: dead letters, writer lag, broker queue).
"""

from __future__ import annotations

import contextlib
import importlib
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from actorgrid import (
    App,
    BrokerSettings,
    PatternSettings,
    RetryPolicyConfig,
    RuntimeConfig,
    StorageSettings,
)

from ._recorder import instrument

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Mapping

    import aiohttp

    from actorgrid import Runtime

    from ._options import LoadOptions
    from ._recorder import Recorder

__all__ = ("Snapshot", "Target", "embedded_target", "http_target", "load_object")


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The runtime's counters at one moment (``None``: not exposed by this target)."""

    dead: int | None
    """Messages dead-lettered since the runtime started."""
    writer_lag: int | None
    """Operations submitted to the database writer and not committed yet."""
    queued: int | None
    """Messages waiting for a worker."""
    running: int | None
    """Deliveries in progress."""
    acked: int | None = None
    """Messages handled since the runtime started."""


class Target(Protocol):
    """What the runner drives."""

    topics: tuple[str, ...]
    observes_completion: bool
    """Whether the handler's completion is recorded (embedded) or only the publish (HTTP)."""

    async def send(self, topic: str, payload: Any, headers: Mapping[str, str]) -> None:
        """Publish one message; return once it is stored, raise when it is refused."""
        ...

    async def snapshot(self) -> Snapshot:
        """Read the runtime's counters."""
        ...


def load_object(spec: str) -> Any:
    """Import ``package.module:attribute`` and return the attribute.

    Raises:
        ValueError: ``spec`` has no ``:``.
        ImportError, AttributeError: the module or the attribute is missing.
    """
    module_name, sep, attribute = spec.partition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"{spec!r} is not package.module:attribute")
    value: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        value = getattr(value, part)
    return value


@dataclass
class EmbeddedTarget:
    """A runtime in this process running the instrumented app."""

    runtime: Runtime
    topics: tuple[str, ...]
    observes_completion: bool = True

    async def send(self, topic: str, payload: Any, headers: Mapping[str, str]) -> None:
        """Publish through :meth:`Runtime.publish` (durable: committed on return)."""
        await self.runtime.publish(topic, payload, headers=headers)

    async def snapshot(self) -> Snapshot:
        """Read :meth:`Runtime.statistics` and the writer's statistics."""
        stats = self.runtime.statistics()
        writer = self.runtime.writer
        lag = writer.statistics().pending_ops if writer is not None else None
        return Snapshot(stats.dead, lag, stats.queued, stats.running, stats.acked)


def runtime_config(options: LoadOptions, db: Path) -> RuntimeConfig:
    """The embedded runtime's settings: SQLite at ``db``, retries after ``retry_wait`` s."""
    wait = options.retry_wait
    return RuntimeConfig(
        storage=StorageSettings(url=f"sqlite+aiosqlite:///{db}"),
        retry=RetryPolicyConfig(
            base_wait_minutes=wait / 60,
            base_retries=2,
            early_wait_minutes=wait * 0.4 / 60,
            max_retries=5,
        ),
        broker=BrokerSettings(drain_timeout=5.0),
        pattern=PatternSettings(enabled=options.patterns),
    )


@contextlib.asynccontextmanager
async def embedded_target(
    options: LoadOptions, recorder: Recorder
) -> AsyncIterator[EmbeddedTarget]:
    """Run ``options.app`` embedded, its handlers instrumented, for the block's duration.

    Raises:
        TypeError: ``options.app`` does not name an :class:`actorgrid.App`.
        ValueError: a topic of ``options.topics`` is not declared by the app.
    """
    app = load_object(options.app)
    if not isinstance(app, App):
        raise TypeError(f"{options.app} is {type(app).__name__}, not an actorgrid.App")
    topics = options.topics or tuple(app.handlers)[:1]
    unknown = [t for t in topics if t not in app.topics]
    if unknown or not topics:
        raise ValueError(f"app {app.name!r} has no topic {unknown or 'with a handler'}")
    with contextlib.ExitStack() as stack:
        db = options.db
        if db is None:
            db = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "load.db"
        async with instrument(app, recorder).run(runtime_config(options, db)) as rt:
            yield EmbeddedTarget(rt, topics)


class PublishRefused(Exception):
    """The daemon answered a publish with an error status."""

    def __init__(self, status: int, body: str) -> None:
        self.status = status
        super().__init__(f"HTTP {status}: {body[:200]}")


@dataclass
class HttpTarget:
    """A running daemon, driven through its HTTP API with one aiohttp session."""

    session: aiohttp.ClientSession
    url: str
    topics: tuple[str, ...]
    observes_completion: bool = False

    async def send(self, topic: str, payload: Any, headers: Mapping[str, str]) -> None:
        """``POST /v1/topics/{topic}/messages``; raise :class:`PublishRefused` unless 201."""
        body = msgspec.json.encode({"payload": msgspec.to_builtins(payload), "headers": headers})
        async with self.session.post(
            f"{self.url}/v1/topics/{topic}/messages",
            data=body,
            headers={"Content-Type": "application/json"},
        ) as response:
            if response.status != 201:
                raise PublishRefused(response.status, await response.text())
            await response.read()

    async def snapshot(self) -> Snapshot:
        """Read ``GET /v1/status`` (the broker's counters; the writer's when it has them)."""
        async with self.session.get(f"{self.url}/v1/status") as response:
            response.raise_for_status()
            status: dict[str, Any] = msgspec.json.decode(await response.read())
        broker: dict[str, Any] = status.get("broker") or {}
        writer: dict[str, Any] = status.get("writer") or {}
        lag = writer.get("pending_ops", status.get("writer_lag"))
        return Snapshot(
            broker.get("dead"),
            lag,
            broker.get("queued"),
            broker.get("running"),
            broker.get("acked"),
        )


@contextlib.asynccontextmanager
async def http_target(options: LoadOptions) -> AsyncIterator[HttpTarget]:
    """Open an aiohttp session to ``options.url`` for the block's duration."""
    import aiohttp  # the bench extra; only this mode needs it

    assert options.url is not None
    limit = max(options.concurrency or 0, 256)
    headers = {"Authorization": f"Bearer {options.token}"} if options.token else {}
    connector = aiohttp.TCPConnector(limit=limit)
    async with aiohttp.ClientSession(
        connector=connector, headers=headers, timeout=aiohttp.ClientTimeout(total=60)
    ) as session:
        yield HttpTarget(session, options.url.rstrip("/"), options.topics or ("load",))
