"""Tests for ``bench.peers``: every installed peer on a tiny workload, the figures, the RSS.

Each peer runs in a child process as the bench runs it. A peer that is not installed is
skipped; a Redis peer is skipped only when no Redis server answers and none can be started.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest

from bench import _common, peers
from bench._peers import PEERS, WORKLOADS, peak_rss_kib
from bench.peers import OURS, PEER_INFO, Run, figures_of, installed, measure, tables_of

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TASKS = 40


@pytest.fixture(autouse=True)
def short_child_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """A child that loses tasks gives up (and fails its test) within a minute."""
    monkeypatch.setenv("BENCH_PEERS_TIMEOUT", "60")


@pytest.fixture(scope="module")
def redis() -> Iterator[str | None]:
    with peers.redis_server() as how:
        yield how


def runnable(peer: str, redis: str | None) -> None:
    if not installed(peer):
        pytest.skip(f"{PEER_INFO[peer].module} is not installed")
    if PEER_INFO[peer].kind == "redis" and redis is None:
        pytest.skip("no Redis server answers and redis-server cannot be started")


CASES = [(peer, w) for peer, info in PEER_INFO.items() for w in info.workloads if w != "single"]


@pytest.mark.parametrize(("peer", "workload"), CASES, ids=[f"{p}-{w}" for p, w in CASES])
def test_each_peer_runs_each_of_its_workloads(
    peer: str, workload: str, redis: str | None, tmp_path: Path
) -> None:
    """Every task runs (failing ones once retried) and the child reports a rate and its RSS."""
    runnable(peer, redis)
    run = measure(peer, workload, TASKS, tmp_path)
    assert run.error is None
    assert run.tasks_per_s is not None
    assert run.tasks_per_s > 0
    assert run.peak_rss_mb > 5


@pytest.mark.parametrize("peer", [p for p in PEER_INFO if "single" in PEER_INFO[p].workloads])
def test_single_workload(peer: str, redis: str | None, tmp_path: Path) -> None:
    """The plain workload, one call per task from concurrent producers."""
    runnable(peer, redis)
    run = measure(peer, "single", TASKS, tmp_path)
    assert (run.error, run.tasks_per_s is not None and run.tasks_per_s > 0) == (None, True)


def test_the_redis_servers_persistence_is_read(redis: str | None) -> None:
    """What the Redis peers' durability rests on is read from the server itself."""
    if redis is None:
        pytest.skip("no Redis server answers and redis-server cannot be started")
    assert "appendonly=" in peers.redis_persistence()


def test_a_peer_without_a_batch_api_says_so(tmp_path: Path) -> None:
    """huey has no batch enqueue: its child answers None, not a made-up rate."""
    if not installed("huey-memory"):
        pytest.skip("huey is not installed")
    run = measure("huey-memory", "batch", TASKS, tmp_path)
    assert (run.error, run.tasks_per_s) == (None, None)


def test_floor_and_the_rss_of_the_child_alone(tmp_path: Path) -> None:
    """The floor runs; a bare child's peak RSS is its own, far below this process's (which
    ``ru_maxrss`` of a forked child would report at least)."""
    floor = measure("floor", "single", 2000, tmp_path / "floor")
    assert floor.tasks_per_s is not None
    assert floor.tasks_per_s > 0
    bare = measure("interpreter", "single", 1, tmp_path / "bare")
    ours = peak_rss_kib()
    assert ours is not None
    assert bare.peak_rss_mb < ours / 1024 / 2


def test_a_failing_child_is_reported_not_raised(tmp_path: Path) -> None:
    """A child that fails (here: the floor's table is already there) becomes a run with its
    error, and the bench goes on."""
    measure("floor", "single", 10, tmp_path)
    run = measure("floor", "single", 10, tmp_path)
    assert run.error is not None
    assert "already exists" in run.error
    assert run.tasks_per_s is None


def test_figures_compare_like_with_like_and_set_the_bars() -> None:
    """Durable peers against durable actorgrid, memory peers against in-memory actorgrid;
    target ratio 1 everywhere but the failing workload; RSS lower is better."""
    runs = [
        Run("actorgrid-durable", "sequential", 10, 1100.0, 66.0),
        Run("actorgrid-durable", "failing", 10, 9000.0, 66.0),
        Run("actorgrid-memory", "single", 10, 100_000.0, 64.0),
        Run("actorgrid-durable-pattern", "failing", 10, 3000.0, 90.0),
        Run("huey-sqlite", "sequential", 10, 950.0, 32.0),
        Run("huey-sqlite", "failing", 10, 500.0, 32.0),
        Run("huey-memory", "single", 10, 40_000.0, 32.0),
        Run("huey-memory", "batch", 10, None, 32.0),
        Run("litequeue", "sequential", 10, None, 30.0, error="boom"),
        Run("floor", "single", 10, 300_000.0, 16.0),
        Run("interpreter", "single", 1, 0.0, 15.0),
    ]
    figures = {f.metric: f for f in figures_of(runs)}
    bar = figures["sequential_vs_huey-sqlite"]
    assert (bar.value, bar.baseline_value, bar.target_ratio, bar.meets_target) == (
        1100.0,
        950.0,
        1.0,
        True,
    )
    assert figures["single_vs_huey-memory"].value == 100_000.0
    assert figures["failing_vs_huey-sqlite"].target_ratio is None
    assert figures["failing_pattern_engine_on"].ratio == pytest.approx(1 / 3)
    assert figures["sequential_durable_vs_floor"].baseline_value == 300_000.0
    rss = figures["sequential_peak_rss_vs_huey-sqlite"]
    assert rss.ratio == pytest.approx(32.0 / 66.0)
    assert figures["peak_rss_interpreter"].value == 15.0
    assert "sequential_vs_litequeue" not in figures  # its run failed
    assert "batch_vs_huey-memory" not in figures  # it has no batch enqueue
    runs_table, promises = tables_of(runs, None)
    cells = {(row[0], row[1]): row for row in runs_table.rows}
    assert cells[("batch", "huey MemoryHuey")][3] == "n/a (no batch enqueue)"
    assert cells[("sequential", "litequeue")][3] == "failed: boom"
    assert cells[("sequential", "huey SqliteHuey")][4] == "1.16"
    assert "no Redis in this run" in promises.title
    assert {row[0] for row in promises.rows} >= {"huey SqliteHuey", "actorgrid (durable)"}


def test_every_peer_is_described_and_every_workload_known() -> None:
    """The child's peers and the parent's descriptions agree."""
    assert set(PEER_INFO) | set(peers.REFERENCES) == set(PEERS)
    assert set(OURS) <= set(PEER_INFO)
    for info in PEER_INFO.values():
        assert set(info.workloads) <= set(WORKLOADS)


def test_main_writes_the_shared_shape(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``main`` on a subset writes bench/results/peers.json with figures and tables."""
    monkeypatch.setattr(_common, "results_dir", lambda: tmp_path)
    peers.main(["--tasks", "30", "--peers", "actorgrid-durable", "floor", "interpreter"])
    doc = json.loads((tmp_path / "peers.json").read_text())
    assert doc["bench"] == "peers"
    metrics = {f["metric"] for f in doc["figures"]}
    assert {"single_durable_vs_floor", "peak_rss_interpreter", "floor_raw_sqlite3"} <= metrics
    assert [t["columns"][0] for t in doc["tables"]] == ["workload", "peer"]
    capsys.readouterr()
