"""Tests for ``bench.load``: counts that agree, the coordinated-omission correction, the files."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import matplotlib.image
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from actorgrid import App
from bench.load import LOAD_TOPIC, LoadOptions, LoadPayload, load_app, main, run_load
from bench.load._app import handle

if TYPE_CHECKING:
    from pathlib import Path

    from actorgrid import DeliveryContext

SEEN: list[int] = []
"""What :data:`counting_app`'s handler saw: the sequence number of every completed message."""

counting_app = App("counting")
counting_app.topic(LOAD_TOPIC, payload_type=LoadPayload)


@counting_app.handler(LOAD_TOPIC, concurrency=2)
async def count(payload: LoadPayload, ctx: DeliveryContext) -> None:
    """Do what the payload asks, then note that the message was handled."""
    await handle(payload, ctx)
    SEEN.append(payload.seq)


stalling_app = load_app(durable=False, concurrency=1)
"""One worker: the messages due while its handler stalls queue behind the stall."""


class TestCounts:
    async def test_sent_and_handled_agree(self, tmp_path: Path) -> None:
        """A tiny open-loop run reports what it sent; the handler saw exactly those messages."""
        SEEN.clear()
        options = LoadOptions(
            app="tests.bench.test_load:counting_app",
            rate=1000.0,
            duration=None,
            count=300,
            fail_rate=0.1,
            retry_wait=0.05,
            db=tmp_path / "load.db",
            drain=10.0,
            out=tmp_path,
            progress=False,
        )
        result = await run_load(options)
        rec = result.recorder
        assert result.settled
        assert rec.sent == 300
        assert rec.dropped == 0
        assert sorted(SEEN) == list(range(300))
        assert rec.handled == len(SEEN) == rec.end_to_end.count
        assert result.failing > 0
        assert rec.failed_attempts == result.failing
        assert rec.retries == {"base": result.failing}
        assert result.dead_letters == 0
        assert result.lines

    async def test_closed_loop_sends_the_count(self, tmp_path: Path) -> None:
        """A closed loop at concurrency 3 sends the count it was given, each one handled."""
        options = LoadOptions(
            app="bench.load.app:app",
            rate=None,
            concurrency=3,
            duration=None,
            count=60,
            work_ms=1.0,
            db=tmp_path / "load.db",
            out=tmp_path,
            progress=False,
        )
        result = await run_load(options)
        assert result.model == "closed"
        assert result.recorder.sent == result.recorder.handled == 60
        assert result.target_rate is None


class TestCoordinatedOmission:
    async def test_stall_counts_for_every_message_due_during_it(self, tmp_path: Path) -> None:
        """Message 100 stalls its handler for 200 ms at 500 msgs/s: the ~100 messages due
        meanwhile wait behind it, and the latency from their intended send shows it; the
        handlers' service time shows it once only."""
        options = LoadOptions(
            app="tests.bench.test_load:stalling_app",
            rate=500.0,
            duration=None,
            count=400,
            stall_at=100,
            stall_ms=200.0,
            db=tmp_path / "load.db",
            out=tmp_path,
            progress=False,
        )
        result = await run_load(options)
        rec = result.recorder
        assert rec.handled == 400
        corrected = rec.end_to_end
        assert corrected.max_ms >= 200.0
        assert corrected.value_ms(99.0) >= 150.0
        # The 50 messages due in the stall's first 100 ms waited 100 ms or more, so the 40th
        # slowest of 400 (p90) did too.
        assert corrected.value_ms(90.0) >= 100.0
        assert rec.service.max_ms >= 200.0
        assert rec.service.value_ms(99.0) < 20.0


class TestFiles:
    def test_json_hlog_and_plots(self, tmp_path: Path) -> None:
        """``main`` writes a JSON summary, an .hlog HdrHistogram reads back, and two PNGs."""
        status = main(
            [
                "--count", "400", "--rate", "800", "--fail-rate", "0.05",
                "--retry-wait", "0.05", "--db", str(tmp_path / "load.db"),
                "--out", str(tmp_path / "out"), "--name", "tiny", "--no-progress",
            ]
        )  # fmt: skip
        assert status == 0
        out = tmp_path / "out"
        doc = json.loads((out / "tiny.json").read_text())
        assert doc["sent"] == doc["handled"] == 400
        assert doc["dropped"] == 0
        assert set(doc["latency"]["end_to_end"]) >= {"p50_ms", "p99.99_ms", "max_ms"}
        assert doc["retries_by_phase"] == {"base": doc["failing_injected"]}

        reader = HistogramLogReader(str(out / "tiny.hlog"), HdrHistogram(1, 3_600_000_000, 3))
        merged = HdrHistogram(1, 3_600_000_000, 3)
        intervals = 0
        while (interval := reader.get_next_interval_histogram()) is not None:
            merged.add(interval)
            intervals += 1
        reader.close()
        assert intervals >= 1
        assert merged.get_total_count() == 400
        expected_max = doc["latency"]["end_to_end"]["max_ms"] * 1000
        assert abs(merged.get_max_value() - expected_max) <= expected_max * 0.01 + 1

        for name in ("tiny.latency.png", "tiny.percentiles.png"):
            image = matplotlib.image.imread(out / name)
            assert image.shape[0] > 100
            assert image.shape[1] > 100
