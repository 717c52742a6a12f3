"""What a load run measures: HDR histograms, interval histograms and counts.

Times are ``time.perf_counter_ns()`` readings. Every message carries its intended send
time and its actual send time in headers; the handler wrapper (:func:`instrument`) records,
when the handler completes, three latencies:

* ``end_to_end``: from the *intended* send time to the handler's completion. In an open
  loop the intended times are fixed in advance (``start + i / rate``), so a stall that
  delays sends, or queues messages behind it, counts in full for every message that was due
  meanwhile: this is the coordinated-omission correction (wrk2's).
* ``uncorrected``: from the actual send to the completion, what a tool that starts its
  clock when it gets round to sending reports.
* ``service``: the handler's own duration for the successful attempt.

Over HTTP the handler's completion is not seen: the same histograms end at the
acknowledgement of the publish (the row committed), and ``service`` stays empty.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

import anyio

from ._histogram import LatencyHistogram

if TYPE_CHECKING:
    from actorgrid import App, DeliveryContext, Handler
    from actorgrid.actors.runtime import HandlerDecl

__all__ = ("HEADER_INTENDED", "HEADER_SENT", "HEADER_SEQ", "Interval", "Recorder", "instrument")

HEADER_SEQ: Final = "x-load-seq"
HEADER_INTENDED: Final = "x-load-intended-ns"
HEADER_SENT: Final = "x-load-sent-ns"


@dataclass(frozen=True, slots=True)
class Interval:
    """The end-to-end latencies of messages completed in ``[start, end)`` seconds of the run."""

    start: float
    end: float
    histogram: LatencyHistogram


class Recorder:
    """The counts and histograms of one run; one per run, on the event loop's thread.

    Args:
        origin_ns: ``perf_counter_ns()`` at the start of the run.
        late_ns: lateness from which a send counts as late.
    """

    def __init__(self, origin_ns: int, late_ns: int) -> None:
        self.origin_ns = origin_ns
        self.origin_wall = time.time()
        self.late_ns = late_ns
        self.end_to_end = LatencyHistogram()
        self.uncorrected = LatencyHistogram()
        self.service = LatencyHistogram()
        self.publish = LatencyHistogram()
        """From the actual send to the publish returning (the row stored)."""
        self.send_lag = LatencyHistogram()
        """From the intended to the actual send."""
        self.intervals: list[Interval] = []
        self._current = LatencyHistogram()
        self._current_start = 0.0
        self.sent = 0
        """Publishes that returned (stored)."""
        self.late = 0
        self.dropped = 0
        """Sends not made: the outstanding limit was reached or the publish raised."""
        self.errors: Counter[str] = Counter()
        """Failed publishes, by exception type or HTTP status."""
        self.handled = 0
        """Distinct messages of this run whose handler completed."""
        self.duplicates = 0
        """Completions of a message already completed (at-least-once redelivery)."""
        self.failed_attempts = 0
        self.retries: Counter[str] = Counter()
        """Attempts after the first, by retry phase."""
        self._seen: set[int] = set()
        self._waiters: dict[int, anyio.Event] = {}
        self._progress = anyio.Event()
        self.first_send_ns: int | None = None
        self.last_send_ns: int | None = None

    def begin(self) -> None:
        """Start the clock: the first intended send is now."""
        self.origin_ns = time.perf_counter_ns()
        self.origin_wall = time.time()

    # -- the sender's side ------------------------------------------------------------------

    def expect(self, seq: int) -> anyio.Event:
        """Return an event set when message ``seq`` is handled (the closed loop waits on it)."""
        event = self._waiters[seq] = anyio.Event()
        return event

    def headers(self, seq: int, intended_ns: int, sent_ns: int) -> dict[str, str]:
        """Return the headers that carry a message's timing to its handler."""
        return {
            HEADER_SEQ: str(seq),
            HEADER_INTENDED: str(intended_ns),
            HEADER_SENT: str(sent_ns),
        }

    def on_sent(self, intended_ns: int, sent_ns: int, acked_ns: int) -> None:
        """Count a publish that returned, started at ``sent_ns``, due at ``intended_ns``."""
        self.sent += 1
        if self.first_send_ns is None:
            self.first_send_ns = sent_ns
        self.last_send_ns = max(self.last_send_ns or sent_ns, sent_ns)
        lag = sent_ns - intended_ns
        self.send_lag.record_ns(lag)
        if lag > self.late_ns:
            self.late += 1
        self.publish.record_ns(acked_ns - sent_ns)

    def on_dropped(self, reason: str | None = None) -> None:
        """Count a send not made (``reason``: the error, when the publish raised)."""
        self.dropped += 1
        if reason is not None:
            self.errors[reason] += 1

    # -- the handler's side -----------------------------------------------------------------

    def on_handled(
        self, seq: int, intended_ns: int, sent_ns: int, started_ns: int, done_ns: int
    ) -> None:
        """Record a completion: the latencies of a message's successful attempt."""
        if seq in self._seen:
            self.duplicates += 1
            return
        self._seen.add(seq)
        self.handled += 1
        self.end_to_end.record_ns(done_ns - intended_ns)
        self._current.record_ns(done_ns - intended_ns)
        self.uncorrected.record_ns(done_ns - sent_ns)
        if started_ns:
            self.service.record_ns(done_ns - started_ns)
        self._progress.set()
        waiter = self._waiters.pop(seq, None)
        if waiter is not None:
            waiter.set()

    def on_attempt(self, attempt: int, phase: str) -> None:
        """Count an attempt; one after the first is a retry of ``phase``."""
        if attempt > 1:
            self.retries[phase] += 1

    def on_failed_attempt(self) -> None:
        """Count an attempt whose handler raised."""
        self.failed_attempts += 1

    # -- intervals and waiting --------------------------------------------------------------

    def elapsed(self, now_ns: int | None = None) -> float:
        """Seconds since the origin."""
        return ((now_ns if now_ns is not None else time.perf_counter_ns()) - self.origin_ns) / 1e9

    def rotate(self, now_ns: int | None = None) -> Interval:
        """Close the current interval (completions since the last rotation) and start one."""
        end = self.elapsed(now_ns)
        interval = Interval(self._current_start, end, self._current)
        self.intervals.append(interval)
        self._current = LatencyHistogram()
        self._current_start = end
        return interval

    async def wait_handled(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` distinct messages are handled; ``False`` after ``timeout`` s."""
        with anyio.move_on_after(timeout):
            while self.handled < count:
                self._progress = anyio.Event()
                await self._progress.wait()
            return True
        return self.handled >= count


def instrument(app: App, recorder: Recorder) -> App:
    """Return a copy of ``app`` whose handlers report the run's messages to ``recorder``.

    Messages without the load headers (an app's own producers) pass through unrecorded.
    """

    def wrap(decl: HandlerDecl) -> Handler:
        handler: Any = decl.handler

        async def recorded(payload: Any, ctx: DeliveryContext) -> None:
            headers = ctx.headers
            seq = headers.get(HEADER_SEQ)
            if seq is None:
                await handler(payload, ctx)
                return
            recorder.on_attempt(ctx.attempt, ctx.phase)
            started = time.perf_counter_ns()
            try:
                await handler(payload, ctx)
            except Exception:
                recorder.on_failed_attempt()
                raise
            recorder.on_handled(
                int(seq),
                int(headers[HEADER_INTENDED]),
                int(headers[HEADER_SENT]),
                started,
                time.perf_counter_ns(),
            )

        recorded.__qualname__ = f"recorded({decl.name})"
        return recorded

    return app.map_handlers(wrap)
