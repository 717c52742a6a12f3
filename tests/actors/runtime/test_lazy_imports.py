"""A runtime with the pattern engine off never imports numpy, hnswlib or the embedders, and
one without a database never imports alembic.

They are much of a runtime's peak memory, and only the engine (or migrating) uses them. Each
case runs in a fresh interpreter, since this test process has long imported them.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

HEAVY = ("numpy", "hnswlib", "sentence_transformers", "alembic")

_PROBE = textwrap.dedent(
    """
    import asyncio, json, sys
    from actorgrid import PatternSettings, Runtime, RuntimeConfig, StorageSettings

    async def main(enabled, url):
        config = RuntimeConfig(
            storage=StorageSettings(url=url), pattern=PatternSettings(enabled=enabled)
        )
        async with Runtime(config) as rt:
            rt.declare_topic("t", durable=url is not None)

            async def handler(payload, ctx):
                pass

            await rt.subscribe("t", handler)
            await rt.publish("t", 1)
            await rt.flush()

    enabled, url = json.loads(sys.argv[1])
    asyncio.run(main(enabled, url))
    print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)))
    """
).format(heavy=HEAVY)


def loaded_after_a_run(enabled: bool, url: str | None) -> list[str]:
    """Start and stop a runtime in a fresh interpreter; return the heavy modules it loaded."""
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps([enabled, url])],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    loaded: list[str] = json.loads(done.stdout.strip().splitlines()[-1])
    return loaded


@pytest.mark.parametrize("durable", [False, True], ids=["in-memory", "durable"])
def test_engine_off_loads_no_numpy_or_hnswlib(durable: bool, tmp_path: Path) -> None:
    """Off, the engine's dependencies stay out of ``sys.modules``, in memory and on SQLite."""
    url = f"sqlite+aiosqlite:///{tmp_path}/off.db" if durable else None
    # A durable runtime migrates its database at start: that needs alembic, and only that.
    assert loaded_after_a_run(False, url) == (["alembic"] if durable else [])


def test_engine_on_loads_them() -> None:
    """On, the same probe sees numpy and hnswlib: the probe can fail."""
    assert set(loaded_after_a_run(True, None)) == {"numpy", "hnswlib"}


def test_the_faces_import_light() -> None:
    """Importing the patterns room's faces and ``actorgrid`` loads none of them either."""
    probe = (
        "import sys, actorgrid, actorgrid.actors.patterns, actorgrid.actors.patterns.index,"
        " actorgrid.actors.patterns.embedders; actorgrid.Runtime; actorgrid.PatternSettings;"
        f" print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
