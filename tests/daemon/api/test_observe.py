"""``GET /metrics`` and ``GET /v1/status`` through a real Litestar app.

The exposition is parsed with prometheus-client's own parser and its counts are checked
against the database the runtime wrote; the status against the runtime itself.

Litestar's ``AsyncTestClient`` runs the app on an event loop of its own, in another
thread; the runtime lives there too, started by the app's lifespan as it would be in the
daemon, and the tests run their steps on that loop through the client's portal.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.parser import text_string_to_metric_families

from actorgrid import (
    FakeClock,
    PatternStatistics,
    RetryPolicyConfig,
    RuntimeMetrics,
    RuntimeStatus,
)
from actorgrid.daemon.api._observe import observe_router
from actorgrid.kernel import Message
from actorgrid.kernel.testing import wait_until

from ..scenario import Scenario

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable
    from pathlib import Path

    from httpx import Response

    from actorgrid import Runtime

T = TypeVar("T")
Client = AsyncTestClient[Litestar]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
"""Sample values by (sample name, labels)."""


class Poke(Message, frozen=True):
    """A message the broker does not handle: telling it crashes the broker once."""


@pytest.fixture
def scenario(tmp_path: Path) -> Scenario:
    return Scenario(tmp_path / "actorgrid.db", FakeClock())


@contextlib.asynccontextmanager
async def serving(rt: Runtime, *, start: bool = True) -> AsyncIterator[Client]:
    """The router in a Litestar app whose lifespan runs ``rt`` (unless ``start`` is off)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with rt:
            yield

    app = Litestar(route_handlers=[observe_router(rt)], lifespan=[lifespan] if start else [])
    async with AsyncTestClient(app=app) as http:
        yield http


def on_app_loop(http: Client, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run ``fn(*args)`` on the app's event loop, where the runtime lives."""
    with http.portal() as portal:
        return portal.call(fn, *args)


def parse(response: Response) -> Samples:
    """Every sample of a ``/metrics`` answer, read by prometheus-client's parser."""
    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def by(samples: Samples, name: str, label: str) -> dict[str, float]:
    """The samples named ``name``, summed by the value of ``label``."""
    found: dict[str, float] = {}
    for (sample, labels), n in samples.items():
        if sample == name:
            key = dict(labels)[label]
            found[key] = found.get(key, 0.0) + n
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


class TestMetrics:
    async def test_counts_agree_with_the_database(self, scenario: Scenario) -> None:
        """Published, handled, failed, retried by phase, dead-lettered by reason, the gate's
        decisions and the writer's histograms, as scraped, match the rows and records."""
        rt = scenario.runtime()
        async with serving(rt) as http:
            on_app_loop(http, scenario.drive, rt)
            samples = parse(await http.get("/metrics"))
        q = scenario.query
        states = dict(q("select state, count(*) from messages group by state"))
        published = by(samples, "actorgrid_messages_published_total", "topic")
        handled = by(samples, "actorgrid_messages_handled_total", "topic")
        failed = by(samples, "actorgrid_messages_failed_total", "topic")
        retried = by(samples, "actorgrid_messages_retried_total", "phase")
        dead = by(samples, "actorgrid_messages_dead_lettered_total", "reason")

        # Messages by state: every row was published; done rows were handled; dead rows
        # are the dead letters; what failed and neither ran again nor died is scheduled.
        assert published == {"orders": 6, "raw": 1}
        assert sum(published.values()) == q("select count(*) from messages")[0][0]
        assert states == {"done": 3, "dead": 3, "scheduled": 1}
        assert sum(handled.values()) == states["done"] == handled["orders"]
        assert sum(dead.values()) == states["dead"]
        gave_up = dead["exhausted"] + dead["non_retryable"]
        assert states["scheduled"] == sum(failed.values()) - gave_up - sum(retried.values())

        # Dead letters by reason.
        assert {r: n for r, n in dead.items() if n} == dict(
            q("select reason, count(*) from dead_letters group by reason")
        )
        assert by(samples, "actorgrid_messages_dead_lettered_total", "topic") == {
            "orders": 2,
            "raw": 1,
        }

        # Failures: each one is an attempt on its row; the retry records count the
        # failures of the current cycles (a success ended the others).
        [(attempts,)] = q("select sum(attempts) from messages")
        assert sum(failed.values()) == attempts == 10
        [(in_cycles,)] = q("select sum(attempt_count) from retry_records")
        [(before_success,)] = q("select sum(attempts) from messages where state = 'done'")
        assert in_cycles + before_success == sum(failed.values())
        max_retries = RetryPolicyConfig().max_retries
        exhausted = q(f"select count(*) from retry_records where attempt_count > {max_retries}")
        assert exhausted == [(dead["exhausted"],)]

        # The phases the retries ran in, and the gate decisions that let them run.
        assert retried == {"early": 1, "base": 3, "revise": 3}
        decisions = {
            (dict(labels)["decision"], dict(labels)["reason"]): n
            for (name, labels), n in samples.items()
            if name == "actorgrid_gate_decisions_total"
        }
        assert decisions == {
            ("allowed", "early_retry"): retried["early"],
            ("allowed", "window_open"): retried["base"] + retried["revise"],
            ("denied", "waiting_early_window"): 1,  # asked at the failure, granted later
        }

        # Handler latency: one observation per handler call, by outcome.
        duration = "actorgrid_handler_duration_seconds_count"
        assert value(samples, duration, topic="orders", outcome="handled") == handled["orders"]
        assert value(samples, duration, topic="orders", outcome="failed") == failed["orders"]
        assert value(samples, duration, topic="raw", outcome="failed") == 0  # undecodable
        inf = value(samples, "actorgrid_handler_duration_seconds_bucket", topic="orders",
                    outcome="failed", le="+Inf")  # fmt: skip
        assert inf == failed["orders"]

        # The writer: one batch-size and one latency observation per committed batch.
        batches = value(samples, "actorgrid_writer_batches_committed_total")
        assert batches > 0
        assert value(samples, "actorgrid_writer_batch_operations_count") == batches
        assert value(samples, "actorgrid_writer_commit_duration_seconds_count") == batches
        assert value(samples, "actorgrid_writer_batch_operations_sum") == value(
            samples, "actorgrid_writer_operations_committed_total"
        )
        assert value(samples, "actorgrid_writer_rejected_total") == 0
        assert value(samples, "actorgrid_messages_queued") == 0

    async def test_before_start_and_after_stop(self, scenario: Scenario) -> None:
        """Before the runtime starts the exposition is empty; after it stopped it still
        has the final counts."""
        rt = scenario.runtime()

        async def run_once() -> None:
            async with rt:
                rt.declare_topic("orders")
                await rt.publish("orders", {"kind": "ok"})

        async with serving(rt, start=False) as http:
            assert parse(await http.get("/metrics")) == {}
            on_app_loop(http, run_once)
            after = parse(await http.get("/metrics"))
        assert value(after, "actorgrid_messages_published_total", topic="orders") == 1
        assert q_count(scenario) == 1

    async def test_other_methods_are_refused_and_change_nothing(self, scenario: Scenario) -> None:
        """The routes are reads: POST, PUT and DELETE get 405 and no counter moves."""
        rt = scenario.runtime()

        async def publish() -> None:
            rt.declare_topic("orders")
            await rt.publish("orders", {"kind": "ok"})

        async with serving(rt) as http:
            on_app_loop(http, publish)
            before = rt.metrics()
            for path in ("/metrics", "/v1/status"):
                for method in ("POST", "PUT", "DELETE"):
                    answer = await http.request(method, path)
                    assert answer.status_code == 405, (method, path)
            assert rt.metrics() == before


def q_count(scenario: Scenario) -> int:
    [(n,)] = scenario.query("select count(*) from messages")
    return int(n)


@dataclass
class Observed:
    """What the runtime itself says, read on its loop right after the status request."""

    status: RuntimeStatus
    patterns: PatternStatistics
    metrics: RuntimeMetrics
    mailboxes: dict[str, tuple[int, int]]


class TestStatus:
    async def test_fields_agree_with_the_runtime(self, scenario: Scenario) -> None:
        """Actors with their mailboxes and restarts, topics and their counts, the writer,
        the gate and the pattern engine, as the runtime reports them."""
        rt = scenario.runtime()

        async def drive_and_crash_the_broker() -> None:
            await scenario.drive(rt)
            assert rt.kernel is not None
            rt.kernel.lookup("broker").tell_nowait(Poke())
            await wait_restarted(rt, "broker")

        async def read() -> Observed:
            assert rt.kernel is not None
            mailboxes = {}
            for name in names:
                with contextlib.suppress(LookupError):  # supervisors have none
                    m = rt.kernel.lookup(name).mailbox_statistics()
                    mailboxes[name] = (m.depth, m.capacity)
            return Observed(
                await rt.status(), await rt.pattern_statistics(), rt.metrics(), mailboxes
            )

        async with serving(rt) as http:
            on_app_loop(http, drive_and_crash_the_broker)
            answer = await http.get("/v1/status")
            assert answer.status_code == 200
            status: dict[str, Any] = answer.json()
            actors = {a["name"]: a for a in status["actors"]}
            names = list(actors)
            seen = on_app_loop(http, read)
        for name, actor in actors.items():
            expected = seen.mailboxes.get(name, (None, None))
            assert (actor["mailbox_depth"], actor["mailbox_capacity"]) == expected
            assert (expected[0] is None) == actor["supervisor"]
        later, patterns = seen.status, seen.patterns
        metrics = {t.topic: t for t in seen.metrics.topics}
        stats = later.broker
        writer = seen.metrics.writer
        assert status["state"] == "running"
        assert {n: a["parent"] for n, a in actors.items()} == {
            "root": None,
            "analytics": "root",
            "retry-gate": "root",
            "dead-letters": "root",
            "pattern-engine": "root",
            "broker": "root",
            "subscriptions": "root",
            "topic:orders": "subscriptions",
            "sub:orders:0": "topic:orders",
            "sub:orders:1": "topic:orders",
            "topic:raw": "subscriptions",
            "sub:raw:0": "topic:raw",
        }
        assert {n: a["restarts"] for n, a in actors.items() if a["restarts"]} == {
            "broker": 1,
            "root": 1,
        }
        assert all(a["running"] for a in actors.values())

        topics = {t["name"]: t for t in status["topics"]}
        assert set(topics) == set(metrics) == {"orders", "raw"}
        for name, topic in topics.items():
            m = metrics[name]
            assert topic["durable"] is True
            assert topic["subscribed"] is True
            assert (topic["published"], topic["handled"], topic["failed"]) == (
                m.published,
                m.handled,
                m.failed,
            )
            assert (topic["retried"], topic["dead_lettered"]) == (m.retried, m.dead_lettered)
            assert (topic["queued"], topic["running"], topic["parked"]) == (0, 0, 0)
        assert topics["orders"]["workers"] == 2
        assert topics["raw"]["workers"] == 1

        assert status["broker"]["published"] == stats.published == 7
        assert status["broker"]["failed"] == stats.failed == 10
        assert status["broker"]["scheduled"] == stats.scheduled
        assert writer is not None
        assert 0 < status["writer"]["batches_committed"] <= writer.batches_committed
        assert status["writer"]["pending_ops"] >= 0
        assert status["writer"]["lag_seconds"] >= 0.0
        assert later.gate is not None
        assert status["gate"]["failures"] == later.gate.failures == stats.failed
        assert status["gate"]["successes"] == 2  # the two retries that succeeded
        assert {(d["reason"], d["count"]) for d in status["gate_decisions"]} == {
            ("early_retry", 1),
            ("window_open", 6),
            ("waiting_early_window", 1),
        }
        assert status["patterns"]["embedder"] == patterns.embedder
        assert status["patterns"]["failures"] == patterns.failures > 0

    async def test_a_stopped_runtime_answers_503(self, scenario: Scenario) -> None:
        """Before the start and after the stop the status is 503 with the API's error body."""
        rt = scenario.runtime()

        async def start_and_stop() -> None:
            async with rt:
                pass

        async with serving(rt, start=False) as http:
            before = await http.get("/v1/status")
            on_app_loop(http, start_and_stop)
            after = await http.get("/v1/status")
        for answer in (before, after):
            assert answer.status_code == 503
            body = answer.json()
            assert body["error"] == "stopping"
            assert "read the status" in body["detail"]

    async def test_the_openapi_document_describes_both_routes(self, scenario: Scenario) -> None:
        """The routes and the status schema are in the app's OpenAPI document."""
        async with serving(scenario.runtime(), start=False) as http:
            document = (await http.get("/schema/openapi.json")).json()
        assert {"/metrics", "/v1/status"} <= set(document["paths"])
        status = document["paths"]["/v1/status"]["get"]["responses"]
        assert {"200", "503"} <= set(status)
        assert "RuntimeStatus" in document["components"]["schemas"]


async def wait_restarted(rt: Runtime, name: str) -> None:
    """Wait until the actor ``name`` has been restarted and runs again."""

    def restarted() -> bool:
        assert rt.kernel is not None
        for child in rt.kernel.root.which_children():
            if child.id == name:
                return child.restarts >= 1 and child.running
        return False

    await wait_until(restarted, timeout=10)
