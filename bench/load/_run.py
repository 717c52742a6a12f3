"""One load run: the sending loop (open or closed), the progress line, the result.

Open loop (``--rate``): message ``i`` is due at ``start + i / rate``; each send runs in a
task of its own, so a slow publish or a stalled handler never delays the sends after it
(a send finding ``max_outstanding`` sends in progress is dropped, not queued). Latency is
measured from the intended time (see :mod:`._recorder`).

Closed loop (``--concurrency``): that many senders, each sending its next message once
the last is handled (over HTTP: stored); the intended time is the actual send time, since
a closed loop has no schedule to fall behind.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import anyio

from ._payloads import PayloadMaker
from ._recorder import Recorder
from ._targets import PublishRefused, Snapshot, embedded_target, http_target

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ._options import LoadOptions
    from ._targets import Target

__all__ = ("LoadResult", "run_load")

_TICK = 1.0


@dataclass
class LoadResult:
    """What one run measured."""

    options: LoadOptions
    mode: Literal["embedded", "http"]
    model: Literal["open", "closed"]
    recorder: Recorder
    send_seconds: float
    """From the first intended send to the last actual one."""
    target_rate: float | None
    achieved_rate: float
    """Stored sends per second over ``send_seconds``."""
    settled: bool
    """Every stored message was handled before the drain timeout (HTTP: acked)."""
    handled_seen: int | None
    """Messages handled, as the target counts them (HTTP: the broker's acked delta)."""
    failing: int
    """Load payloads sent with a failure injected."""
    dead_letters: int | None
    writer_lag_max: int | None
    writer_lag_end: int | None
    before: Snapshot
    after: Snapshot
    lines: list[str] = field(default_factory=list)
    """The progress lines printed."""


@contextlib.asynccontextmanager
async def _target(options: LoadOptions, recorder: Recorder) -> AsyncIterator[Target]:
    if options.url is not None:
        async with http_target(options) as t:
            yield t
    else:
        async with embedded_target(options, recorder) as e:
            yield e


class _Run:
    def __init__(self, options: LoadOptions, target: Target, recorder: Recorder) -> None:
        self.o = options
        self.target = target
        self.rec = recorder
        self.make = PayloadMaker(options)
        self.outstanding = 0
        self.lag_max: int | None = None
        self.lines: list[str] = []
        self._last_sent = 0
        self._acked_before = 0

    def _total(self) -> int | None:
        o = self.o
        if o.count is not None:
            return o.count
        if o.rate is not None and o.duration is not None:
            return max(1, round(o.duration * o.rate))
        return None

    async def _send(self, seq: int, intended: int, *, wait_handled: bool = False) -> None:
        rec, topics = self.rec, self.target.topics
        self.outstanding += 1
        try:
            sent = time.perf_counter_ns()
            headers = rec.headers(seq, intended, sent)
            done = rec.expect(seq) if wait_handled else None
            try:
                await self.target.send(topics[seq % len(topics)], self.make(seq), headers)
            except PublishRefused as exc:
                rec.on_dropped(f"HTTP {exc.status}")  # the status says why: 401, 413, 503...
                return
            except Exception as exc:
                rec.on_dropped(type(exc).__name__)
                return
            acked = time.perf_counter_ns()
            rec.on_sent(intended, sent, acked)
            if not self.target.observes_completion:
                rec.on_handled(seq, intended, sent, 0, acked)
            elif done is not None:
                await done.wait()
        finally:
            self.outstanding -= 1

    async def open_loop(self, rate: float) -> None:
        total = self._total()
        assert total is not None
        step = 1e9 / rate
        start = self.rec.origin_ns
        async with anyio.create_task_group() as tg:
            for seq in range(total):
                intended = start + int(seq * step)
                delay = (intended - time.perf_counter_ns()) / 1e9
                if delay > 0:
                    await anyio.sleep(delay)
                if self.outstanding >= self.o.max_outstanding:
                    self.rec.on_dropped()
                    continue
                tg.start_soon(self._send, seq, intended)

    async def closed_loop(self, concurrency: int) -> None:
        total = self._total()
        deadline = (
            self.rec.origin_ns + int(self.o.duration * 1e9) if self.o.duration is not None else None
        )
        counter = iter(range(total if total is not None else sys.maxsize))

        async def sender() -> None:
            for seq in counter:
                now = time.perf_counter_ns()
                if deadline is not None and now >= deadline:
                    return
                await self._send(seq, now, wait_handled=self.target.observes_completion)

        async with anyio.create_task_group() as tg:
            for _ in range(concurrency):
                tg.start_soon(sender)

    async def monitor(self) -> None:
        interactive = self.o.progress and sys.stdout.isatty()
        while True:
            await anyio.sleep(_TICK)
            self.tick(interactive)

    def tick(self, interactive: bool = False) -> None:
        rec = self.rec
        interval = rec.rotate()
        lag = None
        with contextlib.suppress(Exception):
            lag = self._lag()
        if lag is not None:
            self.lag_max = max(self.lag_max or 0, lag)
        span = max(interval.end - interval.start, 1e-9)
        rate = (rec.sent - self._last_sent) / span
        self._last_sent = rec.sent
        target = f" of {self.o.rate:,.0f}" if self.o.rate is not None else ""
        p99 = interval.histogram.value_ms(99.0) if interval.histogram.count else 0.0
        line = (
            f"[{interval.end:6.1f} s] sent {rec.sent:,} ({rate:,.0f}/s{target}) "
            f"handled {rec.handled:,} p99 {p99:,.1f} ms late {rec.late:,} "
            f"dropped {rec.dropped:,} retries {sum(rec.retries.values()):,} "
            f"writer lag {lag if lag is not None else '-'}"
        )
        self.lines.append(line)
        if self.o.progress:
            print(f"\r{line}\x1b[K" if interactive else line, end="" if interactive else "\n")
            sys.stdout.flush()

    def _lag(self) -> int | None:
        writer = getattr(getattr(self.target, "runtime", None), "writer", None)
        if writer is None:
            return None
        pending: int = writer.statistics().pending_ops
        return pending


async def run_load(options: LoadOptions) -> LoadResult:
    """Run the load ``options`` describe and return what it measured.

    Raises:
        ValueError, TypeError, ImportError: a bad ``--app``, ``--payload`` or topic.
    """
    recorder = Recorder(time.perf_counter_ns(), int(options.late_ms * 1e6))
    async with _target(options, recorder) as target:
        run = _Run(options, target, recorder)
        before = await target.snapshot()
        recorder.begin()
        settled = True
        async with anyio.create_task_group() as tg:
            tg.start_soon(run.monitor)
            if options.concurrency is not None:
                await run.closed_loop(options.concurrency)
            else:
                assert options.rate is not None
                await run.open_loop(options.rate)
            send_end = time.perf_counter_ns()
            if target.observes_completion:
                settled = await recorder.wait_handled(recorder.sent, options.drain)
            tg.cancel_scope.cancel()
        run.tick()
        after = await target.snapshot()
        if not target.observes_completion:
            settled = await _wait_acked(target, before, recorder.sent, options.drain)
            after = await target.snapshot()
    if options.progress and sys.stdout.isatty():
        print()
    seconds = (send_end - recorder.origin_ns) / 1e9
    handled_seen: int | None = recorder.handled
    if not target.observes_completion:
        handled_seen = _delta(after, before, "acked")
    return LoadResult(
        options=options,
        mode="http" if options.url is not None else "embedded",
        model="closed" if options.concurrency is not None else "open",
        recorder=recorder,
        send_seconds=seconds,
        target_rate=options.rate if options.concurrency is None else None,
        achieved_rate=recorder.sent / seconds if seconds > 0 else 0.0,
        settled=settled,
        handled_seen=handled_seen,
        failing=run.make.failing,
        dead_letters=_delta(after, before, "dead"),
        writer_lag_max=run.lag_max if run.lag_max is not None else after.writer_lag,
        writer_lag_end=after.writer_lag,
        before=before,
        after=after,
        lines=run.lines,
    )


def _delta(after: Snapshot, before: Snapshot, name: str) -> int | None:
    a: Any = getattr(after, name)
    b: Any = getattr(before, name)
    return a - b if a is not None and b is not None else None


async def _wait_acked(target: Target, before: Snapshot, count: int, timeout: float) -> bool:
    """Over HTTP: wait until the broker acked ``count`` more messages than ``before``."""
    with anyio.move_on_after(timeout):
        while True:
            acked = _delta(await target.snapshot(), before, "acked")
            if acked is None or acked >= count:
                return acked is not None
            await anyio.sleep(0.2)
    return False
