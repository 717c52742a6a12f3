"""Dashboard benchmark: the time to render the overview over 24 hours of minute buckets.

A real SQLite file is seeded with 24 h of minute rows in ``analytics_buckets`` for N topics
(every metric the recorder writes: published, handled, failed, retries by phase and
outcome, dead letters, error types, latency and time-to-success slots), a runtime is
started on it, and its API (with the dashboard) is served by uvicorn on loopback in the
same process. One render is what a browser does to show the overview: ``GET /`` with a
session (the page, with the tree's health from ``Runtime.status()``) and then
``GET /v1/analytics`` of the last 24 hours (1,440 minute buckets, every topic, as JSON).

Figures:

* ``overview_render_p99_ms`` / ``_p50_ms``: the render's latency, against a bare
  ``sqlite3`` ``SELECT`` of the same rows on the same file (the floor: reading the data at
  all), measured interleaved in the same run. The ratio is the floor's latency over ours.
* ``overview_render_p99_ms`` also carries an absolute figure, ``overview_render_p99_abs_ms``,
  with a target of at most 1,000 ms: the page must stay interactive.

Run: ``python -m bench.dashboard --quick`` (4 topics, 30 renders) or ``--full`` (20 topics,
200 renders).
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
import uvicorn

from actorgrid import PatternSettings, Runtime, RuntimeConfig, StorageSettings
from actorgrid.daemon.api import ApiSettings, create_api
from actorgrid.storage import migrate
from bench._common import Figure, Mode, main_for, note

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from litestar import Litestar

TOKEN = "bench-token-0123456789abcdef"
DAY = 86400
MINUTE = 60
METRICS = (
    "published",
    "handled",
    "failed",
    "retry_ok:base",
    "retry_failed:base",
    "retry_ok:early",
    "retry_ok:revise",
    "dead:exhausted",
    "dead:non_retryable",
    "error:TimeoutError",
    "error:ValueError",
    "latency:20",
    "latency:22",
    "latency:24",
    "tts:10",
    "tts:14",
)
"""One minute row of each per topic: what a busy topic with failures writes."""


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much one mode seeds and measures."""

    topics: int
    renders: int


QUICK = Sizes(topics=4, renders=30)
FULL = Sizes(topics=20, renders=200)


def seed(path: Path, topics: int, now: float) -> tuple[float, float, int]:
    """Write 24 h of minute rows of every metric for ``topics`` topics; return the range
    (since, until) and the number of rows."""
    until = now - now % MINUTE
    since = until - DAY
    starts = [since + i * MINUTE for i in range(DAY // MINUTE)]
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO analytics_buckets (bucket_size, bucket_start, topic, metric, value)"
            " VALUES (60, ?, ?, ?, ?)",
            (
                (start, f"topic-{t}", metric, 1 + (int(start) // MINUTE + t + m) % 17)
                for t in range(topics)
                for start in starts
                for m, metric in enumerate(METRICS)
            ),
        )
    return since, until, topics * len(starts) * len(METRICS)


def bare_select(path: Path, since: float, until: float) -> float:
    """The floor: read the same rows with sqlite3; seconds."""
    started = time.perf_counter()
    with contextlib.closing(sqlite3.connect(path)) as conn:
        rows = conn.execute(
            "SELECT bucket_start, topic, metric, value FROM analytics_buckets"
            " WHERE bucket_size = 60 AND bucket_start >= ? AND bucket_start < ?",
            (since, until),
        ).fetchall()
    elapsed = time.perf_counter() - started
    assert rows
    return elapsed


@contextlib.asynccontextmanager
async def served(app: Litestar) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in this loop; yield its URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    try:
        with anyio.fail_after(10):
            while True:  # uvicorn offers no event for it
                if server.started:
                    break
                await anyio.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
        sock.close()


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def measure(sizes: Sizes, folder: Path) -> tuple[list[float], list[float], int, int]:
    """Render the overview ``sizes.renders`` times, interleaved with the bare SELECT;
    return both latency lists (seconds), the rows seeded and the JSON size."""
    path = folder / "dashboard.db"
    url = f"sqlite+aiosqlite:///{path}"
    await anyio.to_thread.run_sync(migrate, url)
    since, until, seeded = seed(path, sizes.topics, time.time())
    note(f"seeded {seeded:,} minute rows ({sizes.topics} topics x 24 h)")
    config = RuntimeConfig(storage=StorageSettings(url=url), pattern=PatternSettings(enabled=False))
    ours: list[float] = []
    floor: list[float] = []
    size = 0
    async with Runtime(config) as rt:
        app = create_api(rt, ApiSettings(token=TOKEN))
        async with served(app) as base, httpx.AsyncClient(base_url=base, timeout=60) as client:
            login = await client.get(app.state.dashboard.mint().url(base))
            assert login.status_code == 303, login.text
            query = {"since": str(since), "until": str(until)}
            for i in range(sizes.renders + 2):  # two warm-ups
                floor_s = await anyio.to_thread.run_sync(bare_select, path, since, until)
                started = time.perf_counter()
                page = await client.get("/")
                answer = await client.get("/v1/analytics", params=query)
                elapsed = time.perf_counter() - started
                assert page.status_code == 200, page.text
                assert answer.status_code == 200, answer.text
                report = answer.json()
                assert report["bucket"] == MINUTE
                assert len(report["buckets"]) == DAY // MINUTE
                assert len(report["topics"]) == sizes.topics
                if i >= 2:
                    ours.append(elapsed)
                    floor.append(floor_s)
                size = len(answer.content)
    return ours, floor, seeded, size


def run(mode: Mode) -> list[Figure]:
    """Measure the figures of ``mode``."""
    sizes = QUICK if mode == "quick" else FULL
    folder = Path(tempfile.mkdtemp(prefix="bench-dashboard-"))
    try:
        ours, floor, seeded, size = anyio.run(measure, sizes, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    ours.sort()
    floor.sort()
    note(f"{len(ours)} renders, analytics JSON {size / 1e6:.2f} MB over {seeded:,} rows")
    baseline = f"bare sqlite3 SELECT of the same {seeded:,} rows"
    p99, p50 = _percentile(ours, 0.99) * 1000, _percentile(ours, 0.5) * 1000
    return [
        Figure(
            "overview_render_p99_ms",
            "ms",
            round(p99, 2),
            baseline=baseline + " (p99)",
            baseline_value=round(_percentile(floor, 0.99) * 1000, 2),
            higher_is_better=False,
        ),
        Figure(
            "overview_render_p50_ms",
            "ms",
            round(p50, 2),
            baseline=baseline + " (p50)",
            baseline_value=round(_percentile(floor, 0.5) * 1000, 2),
            higher_is_better=False,
        ),
        Figure(
            "overview_render_p99_abs_ms",
            "ms",
            round(p99, 2),
            target=1000.0,
            target_direction="max",
        ),
    ]


def main(argv: list[str] | None = None) -> None:
    """``python -m bench.dashboard [--quick | --full]``."""
    main_for("dashboard", "The time to render the dashboard's overview.", run, argv)


if __name__ == "__main__":
    main()
