"""Tests of ActorRef: tell, tell_nowait, ask, strict messages and dead letters (kernel/_ref.py)."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from structlog.testing import capture_logs

from actorgrid.kernel import (
    Actor,
    ActorDeadError,
    ActorRef,
    AskTimeout,
    Kernel,
    KernelConfig,
    MailboxFull,
    Message,
    MessageEncodeError,
    NameTaken,
    UnhandledMessage,
)
from actorgrid.kernel.testing import ProbeLog, settle, wait_until


class Inc(Message, frozen=True):
    n: int = 1


class Get(Message, frozen=True):
    pass


class Fail(Message, frozen=True):
    pass


class Slow(Message, frozen=True):
    pass


class Gated(Actor[Any]):
    """Handles nothing until its gate opens, so its mailbox fills up."""

    def __init__(self, gate: anyio.Event, seen: list[object]) -> None:
        self.gate = gate
        self.seen = seen

    async def receive(self, message: Any) -> Any:
        await self.gate.wait()
        self.seen.append(message)
        return len(self.seen)


class Counter(Actor[Inc | Get | Fail | Slow]):
    async def on_start(self) -> None:
        self.n = 0

    async def receive(self, message: Inc | Get | Fail | Slow) -> int | None:
        match message:
            case Inc(n=n):
                self.n += n
            case Get():
                return self.n
            case Fail():
                raise ValueError("bad request")
            case Slow():
                await anyio.sleep_forever()
        return None


def strict() -> KernelConfig:
    return KernelConfig(strict_messages=True)


class TestTellAndAsk:
    async def test_tell_then_ask(self) -> None:
        """Told messages are handled in order before a later ask is answered."""
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(Counter, name="c")
            for _ in range(100):
                await ref.tell(Inc())
            assert await ref.ask(Get()) == 100

    async def test_full_mailbox_blocks_tell(self) -> None:
        """tell waits while the mailbox is full and completes once there is room."""
        gate = anyio.Event()
        seen: list[object] = []
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(lambda: Gated(gate, seen), name="g", capacity=2)
            await ref.tell(Inc(1))  # taken by the actor, which blocks on the gate
            await settle()
            await ref.tell(Inc(2))
            await ref.tell(Inc(3))
            sent = anyio.Event()

            async def fourth() -> None:
                await ref.tell(Inc(4))
                sent.set()

            async with anyio.create_task_group() as tg:
                tg.start_soon(fourth)
                await settle()
                assert not sent.is_set()
                assert ref.mailbox_statistics().blocked_senders == 1
                gate.set()
                await sent.wait()
            await wait_until(lambda: len(seen) == 4)
        assert seen == [Inc(1), Inc(2), Inc(3), Inc(4)]

    async def test_tell_nowait_raises_mailbox_full(self) -> None:
        """tell_nowait on a full mailbox raises MailboxFull and sends nothing."""
        gate = anyio.Event()
        seen: list[object] = []
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(lambda: Gated(gate, seen), name="g", capacity=1)
            ref.tell_nowait(Inc(1))
            await settle()
            ref.tell_nowait(Inc(2))
            with pytest.raises(MailboxFull) as info:
                ref.tell_nowait(Inc(3))
            assert info.value.capacity == 1
            gate.set()
            await wait_until(lambda: len(seen) == 2)
        assert seen == [Inc(1), Inc(2)]

    async def test_ask_times_out(self) -> None:
        """ask raises AskTimeout when the actor does not answer in time."""
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(Counter, name="c", shutdown=0.05)
            with pytest.raises(AskTimeout) as info:
                await ref.ask(Slow(), timeout=0.05)
            assert info.value.actor == "c"

    async def test_ask_reraises_handler_error_and_actor_survives(self) -> None:
        """An exception raised while handling an ask goes to the caller; the actor keeps state."""
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(Counter, name="c")
            await ref.tell(Inc(3))
            with pytest.raises(ValueError, match="bad request"):
                await ref.ask(Fail())
            assert await ref.ask(Get()) == 3
            assert kernel.root.statistics().total_restarts == 0

    async def test_handler_timeout_error_is_not_an_ask_timeout(self) -> None:
        """A TimeoutError raised by the handler reaches the caller as itself."""

        class Raiser(Actor[Any]):
            async def receive(self, message: Any) -> Any:
                raise TimeoutError("upstream timed out")

        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(Raiser, name="r")
            with pytest.raises(TimeoutError, match="upstream") as info:
                await ref.ask(Get(), timeout=5)
            assert not isinstance(info.value, AskTimeout)

    async def test_unhandled_message(self) -> None:
        """The default receive refuses a message with UnhandledMessage."""
        async with Kernel(strict()) as kernel:
            ref: ActorRef[Any] = await kernel.spawn(Actor, name="plain")
            with pytest.raises(UnhandledMessage, match="Get"):
                await ref.ask(Get())


class TestAskNowait:
    async def test_replies_land_in_order_without_waiting(self) -> None:
        """ask_nowait returns at once; the replies arrive in mailbox order, after tells
        sent before them."""
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(Counter, name="c")
            ref.tell_nowait(Inc(2))
            first = ref.ask_nowait(Get())
            ref.tell_nowait(Inc(3))
            second = ref.ask_nowait(Get())
            assert not first.done()
            assert (await first, await second) == (2, 5)

    async def test_the_handler_error_lands_in_the_future(self) -> None:
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(Counter, name="c")
            reply = ref.ask_nowait(Fail())
            with pytest.raises(ValueError, match="bad request"):
                await reply
            assert kernel.root.statistics().total_restarts == 0

    async def test_a_full_mailbox_raises_and_sends_nothing(self) -> None:
        gate = anyio.Event()
        seen: list[object] = []
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(lambda: Gated(gate, seen), name="g", capacity=1)
            ref.tell_nowait(Inc(1))
            await settle()
            queued = ref.ask_nowait(Inc(2))
            with pytest.raises(MailboxFull):
                ref.ask_nowait(Inc(3))
            gate.set()
            assert await queued == 2
        assert seen == [Inc(1), Inc(2)]

    async def test_a_stopped_actor_raises_and_a_pending_reply_fails(self) -> None:
        """An ask to a stopped actor raises ActorDeadError at once; one still queued when
        the actor stops for good fails with ActorDeadError (it never hangs)."""
        gate = anyio.Event()
        seen: list[object] = []
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(lambda: Gated(gate, seen), name="g", shutdown=0.05)
            ref.tell_nowait(Inc(1))
            await settle()
            pending = ref.ask_nowait(Get())
            await kernel.stop_actor("g")
            with pytest.raises(ActorDeadError):
                await pending
            with pytest.raises(ActorDeadError):
                ref.ask_nowait(Get())

    async def test_an_unencodable_message_fails_at_the_sender(self) -> None:
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(Counter, name="c")
            with pytest.raises(MessageEncodeError):
                ref.ask_nowait(object())  # type: ignore[arg-type]


class TestStrictMessages:
    async def test_unencodable_message_fails_at_tell(self) -> None:
        """Under strict_messages a message that cannot be encoded fails at the sender."""

        class Bad(Message, frozen=True):
            thing: Any

        log = ProbeLog()
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(log.factory, name="p")
            with pytest.raises(MessageEncodeError, match="Bad"):
                await ref.tell(Bad(thing=object()))
            with pytest.raises(MessageEncodeError):
                ref.tell_nowait(Bad(thing=object()))
            with pytest.raises(MessageEncodeError):
                await ref.ask(Bad(thing=object()))
            assert await ref.ask(Get()) == Get()
        assert log.messages == [Get()]

    async def test_without_strict_messages_objects_pass_by_reference(self) -> None:
        """Without strict_messages a message is delivered as the very same object."""
        log = ProbeLog()
        marker = object()
        async with Kernel() as kernel:
            ref = await kernel.spawn(log.factory, name="p")
            await ref.tell(marker)
            await wait_until(lambda: len(log.messages) == 1)
        assert log.messages[0] is marker


class TestDeadLetters:
    async def test_tell_to_stopped_actor_is_reported(self) -> None:
        """A tell to a stopped actor raises ActorDeadError and is logged and counted."""
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(Counter, name="c")
            await kernel.stop_actor("c")
            assert not ref.is_alive
            with capture_logs() as logs, pytest.raises(ActorDeadError):
                await ref.tell(Inc())
            with pytest.raises(ActorDeadError):
                ref.tell_nowait(Inc())
            with pytest.raises(ActorDeadError):
                await ref.ask(Get())
            assert kernel.dead_letters.statistics().by_actor == {"c": 3}
        events = [e for e in logs if e["event"] == "dead_letter"]
        assert len(events) == 1
        assert (events[0]["actor"], events[0]["message_type"]) == ("c", "Inc")

    async def test_messages_left_in_mailbox_are_reported_and_asks_fail(self) -> None:
        """Messages still queued when an actor stops for good become dead letters."""
        gate = anyio.Event()
        seen: list[object] = []
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(lambda: Gated(gate, seen), name="g", shutdown=0.05)
            await ref.tell(Inc(1))
            await settle()
            await ref.tell(Inc(2))
            outcome: list[BaseException] = []

            async def asker() -> None:
                try:
                    await ref.ask(Get(), timeout=None)
                except ActorDeadError as exc:
                    outcome.append(exc)

            async with anyio.create_task_group() as tg:
                tg.start_soon(asker)
                await settle()
                await kernel.stop_actor("g")
            assert len(outcome) == 1
            assert kernel.dead_letters.total == 2


class TestRegistry:
    async def test_lookup_and_name_taken(self) -> None:
        """Names are unique per kernel and lookup finds the live actor."""
        async with Kernel(strict()) as kernel:
            ref = await kernel.spawn(Counter, name="c")
            assert kernel.lookup("c") is ref
            with pytest.raises(NameTaken):
                await kernel.spawn(Counter, name="c")
            with pytest.raises(LookupError):
                kernel.lookup("missing")
            await kernel.stop_actor("c")
            with pytest.raises(LookupError):
                kernel.lookup("c")
            again = await kernel.spawn(Counter, name="c")
            assert again is not ref
            assert await again.ask(Get()) == 0

    async def test_two_kernels_do_not_share_names(self) -> None:
        """Each kernel has its own registry."""
        async with Kernel() as first, Kernel() as second:
            await first.spawn(Counter, name="c")
            await second.spawn(Counter, name="c")
            assert first.lookup("c") is not second.lookup("c")
