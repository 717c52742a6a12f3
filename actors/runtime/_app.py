"""The application object: topics, handlers and hooks, declared once, run anywhere.

An :class:`App` is the whole of an application as data: its topics (durable or transient,
with a payload type) and their handlers (concurrency, in-flight bound, non-retryable errors,
per-error retry policies), plus hooks that run once it is installed and background tasks
that run while it does. Declaring something invalid raises at once, where it is declared:
a module that builds an ``App`` at import time fails to import, and the daemon's
``--app package.module:app`` fails at start, naming the module.

The same object runs embedded (``async with app.run(config) as rt:``) and under the daemon
(``actorgrid run --app package.module:app``), which calls :meth:`App.install` on its own
runtime.
"""

from __future__ import annotations

import contextlib
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, overload

import anyio
import msgspec
import msgspec.inspect
import structlog

from actorgrid.storage import KEY_MAX_LENGTH

from .._exceptions import InvalidArgument, RuntimeClosed, TopicConflict, UnknownTopic
from ..broker import Subscription
from ..retry import RetryPolicyConfig
from ._runtime import Runtime

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Mapping

    from actorgrid.kernel import Clock

    from ..broker import Handler
    from ._config import RuntimeConfig

__all__ = ("App", "HandlerDecl", "TopicDecl")

_log = structlog.get_logger("actorgrid.app")


@dataclass(frozen=True, slots=True)
class TopicDecl:
    """A declared topic.

    Attributes:
        name: the topic name (1 to 255 characters).
        durable: committed to the database before ``publish`` returns (``False``: in memory).
        payload_type: the type publishes must have and handlers receive (``None``: any).
    """

    name: str
    durable: bool = True
    payload_type: Any = None


@dataclass(frozen=True, slots=True)
class HandlerDecl:
    """A declared handler: its topic, the callable and its subscription options."""

    topic: str
    handler: Handler
    concurrency: int = 1
    max_in_flight: int = 100
    non_retryable: tuple[type[BaseException], ...] = ()
    error_policies: Mapping[type[BaseException], RetryPolicyConfig] = field(default_factory=dict)

    @property
    def name(self) -> str:
        """The handler's qualified name (for logs and errors)."""
        return _callable_name(self.handler)


def _callable_name(value: object) -> str:
    name = getattr(value, "__qualname__", None) or type(value).__qualname__
    module = getattr(value, "__module__", None)
    return f"{module}.{name}" if module else str(name)


def _check_payload_type(kind: Any) -> None:
    """Raise unless msgspec can decode ``kind`` without a custom hook."""
    expected = "a type msgspec can decode (a Struct, a dataclass, a builtin type...)"
    try:
        msgspec.msgpack.Decoder(kind)
        info = msgspec.inspect.type_info(kind)
    except TypeError:
        raise InvalidArgument("payload_type", kind, expected) from None
    if isinstance(info, msgspec.inspect.CustomType):
        raise InvalidArgument("payload_type", kind, expected)


def _is_async(value: object) -> bool:
    if inspect.iscoroutinefunction(value):
        return True
    call = getattr(value, "__call__", None)  # noqa: B004 - an instance with an async __call__
    return call is not None and inspect.iscoroutinefunction(call)


class App:
    """An application: topics, handlers, start hooks and background tasks.

    Args:
        name: what logs call it (1 to 255 characters).

    Raises:
        InvalidArgument: a bad name.

    Example::

        app = App("images")
        app.topic("resize", payload_type=Resize)

        @app.handler("resize", concurrency=4, non_retryable=(BadImage,))
        async def resize(job: Resize, ctx: DeliveryContext) -> None: ...

        async with app.run(config) as rt:
            await rt.publish("resize", Resize("img-1", 640))
    """

    def __init__(self, name: str = "app") -> None:
        if not isinstance(name, str) or not name or len(name) > KEY_MAX_LENGTH:
            raise InvalidArgument("app name", name, f"1 to {KEY_MAX_LENGTH} characters")
        self.name = name
        self._topics: dict[str, TopicDecl] = {}
        self._handlers: dict[str, HandlerDecl] = {}
        self._on_start: list[Callable[[Runtime], Awaitable[object]]] = []
        self._background: list[Callable[[Runtime], Awaitable[object]]] = []
        self._runtime: Runtime | None = None

    def __repr__(self) -> str:
        return f"App({self.name!r}, topics={list(self._topics)}, handlers={list(self._handlers)})"

    # -- declarations ---------------------------------------------------------------------

    @property
    def topics(self) -> Mapping[str, TopicDecl]:
        """The declared topics, by name, in declaration order."""
        return dict(self._topics)

    @property
    def handlers(self) -> Mapping[str, HandlerDecl]:
        """The declared handlers, by topic, in declaration order."""
        return dict(self._handlers)

    def topic(self, name: str, *, durable: bool = True, payload_type: Any = None) -> TopicDecl:
        """Declare a topic.

        Args:
            name: 1 to 255 characters.
            durable: ``True``: every acknowledged publish is committed first; ``False``: the
                messages live in memory only.
            payload_type: a type msgspec can decode (a ``msgspec.Struct``, a dataclass, a
                builtin...), or ``None`` for any encodable payload.

        Returns:
            The declaration.

        Raises:
            InvalidArgument: a bad name, ``durable`` not a bool, or a payload type msgspec
                cannot decode.
            TopicConflict: the topic is declared already.
        """
        if not isinstance(name, str) or not name or len(name) > KEY_MAX_LENGTH:
            raise InvalidArgument("topic name", name, f"1 to {KEY_MAX_LENGTH} characters")
        if not isinstance(durable, bool):
            raise InvalidArgument("durable", durable, "True or False")
        if payload_type is not None:
            _check_payload_type(payload_type)
        if name in self._topics:
            raise TopicConflict(name, f"declared twice in app {self.name!r}")
        decl = TopicDecl(name, durable, payload_type)
        self._topics[name] = decl
        return decl

    @overload
    def handler(
        self,
        topic: str,
        func: None = None,
        *,
        concurrency: int = ...,
        max_in_flight: int = ...,
        non_retryable: tuple[type[BaseException], ...] = ...,
        error_policies: Mapping[type[BaseException], RetryPolicyConfig] | None = ...,
    ) -> Callable[[Handler], Handler]: ...

    @overload
    def handler(
        self,
        topic: str,
        func: Handler,
        *,
        concurrency: int = ...,
        max_in_flight: int = ...,
        non_retryable: tuple[type[BaseException], ...] = ...,
        error_policies: Mapping[type[BaseException], RetryPolicyConfig] | None = ...,
    ) -> Handler: ...

    def handler(
        self,
        topic: str,
        func: Handler | None = None,
        *,
        concurrency: int = 1,
        max_in_flight: int = 100,
        non_retryable: tuple[type[BaseException], ...] = (),
        error_policies: Mapping[type[BaseException], RetryPolicyConfig] | None = None,
    ) -> Handler | Callable[[Handler], Handler]:
        """Declare the handler of a declared topic: as a decorator, or called with ``func``.

        Args:
            topic: a topic declared on this app before.
            func: ``async def handler(payload, ctx)``; omitted, a decorator is returned.
            concurrency: worker actors running it in parallel (>= 1).
            max_in_flight: messages queued at the workers at once (>= concurrency).
            non_retryable: exception classes that go straight to the dead letters.
            error_policies: exception classes with a retry policy of their own (the first
                matching entry wins).

        Returns:
            ``func`` itself (the decorator returns the function it decorates).

        Raises:
            UnknownTopic: the topic is not declared on this app.
            TopicConflict: the topic has a handler already.
            InvalidArgument: ``func`` is not an async callable, or a bad option.
        """

        def declare(fn: Handler) -> Handler:
            self._declare_handler(
                topic, fn, concurrency, max_in_flight, non_retryable, error_policies
            )
            return fn

        return declare if func is None else declare(func)

    def _declare_handler(
        self,
        topic: str,
        func: Handler,
        concurrency: int,
        max_in_flight: int,
        non_retryable: tuple[type[BaseException], ...],
        error_policies: Mapping[type[BaseException], RetryPolicyConfig] | None,
    ) -> None:
        if topic not in self._topics:
            raise UnknownTopic(topic)
        if topic in self._handlers:
            other = self._handlers[topic].name
            raise TopicConflict(topic, f"already has a handler in app {self.name!r}: {other}")
        if not _is_async(func):
            raise InvalidArgument("handler", func, "an async callable: async def f(payload, ctx)")
        if not isinstance(non_retryable, tuple):
            raise InvalidArgument("non_retryable", non_retryable, "a tuple of exception classes")
        policies = dict(error_policies or {})
        for policy in policies.values():
            if not isinstance(policy, RetryPolicyConfig):
                raise InvalidArgument("error policy", policy, "a RetryPolicyConfig")
        # The broker's own checks (concurrency, max_in_flight, exception classes), run now.
        Subscription(topic, func, concurrency, max_in_flight, None, non_retryable, policies)
        self._handlers[topic] = HandlerDecl(
            topic, func, concurrency, max_in_flight, non_retryable, policies
        )

    def map_handlers(self, wrap: Callable[[HandlerDecl], Handler]) -> App:
        """Return a copy of this app whose handlers are ``wrap(decl)`` (instrumentation).

        The copy has the same name, topics, options, start hooks and background tasks; only
        each handler callable is replaced by what ``wrap`` returns for its declaration. This
        app is left as it is.

        Raises:
            InvalidArgument: ``wrap`` returned something that is not an async callable.
        """
        copy = App(self.name)
        copy._topics = dict(self._topics)
        for decl in self._handlers.values():
            copy._declare_handler(
                decl.topic,
                wrap(decl),
                decl.concurrency,
                decl.max_in_flight,
                decl.non_retryable,
                decl.error_policies,
            )
        copy._on_start = list(self._on_start)
        copy._background = list(self._background)
        return copy

    def on_start(
        self, hook: Callable[[Runtime], Awaitable[object]]
    ) -> Callable[[Runtime], Awaitable[object]]:
        """Run ``async def hook(rt)`` once the topics and handlers are installed (a decorator).

        Hooks run in declaration order; one that raises fails the start.

        Raises:
            InvalidArgument: ``hook`` is not an async callable.
        """
        if not _is_async(hook):
            raise InvalidArgument("on_start hook", hook, "an async callable: async def f(rt)")
        self._on_start.append(hook)
        return hook

    def background(
        self, task: Callable[[Runtime], Awaitable[object]]
    ) -> Callable[[Runtime], Awaitable[object]]:
        """Run ``async def task(rt)`` while the app runs (a decorator).

        It is started after the start hooks and cancelled when the app stops, before the
        runtime drains. One that raises is logged (``app_task_failed``) and not restarted;
        the app goes on.

        Raises:
            InvalidArgument: ``task`` is not an async callable.
        """
        if not _is_async(task):
            raise InvalidArgument("background task", task, "an async callable: async def f(rt)")
        self._background.append(task)
        return task

    # -- running --------------------------------------------------------------------------

    @property
    def runtime(self) -> Runtime:
        """The runtime the app is installed on (for handlers that publish).

        Raises:
            RuntimeClosed: the app is not installed on a runtime.
        """
        if self._runtime is None:
            raise RuntimeClosed(f"reach the runtime of app {self.name!r}")
        return self._runtime

    async def install(self, rt: Runtime) -> None:
        """Declare the topics on ``rt``, subscribe the handlers, then run the start hooks.

        Raises:
            InvalidArgument: a durable topic on a runtime without a database.
            TopicConflict: the runtime has a topic of that name with other settings, or a
                subscription on it.
            RuntimeClosed: the runtime is not running.
            Exception: whatever a start hook raised.
        """
        for decl in self._topics.values():
            rt.declare_topic(decl.name, durable=decl.durable, payload_type=decl.payload_type)
        self._runtime = rt
        for h in self._handlers.values():
            await rt.subscribe(
                h.topic,
                h.handler,
                concurrency=h.concurrency,
                max_in_flight=h.max_in_flight,
                non_retryable=h.non_retryable,
                error_policies=h.error_policies,
            )
        for hook in self._on_start:
            await hook(rt)
        _log.info(
            "app_started",
            app=self.name,
            topics=",".join(
                f"{t.name}({'durable' if t.durable else 'transient'})"
                for t in self._topics.values()
            ),
            handlers=",".join(f"{h.topic}:{h.name}" for h in self._handlers.values()),
        )

    @contextlib.asynccontextmanager
    async def run(
        self, config: RuntimeConfig | None = None, *, clock: Clock | None = None
    ) -> AsyncIterator[Runtime]:
        """Run the app embedded: ``async with app.run(config) as rt: ...``.

        A :class:`Runtime` starts, the app is installed on it and its background tasks start;
        leaving the block cancels them and stops the runtime gracefully.

        Raises:
            Whatever :meth:`install` raises, after the runtime stopped again.
        """
        async with Runtime(config, clock=clock) as rt:
            await self.install(rt)
            try:
                async with self.tasks(rt):
                    yield rt
            finally:
                self._runtime = None

    @contextlib.asynccontextmanager
    async def tasks(self, rt: Runtime) -> AsyncIterator[None]:
        """Run the background tasks on ``rt`` for the block's duration (cancelled on exit)."""
        if not self._background:
            yield
            return
        async with anyio.create_task_group() as tg:
            for task in self._background:
                tg.start_soon(self._guarded, task, rt)
            try:
                yield
            finally:
                tg.cancel_scope.cancel()

    async def _guarded(self, task: Callable[[Runtime], Awaitable[object]], rt: Runtime) -> None:
        try:
            await task(rt)
        except Exception as exc:
            _log.error("app_task_failed", app=self.name, task=_callable_name(task), error=repr(exc))
