"""InMemoryRetryStore: a dict of dicts holding the live record objects."""

from __future__ import annotations

import pytest

from actorgrid import InMemoryRetryStore, InvalidTarget, RetryRecord, RetryStore


class TestInMemoryRetryStore:
    """get / put / delete and their nowait twins."""

    async def test_put_get_delete(self) -> None:
        """A stored record comes back as the same object until deleted."""
        store = InMemoryRetryStore()
        assert isinstance(store, RetryStore)
        record = RetryRecord("entity", "a", attempt_count=1)
        assert await store.get("entity", "a") is None
        await store.put(record)
        assert await store.get("entity", "a") is record
        assert store.get_nowait("entity", "a") is record
        await store.delete("entity", "a")
        assert await store.get("entity", "a") is None
        await store.delete("entity", "a")
        assert len(store) == 0

    def test_keys_are_pairs(self) -> None:
        """The same id under two types, and two ids under one type, are four records."""
        store = InMemoryRetryStore()
        records = [RetryRecord(t, i) for t in ("entity", "event") for i in ("a", "b")]
        for record in records:
            store.put_nowait(record)
        assert len(store) == 4
        assert sorted(store.records(), key=lambda r: (r.target_type, r.target_id)) == records
        store.delete_nowait("event", "a")
        store.delete_nowait("event", "b")
        assert len(store) == 2
        assert store.get_nowait("event", "a") is None

    def test_put_replaces(self) -> None:
        """Putting a record under an existing key replaces the old one."""
        store = InMemoryRetryStore()
        store.put_nowait(RetryRecord("entity", "a", version=1))
        newer = RetryRecord("entity", "a", version=2)
        store.put_nowait(newer)
        assert store.get_nowait("entity", "a") is newer
        assert len(store) == 1

    @pytest.mark.parametrize(("target_type", "target_id"), [("", "a"), ("entity", "z" * 256)])
    async def test_bad_keys_change_nothing(self, target_type: str, target_id: str) -> None:
        """Every method rejects a bad key and the store is unchanged."""
        store = InMemoryRetryStore()
        store.put_nowait(RetryRecord("entity", "a"))
        with pytest.raises(InvalidTarget):
            await store.put(RetryRecord(target_type, target_id))
        with pytest.raises(InvalidTarget):
            await store.get(target_type, target_id)
        with pytest.raises(InvalidTarget):
            await store.delete(target_type, target_id)
        assert [(r.target_type, r.target_id) for r in store.records()] == [("entity", "a")]
