"""The end of a run: a table on stdout, a JSON file, an ``.hlog`` and two PNG plots.

The ``.hlog`` is HdrHistogram's interval log (format 1.2, values in microseconds, one
end-to-end interval histogram per second): runs can be merged and re-analysed with any
HdrHistogram log tool (``HistogramLogReader``, HdrHistogram's ``HistogramLogProcessor``).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import platform
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hdrh.log import HistogramLogWriter

if TYPE_CHECKING:
    from pathlib import Path

    from ._histogram import LatencyHistogram
    from ._run import LoadResult

__all__ = ("Written", "render_table", "to_json", "write_files")


@dataclass(frozen=True, slots=True)
class Written:
    """The files one run wrote."""

    json: Path
    hlog: Path
    over_time: Path
    distribution: Path


def _histograms(result: LoadResult) -> dict[str, LatencyHistogram]:
    rec = result.recorder
    out = {"end_to_end": rec.end_to_end, "uncorrected": rec.uncorrected}
    if result.mode == "embedded":
        out["service"] = rec.service
    out["publish"] = rec.publish
    out["send_lag"] = rec.send_lag
    return out


def to_json(result: LoadResult) -> dict[str, Any]:
    """Return the run as one JSON document."""
    rec, o = result.recorder, result.options
    options = {
        k: (str(v) if k in {"db", "out"} and v is not None else v)
        for k, v in asdict(o).items()
        if k != "token"
    }
    return {
        "bench": "load",
        "python": platform.python_version(),
        "machine": f"{os.cpu_count()} cores",
        "started": datetime.datetime.fromtimestamp(rec.origin_wall, datetime.UTC).isoformat(),
        "mode": result.mode,
        "model": result.model,
        "latency_ends_at": "handler completion" if result.mode == "embedded" else "publish ack",
        "options": options,
        "target_rate": result.target_rate,
        "achieved_rate": result.achieved_rate,
        "send_seconds": result.send_seconds,
        "sent": rec.sent,
        "handled": rec.handled,
        "handled_by_target": result.handled_seen,
        "duplicates": rec.duplicates,
        "settled": result.settled,
        "late": rec.late,
        "dropped": rec.dropped,
        "publish_errors": dict(rec.errors),
        "failing_injected": result.failing,
        "failed_attempts": rec.failed_attempts,
        "retries_by_phase": dict(rec.retries) if result.mode == "embedded" else None,
        "dead_letters": result.dead_letters,
        "writer_lag_max": result.writer_lag_max,
        "writer_lag_end": result.writer_lag_end,
        "latency": {name: h.summary().to_json() for name, h in _histograms(result).items()},
        "intervals": [
            {"start": i.start, "end": i.end, **i.histogram.summary().to_json()}
            for i in rec.intervals
        ],
    }


def _ms(value: float) -> str:
    return f"{value:,.3f}" if value < 10 else f"{value:,.1f}"


def render_table(result: LoadResult) -> str:
    """Return the run's summary as text: rates and counts, then the percentile table."""
    rec = result.recorder
    target = f"{result.target_rate:,.0f}/s" if result.target_rate is not None else "closed loop"
    concurrency = result.options.concurrency
    model = f"open loop at {target}" if result.model == "open" else f"closed, {concurrency}"
    lines = [
        f"load: {result.mode}, {model}, {result.send_seconds:.2f} s of sending",
        f"  achieved {result.achieved_rate:,.0f} msgs/s (target {target}); "
        f"sent {rec.sent:,}, late {rec.late:,}, dropped {rec.dropped:,}",
        f"  handled {rec.handled:,} (target counts {result.handled_seen}), "
        f"duplicates {rec.duplicates:,}, settled {'yes' if result.settled else 'NO'}",
        f"  failures injected {result.failing:,}, failed attempts {rec.failed_attempts:,}, "
        f"retries {dict(rec.retries) or '-'}, dead letters {result.dead_letters}",
        f"  writer lag max {result.writer_lag_max}, at the end {result.writer_lag_end}",
        "",
    ]
    head = ("latency (ms)", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max")
    rows: list[tuple[str, ...]] = [head]
    for name, h in _histograms(result).items():
        s = h.summary()
        values = (s.p50, s.p90, s.p99, s.p99_9, s.p99_99, s.max)
        rows.append((name, f"{s.count:,}", *(_ms(v) for v in values)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    for n, row in enumerate(rows):
        cells = [
            row[0].ljust(widths[0]),
            *(c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)),
        ]
        lines.append("  " + "  ".join(cells))
        if n == 0:
            lines.append("  " + "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _write_hlog(result: LoadResult, path: Path) -> None:
    rec = result.recorder
    with path.open("w", encoding="utf-8") as f:
        writer = HistogramLogWriter(f)
        writer.output_log_format_version()
        writer.output_comment(f"[end-to-end latency of bench.load, microseconds, {result.mode}]")
        start = datetime.datetime.fromtimestamp(rec.origin_wall, datetime.UTC)
        # The library's own output_start_time is broken (it calls ``iso_format``).
        writer.output_comment(
            f"[StartTime: {rec.origin_wall:.3f} (seconds since epoch), {start.isoformat(' ')}]"
        )
        writer.output_legend()
        for interval in rec.intervals:
            h = interval.histogram.raw
            h.set_start_time_stamp(int((rec.origin_wall + interval.start) * 1000))
            h.set_end_time_stamp(int((rec.origin_wall + interval.end) * 1000))
            writer.output_interval_histogram(
                h,
                start_time_stamp_sec=interval.start or 1e-9,
                end_time_stamp_sec=interval.end,
                max_value_unit_ratio=1000.0,
            )


def _plot(result: LoadResult, over_time: Path, distribution: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rec = result.recorder
    title = f"bench.load: {result.mode}, {result.model} loop"
    fig, ax = plt.subplots(figsize=(9, 4.5))
    ends = [i.end for i in rec.intervals if i.histogram.count]
    kept = [i.histogram for i in rec.intervals if i.histogram.count]
    for label, percentile in (("p50", 50.0), ("p99", 99.0), ("max", 100.0)):
        ys = [max(h.value_ms(percentile) if percentile < 100 else h.max_ms, 1e-3) for h in kept]
        ax.plot(ends, ys, marker=".", label=label)
    ax.set_yscale("log")
    ax.set_xlabel("seconds into the run (completion time)")
    ax.set_ylabel("end-to-end latency (ms)")
    ax.set_title(f"{title}: latency over time")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(over_time, dpi=100)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(9, 4.5))
    steps = [k / 40 for k in range(201)]  # 1 / (1 - p) from 1 to 10^5
    for name, h in _histograms(result).items():
        if not h.count or name == "send_lag":
            continue
        xs = [10**s for s in steps]
        ys = [max(h.value_ms(100.0 * (1 - 10**-s)), 1e-3) for s in steps]
        ax.plot(xs, ys, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ticks = [1, 2, 10, 100, 1000, 10_000, 100_000]
    ax.set_xticks(ticks)
    ax.set_xticklabels(
        [f"{100 * (1 - 1 / t):.{max(0, round(math.log10(t)) - 2)}f}%" for t in ticks]
    )
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms)")
    ax.set_title(f"{title}: percentile distribution")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(distribution, dpi=100)
    plt.close(fig)


def write_files(result: LoadResult) -> Written:
    """Write ``<out>/<name>.json``, ``.hlog``, ``.latency.png`` and ``.percentiles.png``."""
    out, name = result.options.out, result.options.name
    out.mkdir(parents=True, exist_ok=True)
    written = Written(
        json=out / f"{name}.json",
        hlog=out / f"{name}.hlog",
        over_time=out / f"{name}.latency.png",
        distribution=out / f"{name}.percentiles.png",
    )
    written.json.write_text(json.dumps(to_json(result), indent=2) + "\n")
    _write_hlog(result, written.hlog)
    _plot(result, written.over_time, written.distribution)
    return written
