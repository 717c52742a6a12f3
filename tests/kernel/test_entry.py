"""Tests of the entry-point runner (kernel/_entry.py)."""

from __future__ import annotations

import asyncio

import pytest

from actorgrid.kernel import run, uvloop_available


async def _loop_module(value: int) -> tuple[int, str]:
    return value, type(asyncio.get_running_loop()).__module__


class TestRun:
    def test_runs_on_uvloop_when_installed(self) -> None:
        """The default picks uvloop exactly when it is installed, and returns the result."""
        value, module = run(_loop_module, 7)
        assert value == 7
        assert module.startswith("uvloop") is uvloop_available()

    def test_plain_asyncio_on_request(self) -> None:
        """use_uvloop=False always runs the standard asyncio loop."""
        _, module = run(_loop_module, 1, use_uvloop=False)
        assert module.startswith("asyncio")

    def test_requiring_uvloop_without_it(self) -> None:
        """use_uvloop=True fails clearly when uvloop is missing (and runs when present)."""
        if uvloop_available():
            assert run(_loop_module, 2, use_uvloop=True)[1].startswith("uvloop")
        else:
            with pytest.raises(ModuleNotFoundError, match="fast"):
                run(_loop_module, 2, use_uvloop=True)
