"""The App object (actors/runtime/_app.py): declarations, their errors, and running embedded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import msgspec
import pytest
from structlog.testing import capture_logs

from actorgrid import (
    App,
    InvalidArgument,
    RetryPolicyConfig,
    RuntimeClosed,
    TopicConflict,
    UnknownTopic,
)

if TYPE_CHECKING:
    from actorgrid import DeliveryContext, Handler, Runtime
    from actorgrid.actors.runtime import HandlerDecl

    from ..conftest import RuntimeFactory


class Job(msgspec.Struct, frozen=True):
    name: str


async def handle(job: Job, ctx: DeliveryContext) -> None:
    """A handler that does nothing."""


def sync_handle(job: Job, ctx: DeliveryContext) -> None:
    """Not async: refused."""


class Shape:
    """Not a type msgspec can decode."""


def declared(app: App) -> tuple[Any, Any]:
    return dict(app.topics), dict(app.handlers)


class TestDeclarations:
    def test_topics_and_handlers_by_call_and_decorator(self) -> None:
        """Both forms declare; the decorator hands back the function it decorates."""
        app = App("shop")
        app.topic("jobs", payload_type=Job)
        app.topic("events", durable=False)

        @app.handler("jobs", concurrency=3, max_in_flight=9, non_retryable=(KeyError,))
        async def on_job(job: Job, ctx: DeliveryContext) -> None: ...

        assert app.handler("events", handle) is handle
        assert on_job.__name__ == "on_job"
        assert [(t.name, t.durable, t.payload_type) for t in app.topics.values()] == [
            ("jobs", True, Job),
            ("events", False, None),
        ]
        jobs = app.handlers["jobs"]
        assert (jobs.concurrency, jobs.max_in_flight, jobs.non_retryable) == (3, 9, (KeyError,))
        assert jobs.name.endswith("on_job")

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"name": ""}, InvalidArgument),
            ({"name": "x" * 256}, InvalidArgument),
            ({"name": "jobs", "durable": "yes"}, InvalidArgument),
            ({"name": "shapes", "payload_type": Shape}, InvalidArgument),
            ({"name": "shapes", "payload_type": 3}, InvalidArgument),
            ({"name": "jobs"}, TopicConflict),
        ],
    )
    def test_a_bad_topic_raises_and_changes_nothing(
        self, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        """Bad name, durable flag or payload type, or a second declaration: typed errors."""
        app = App()
        app.topic("jobs", payload_type=Job)
        before = declared(app)
        with pytest.raises(error):
            app.topic(**kwargs)
        assert declared(app) == before

    @pytest.mark.parametrize(
        ("topic", "func", "kwargs", "error", "text"),
        [
            ("missing", handle, {}, UnknownTopic, "no topic named 'missing'"),
            ("jobs", sync_handle, {}, InvalidArgument, "an async callable"),
            ("jobs", handle, {"concurrency": 0}, InvalidArgument, "concurrency"),
            ("jobs", handle, {"concurrency": 4, "max_in_flight": 2}, InvalidArgument, "max_in"),
            ("jobs", handle, {"non_retryable": (int,)}, InvalidArgument, "an exception class"),
            ("jobs", handle, {"non_retryable": [KeyError]}, InvalidArgument, "a tuple"),
            ("jobs", handle, {"error_policies": {KeyError: 3}}, InvalidArgument, "RetryPolicy"),
            ("done", handle, {}, TopicConflict, "already has a handler"),
        ],
    )
    def test_a_bad_handler_raises_and_changes_nothing(
        self, topic: str, func: Any, kwargs: dict[str, Any], error: type[Exception], text: str
    ) -> None:
        """Each bad declaration raises its typed error at once; nothing is declared."""
        app = App()
        app.topic("jobs", payload_type=Job)
        app.topic("done")
        app.handler("done", handle)
        before = declared(app)
        with pytest.raises(error, match=text):
            app.handler(topic, func, **kwargs)
        assert declared(app) == before

    def test_hooks_and_tasks_must_be_async(self) -> None:
        """A plain function as a start hook or background task is refused."""
        app = App()
        with pytest.raises(InvalidArgument, match="on_start hook"):
            app.on_start(sync_handle)  # type: ignore[arg-type]
        with pytest.raises(InvalidArgument, match="background task"):
            app.background(sync_handle)  # type: ignore[arg-type]

    def test_a_bad_app_name(self) -> None:
        """An empty name is refused."""
        with pytest.raises(InvalidArgument, match="app name"):
            App("")


class TestRunning:
    async def test_embedded_run_declares_subscribes_and_runs_hooks_and_tasks(
        self, runtimes: RuntimeFactory
    ) -> None:
        """``app.run`` installs everything; handlers see published jobs; the background task
        runs until the block ends and is cancelled then; ``app.runtime`` is the runtime."""
        app = App("embedded")
        app.topic("jobs", payload_type=Job)
        seen: list[str] = []
        events: list[str] = []
        handled = anyio.Event()

        @app.handler(
            "jobs", error_policies={KeyError: RetryPolicyConfig(base_retries=0, max_retries=1)}
        )
        async def on_job(job: Job, ctx: DeliveryContext) -> None:
            seen.append(job.name)
            handled.set()

        @app.on_start
        async def started(rt: Runtime) -> None:
            events.append("started")

        @app.background
        async def ticker(rt: Runtime) -> None:
            events.append("task")
            try:
                await anyio.sleep_forever()
            finally:
                events.append("cancelled")

        with pytest.raises(RuntimeClosed):
            _ = app.runtime
        async with app.run(runtimes.config()) as rt:
            assert app.runtime is rt
            await rt.publish("jobs", Job("a"))
            with anyio.fail_after(10):
                await handled.wait()
            await anyio.wait_all_tasks_blocked()
        assert seen == ["a"]
        assert events == ["started", "task", "cancelled"]
        with pytest.raises(RuntimeClosed):
            _ = app.runtime

    async def test_a_durable_topic_without_a_database_fails_the_start(
        self, runtimes: RuntimeFactory
    ) -> None:
        """Installing on a runtime without a database refuses the durable topic."""
        app = App()
        app.topic("jobs")
        with pytest.raises(InvalidArgument, match="a database for durable topics"):
            async with app.run(runtimes.config(memory=True)):
                pass

    async def test_a_failing_background_task_is_logged_and_the_app_goes_on(
        self, runtimes: RuntimeFactory
    ) -> None:
        """``app_task_failed`` names the task; the runtime keeps running."""
        app = App()

        @app.background
        async def broken(rt: Runtime) -> None:
            raise ValueError("boom")

        with capture_logs() as logs:
            async with app.run(runtimes.config(memory=True)) as rt:
                await anyio.wait_all_tasks_blocked()
                rt.statistics()
        failed = [e for e in logs if e["event"] == "app_task_failed"]
        assert len(failed) == 1
        assert failed[0]["task"].endswith("broken")
        assert "boom" in failed[0]["error"]


class TestMapHandlers:
    async def test_a_copy_with_wrapped_handlers_keeps_options_and_hooks(
        self, runtimes: RuntimeFactory
    ) -> None:
        """``map_handlers`` returns a copy whose handlers are the wrapped ones, with the same
        topics, options and start hooks; the original app keeps its own handler."""
        app = App("wrapped")
        app.topic("jobs", payload_type=Job)
        app.handler("jobs", handle, concurrency=3, non_retryable=(KeyError,))
        events: list[str] = []
        handled = anyio.Event()

        @app.on_start
        async def started(rt: Runtime) -> None:
            events.append("started")

        def wrap(decl: HandlerDecl) -> Handler:
            inner: Any = decl.handler

            async def wrapped(job: Job, ctx: DeliveryContext) -> None:
                await inner(job, ctx)
                events.append(f"wrapped {job.name}")
                handled.set()

            return wrapped

        copy = app.map_handlers(wrap)
        assert copy.name == app.name
        assert dict(copy.topics) == dict(app.topics)
        decl = copy.handlers["jobs"]
        assert (decl.concurrency, decl.non_retryable) == (3, (KeyError,))
        assert decl.handler is not handle
        assert app.handlers["jobs"].handler is handle
        async with copy.run(runtimes.config()) as rt:
            await rt.publish("jobs", Job("a"))
            with anyio.fail_after(10):
                await handled.wait()
        assert events == ["started", "wrapped a"]

    def test_a_wrap_that_returns_a_sync_callable_is_refused(self) -> None:
        """The copy checks the wrapped handlers as :meth:`App.handler` does."""
        app = App("wrapped")
        app.topic("jobs", payload_type=Job)
        app.handler("jobs", handle)
        with pytest.raises(InvalidArgument):
            app.map_handlers(lambda decl: sync_handle)  # type: ignore[arg-type,return-value]
