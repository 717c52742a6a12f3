"""Running an actorgrid program: the asyncio event loop, on uvloop when it is installed."""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any, TypeVar

import anyio

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

__all__ = ("run", "uvloop_available")

T = TypeVar("T")


def uvloop_available() -> bool:
    """Whether uvloop (the ``fast`` extra) is installed."""
    return importlib.util.find_spec("uvloop") is not None


def run(fn: Callable[..., Awaitable[T]], *args: Any, use_uvloop: bool | None = None) -> T:
    """Run ``fn(*args)`` on a new asyncio event loop and return its result.

    Entry points (the demo, benchmarks, a daemon) use this instead of ``anyio.run`` so that
    installing the ``fast`` extra is all it takes to run on uvloop.

    Args:
        fn: the async function to run.
        use_uvloop: ``None`` (default) uses uvloop when it is installed; ``True`` requires
            it; ``False`` never uses it.

    Raises:
        ModuleNotFoundError: ``use_uvloop=True`` and uvloop is not installed.
    """
    if use_uvloop is None:
        use_uvloop = uvloop_available()
    elif use_uvloop and not uvloop_available():
        raise ModuleNotFoundError("uvloop is not installed: pip install 'actorgrid[fast]'")
    return anyio.run(fn, *args, backend="asyncio", backend_options={"use_uvloop": use_uvloop})
