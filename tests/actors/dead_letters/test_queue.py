"""The dead-letter queue: list, show, count and purge, on SQLite and in memory; bad input."""

from __future__ import annotations

import base64
import contextlib
import math
import sqlite3
from typing import TYPE_CHECKING, Any

import msgspec
import pytest
from structlog.testing import capture_logs

from actorgrid import DeadLetterFilter, DeadLetterNotFound, DeadLetterPage, InvalidArgument
from actorgrid.actors.dead_letters import (
    DeadLetterCount,
    DeadLetterQueue,
    FileDeadLetter,
    ListDeadLetters,
    MemoryDeadLetterStore,
    PurgeDeadLetters,
    ReplayDeadLetters,
    ShowDeadLetter,
)
from actorgrid.kernel import FakeClock, MessageDecodeError

from ..common import T0
from .support import MODES, Bundle, open_bundle

if TYPE_CHECKING:
    from collections.abc import AsyncIterator
    from pathlib import Path

HOUR = 3600.0


@pytest.fixture(name="q", params=MODES)
async def _q(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Bundle]:
    async with open_bundle(tmp_path, request.param) as bundle:
        yield bundle


async def add_spread(q: Bundle) -> dict[str, str]:
    """File five dead letters an hour apart; return a label -> id map."""
    ids = {"a": await q.add(topic="orders", error_type="ValueError")}
    q.clock.advance(HOUR)
    ids["b"] = await q.add(topic="orders", error_type="KeyError", reason="non_retryable")
    q.clock.advance(HOUR)
    ids["c"] = await q.add(topic="billing", error_type="ValueError")
    q.clock.advance(HOUR)
    ids["d"] = await q.add(topic="billing", error_type=None, reason="undecodable")
    q.clock.advance(HOUR)
    ids["e"] = await q.add(topic="orders", error_type="ValueError")
    return ids


async def listed(q: Bundle, flt: DeadLetterFilter) -> list[str]:
    page = await q.dlq.ask(ListDeadLetters(where=flt, limit=100))
    return [e.id for e in page.entries]


class TestList:
    """Listing, filters and keyset pagination."""

    async def test_newest_first_with_every_field(self, q: Bundle) -> None:
        """Entries come back newest first, each with what was filed (envelope decoded)."""
        ids = await add_spread(q)
        page = await q.dlq.ask(ListDeadLetters())
        assert isinstance(page, DeadLetterPage)
        assert [e.id for e in page.entries] == [ids[k] for k in "edcba"]
        assert page.total == 5
        assert page.next_cursor is None
        first = page.entries[-1]
        assert first.created_at == T0
        assert (first.topic, first.reason, first.error_type) == (
            "orders",
            "exhausted",
            "ValueError",
        )
        assert first.error_message == "boom"
        assert first.traceback is not None
        assert first.traceback.endswith("ValueError: boom")
        assert first.attempts == 6
        assert first.envelope.payload == b"\x93\x01\x02\x03"
        assert first.envelope.topic == "orders"
        assert first.envelope.attempts == 6
        assert first.target_type == "orders"
        assert first.retry_record is not None
        assert first.retry_record["attempt_count"] == 6
        assert first.replayed_at is None
        assert first.replay_message_id is None
        assert (first.message_id is not None) == (q.mode == "sql")

    @pytest.mark.parametrize(
        ("flt", "expected"),
        [
            (DeadLetterFilter(topic="orders"), "eba"),
            (DeadLetterFilter(topic="billing"), "dc"),
            (DeadLetterFilter(error_type="ValueError"), "eca"),
            (DeadLetterFilter(reason="undecodable"), "d"),
            (DeadLetterFilter(topic="orders", error_type="ValueError"), "ea"),
            (DeadLetterFilter(since=T0 + HOUR), "edcb"),
            (DeadLetterFilter(until=T0 + 2 * HOUR), "ba"),
            (DeadLetterFilter(since=T0 + HOUR, until=T0 + 3 * HOUR), "cb"),
            (DeadLetterFilter(since=T0 + HOUR, until=T0 + HOUR), ""),
            (DeadLetterFilter(topic="nowhere"), ""),
        ],
    )
    async def test_filters(self, q: Bundle, flt: DeadLetterFilter, expected: str) -> None:
        """Every set field must match; the time range is [since, until)."""
        ids = await add_spread(q)
        assert await listed(q, flt) == [ids[k] for k in expected]
        assert await q.dlq.ask(DeadLetterCount(where=flt)) == len(expected)

    async def test_pages_cover_everything_once(self, q: Bundle) -> None:
        """Pages of 3 over 8 entries (some filed at the same instant) cover each once, in order."""
        for i in range(8):
            await q.add(topic="orders")
            if i % 3 == 2:
                q.clock.advance(1.0)
        everything = [e.id for e in await q.all_entries()]
        seen: list[str] = []
        cursor = None
        sizes = []
        while True:
            page = await q.dlq.ask(ListDeadLetters(limit=3, cursor=cursor))
            assert page.total == 8
            sizes.append(len(page.entries))
            seen.extend(e.id for e in page.entries)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sizes == [3, 3, 2]
        assert seen == everything
        keys = [(e.created_at, e.id) for e in await q.all_entries()]
        assert keys == sorted(keys, reverse=True)

    async def test_new_entries_do_not_shift_pages(self, q: Bundle) -> None:
        """A dead letter filed while paging appears on no later page (keyset, newest first)."""
        old = [await q.add() for _ in range(4)]
        first = await q.dlq.ask(ListDeadLetters(limit=2))
        q.clock.advance(5.0)
        newer = await q.add()
        second = await q.dlq.ask(ListDeadLetters(limit=2, cursor=first.next_cursor))
        assert second.total == 5
        got = {e.id for e in first.entries} | {e.id for e in second.entries}
        assert got == set(old)
        assert newer not in got
        assert second.next_cursor is None

    async def test_filter_applies_across_pages(self, q: Bundle) -> None:
        """A filtered listing pages over the matching entries only."""
        ids = await add_spread(q)
        flt = DeadLetterFilter(topic="orders")
        page1 = await q.dlq.ask(ListDeadLetters(where=flt, limit=2))
        page2 = await q.dlq.ask(ListDeadLetters(where=flt, limit=2, cursor=page1.next_cursor))
        assert [e.id for e in page1.entries + page2.entries] == [ids[k] for k in "eba"]
        assert (page1.total, page2.total, page2.next_cursor) == (3, 3, None)


class TestShow:
    """Show one dead letter."""

    async def test_show(self, q: Bundle) -> None:
        """Show returns the entry the listing has."""
        ids = await add_spread(q)
        entry = await q.dlq.ask(ShowDeadLetter(ids["c"]))
        assert entry in await q.all_entries()
        assert (entry.id, entry.topic) == (ids["c"], "billing")

    async def test_unknown_id(self, q: Bundle) -> None:
        """An unknown id raises DeadLetterNotFound naming it."""
        await add_spread(q)
        with pytest.raises(DeadLetterNotFound, match="nope"):
            await q.dlq.ask(ShowDeadLetter("nope"))


class TestPurge:
    """Purge by id, filter, age, or everything."""

    async def test_by_ids(self, q: Bundle) -> None:
        """Only the named dead letters go; unknown ids are not counted."""
        ids = await add_spread(q)
        deleted = await q.dlq.ask(PurgeDeadLetters(ids=(ids["a"], ids["c"], "nope", ids["a"])))
        assert deleted == 2
        assert [e.id for e in await q.all_entries()] == [ids[k] for k in "edb"]

    async def test_by_filter(self, q: Bundle) -> None:
        """Every dead letter matching the filter goes, the others stay."""
        ids = await add_spread(q)
        assert await q.dlq.ask(PurgeDeadLetters(where=DeadLetterFilter(topic="orders"))) == 3
        assert [e.id for e in await q.all_entries()] == [ids[k] for k in "dc"]

    async def test_by_age(self, q: Bundle) -> None:
        """older_than deletes what was filed more than that many seconds ago."""
        ids = await add_spread(q)
        q.clock.advance(HOUR)  # ages now: a 5h, b 4h, c 3h, d 2h, e 1h
        assert await q.dlq.ask(PurgeDeadLetters(older_than=3 * HOUR + 1)) == 2
        assert [e.id for e in await q.all_entries()] == [ids[k] for k in "edc"]
        assert await q.dlq.ask(PurgeDeadLetters(older_than=10 * HOUR)) == 0

    async def test_all(self, q: Bundle) -> None:
        """everything=True empties the queue and reports how many went."""
        await add_spread(q)
        assert await q.dlq.ask(PurgeDeadLetters(everything=True)) == 5
        assert await q.all_entries() == []
        assert await q.dlq.ask(PurgeDeadLetters(everything=True)) == 0

    async def test_sql_purge_takes_the_dead_message_rows(self, tmp_path: Path) -> None:
        """With a database, the purged dead letters' `dead` message rows go too, nothing else."""
        async with open_bundle(tmp_path, "sql") as q:
            ids = await add_spread(q)
            gone = await q.dlq.ask(ShowDeadLetter(ids["a"]))
            kept = await q.dlq.ask(ShowDeadLetter(ids["b"]))
            assert await q.dlq.ask(PurgeDeadLetters(ids=(ids["a"],))) == 1
            assert q.query("SELECT id FROM messages WHERE id = ?", gone.message_id) == []
            assert q.query("SELECT state FROM messages WHERE id = ?", kept.message_id) == [
                ("dead",)
            ]
            assert len(q.query("SELECT id FROM messages")) == 4


class TestMemoryMode:
    """The bounded in-memory store."""

    async def test_oldest_evicted_with_a_warning(self, tmp_path: Path) -> None:
        """Past capacity the oldest filed entry goes, logged as dead_letter_evicted."""
        async with open_bundle(tmp_path, "memory", memory_capacity=3) as q:
            ids = []
            with capture_logs() as logs:
                for _ in range(5):
                    ids.append(await q.add())
                    q.clock.advance(1.0)
            assert [e.id for e in await q.all_entries()] == ids[:1:-1]
            evicted = [e for e in logs if e["event"] == "dead_letter_evicted"]
            assert [e["dead_letter_id"] for e in evicted] == ids[:2]
            assert all(e["log_level"] == "warning" and e["capacity"] == 3 for e in evicted)
            assert q.memory is not None
            assert q.memory.evicted == 2

    async def test_entries_survive_a_new_incarnation(self, tmp_path: Path) -> None:
        """A shared store keeps the entries for the next DeadLetterQueue built on it."""
        async with open_bundle(tmp_path, "memory") as q:
            ids = await add_spread(q)
            await q.kernel.stop_actor("dead-letters")
            again = await q.kernel.spawn(
                lambda: DeadLetterQueue(
                    engine=None,
                    writer=None,
                    clock=q.clock,
                    dispatch=q.dispatch,
                    gate=None,
                    memory=q.memory,
                ),
                name="dead-letters-2",
            )
            assert await again.ask(DeadLetterCount()) == len(ids)

    async def test_duplicate_filing_keeps_the_first(self, tmp_path: Path) -> None:
        """Filing an id twice keeps the first entry and logs a warning."""
        store = MemoryDeadLetterStore(5)
        async with open_bundle(tmp_path, "memory") as q:
            await q.add(topic="orders")
            entry = (await q.all_entries())[0]
            with capture_logs() as logs:
                await store.file(entry)
                await store.file(msgspec.structs.replace(entry, topic="other"))
            assert len(store) == 1
            assert (await store.get_many([entry.id]))[0][entry.id].topic == "orders"
            assert [e["event"] for e in logs] == ["dead_letter_duplicate"]


def _cursor(raw: bytes | list[Any]) -> str:
    if not isinstance(raw, bytes):
        raw = msgspec.msgpack.encode(raw)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


BAD_REQUESTS: list[tuple[str, Any]] = [
    ("limit 0", lambda: ListDeadLetters(limit=0)),
    ("limit 1001", lambda: ListDeadLetters(limit=1001)),
    ("limit bool", lambda: ListDeadLetters(limit=True)),
    ("limit str", lambda: ListDeadLetters(limit="5")),  # type: ignore[arg-type]
    ("cursor empty", lambda: ListDeadLetters(cursor="")),
    ("cursor not base64", lambda: ListDeadLetters(cursor="!!not a cursor!!")),
    ("cursor not msgpack", lambda: ListDeadLetters(cursor=_cursor(b"\xc1\xc1"))),
    ("cursor wrong shape", lambda: ListDeadLetters(cursor=_cursor([1]))),
    (
        "cursor nan",
        lambda: ListDeadLetters(cursor=_cursor([math.nan, "x"])),
    ),
    ("cursor empty id", lambda: ListDeadLetters(cursor=_cursor([1.0, ""]))),
    ("since > until", lambda: DeadLetterFilter(since=T0 + 1, until=T0)),
    ("since nan", lambda: DeadLetterFilter(since=math.nan)),
    ("until inf", lambda: DeadLetterFilter(until=math.inf)),
    ("since str", lambda: DeadLetterFilter(since="yesterday")),  # type: ignore[arg-type]
    ("topic empty", lambda: DeadLetterFilter(topic="")),
    ("topic too long", lambda: DeadLetterFilter(topic="t" * 256)),
    ("error_type int", lambda: DeadLetterFilter(error_type=3)),  # type: ignore[arg-type]
    ("filter not a filter", lambda: DeadLetterCount(where={"topic": "orders"})),  # type: ignore[arg-type]
    ("show empty id", lambda: ShowDeadLetter("")),
    ("replay nothing", lambda: ReplayDeadLetters()),
    ("replay ids and everything", lambda: ReplayDeadLetters(ids=("x",), everything=True)),
    (
        "replay ids and filter",
        lambda: ReplayDeadLetters(ids=("x",), where=DeadLetterFilter(topic="x")),
    ),
    ("replay empty ids", lambda: ReplayDeadLetters(ids=())),
    ("replay list ids", lambda: ReplayDeadLetters(ids=["x"])),  # type: ignore[arg-type]
    ("replay empty id", lambda: ReplayDeadLetters(ids=("x", ""))),
    ("replay everything str", lambda: ReplayDeadLetters(everything="yes")),  # type: ignore[arg-type]
    ("purge nothing", lambda: PurgeDeadLetters()),
    ("purge everything=False", lambda: PurgeDeadLetters(everything=False)),
    ("purge age and everything", lambda: PurgeDeadLetters(older_than=1.0, everything=True)),
    (
        "purge ids and filter",
        lambda: PurgeDeadLetters(ids=("x",), where=DeadLetterFilter(topic="x")),
    ),
    ("purge negative age", lambda: PurgeDeadLetters(older_than=-1.0)),
    ("purge nan age", lambda: PurgeDeadLetters(older_than=math.nan)),
    ("purge empty ids", lambda: PurgeDeadLetters(ids=())),
    ("replay empty filter", lambda: ReplayDeadLetters(where=DeadLetterFilter())),
    ("purge empty filter", lambda: PurgeDeadLetters(where=DeadLetterFilter())),
    (
        "replay filter and everything",
        lambda: ReplayDeadLetters(where=DeadLetterFilter(topic="x"), everything=True),
    ),
]


class TestBadInput:
    """Bad input raises a typed error and changes nothing."""

    @pytest.mark.parametrize(("case", "build"), BAD_REQUESTS, ids=[c for c, _ in BAD_REQUESTS])
    def test_request_refused(self, case: str, build: Any) -> None:
        """Each malformed request raises InvalidArgument when it is built."""
        with pytest.raises(InvalidArgument):
            build()

    def test_decoding_reports_the_same_checks(self) -> None:
        """A request decoded from JSON (the admin API) fails with the same problem."""
        with pytest.raises(msgspec.ValidationError, match="invalid limit"):
            msgspec.json.decode(b'{"type": "ListDeadLetters", "limit": 0}', type=ListDeadLetters)
        with pytest.raises(msgspec.ValidationError, match="exactly one of"):
            msgspec.json.decode(
                b'{"type": "PurgeDeadLetters", "everything": true, "older_than": 5}',
                type=PurgeDeadLetters,
            )

    def test_bad_construction(self) -> None:
        """A queue with only one of engine/writer, or a capacity below 1, is refused."""
        clock = FakeClock(T0)

        async def dispatch(_: Any) -> None:
            return None

        with pytest.raises(InvalidArgument, match="memory_capacity"):
            DeadLetterQueue(
                engine=None,
                writer=None,
                clock=clock,
                dispatch=dispatch,
                gate=None,
                memory_capacity=0,
            )
        with pytest.raises(InvalidArgument, match="engine/writer"):
            DeadLetterQueue(
                engine=object(),  # type: ignore[arg-type]
                writer=None,
                clock=clock,
                dispatch=dispatch,
                gate=None,
            )

    async def test_unknown_ids_change_nothing(self, q: Bundle) -> None:
        """Show, replay and purge of unknown ids change nothing at all."""
        await add_spread(q)
        before = await q.snapshot()
        with pytest.raises(DeadLetterNotFound):
            await q.dlq.ask(ShowDeadLetter("missing-1"))
        result = await q.dlq.ask(ReplayDeadLetters(ids=("missing-1", "missing-2")))
        assert result.missing == ("missing-1", "missing-2")
        assert (result.replayed, result.already, result.failed) == ((), (), ())
        assert await q.dlq.ask(PurgeDeadLetters(ids=("missing-1",))) == 0
        assert await q.dlq.ask(ReplayDeadLetters(where=DeadLetterFilter(topic="x"))) == (
            type(result)()
        )
        assert await q.dlq.ask(PurgeDeadLetters(where=DeadLetterFilter(topic="x"))) == 0
        assert await q.snapshot() == before


class TestDatabaseMode:
    """What only the table-backed queue does."""

    async def test_filed_entry_is_inserted(self, tmp_path: Path) -> None:
        """A FileDeadLetter tell with a database inserts the row; a duplicate is logged."""
        async with open_bundle(tmp_path, "memory") as source:
            await source.add(topic="orders")
            entry = (await source.all_entries())[0]
        async with open_bundle(tmp_path, "sql") as q:
            await q.dlq.tell(FileDeadLetter(entry))
            assert await q.dlq.ask(ShowDeadLetter(entry.id)) == entry
            with capture_logs() as logs:
                await q.dlq.tell(FileDeadLetter(entry))
                assert await q.dlq.ask(DeadLetterCount()) == 1
            assert "dead_letter_file_failed" in [e["event"] for e in logs]

    async def test_unreadable_envelope(self, tmp_path: Path) -> None:
        """A row whose envelope cannot be decoded: show raises, replay reports it, purge works."""
        async with open_bundle(tmp_path, "sql") as q:
            bad = await q.add()
            good = await q.add()
            with contextlib.closing(sqlite3.connect(q.path)) as conn, conn:
                conn.execute("UPDATE dead_letters SET envelope = x'c1' WHERE id = ?", (bad,))
            with pytest.raises(MessageDecodeError):
                await q.dlq.ask(ShowDeadLetter(bad))
            result = await q.dlq.ask(ReplayDeadLetters(ids=(bad, good)))
            assert [r[0] for r in result.replayed] == [good]
            assert [f[0] for f in result.failed] == [bad]
            assert q.query("SELECT replayed_at FROM dead_letters WHERE id = ?", bad) == [(None,)]
            assert await q.dlq.ask(PurgeDeadLetters(ids=(bad,))) == 1
            assert [e.id for e in await q.all_entries()] == [good]
