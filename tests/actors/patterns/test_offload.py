"""Inline or in a thread: cheap calls stay on the loop, costly ones go to a worker thread."""

from __future__ import annotations

import threading

import pytest

from actorgrid.actors.patterns._offload import Offload


def _thread_name() -> str:
    return threading.current_thread().name


@pytest.mark.anyio
async def test_a_call_runs_in_a_thread_until_it_is_measured_cheap() -> None:
    offload = Offload(budget=60.0)  # everything measured is under it
    main = threading.current_thread().name
    first = await offload.run("search", 1, _thread_name)
    assert first != main  # nothing known yet: the thread
    assert await offload.run("search", 1, _thread_name) == main
    assert (offload.threaded, offload.inline) == (1, 1)
    assert await offload.run("revise", 1, _thread_name) != main  # each kind measured apart


@pytest.mark.anyio
async def test_a_large_batch_of_a_cheap_kind_goes_to_the_thread() -> None:
    offload = Offload(budget=1.0)
    main = threading.current_thread().name
    await offload.run("index_failures", 1, _thread_name)  # measured: one text
    assert await offload.run("index_failures", 1, _thread_name) == main
    estimate = offload.estimate("index_failures")
    assert estimate is not None
    units = int(1.0 / max(estimate, 1e-12)) + 1  # that many would exceed the budget
    assert await offload.run("index_failures", units, _thread_name) != main


@pytest.mark.anyio
async def test_a_call_over_the_budget_keeps_to_the_thread() -> None:
    offload = Offload(budget=0.0)  # nothing is cheap enough
    main = threading.current_thread().name
    for _ in range(3):
        assert await offload.run("search", 1, _thread_name) != main
    assert offload.inline == 0
    estimate = offload.estimate("search")
    assert estimate is not None
    assert estimate >= 0.0


@pytest.mark.anyio
async def test_an_error_is_raised_to_the_caller_and_still_measured() -> None:
    offload = Offload(budget=60.0)

    def broken() -> None:
        raise ValueError("bad text")

    with pytest.raises(ValueError, match="bad text"):
        await offload.run("index_failures", 1, broken)
    assert offload.estimate("index_failures") is not None
    with pytest.raises(ValueError, match="bad text"):
        await offload.run("index_failures", 1, broken)  # inline now, same error
    assert offload.inline == 1
