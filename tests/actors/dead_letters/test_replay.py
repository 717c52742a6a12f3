"""Replaying dead letters: a fresh retry cycle in one transaction, one live message each."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest
from structlog.testing import capture_logs

import actorgrid.actors.dead_letters._queue as dlq_module
from actorgrid import DeadLetterFilter, ReplayResult, RetryRecord
from actorgrid.actors.dead_letters import ReplayDeadLetters, ShowDeadLetter
from actorgrid.actors.dead_letters._queue import BATCH_SIZE
from actorgrid.actors.retry import record_to_row, retry_record_upsert
from actorgrid.storage import Op, WriteRejected

from ..common import T0
from .support import MODES, Bundle, open_bundle

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path


@pytest.fixture(name="q", params=MODES)
async def _q(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bundle]:
    async with open_bundle(tmp_path, request.param) as bundle:
        yield bundle


async def replay(q: Bundle, **selector: Any) -> ReplayResult:
    result = await q.dlq.ask(ReplayDeadLetters(**selector))
    assert isinstance(result, ReplayResult)
    return result


class TestReplayOne:
    """One dead letter back on its topic."""

    async def test_fresh_delivery_dispatched(self, q: Bundle) -> None:
        """The replay dispatches a new message: new id, no attempts, same payload and target."""
        dead_id = await q.add(target=("entity", "entity-123"), headers={"k": "v"})
        entry = await q.dlq.ask(ShowDeadLetter(dead_id))
        q.clock.advance(60.0)
        result = await replay(q, ids=(dead_id,))
        [d] = q.dispatched
        assert result == ReplayResult(replayed=((dead_id, d.id),))
        assert d.id not in (dead_id, entry.envelope.id)
        assert (d.topic, d.target_type, d.target_id) == ("orders", "entity", "entity-123")
        assert (d.payload, d.headers) == (entry.envelope.payload, {"k": "v"})
        assert (d.attempts, d.created_at) == (0, T0 + 60.0)
        assert d.durable == (q.mode == "sql")
        assert q.resets == [("entity", "entity-123")]

    async def test_entry_marked_replayed(self, q: Bundle) -> None:
        """The dead letter keeps when it was replayed and the live message's id."""
        dead_id = await q.add()
        q.clock.advance(5.0)
        result = await replay(q, ids=(dead_id,))
        entry = await q.dlq.ask(ShowDeadLetter(dead_id))
        assert entry.replayed_at == T0 + 5.0
        assert entry.replay_message_id == result.replayed[0][1]

    async def test_twice_gives_one_live_message(self, q: Bundle) -> None:
        """A second replay publishes nothing and reports the first replay's message id."""
        dead_id = await q.add()
        first = await replay(q, ids=(dead_id,))
        second = await replay(q, ids=(dead_id,))
        assert second == ReplayResult(already=first.replayed)
        assert len(q.dispatched) == 1
        assert len(q.resets) == 1

    async def test_concurrent_replays_give_one_live_message(self, q: Bundle) -> None:
        """Two replays of the same dead letter sent at once still publish once."""
        dead_id = await q.add()
        results: list[ReplayResult] = []

        async def one() -> None:
            results.append(await replay(q, ids=(dead_id,)))

        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            tg.start_soon(one)
        assert sorted((len(r.replayed), len(r.already)) for r in results) == [(0, 1), (1, 0)]
        assert len(q.dispatched) == 1

    async def test_repeated_ids_replay_once(self, q: Bundle) -> None:
        """An id named twice in one request is replayed once."""
        dead_id = await q.add()
        result = await replay(q, ids=(dead_id, dead_id, "nope"))
        assert [r[0] for r in result.replayed] == [dead_id]
        assert result.missing == ("nope",)
        assert len(q.dispatched) == 1

    async def test_without_a_gate(self, tmp_path: Path) -> None:
        """With no retry gate, a replay still happens (no reset is sent anywhere)."""
        async with open_bundle(tmp_path, "memory", gate=False) as q:
            dead_id = await q.add()
            assert len((await replay(q, ids=(dead_id,))).replayed) == 1
            assert len(q.dispatched) == 1

    async def test_dispatch_failure_is_logged_and_the_replay_stands(self, q: Bundle) -> None:
        """If the broker refuses the delivery, the replay is still recorded and a warning logged."""
        dead_id = await q.add()
        q.dispatch_error = RuntimeError("broker stopping")
        with capture_logs() as logs:
            result = await replay(q, ids=(dead_id,))
        assert len(result.replayed) == 1
        assert (await q.dlq.ask(ShowDeadLetter(dead_id))).replayed_at is not None
        [event] = [e for e in logs if e["event"] == "dead_letter_replay_dispatch_failed"]
        assert event["dead_letter_id"] == dead_id
        assert "broker stopping" in event["error"]


class TestReplayMany:
    """Replays selected by filter or everything at once."""

    async def test_by_filter(self, q: Bundle) -> None:
        """Only dead letters matching the filter are replayed, oldest first."""
        a = await q.add(topic="orders")
        q.clock.advance(1.0)
        await q.add(topic="billing")
        q.clock.advance(1.0)
        c = await q.add(topic="orders")
        result = await replay(q, where=DeadLetterFilter(topic="orders"))
        assert [r[0] for r in result.replayed] == [a, c]
        assert [d.topic for d in q.dispatched] == ["orders", "orders"]
        assert [r[1] for r in result.replayed] == [d.id for d in q.dispatched]

    async def test_all_reports_earlier_replays_as_already(self, q: Bundle) -> None:
        """everything=True replays the rest and reports the ones replayed before in `already`."""
        ids = []
        for _ in range(4):
            ids.append(await q.add())
            q.clock.advance(1.0)
        first = await replay(q, ids=(ids[1],))
        result = await replay(q, everything=True)
        assert [r[0] for r in result.replayed] == [ids[0], ids[2], ids[3]]
        assert result.already == first.replayed
        assert len(q.dispatched) == 4
        assert len({d.id for d in q.dispatched}) == 4

    async def test_many_in_batches(self, q: Bundle) -> None:
        """More than a batch of dead letters: every one replayed once."""
        count = BATCH_SIZE + 30
        await q.add_many(count, target=("entity", "shared"), with_record=False)
        result = await replay(q, everything=True)
        assert len(result.replayed) == count
        assert len({m for _, m in result.replayed}) == count
        assert len(q.dispatched) == count
        # one reset per target per batch
        assert q.resets == [("entity", "shared")] * 2


class TestReplayOnDatabase:
    """What a replay commits to the database, and that it commits it at once."""

    async def test_one_ready_row_and_no_retry_record(self, tmp_path: Path) -> None:
        """A replay adds one ready row (attempts 0), resets the retry record in place (a
        higher version), marks the letter."""
        async with open_bundle(tmp_path, "sql") as q:
            dead_id = await q.add(target=("entity", "entity-123"))
            other = await q.add(target=("entity", "entity-456"))
            assert len(q.query("SELECT id FROM retry_records")) == 2
            entry = await q.dlq.ask(ShowDeadLetter(dead_id))
            q.clock.advance(30.0)
            result = await replay(q, ids=(dead_id,))
            await replay(q, ids=(dead_id,))
            [(_, live_id)] = result.replayed
            rows = q.query(
                "SELECT id, state, attempts, payload, available_at, target_id FROM messages "
                "WHERE state != 'dead'"
            )
            assert rows == [(live_id, "ready", 0, entry.envelope.payload, T0 + 30.0, "entity-123")]
            assert q.query("SELECT state FROM messages WHERE id = ?", entry.message_id) == [
                ("dead",)
            ]
            assert q.query(
                "SELECT target_id, attempt_count, version, last_attempt_at FROM retry_records "
                "ORDER BY target_id"
            ) == [("entity-123", 0, 7, None), ("entity-456", 6, 6, None)]
            assert q.query(
                "SELECT replayed_at, replay_message_id FROM dead_letters WHERE id = ?", dead_id
            ) == [(T0 + 30.0, live_id)]
            assert q.query("SELECT replayed_at FROM dead_letters WHERE id = ?", other) == [(None,)]

    async def test_a_stale_write_cannot_bring_back_the_exhausted_record(
        self, tmp_path: Path
    ) -> None:
        """The gate's write-behind of the exhausted record, committed after the replay, is
        older than the reset row and changes nothing (a deleted row would be inserted again,
        and the replayed message would be dead after one failure)."""
        async with open_bundle(tmp_path, "sql") as q:
            dead_id = await q.add(target=("entity", "entity-123"))
            await replay(q, ids=(dead_id,))
            assert q.writer is not None
            stale = RetryRecord("entity", "entity-123", attempt_count=6, version=6)
            await q.writer.write(Op(retry_record_upsert("sqlite"), record_to_row(stale, T0)))
            assert q.query("SELECT attempt_count, version FROM retry_records") == [(0, 7)]

    async def test_failed_transaction_changes_nothing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """If the replay's transaction fails, the retry record, the letter and the rows stand."""
        async with open_bundle(tmp_path, "sql") as q:
            taken = await q.add(target=("entity", "a"))
            dead_id = await q.add(target=("entity", "b"))
            taken_message = (await q.dlq.ask(ShowDeadLetter(taken))).message_id
            before = await q.snapshot()
            # The new message's id collides with an existing row: the INSERT fails.
            monkeypatch.setattr(dlq_module, "new_message_id", lambda: taken_message)
            with capture_logs(), pytest.raises(WriteRejected):
                await replay(q, ids=(dead_id,))
            assert await q.snapshot() == before
            assert q.dispatched == []
            assert q.resets == []

    async def test_transient_dead_letter_not_stored_as_a_message(self, tmp_path: Path) -> None:
        """A dead letter from a transient topic (no message row) is dispatched, not stored."""
        async with open_bundle(tmp_path, "sql") as q:
            dead_id = await q.add(durable=False)
            assert (await q.dlq.ask(ShowDeadLetter(dead_id))).message_id is None
            result = await replay(q, ids=(dead_id,))
            [d] = q.dispatched
            assert d.durable is False
            assert q.query("SELECT id FROM messages") == []
            assert q.query("SELECT replay_message_id FROM dead_letters WHERE id = ?", dead_id) == [
                (result.replayed[0][1],)
            ]

    async def test_batches_commit_separately(self, tmp_path: Path) -> None:
        """A replay of more than a batch commits one transaction per batch."""
        async with open_bundle(tmp_path, "sql") as q:
            await q.add_many(BATCH_SIZE + 1, with_record=False)
            assert q.writer is not None
            before = q.writer.statistics().batches_committed
            await replay(q, everything=True)
            assert q.writer.statistics().batches_committed - before == 2
            ready = q.query("SELECT count(*) FROM messages WHERE state = 'ready'")
            assert ready == [(BATCH_SIZE + 1,)]
