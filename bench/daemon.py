"""Daemon benchmark: publishing over HTTP against publishing in process, in the same run.

A real ``actorgrid run`` daemon (a subprocess, on its own SQLite file, serving
``bench/_daemon_app.py``: one durable topic and a no-op handler) and a load client on
loopback (aiohttp, one keep-alive connection per concurrent sender: httpx's connection pool
collapses under concurrency, 316 requests/s at 32 senders against 3,000 for aiohttp on
``GET /health`` on the same daemon, so it would measure itself). Figures:

* ``http_publish_c{1,8,32}``: single publishes (``POST /v1/topics/bench/messages``), msgs/s
  until every one is answered 201 (committed), with ``c`` senders each awaiting its answer
  before the next. ``..._p50_ms`` / ``..._p99_ms``: the latency of one request.
  ``http_publish_c32`` is measured against 32 concurrent in-process ``Runtime.publish``
  calls to the same kind of topic on a file of its own, in the same run. Target: 0.25x.
* ``http_batch100_c{1,8}``: the batch form with 100 messages per request, msgs/s, against
  single publishes at the same concurrency. Target: 10x.

Run: ``python -m bench.daemon --quick`` (about a minute) or ``--full``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import httpx

from actorgrid import BrokerSettings, PatternSettings, Runtime, RuntimeConfig, StorageSettings
from actorgrid.storage import migrate
from bench._common import Figure, Mode, main_for, note

if TYPE_CHECKING:
    from collections.abc import Iterator

TOKEN = "bench-token-0123456789abcdef"
TOPIC = "bench"
BATCH = 100


@dataclass(frozen=True, slots=True)
class Sizes:
    """How much work one mode does."""

    singles: int
    batches: int
    runs: int


QUICK = Sizes(singles=3_000, batches=60, runs=2)
FULL = Sizes(singles=20_000, batches=400, runs=3)


@dataclass(frozen=True, slots=True)
class Result:
    """One load run: messages per second and the request latencies' percentiles (ms)."""

    rate: float
    p50_ms: float
    p99_ms: float


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentile(ordered: list[float], share: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] * 1000


@contextlib.contextmanager
def running_daemon(folder: Path) -> Iterator[str]:
    """Start ``actorgrid run`` on a fresh database in ``folder``; yield its base URL."""
    port = _free_port()
    config = folder / "actorgrid.toml"
    config.write_text(
        f'[storage]\nurl = "sqlite+aiosqlite:///{folder / "daemon.db"}"\n'
        f'[daemon]\nport = {port}\ntoken = "{TOKEN}"\nlog_level = "warning"\n'
        'app = "bench._daemon_app:app"\n'
        "[pattern]\nenabled = false\n"
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    process = subprocess.Popen(
        [sys.executable, "-m", "actorgrid.daemon.cli", "run", "--config", str(config)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                assert process.stderr is not None
                raise RuntimeError(f"the daemon exited: {process.stderr.read().decode()[-2000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError("the daemon did not become ready within 60 s")
            time.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stderr is not None:
            process.stderr.close()


async def http_load(url: str, total: int, concurrency: int, batch: int = 0) -> Result:
    """``total`` messages from ``concurrency`` senders, single (``batch=0``) or in batches."""
    headers = {"authorization": f"Bearer {TOKEN}"}
    body: dict[str, object]
    if batch:
        path = f"/v1/topics/{TOPIC}/messages/batch"
        body = {"messages": [{"payload": {"n": i}} for i in range(batch)]}
        requests, per_request = total // batch, batch
    else:
        path = f"/v1/topics/{TOPIC}/messages"
        body = {"payload": {"n": 1}}
        requests, per_request = total, 1
    latencies: list[float] = []
    left = requests

    async def sender(session: aiohttp.ClientSession) -> None:
        nonlocal left
        while left > 0:
            left -= 1
            start = time.perf_counter()
            async with session.post(path, json=body, headers=headers) as answer:
                text = await answer.text()
            latencies.append(time.perf_counter() - start)
            if answer.status != 201:
                raise RuntimeError(f"{path} answered {answer.status}: {text}")

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(base_url=url, connector=connector) as session:
        async with session.get("/health") as answer:
            await answer.read()
        start = time.perf_counter()
        await asyncio.gather(*(sender(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    ordered = sorted(latencies)
    return Result(
        requests * per_request / elapsed, _percentile(ordered, 0.5), _percentile(ordered, 0.99)
    )


async def in_process(url: str, total: int, concurrency: int) -> float:
    """``total`` durable publishes from ``concurrency`` tasks awaiting ``Runtime.publish``."""
    config = RuntimeConfig(
        storage=StorageSettings(url=url, migrate=False),
        broker=BrokerSettings(drain_timeout=60.0),
        pattern=PatternSettings(enabled=False),
    )
    handled = 0

    async def handler(payload: object, ctx: object) -> None:
        nonlocal handled
        handled += 1

    async with Runtime(config) as rt:
        rt.declare_topic(TOPIC)
        await rt.subscribe(TOPIC, handler, concurrency=4, max_in_flight=1000)
        left = total

        async def producer() -> None:
            nonlocal left
            while left > 0:
                left -= 1
                await rt.publish(TOPIC, {"n": 1})

        start = time.perf_counter()
        await asyncio.gather(*(producer() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return total / elapsed


def _best(results: list[Result]) -> Result:
    return max(results, key=lambda r: r.rate)


def run(mode: Mode) -> list[Figure]:
    """Measure everything for ``mode`` and return the figures."""
    sizes = QUICK if mode == "quick" else FULL
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        folder = Path(tmp)
        template = folder / "template.db"
        migrate(f"sqlite+aiosqlite:///{template}")
        singles: dict[int, Result] = {}
        batches: dict[int, Result] = {}
        local: list[float] = []
        with running_daemon(folder) as url:
            asyncio.run(http_load(url, 200, 8))  # warm-up
            for _ in range(sizes.runs):
                for c in (1, 8, 32):
                    note(f"http: single publishes, {c} senders")
                    result = asyncio.run(http_load(url, sizes.singles, c))
                    singles[c] = _best([singles[c], result]) if c in singles else result
                for c in (1, 8):
                    note(f"http: batches of {BATCH}, {c} senders")
                    result = asyncio.run(http_load(url, sizes.batches * BATCH, c, BATCH))
                    batches[c] = _best([batches[c], result]) if c in batches else result
                note("in process: 32 publishers")
                copy = folder / f"local-{len(local)}.db"
                shutil.copyfile(template, copy)
                local.append(
                    asyncio.run(in_process(f"sqlite+aiosqlite:///{copy}", sizes.singles, 32))
                )
        for c, result in singles.items():
            if c == 32:
                figures.append(
                    Figure(
                        f"http_publish_c{c}",
                        "msgs/s",
                        round(result.rate),
                        "in-process publish, 32 tasks",
                        round(max(local)),
                        target_ratio=0.25,
                    )
                )
            else:
                figures.append(Figure(f"http_publish_c{c}", "msgs/s", round(result.rate)))
            figures.append(Figure(f"http_publish_c{c}_p50_ms", "ms", round(result.p50_ms, 2)))
            figures.append(Figure(f"http_publish_c{c}_p99_ms", "ms", round(result.p99_ms, 2)))
        for c, result in batches.items():
            figures.append(
                Figure(
                    f"http_batch{BATCH}_c{c}",
                    "msgs/s",
                    round(result.rate),
                    f"single http publishes, {c} senders",
                    round(singles[c].rate),
                    target_ratio=10.0,
                )
            )
            figures.append(Figure(f"http_batch{BATCH}_c{c}_p99_ms", "ms", round(result.p99_ms, 2)))
    return figures


def main(argv: list[str] | None = None) -> None:
    """Entry point: ``python -m bench.daemon --quick|--full``."""
    main_for("daemon", __doc__ or "daemon benchmark", run, argv)


if __name__ == "__main__":
    main()
