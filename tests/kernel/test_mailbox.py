"""Tests of the bounded mailbox (kernel/_mailbox.py)."""

from __future__ import annotations

import anyio
import pytest

from actorgrid.kernel import Mailbox
from actorgrid.kernel._mailbox import MailboxClosed, MailboxWouldBlock


class TestMailbox:
    async def test_fifo_order(self) -> None:
        """User items come out in the order they went in."""
        box: Mailbox[int] = Mailbox(10)
        for i in range(5):
            await box.put(i)
        assert [await box.get() for _ in range(5)] == [0, 1, 2, 3, 4]

    async def test_system_items_overtake_user_items(self) -> None:
        """A system item queued after user items is delivered before them."""
        box: Mailbox[str] = Mailbox(10)
        await box.put("a")
        await box.put("b")
        box.put_system("stop")
        assert await box.get() == "stop"
        assert await box.get() == "a"

    async def test_put_nowait_raises_when_full(self) -> None:
        """put_nowait on a full mailbox raises and leaves the contents unchanged."""
        box: Mailbox[int] = Mailbox(2)
        box.put_nowait(1)
        box.put_nowait(2)
        with pytest.raises(MailboxWouldBlock):
            box.put_nowait(3)
        assert box.statistics().depth == 2
        assert [await box.get(), await box.get()] == [1, 2]

    async def test_put_blocks_until_room(self) -> None:
        """An awaited put on a full mailbox waits until the consumer takes an item."""
        box: Mailbox[int] = Mailbox(1)
        await box.put(1)
        done = anyio.Event()

        async def sender() -> None:
            await box.put(2)
            done.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(sender)
            await anyio.wait_all_tasks_blocked()
            assert not done.is_set()
            assert box.statistics().blocked_senders == 1
            assert await box.get() == 1
            await done.wait()
        assert box.statistics().blocked_senders == 0
        assert await box.get() == 2

    async def test_blocked_senders_are_served_in_order(self) -> None:
        """Senders waiting for room get it first come, first served."""
        box: Mailbox[int] = Mailbox(1)
        await box.put(0)
        async with anyio.create_task_group() as tg:
            for i in (1, 2, 3):
                tg.start_soon(box.put, i)
                await anyio.wait_all_tasks_blocked()
            got = [await box.get() for _ in range(4)]
        assert got == [0, 1, 2, 3]

    async def test_cancelled_sender_passes_its_wakeup_on(self) -> None:
        """A sender cancelled while waiting leaves no item behind and loses no wake-up."""
        box: Mailbox[int] = Mailbox(1)
        await box.put(0)
        doomed_scope = anyio.CancelScope()

        async def doomed() -> None:
            with doomed_scope:
                await box.put(99)

        async with anyio.create_task_group() as tg:
            tg.start_soon(doomed)
            await anyio.wait_all_tasks_blocked()
            tg.start_soon(box.put, 1)
            await anyio.wait_all_tasks_blocked()
            assert box.statistics().blocked_senders == 2
            doomed_scope.cancel()
            await anyio.wait_all_tasks_blocked()
            assert box.statistics().blocked_senders == 1
            assert await box.get() == 0  # the room goes to the sender still waiting
            assert await box.get() == 1
        assert box.statistics().depth == 0
        assert box.statistics().blocked_senders == 0

    async def test_close_wakes_blocked_senders(self) -> None:
        """Closing the mailbox makes waiting senders fail with MailboxClosed."""
        box: Mailbox[int] = Mailbox(1)
        await box.put(1)
        errors: list[BaseException] = []

        async def sender() -> None:
            try:
                await box.put(2)
            except MailboxClosed as exc:
                errors.append(exc)

        async with anyio.create_task_group() as tg:
            tg.start_soon(sender)
            await anyio.wait_all_tasks_blocked()
            box.close()
        assert len(errors) == 1
        with pytest.raises(MailboxClosed):
            box.put_nowait(3)
        assert box.drain() == [1]

    async def test_invalid_capacity(self) -> None:
        """A capacity below 1 or of the wrong type is refused."""
        for bad in (0, -1, 1.5, True):
            with pytest.raises(ValueError, match="capacity"):
                Mailbox(bad)  # type: ignore[arg-type]

    async def test_statistics_snapshot(self) -> None:
        """statistics() reports depth, system depth and items received."""
        box: Mailbox[int] = Mailbox(5)
        await box.put(1)
        await box.put(2)
        box.put_system(0)
        await box.get()
        await box.get()
        stats = box.statistics()
        assert (stats.capacity, stats.depth, stats.system_depth, stats.received) == (5, 1, 0, 1)
        assert not stats.closed
