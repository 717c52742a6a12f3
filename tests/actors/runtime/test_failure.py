"""When the root supervisor gives up after all, the runtime ends loudly: an error naming the
child and the limit, and ``RestartLimitExceeded`` (not an ExceptionGroup) for the caller."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest
from structlog.testing import capture_logs

from actorgrid import Runtime
from actorgrid.kernel import Actor, KernelConfig, Message, RestartLimitExceeded

if TYPE_CHECKING:
    from ..conftest import RuntimeFactory


class Crash(Message, frozen=True):
    """Makes a :class:`Crasher` crash."""


class Crasher(Actor[Any]):
    """A root child that crashes on every message."""

    async def receive(self, message: Any) -> Any:
        raise RuntimeError("a built-in actor's bug")


async def test_root_restart_limit_ends_the_runtime_with_a_clear_error(
    runtimes: RuntimeFactory,
) -> None:
    """The caller's block is cancelled, the stop runs, and leaving the block raises the
    failure itself; the error events name the supervisor, the child and the limit."""
    config = runtimes.config(kernel=KernelConfig(strict_messages=True, root_intensity=0))
    reached: list[str] = []

    async def crash_the_root() -> None:
        async with Runtime(config, clock=runtimes.clock) as rt:
            assert rt.kernel is not None
            ref = await rt.kernel.spawn(Crasher, name="crasher")
            await ref.tell(Crash())
            try:
                await anyio.sleep_forever()
            finally:
                reached.append("cancelled")

    with capture_logs() as logs, pytest.raises(RestartLimitExceeded) as info:
        await crash_the_root()
    assert type(info.value) is RestartLimitExceeded
    failure = info.value
    assert (failure.supervisor, failure.child, failure.intensity) == ("root", "crasher", 0)
    assert reached == ["cancelled"]
    [limit] = [e for e in logs if e["event"] == "restart_limit_exceeded"]
    assert limit["log_level"] == "error"
    assert (limit["supervisor"], limit["child"], limit["intensity"]) == ("root", "crasher", 0)
    [failed] = [e for e in logs if e["event"] == "runtime_failed"]
    assert failed["log_level"] == "error"
    assert failed["child"] == "crasher"
