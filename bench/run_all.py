"""Run every benchmark script, then render ``bench/REPORT.md`` from ``bench/results/*.json``.

Usage: ``python -m bench.run_all [--quick|--full] [--only NAME ...] [--report-only]``.

Each ``bench/<name>.py`` (not ``_*.py``, not this file) runs in its own interpreter with the
mode flag. A failing script does not stop the others; the exit status is 1 if any failed.
The report is rendered from whatever JSON is in ``bench/results`` afterwards, and says which
scripts failed in this run (their JSON, if any, is from an earlier run). Each section is the
script's figures with the target beside each and whether it holds, then any ``tables`` the
script added (``bench/peers.py``: every run, and what each peer promises).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

__all__ = ("RunResult", "discover", "main", "render_report", "run_benches")

BENCH_DIR = Path(__file__).resolve().parent
Mode = Literal["quick", "full"]
_COLUMNS = (
    "metric",
    "value",
    "unit",
    "baseline",
    "baseline value",
    "ratio",
    "target",
    "meets target",
)


@dataclass(frozen=True, slots=True)
class RunResult:
    """How one benchmark script ended."""

    name: str
    returncode: int | None
    """The exit status, or None when it was stopped for exceeding the timeout."""
    seconds: float

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def describe(self) -> str:
        if self.returncode is None:
            return f"timed out after {self.seconds:.0f} s"
        return f"exit status {self.returncode} after {self.seconds:.1f} s"


def discover(bench_dir: Path = BENCH_DIR) -> list[str]:
    """Return the names of the benchmark scripts in ``bench_dir``, sorted."""
    return sorted(
        path.stem
        for path in bench_dir.glob("*.py")
        if not path.stem.startswith("_") and path.stem != "run_all"
    )


def run_benches(
    names: Sequence[str],
    mode: Mode,
    *,
    package: str = "bench",
    cwd: Path = BENCH_DIR.parent,
    timeout: float | None = None,
) -> list[RunResult]:
    """Run ``python -m <package>.<name> --<mode>`` for each name, continuing past failures.

    Args:
        names: The scripts to run, in order.
        mode: ``quick`` or ``full``, passed on as ``--quick`` / ``--full``.
        package: The package holding the scripts.
        cwd: The directory to run in (the one containing ``package``).
        timeout: Seconds after which a script is stopped and counted as failed.

    Returns:
        One result per script, in order.
    """
    results: list[RunResult] = []
    for name in names:
        print(f"\n=== {package}.{name} --{mode}", flush=True)
        start = time.perf_counter()
        returncode: int | None
        try:
            completed = subprocess.run(
                [sys.executable, "-m", f"{package}.{name}", f"--{mode}"],
                cwd=cwd,
                timeout=timeout,
                check=False,
            )
            returncode = completed.returncode
        except subprocess.TimeoutExpired:
            returncode = None
        result = RunResult(name, returncode, time.perf_counter() - start)
        if not result.ok:
            print(f"=== {package}.{name} FAILED: {result.describe()}", flush=True)
        results.append(result)
    return results


def render_report(
    results_dir: Path,
    *,
    failed: Mapping[str, str] | None = None,
    generated: datetime | None = None,
) -> str:
    """Render the markdown report of every ``*.json`` in ``results_dir``.

    Args:
        results_dir: Where the scripts wrote their figures.
        failed: Scripts that failed in this run, with a description of how.
        generated: The time to print as the report's date (default: now, UTC).

    Returns:
        The markdown text.
    """
    failed = dict(failed or {})
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    docs: dict[str, tuple[dict[str, object] | None, str, str]] = {}
    for path in sorted(results_dir.glob("*.json")):
        measured = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or not isinstance(doc.get("figures"), list):
                raise ValueError("expected an object with a 'figures' list")
        except ValueError as exc:
            docs[path.stem] = (None, measured, f"cannot read {path.name}: {exc}")
            continue
        name = str(doc.get("bench") or path.stem)
        if path.stem != name:  # e.g. pattern_engine.full.json beside pattern_engine.json
            name = path.stem
        docs[name] = (doc, str(doc.get("date") or measured), "")

    out = [
        "# Benchmark report",
        "",
        f"Generated {when} by `python -m bench.run_all`. Each figure is compared with a baseline "
        "measured in the same process and run; ratios are oriented so that higher is better, "
        "and only ratios are comparable across machines.",
        "",
    ]
    if failed:
        out += ["## Failed in this run", ""]
        out += [f"- `{name}`: {how}" for name, how in sorted(failed.items())]
        out.append("")
    out += _summary(docs, failed)
    for name in sorted(set(docs) | set(failed)):
        out += _section(name, docs.get(name), failed.get(name))
    return "\n".join(out).rstrip() + "\n"


def _summary(
    docs: Mapping[str, tuple[dict[str, object] | None, str, str]], failed: Mapping[str, str]
) -> list[str]:
    rows = ["## Summary", "", "| bench | mode | figures | meet target | miss target | status |"]
    rows.append("|---|---|---|---|---|---|")
    for name in sorted(set(docs) | set(failed)):
        doc = docs.get(name, (None, "", ""))[0]
        figures = _figures(doc)
        verdicts = [_meets(f) for f in figures]
        status = "failed" if name in failed else ("ok" if doc is not None else "unreadable")
        mode = str(doc.get("mode", "")) if doc is not None else ""
        met = sum(v is True for v in verdicts)
        missed = sum(v is False for v in verdicts)
        rows.append(f"| {_cell(name)} | {mode} | {len(figures)} | {met} | {missed} | {status} |")
    return [*rows, ""]


def _section(
    name: str, entry: tuple[dict[str, object] | None, str, str] | None, failure: str | None
) -> list[str]:
    out = [f"## {name}", ""]
    if failure is not None:
        note = f"**This run failed** ({failure})."
        if entry is not None and entry[0] is not None:
            note += " The figures below are from the results file left by an earlier run."
        out += [note, ""]
    if entry is None:
        return [*out, "No results file.", ""]
    doc, measured, error = entry
    if doc is None:
        return [*out, f"No figures: {error}.", ""]
    out += [
        f"Mode: {doc.get('mode', '?')} · Python {doc.get('python', '?')} · "
        f"machine: {doc.get('machine', '?')} · measured {measured}",
        "",
        "| " + " | ".join(_COLUMNS) + " |",
        "|" + "---|" * len(_COLUMNS),
    ]
    for figure in _figures(doc):
        verdict = {True: "yes", False: "**no**", None: "—"}[_meets(figure)]
        cells = (
            _cell(figure.get("metric", "?")),
            _number(figure.get("value")),
            _cell(figure.get("unit", "")),
            _cell(figure.get("baseline", "")) or "—",
            _number(figure.get("baseline_value")),
            _number(figure.get("ratio")),
            _target(figure),
            verdict,
        )
        out.append("| " + " | ".join(cells) + " |")
    return [*out, "", *_tables(doc)]


def _tables(doc: Mapping[str, object]) -> list[str]:
    """Render the optional ``tables`` of a results file (title, columns, rows of cells).

    A malformed table is skipped, not fatal; a short row is padded and a long one cut to
    the columns.
    """
    tables = doc.get("tables")
    out: list[str] = []
    for table in tables if isinstance(tables, list) else ():
        if not isinstance(table, dict):
            continue
        columns, rows = table.get("columns"), table.get("rows")
        if not isinstance(columns, list) or not columns or not isinstance(rows, list):
            continue
        width = len(columns)
        out += [f"**{_cell(table.get('title', ''))}**", ""] if table.get("title") else []
        out.append("| " + " | ".join(_cell(c) for c in columns) + " |")
        out.append("|" + "---|" * width)
        for row in rows:
            if not isinstance(row, list):
                continue
            cells = [_cell(c) for c in row[:width]] + [""] * (width - len(row))
            out.append("| " + " | ".join(cells) + " |")
        out.append("")
    return out


def _figures(doc: Mapping[str, object] | None) -> list[dict[str, object]]:
    figures = doc.get("figures") if doc is not None else None
    if not isinstance(figures, list):
        return []
    return [f for f in figures if isinstance(f, dict)]


def _float(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _meets(figure: Mapping[str, object]) -> bool | None:
    """Return whether a figure meets its target ratio or absolute target; None without one."""
    target_ratio = _float(figure.get("target_ratio"))
    if target_ratio is not None:
        ratio = _float(figure.get("ratio"))
        return ratio is not None and ratio >= target_ratio
    target = _float(figure.get("target"))
    value = _float(figure.get("value"))
    if target is None:
        return None
    if value is None:
        return False
    if figure.get("target_direction") == "min":
        return value >= target
    return value <= target


def _target(figure: Mapping[str, object]) -> str:
    target_ratio = _float(figure.get("target_ratio"))
    if target_ratio is not None:
        return f"ratio ≥ {_number(target_ratio)}"
    target = _float(figure.get("target"))
    if target is None:
        return "—"
    sign = "≥" if figure.get("target_direction") == "min" else "≤"
    unit = _cell(figure.get("unit", ""))
    return f"{sign} {_number(target)} {unit}".rstrip()


def _number(value: object) -> str:
    number = _float(value)
    if number is None:
        return "—"
    if abs(number) >= 100:
        return f"{number:,.0f}"
    return f"{number:.3g}"


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def main(argv: Sequence[str] | None = None, *, bench_dir: Path = BENCH_DIR) -> int:
    """Run the benchmarks and write the report; return the process exit status.

    Args:
        argv: Command-line arguments (default: ``sys.argv[1:]``).
        bench_dir: The package directory holding the scripts, ``results/`` and the report.

    Returns:
        0 when every script succeeded, 1 otherwise.
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--quick", action="store_true", help="quick mode (default)")
    group.add_argument("--full", action="store_true", help="full mode")
    parser.add_argument("--only", nargs="+", metavar="NAME", help="run only these scripts")
    parser.add_argument("--report-only", action="store_true", help="render the report only")
    parser.add_argument("--timeout", type=float, help="stop a script after this many seconds")
    args = parser.parse_args(argv)
    mode: Mode = "full" if args.full else "quick"

    available = discover(bench_dir)
    names = available if not args.only else list(args.only)
    unknown = sorted(set(names) - set(available))
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)} (have: {', '.join(available)})")
    results: list[RunResult] = []
    if not args.report_only:
        results = run_benches(
            names, mode, package=bench_dir.name, cwd=bench_dir.parent, timeout=args.timeout
        )
    failed = {r.name: r.describe() for r in results if not r.ok}

    results_dir = bench_dir / "results"
    results_dir.mkdir(exist_ok=True)
    report = bench_dir / "REPORT.md"
    report.write_text(render_report(results_dir, failed=failed), encoding="utf-8")
    print(f"\nwrote {report}")
    if failed:
        print(f"failed: {', '.join(sorted(failed))}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
