"""A built-in actor that crashes is restarted by its supervisor and resumes its work.

Each crash goes through the real supervision tree of a real runtime: a message the actor
does not handle (its ``receive`` raises, the tell crashes it), or a method of it made to
raise. What the actor knew before the crash must still hold after the restart.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

from actorgrid import RetryPolicyConfig
from actorgrid.actors.dead_letters import MemoryDeadLetterStore
from actorgrid.actors.patterns import (
    AddChunks,
    ChunkInput,
    PatternStatistics,
    PatternStats,
    RecurringPatterns,
    SearchChunks,
)
from actorgrid.actors.retry._writeback import WriteBehind
from actorgrid.kernel import Message
from actorgrid.kernel.testing import wait_until

from ..actors.conftest import RuntimeFactory

if TYPE_CHECKING:
    from pathlib import Path

    from actorgrid import DeliveryContext, Runtime

pytestmark = pytest.mark.anyio

KEY = ("job", "j-1")


class Crash(Message, frozen=True):
    """A message no built-in actor handles: a tell of it crashes the actor."""


@pytest.fixture
def runtimes(tmp_path: Path) -> RuntimeFactory:
    """Runtimes on ``tmp_path/actorgrid.db`` with a fake clock."""
    return RuntimeFactory(tmp_path / "actorgrid.db")


def restarts(rt: Runtime) -> int:
    assert rt.kernel is not None
    return rt.kernel.root.statistics().total_restarts


async def crash(rt: Runtime, name: str) -> None:
    """Crash the root's child ``name`` with a tell and wait for its restart."""
    assert rt.kernel is not None
    before = restarts(rt)
    await rt.kernel.lookup(name).tell(Crash())
    await wait_until(lambda: restarts(rt) > before)


def always_failing(calls: list[int]) -> Any:
    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        calls.append(ctx.attempt)
        raise RuntimeError("upstream refused the connection")

    return handler


class TestRetryGate:
    async def test_a_gate_without_a_database_keeps_its_records(
        self, runtimes: RuntimeFactory
    ) -> None:
        """A failure recorded before the crash still counts after it: the message gets
        exactly max_retries + 1 attempts, not a fresh cycle."""
        policy = RetryPolicyConfig(
            base_wait_minutes=1, early_wait_minutes=1, base_retries=1, max_retries=2
        )
        calls: list[int] = []
        async with runtimes(memory=True, retry=policy) as rt:
            rt.declare_topic("jobs", durable=False)
            await rt.subscribe("jobs", always_failing(calls))
            await rt.publish("jobs", {"n": 1}, target=KEY)
            await wait_until(lambda: rt.statistics().scheduled == 1)
            await crash(rt, "retry-gate")
            record = await rt.retry_record(*KEY)
            assert record is not None
            assert record.attempt_count == 1
            runtimes.clock.advance(61.0)  # the base retry
            await wait_until(lambda: rt.statistics().scheduled == 2)
            runtimes.clock.advance(61.0)  # the revise retry: its failure exhausts the cycle
            await wait_until(lambda: rt.statistics().dead == 1)
            runtimes.clock.advance(600.0)
            assert await rt.drain(5.0)
            assert len(calls) == 3
            record = await rt.retry_record(*KEY)
            assert record is not None
            assert record.attempt_count == 3

    async def test_a_crash_keeps_the_changes_not_yet_written(
        self, runtimes: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The write-behind fails in the flush that crashes the gate and again in the
        crashed incarnation's last flush: the restarted gate still has the change (a reset)
        and writes it behind."""
        calls: list[int] = []
        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", always_failing(calls))
            await rt.publish("jobs", {"n": 1}, target=KEY)
            await wait_until(lambda: rt.statistics().scheduled == 1)
            await rt.flush()
            await rt.reset_retry(*KEY)  # a change the gate writes behind on its own
            failures = {"left": 2}
            flush = WriteBehind.flush

            def failing_flush(wb: WriteBehind) -> Any:
                if failures["left"] > 0:
                    failures["left"] -= 1
                    raise RuntimeError("write-behind bug")
                return flush(wb)

            monkeypatch.setattr(WriteBehind, "flush", failing_flush)
            before = restarts(rt)
            runtimes.clock.advance(1.0)  # the flush timer fires: the gate crashes
            await wait_until(lambda: restarts(rt) > before)
            assert failures["left"] == 0
            record = await rt.retry_record(*KEY)
            assert record is not None
            assert record.attempt_count == 0
            await rt.flush()
            assert runtimes.query(
                "SELECT attempt_count FROM retry_records WHERE target_id = ?", KEY[1]
            ) == [(0,)]

    async def test_a_failure_reported_while_the_gate_restarts_is_recorded_once(
        self, runtimes: RuntimeFactory
    ) -> None:
        """A worker's RecordFailure that reaches the gate while it crashes and restarts
        waits in the gate's mailbox and is answered by the next incarnation: the record
        and the message row agree."""
        release = anyio.Event()

        async def handler(payload: Any, ctx: DeliveryContext) -> None:
            await release.wait()
            raise RuntimeError("fails once")

        async with runtimes() as rt:
            rt.declare_topic("jobs")
            await rt.subscribe("jobs", handler)
            await rt.publish("jobs", {"n": 1}, target=KEY)
            await wait_until(lambda: rt.statistics().running == 1)
            assert rt.kernel is not None
            before = restarts(rt)
            rt.kernel.lookup("retry-gate").tell_nowait(Crash())
            release.set()  # the failure is reported while the gate handles the crash
            await wait_until(lambda: restarts(rt) > before)
            await wait_until(lambda: rt.statistics().scheduled == 1)
            record = await rt.retry_record(*KEY)
            assert record is not None
            assert record.attempt_count == 1
            await rt.flush()
        assert runtimes.query("SELECT state, attempts FROM messages") == [("scheduled", 1)]
        assert runtimes.query("SELECT attempt_count FROM retry_records") == [(1,)]


class TestDeadLetterQueue:
    @pytest.mark.parametrize("memory", [True, False], ids=["memory", "sql"])
    async def test_dead_letters_filed_around_a_crash_are_kept(
        self, runtimes: RuntimeFactory, memory: bool
    ) -> None:
        """Messages that die while the queue crashes and restarts all get their dead
        letter (kept by the queue's shared store, or inserted by the broker)."""
        calls: list[int] = []
        async with runtimes(memory=memory) as rt:
            rt.declare_topic("jobs", durable=not memory)
            handler = always_failing(calls)
            await rt.subscribe("jobs", handler, concurrency=4, non_retryable=(RuntimeError,))
            assert rt.kernel is not None
            queue = rt.kernel.lookup("dead-letters")
            before = restarts(rt)
            async with anyio.create_task_group() as tg:
                for n in range(40):
                    tg.start_soon(rt.publish, "jobs", {"n": n})
                    if n == 20:
                        queue.tell_nowait(Crash())
            await wait_until(lambda: rt.statistics().dead == 40)
            await wait_until(lambda: restarts(rt) > before)
            await rt.flush()  # the broker's dead-letter inserts are written behind
            assert await rt.dead_letters.count() == 40

    async def test_a_dead_letter_whose_filing_crashed_the_queue_is_filed_after_it(
        self, runtimes: RuntimeFactory, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Keeping a dead letter fails once: the queue crashes, and the restarted one
        files it (it is not dropped with a log line)."""
        failures = {"left": 1}
        file = MemoryDeadLetterStore.file

        async def failing_file(store: MemoryDeadLetterStore, entry: Any) -> None:
            if failures["left"] > 0:
                failures["left"] -= 1
                raise RuntimeError("store bug")
            await file(store, entry)

        monkeypatch.setattr(MemoryDeadLetterStore, "file", failing_file)
        calls: list[int] = []
        async with runtimes(memory=True) as rt:
            rt.declare_topic("jobs", durable=False)
            await rt.subscribe("jobs", always_failing(calls), non_retryable=(RuntimeError,))
            before = restarts(rt)
            await rt.publish("jobs", {"n": 1})
            await wait_until(lambda: failures["left"] == 0)
            await wait_until(lambda: restarts(rt) > before, timeout=2.0)
            page = await rt.dead_letters.list()
            assert [(e.topic, e.reason) for e in page.entries] == [("jobs", "non_retryable")]


class TestPatternEngine:
    async def test_an_engine_without_a_database_keeps_its_chunks_and_notes(
        self, runtimes: RuntimeFactory
    ) -> None:
        """Reference chunks, failure notes and their recurring pattern outlive a crash."""
        calls: list[int] = []
        async with runtimes(memory=True) as rt:
            assert rt.kernel is not None
            engine = rt.kernel.lookup("pattern-engine")
            text = "database is locked: restart the writer after the backup finishes"
            await engine.ask(AddChunks((ChunkInput("runbook", text),)))
            rt.declare_topic("jobs", durable=False)
            await rt.subscribe("jobs", always_failing(calls), non_retryable=(RuntimeError,))
            for n in range(3):
                await rt.publish("jobs", {"n": n})
            await wait_until(lambda: rt.statistics().dead == 3)
            before: PatternStatistics = await engine.ask(PatternStats())
            assert (before.references, before.failures) == (1, 3)
            await crash(rt, "pattern-engine")
            after: PatternStatistics = await engine.ask(PatternStats())
            assert (after.references, after.failures, after.patterns) == (
                1,
                3,
                before.patterns,
            )
            assert after.patterns >= 1
            patterns = await engine.ask(RecurringPatterns())
            assert sum(p.count for p in patterns) == 3
            hits = await engine.ask(SearchChunks("database is locked", k=1, source="runbook"))
            assert [h.text for h in hits] == [text]
