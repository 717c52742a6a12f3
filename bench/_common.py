"""What every benchmark script shares: the command line, the figure shape, the table and JSON.

Each script measures its subject and its baseline in the same process and run (the machines
are shared and noisy, so only ratios travel) and hands its figures to :func:`report`, which
prints a table and writes ``bench/results/<bench>.json`` in the shape DESIGN.md fixes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import anyio
import structlog

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = (
    "Figure",
    "Mode",
    "Table",
    "Tally",
    "best_of",
    "main_for",
    "note",
    "pair",
    "parse_mode",
    "queue_put_get",
    "queue_put_nowait",
    "report",
    "results_dir",
)

Mode = Literal["quick", "full"]


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure, optionally against a baseline measured in the same run.

    ``higher_is_better`` orients the ratio: for a throughput it is value / baseline_value,
    for a latency (``higher_is_better=False``) it is baseline_value / value, so a ratio above
    1 always means "better than the baseline".
    """

    metric: str
    unit: str
    value: float
    baseline: str | None = None
    baseline_value: float | None = None
    target_ratio: float | None = None
    target: float | None = None
    target_direction: Literal["max", "min"] | None = None
    higher_is_better: bool = True

    @property
    def ratio(self) -> float | None:
        """Return the oriented ratio against the baseline, or ``None`` without one."""
        if self.baseline_value is None or self.baseline_value == 0 or self.value == 0:
            return None
        if self.higher_is_better:
            return self.value / self.baseline_value
        return self.baseline_value / self.value

    @property
    def meets_target(self) -> bool | None:
        """Return whether the figure meets its target ratio or absolute target, if it has one."""
        if self.target_ratio is not None:
            ratio = self.ratio
            return ratio is not None and ratio >= self.target_ratio
        if self.target is not None:
            if self.target_direction == "min":
                return self.value >= self.target
            return self.value <= self.target
        return None

    def to_json(self) -> dict[str, object]:
        """Return the figure in the shared JSON shape."""
        out: dict[str, object] = {"metric": self.metric, "unit": self.unit, "value": self.value}
        if self.baseline is not None and self.baseline_value is not None:
            out["baseline"] = self.baseline
            out["baseline_value"] = self.baseline_value
            ratio = self.ratio
            out["ratio"] = round(ratio, 4) if ratio is not None else None
            if self.target_ratio is not None:
                out["target_ratio"] = self.target_ratio
        elif self.target is not None:
            out["target"] = self.target
            out["target_direction"] = self.target_direction or "max"
        return out


@dataclass(frozen=True, slots=True)
class Table:
    """A table a benchmark adds beside its figures (e.g. every run of every peer), carried
    in the JSON as ``{"title", "columns", "rows"}`` and rendered under the figures."""

    title: str
    columns: tuple[str, ...]
    rows: list[list[str]]

    def to_json(self) -> dict[str, object]:
        return {"title": self.title, "columns": list(self.columns), "rows": self.rows}


def _print_rows(rows: Sequence[Sequence[str]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for i, r in enumerate(rows):
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


def parse_mode(description: str, argv: list[str] | None = None) -> Mode:
    """Parse ``--quick`` (default) or ``--full`` from the command line."""
    parser = argparse.ArgumentParser(description=description)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="a few seconds to a minute (default)")
    group.add_argument("--full", action="store_true", help="larger sizes, longer runs")
    args = parser.parse_args(argv)
    return "full" if args.full else "quick"


def best_of(runs: int, fn: Callable[[], float]) -> float:
    """Return the best (highest) of ``runs`` calls of ``fn``, which returns a rate."""
    best = 0.0
    for _ in range(runs):
        gc.collect()
        best = max(best, fn())
    return best


def results_dir() -> Path:
    """Return ``bench/results``, creating it when missing."""
    path = Path(__file__).resolve().parent / "results"
    path.mkdir(exist_ok=True)
    return path


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def report(
    bench: str, mode: Mode, figures: list[Figure], *, tables: list[Table] | None = None
) -> Path:
    """Print the figures as a table and write ``bench/results/<bench>.json``.

    A ``full`` run writes ``<bench>.full.json`` instead, so both modes' figures are kept.
    ``tables`` are printed after the figures and kept in the JSON under ``"tables"``.

    Returns:
        The path of the JSON file written.
    """
    rows = [("metric", "value", "unit", "baseline", "baseline value", "ratio", "target", "ok")]
    for f in figures:
        target = (
            f">= {f.target_ratio}x"
            if f.target_ratio is not None
            else (f"{'<=' if f.target_direction != 'min' else '>='} {f.target}" if f.target else "")
        )
        ok = {True: "yes", False: "NO", None: ""}[f.meets_target]
        rows.append(
            (
                f.metric,
                _fmt(f.value),
                f.unit,
                f.baseline or "",
                _fmt(f.baseline_value),
                _fmt(f.ratio) if f.ratio is not None else "",
                target,
                ok,
            )
        )
    print(f"\n{bench} ({mode}, {time.strftime('%Y-%m-%d %H:%M:%S')})")
    _print_rows(rows)
    for table in tables or ():
        print(f"\n{table.title}")
        _print_rows([table.columns, *table.rows])
    doc: dict[str, object] = {
        "bench": bench,
        "mode": mode,
        "python": platform.python_version(),
        "machine": f"{os.cpu_count()} cores",
        "figures": [f.to_json() for f in figures],
    }
    if tables:
        doc["tables"] = [t.to_json() for t in tables]
    # A full run is kept beside the quick one instead of replacing it.
    path = results_dir() / (f"{bench}.json" if mode == "quick" else f"{bench}.full.json")
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return path


_STARTED = time.perf_counter()


def note(text: str) -> None:
    """Print a progress line with the time since the script started."""
    print(f"[{time.perf_counter() - _STARTED:5.1f} s] {text}", flush=True)


def pair(
    runs: int,
    subject: Callable[[], float],
    baseline: Callable[[], float],
    *,
    higher_is_better: bool = True,
) -> tuple[float, float]:
    """Interleave ``runs`` repetitions of subject and baseline; return the best of each
    (the highest, or the lowest for a latency: ``higher_is_better=False``)."""
    pick = max if higher_is_better else min
    subjects: list[float] = []
    baselines: list[float] = []
    for _ in range(runs):
        baselines.append(best_of(1, baseline))
        subjects.append(best_of(1, subject))
    return pick(subjects), pick(baselines)


class Tally:
    """Counts arrivals and fires ``done`` at the target; subject and baseline share it."""

    __slots__ = ("count", "done", "target")

    def __init__(self, target: int) -> None:
        self.count = 0
        self.target = target
        self.done = asyncio.Event()

    def rearm(self, target: int) -> None:
        """Fire a fresh ``done`` when the count reaches ``target``."""
        self.target = target
        self.done = asyncio.Event()

    def hit(self) -> None:
        """Count one arrival."""
        self.count += 1
        if self.count >= self.target:
            self.done.set()

    async def handler(self, payload: object, ctx: object) -> None:
        """A subscription handler that counts the message."""
        self.count += 1
        if self.count >= self.target:
            self.done.set()


async def _consume(queue: asyncio.Queue[object], tally: Tally) -> None:
    get, hit = queue.get, tally.hit
    while True:
        await get()
        hit()


async def queue_put_get(n: int, capacity: int, item: object = 0) -> float:
    """Baseline: ``await put`` / ``await get`` on a bounded asyncio.Queue; msgs/s."""
    tally = Tally(n)
    queue: asyncio.Queue[object] = asyncio.Queue(capacity)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_consume, queue, tally)
        put = queue.put
        start = time.perf_counter()
        for _ in range(n):
            await put(item)
        await tally.done.wait()
        elapsed = time.perf_counter() - start
        tg.cancel_scope.cancel()
    return n / elapsed


async def queue_put_nowait(n: int, capacity: int, item: object = 0) -> float:
    """Baseline: bursts of ``put_nowait`` (a queue-full each) drained by ``await get``; msgs/s."""
    n -= n % capacity
    tally = Tally(n)
    queue: asyncio.Queue[object] = asyncio.Queue(capacity)
    async with anyio.create_task_group() as tg:
        tg.start_soon(_consume, queue, tally)
        put = queue.put_nowait
        start = time.perf_counter()
        for sent in range(capacity, n + 1, capacity):
            tally.rearm(sent)
            for _ in range(capacity):
                put(item)
            await tally.done.wait()
        elapsed = time.perf_counter() - start
        tg.cancel_scope.cancel()
    return n / elapsed


def main_for(
    bench: str,
    description: str,
    run: Callable[[Mode], list[Figure]],
    argv: list[str] | None = None,
) -> None:
    """The whole of a benchmark's ``main``: parse the mode, keep the runtime's logs quiet,
    measure, then print and write the figures."""
    mode = parse_mode(description, argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    figures = run(mode)
    note("done")
    path = report(bench, mode, figures)
    print(f"wrote {path}")
