"""Fuzz the API with schemathesis from its own OpenAPI document, on a real server.

The runtime and its uvicorn server run in a thread of their own (an anyio blocking
portal), since schemathesis drives the test synchronously. Every request carries the
token, so that the handlers behind the guard are reached. Bounded examples, a fixed seed:
no answer may be a 5xx, and an answer of 4xx must leave every table as it was.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import anyio.from_thread
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from actorgrid import Runtime
from actorgrid.daemon.api import ApiSettings, create_api

from .conftest import AUTH, TOKEN, Order, fingerprint, runtime_config, serve

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterator
    from pathlib import Path

    from litestar import Litestar

    from actorgrid import DeliveryContext


class Declined(Exception):
    pass


@dataclass
class Live:
    url: str
    path: Path
    rt: Runtime
    app: Litestar
    portal: anyio.from_thread.BlockingPortal

    def settle(self) -> None:
        """Let background jobs finish and commit everything pending."""
        self.portal.call(self.app.state.jobs.wait_idle)
        self.portal.call(self.rt.flush)


@contextlib.asynccontextmanager
async def _live(path: Path) -> AsyncIterator[tuple[str, Runtime, Litestar]]:
    async with Runtime(runtime_config(path)) as rt:
        rt.declare_topic("orders", payload_type=Order)
        rt.declare_topic("free")

        async def decline(payload: Any, ctx: DeliveryContext) -> None:
            raise Declined(f"declined {payload}")

        await rt.subscribe("free", decline, non_retryable=(Declined,))
        for i in range(3):
            await rt.publish("free", f"p{i}", target=("acct", f"a{i}"))
        with anyio.fail_after(10):
            while await rt.dead_letters.count() < 3:  # noqa: ASYNC110 - polled
                await anyio.sleep(0.01)
        await rt.unsubscribe("free")
        await rt.add_chunks([("runbook", "Payment gateway timeout: fail over")])
        await rt.flush()
        app = create_api(rt, ApiSettings(token=TOKEN, max_batch=20, max_body_bytes=32_000))
        async with serve(app) as client:
            yield str(client.base_url), rt, app


@pytest.fixture(scope="module", name="live")
def _live_fixture(tmp_path_factory: pytest.TempPathFactory, template: Path) -> Iterator[Live]:
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    shutil.copy(template, path)
    with (
        anyio.from_thread.start_blocking_portal("asyncio") as portal,
        portal.wrap_async_context_manager(_live(path)) as (url, rt, app),
    ):
        yield Live(url=url.rstrip("/"), path=path, rt=rt, app=app, portal=portal)


@pytest.fixture(scope="module", name="operations")
def _operations(live: Live) -> list[Any]:
    schema = schemathesis.openapi.from_url(f"{live.url}/schema/openapi.json")
    return [result.ok() for result in schema.get_all_operations()]  # type: ignore[union-attr]


def _check(live: Live, case: Any) -> None:
    live.settle()
    before = fingerprint(live.path)
    response = case.call(base_url=live.url, headers=AUTH, timeout=30)
    where = f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:300]}"
    assert response.status_code < 500, where
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error", "detail"}, where
        live.settle()
        assert fingerprint(live.path) == before, where


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_5xx_and_a_rejected_request_changes_nothing(
    live: Live, operations: list[Any], mode: GenerationMode
) -> None:
    assert len(operations) >= 20
    for operation in operations:
        strategy = operation.as_strategy(generation_mode=mode)

        @seed(11)
        @settings(
            max_examples=6,
            deadline=None,
            database=None,
            derandomize=False,
            suppress_health_check=list(HealthCheck),
            phases=[Phase.explicit, Phase.generate],
        )
        @given(case=strategy)
        def run(case: Any) -> None:
            _check(live, case)

        try:
            run()
        except Unsatisfiable:
            # Nothing of it can be made invalid (no parameters, no body): nothing to send.
            assert mode is GenerationMode.NEGATIVE, operation.label
