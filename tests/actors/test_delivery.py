"""The broker's statements on the messages table use an index range, never a table scan."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import pytest

from actorgrid.actors._delivery import (
    PRUNE_BATCH,
    page_scheduled,
    prune_done,
    prune_done_pending,
    recover_ready,
)

from .common import T0
from .plans import fetch, query_plan, uses_index_only

if TYPE_CHECKING:
    from pathlib import Path

_COLUMNS = (
    "id, topic, target_type, target_id, payload, state, attempts, available_at, created_at,"
    " updated_at, early_requested"
)


@pytest.fixture(name="busy_db")
def _busy_db(db_path: Path) -> Path:
    """The migrated database with a week of done rows beside a few live ones, analysed."""
    rows = []
    for i in range(3000):
        state = "done" if i % 10 else ("ready" if i % 20 else "scheduled")
        at = T0 + i
        rows.append((f"m{i:05d}", f"t{i % 3}", "t", f"m{i}", b"x", state, 0, at, at, at, 0))
    with sqlite3.connect(db_path) as conn:
        conn.executemany(f"INSERT INTO messages ({_COLUMNS}) VALUES ({', '.join('?' * 11)})", rows)
        conn.execute("ANALYZE")
    return db_path


class TestQueryPlans:
    def test_recovery_page_is_a_range_of_the_topic_state_index(self, busy_db: Path) -> None:
        """A recovery page of one topic's ready rows reads them alone, in index order."""
        params = {"b_topic": "t1", "b_after_at": T0, "b_after_id": "m00000", "b_limit": 500}
        plan = query_plan(busy_db, recover_ready, params)
        assert uses_index_only(
            plan,
            "messages",
            "ix_messages_ready",
            "topic=? AND (available_at,id)>(?,?)",
        ), plan

    def test_scheduled_page_is_a_range_of_the_state_index(self, busy_db: Path) -> None:
        """A page of scheduled rows by (available_at, id) reads them alone, in index order."""
        params = {"b_after_at": T0, "b_after_id": "m00000", "b_limit": 500}
        plan = query_plan(busy_db, page_scheduled, params)
        assert uses_index_only(
            plan,
            "messages",
            "ix_messages_scheduled",
            "(available_at,id)>(?,?)",
        ), plan

    def test_prune_batch_finds_its_rows_through_the_state_index(self, busy_db: Path) -> None:
        """The prune's delete and its count find the old done rows through the index."""
        params = {"b_cutoff": T0 + 2000, "b_limit": PRUNE_BATCH}
        for statement in (prune_done, prune_done_pending):
            plan = query_plan(busy_db, statement, params)
            assert uses_index_only(plan, "messages", "ix_messages_done", "available_at<?"), plan


class TestPages:
    def test_recovery_pages_by_available_at_and_id(self, busy_db: Path) -> None:
        """Keyset pages after an (available_at, id) position return the next ready rows."""
        params = {"b_topic": "t1", "b_after_at": T0 + 100, "b_after_id": "m00100", "b_limit": 3}
        rows = fetch(busy_db, recover_ready, params)
        assert [row[0] for row in rows] == ["m00130", "m00190", "m00250"]
