"""Tests for bench.run_all: discovery, running scripts as subprocesses, rendering REPORT.md."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from bench.run_all import RunResult, discover, main, render_report, run_benches

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

KERNEL: dict[str, object] = {
    "bench": "kernel",
    "mode": "quick",
    "python": "3.11.7",
    "machine": "2 cores",
    "figures": [
        {
            "metric": "tell_throughput",
            "unit": "msgs/s",
            "value": 812000.0,
            "baseline": "asyncio.Queue put/get",
            "baseline_value": 1010000.0,
            "ratio": 0.804,
            "target_ratio": 0.75,
        },
        {
            "metric": "ask_roundtrips",
            "unit": "round trips/s",
            "value": 50000.0,
            "baseline": "asyncio.Queue + Future",
            "baseline_value": 115000.0,
            "ratio": 0.4348,
            "target_ratio": 0.6,
        },
        {
            "metric": "memory_per_actor",
            "unit": "KiB",
            "value": 3.2,
            "target": 5,
            "target_direction": "max",
        },
        {
            "metric": "spawns",
            "unit": "actors/s",
            "value": 40000.0,
            "target": 50000,
            "target_direction": "min",
        },
        {"metric": "restarts", "unit": "restarts/s", "value": 1234.5},
    ],
}
GENERATED = datetime(2030, 1, 2, 3, 4, tzinfo=UTC)
PEERS: dict[str, object] = {
    "bench": "peers",
    "mode": "quick",
    "python": "3.11.7",
    "machine": "2 cores",
    "figures": [
        {
            "metric": "sequential_vs_huey-sqlite",
            "unit": "tasks/s",
            "value": 1106.0,
            "baseline": "huey SqliteHuey",
            "baseline_value": 945.0,
            "ratio": 1.1704,
            "target_ratio": 1.0,
        },
        {
            "metric": "sequential_vs_litequeue",
            "unit": "tasks/s",
            "value": 1106.0,
            "baseline": "litequeue",
            "baseline_value": 3975.0,
            "ratio": 0.2782,
            "target_ratio": 1.0,
        },
        {
            "metric": "failing_vs_huey-sqlite",
            "unit": "tasks/s",
            "value": 11107.0,
            "baseline": "huey SqliteHuey",
            "baseline_value": 536.0,
            "ratio": 20.72,
        },
        {
            "metric": "single_peak_rss_vs_huey-sqlite",
            "unit": "MB",
            "value": 66.1,
            "baseline": "huey SqliteHuey peak RSS",
            "baseline_value": 32.5,
            "ratio": 0.4917,
        },
    ],
}


def write_results(directory: Path, *docs: Mapping[str, object]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for doc in docs:
        (directory / f"{doc['bench']}.json").write_text(json.dumps(doc), encoding="utf-8")
    return directory


def table_rows(report: str, section: str) -> dict[str, list[str]]:
    """Return the table rows of one section, keyed by metric, as lists of cells."""
    body = report.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, list[str]] = {}
    for line in body.splitlines():
        if line.startswith("| ") and not line.startswith("| metric"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            rows[cells[0]] = cells
    return rows


class TestRenderReport:
    def test_section_header_names_mode_python_machine_and_date(self, tmp_path: Path) -> None:
        """Each bench gets a section stating mode, Python version, machine and date."""
        report = render_report(write_results(tmp_path, KERNEL), generated=GENERATED)
        assert "Generated 2030-01-02 03:04 UTC" in report
        assert "## kernel" in report
        header = report.split("## kernel\n", 1)[1].strip().splitlines()[0]
        assert header.startswith("Mode: quick · Python 3.11.7 · machine: 2 cores · measured ")

    def test_table_columns(self, tmp_path: Path) -> None:
        """The table has metric, value, unit, baseline, baseline value, ratio, target, verdict."""
        report = render_report(write_results(tmp_path, KERNEL), generated=GENERATED)
        assert (
            "| metric | value | unit | baseline | baseline value | ratio | target | meets target |"
            in report
        )
        row = table_rows(report, "kernel")["tell_throughput"]
        assert row == [
            "tell_throughput",
            "812,000",
            "msgs/s",
            "asyncio.Queue put/get",
            "1,010,000",
            "0.804",
            "ratio ≥ 0.75",
            "yes",
        ]

    def test_target_verdicts(self, tmp_path: Path) -> None:
        """Ratio targets and absolute max/min targets are judged; no target shows a dash."""
        rows = table_rows(render_report(write_results(tmp_path, KERNEL)), "kernel")
        assert rows["ask_roundtrips"][7] == "**no**"
        assert rows["memory_per_actor"][6:] == ["≤ 5 KiB", "yes"]
        assert rows["spawns"][6:] == ["≥ 50,000 actors/s", "**no**"]
        assert rows["restarts"][3:] == ["—", "—", "—", "—", "—"]
        assert rows["restarts"][1] == "1,234"

    def test_summary_counts(self, tmp_path: Path) -> None:
        """The summary counts figures meeting and missing their targets per bench."""
        report = render_report(write_results(tmp_path, KERNEL))
        assert "| kernel | quick | 5 | 2 | 2 | ok |" in report

    def test_sections_are_sorted_and_one_per_file(self, tmp_path: Path) -> None:
        """Every results file becomes one section, in name order."""
        other = {**KERNEL, "bench": "broker", "mode": "full"}
        report = render_report(write_results(tmp_path, KERNEL, other))
        assert report.index("## broker") < report.index("## kernel")
        assert "| broker | full | 5 |" in report

    def test_full_results_beside_quick_ones_get_their_own_section(self, tmp_path: Path) -> None:
        """``<bench>.full.json`` is reported beside ``<bench>.json``, neither hiding the other."""
        write_results(tmp_path, KERNEL)
        full = {**KERNEL, "mode": "full"}
        (tmp_path / "kernel.full.json").write_text(json.dumps(full), encoding="utf-8")
        report = render_report(tmp_path)
        assert "| kernel | quick | 5 |" in report
        assert "| kernel.full | full | 5 |" in report
        assert report.index("## kernel\n") < report.index("## kernel.full\n")

    def test_failed_bench_with_old_results(self, tmp_path: Path) -> None:
        """A bench that failed in this run is listed and its old figures are marked as such."""
        report = render_report(
            write_results(tmp_path, KERNEL), failed={"kernel": "exit status 1 after 2.0 s"}
        )
        assert "## Failed in this run" in report
        assert "- `kernel`: exit status 1 after 2.0 s" in report
        assert "**This run failed** (exit status 1 after 2.0 s)" in report
        assert "from the results file left by an earlier run" in report
        assert "| kernel | quick | 5 | 2 | 2 | failed |" in report

    def test_failed_bench_without_results(self, tmp_path: Path) -> None:
        """A failed bench that wrote no results still gets a section saying so."""
        report = render_report(write_results(tmp_path), failed={"storage": "timed out after 9 s"})
        assert "## storage" in report
        assert "No results file." in report

    def test_unreadable_results_file(self, tmp_path: Path) -> None:
        """A results file that is not valid JSON is reported, not fatal."""
        (tmp_path / "broken.json").write_text("{not json", encoding="utf-8")
        (tmp_path / "shapeless.json").write_text("[1, 2]", encoding="utf-8")
        report = render_report(tmp_path)
        assert "cannot read broken.json" in report
        assert "cannot read shapeless.json" in report
        assert "| broken |  | 0 | 0 | 0 | unreadable |" in report

    def test_pipes_in_names_are_escaped(self, tmp_path: Path) -> None:
        """A '|' in a baseline name does not break the table."""
        doc = {
            **KERNEL,
            "figures": [
                {
                    "metric": "m",
                    "unit": "u",
                    "value": 2.0,
                    "baseline": "a | b",
                    "baseline_value": 1.0,
                    "ratio": 2.0,
                }
            ],
        }
        report = render_report(write_results(tmp_path, doc))
        assert "| m | 2 | u | a \\| b | 1 | 2 | — | — |" in report

    def test_tables_render_under_the_figures(self, tmp_path: Path) -> None:
        """A results file's ``tables`` follow its figures, titled, escaped, padded and cut."""
        doc = {
            **PEERS,
            "tables": [
                {
                    "title": "Runs",
                    "columns": ["workload", "peer", "tasks/s"],
                    "rows": [["single", "huey | sqlite", "866"], ["batch", "pykka"]],
                },
                {"title": "no columns", "rows": [["x"]]},
                "not a table",
                {"columns": ["a"], "rows": [["1", "2"], "not a row"]},
            ],
        }
        report = render_report(write_results(tmp_path, doc))
        section = report.split("## peers\n", 1)[1]
        assert section.index("| sequential_vs_huey-sqlite |") < section.index("**Runs**")
        assert "| workload | peer | tasks/s |\n|---|---|---|\n" in section
        assert "| single | huey \\| sqlite | 866 |" in section
        assert "| batch | pykka |  |" in section
        assert "no columns" not in section
        assert "| a |\n|---|\n| 1 |\n" in section

    def test_peers_fixture_verdicts(self, tmp_path: Path) -> None:
        """The peers' figures: the sequential bar against huey, RSS oriented lower-is-better."""
        rows = table_rows(render_report(write_results(tmp_path, PEERS)), "peers")
        assert rows["sequential_vs_huey-sqlite"][5:] == ["1.17", "ratio ≥ 1", "yes"]
        assert rows["sequential_vs_litequeue"][5:] == ["0.278", "ratio ≥ 1", "**no**"]
        assert rows["failing_vs_huey-sqlite"][6:] == ["—", "—"]
        assert rows["single_peak_rss_vs_huey-sqlite"][1:3] == ["66.1", "MB"]
        assert "| peers | quick | 4 | 1 | 1 | ok |" in render_report(tmp_path)

    def test_empty_results_directory(self, tmp_path: Path) -> None:
        """With no results the report is still valid markdown with an empty summary."""
        report = render_report(tmp_path)
        assert report.startswith("# Benchmark report\n")
        assert "## Summary" in report


SCRIPTS = {
    "__init__.py": "",
    "_common.py": "raise SystemExit('helpers are not benchmarks')\n",
    "run_all.py": "raise SystemExit('the runner is not a benchmark')\n",
    "alpha.py": (
        "import json, pathlib, sys\n"
        "here = pathlib.Path(__file__).parent\n"
        "(here / 'results').mkdir(exist_ok=True)\n"
        "doc = {'bench': 'alpha', 'mode': sys.argv[1].lstrip('-'), 'python': '3', "
        "'machine': '1 core', 'figures': [{'metric': 'x', 'unit': 'u', 'value': 1.0}]}\n"
        "(here / 'results' / 'alpha.json').write_text(json.dumps(doc))\n"
    ),
    "broken.py": "raise SystemExit(3)\n",
    "gamma.py": (
        "import pathlib, sys\n"
        "(pathlib.Path(__file__).parent / 'gamma.args').write_text(' '.join(sys.argv[1:]))\n"
    ),
}


@pytest.fixture
def bench_dir(tmp_path: Path) -> Path:
    package = tmp_path / "fakebench"
    package.mkdir()
    for name, text in SCRIPTS.items():
        (package / name).write_text(text, encoding="utf-8")
    return package


class TestRunning:
    def test_discover_skips_helpers_and_runner(self, bench_dir: Path) -> None:
        """Only non-underscore scripts other than run_all are benchmarks."""
        assert discover(bench_dir) == ["alpha", "broken", "gamma"]

    def test_continues_past_a_failure(
        self, bench_dir: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """A failing script is recorded and the next one still runs with the mode flag."""
        results = run_benches(
            ["broken", "gamma"], "full", package="fakebench", cwd=bench_dir.parent
        )
        assert [(r.name, r.returncode) for r in results] == [("broken", 3), ("gamma", 0)]
        assert (bench_dir / "gamma.args").read_text() == "--full"
        assert "fakebench.broken FAILED: exit status 3" in capfd.readouterr().out

    def test_timeout_counts_as_failure(self, bench_dir: Path) -> None:
        """A script past the timeout is stopped and reported as timed out."""
        (bench_dir / "slow.py").write_text("import time\ntime.sleep(30)\n", encoding="utf-8")
        (result,) = run_benches(
            ["slow"], "quick", package="fakebench", cwd=bench_dir.parent, timeout=0.5
        )
        assert result.returncode is None
        assert not result.ok
        assert result.describe().startswith("timed out")

    def test_main_runs_all_writes_report_and_fails(
        self, bench_dir: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """main runs every script, renders REPORT.md, and exits 1 because one failed."""
        assert main(["--quick"], bench_dir=bench_dir) == 1
        report = (bench_dir / "REPORT.md").read_text(encoding="utf-8")
        assert "## alpha" in report
        assert "Mode: quick" in report
        assert "- `broken`: exit status 3" in report
        assert (bench_dir / "gamma.args").read_text() == "--quick"
        capfd.readouterr()

    def test_main_exits_zero_when_all_pass(
        self, bench_dir: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """With every selected script passing, main returns 0."""
        assert main(["--full", "--only", "alpha", "gamma"], bench_dir=bench_dir) == 0
        report = (bench_dir / "REPORT.md").read_text(encoding="utf-8")
        assert "Mode: full" in report
        assert "Failed in this run" not in report
        capfd.readouterr()

    def test_report_only_runs_nothing(
        self, bench_dir: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """--report-only renders from existing results without running any script."""
        assert main(["--report-only"], bench_dir=bench_dir) == 0
        assert not (bench_dir / "gamma.args").exists()
        assert (bench_dir / "REPORT.md").exists()
        capfd.readouterr()

    def test_unknown_name_is_a_usage_error(
        self, bench_dir: Path, capfd: pytest.CaptureFixture[str]
    ) -> None:
        """--only with a name that is not a script exits with a usage error."""
        with pytest.raises(SystemExit) as info:
            main(["--only", "nope"], bench_dir=bench_dir)
        assert info.value.code == 2
        assert "no such benchmark: nope" in capfd.readouterr().err

    def test_run_result_describe(self) -> None:
        """RunResult describes its exit status."""
        assert RunResult("x", 2, 1.5).describe() == "exit status 2 after 1.5 s"
        assert RunResult("x", 0, 0.1).ok
