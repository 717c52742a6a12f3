"""The shipped Prometheus rules (``docs/alerts``): promtool validates them and runs their
unit tests, and every series they name is one a real runtime's ``/metrics`` exports.

Without promtool (Debian's ``prometheus`` package) the promtool tests skip, unless
``REQUIRE_PROMTOOL=1`` is set (CI sets it): then they fail.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import anyio
import pytest
from prometheus_client.parser import text_string_to_metric_families

from actorgrid import FakeClock
from actorgrid.daemon.api import ApiSettings, create_api

from .api.conftest import serve
from .scenario import Scenario

ALERTS = Path(__file__).resolve().parents[2] / "docs" / "alerts"
RULES = ALERTS / "actorgrid.yml"
TESTS = ALERTS / "actorgrid.test.yml"
NAME = re.compile(r"\bactorgrid_[a-z_]+\b")


@pytest.fixture(name="promtool")
def _promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        if os.environ.get("REQUIRE_PROMTOOL") == "1":
            pytest.fail("promtool is missing and REQUIRE_PROMTOOL=1: apt-get install prometheus")
        pytest.skip("promtool is missing (Debian's prometheus package)")
    return found


def promtool_run(promtool: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool, *args], cwd=ALERTS, capture_output=True, text=True, timeout=60, check=False
    )


def rule_names() -> list[str]:
    return re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(encoding="utf-8"), re.M)


class TestPromtool:
    def test_check_rules(self, promtool: str) -> None:
        ran = promtool_run(promtool, "check", "rules", RULES.name)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert f"SUCCESS: {len(rule_names())} rules found" in ran.stdout

    def test_unit_tests_pass(self, promtool: str) -> None:
        ran = promtool_run(promtool, "test", "rules", TESTS.name)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "SUCCESS" in ran.stdout

    def test_a_broken_rule_fails_its_unit_test(self, promtool: str, tmp_path: Path) -> None:
        """The unit tests can fail: the rules with the retry-rate threshold moved fail."""
        text = RULES.read_text(encoding="utf-8")
        assert ") > 0.5\n" in text
        (tmp_path / RULES.name).write_text(text.replace(") > 0.5\n", ") > 0.9\n"), "utf-8")
        shutil.copy(TESTS, tmp_path / TESTS.name)
        ran = subprocess.run(
            [promtool, "test", "rules", TESTS.name],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode != 0
        assert "ActorgridRetryRateHigh" in ran.stdout + ran.stderr


class TestRulesFile:
    def test_the_five_signals_each_with_for_severity_and_annotations(self) -> None:
        text = RULES.read_text(encoding="utf-8")
        names = rule_names()
        assert names == [
            "ActorgridRetryRateHigh",
            "ActorgridDeadLettersGrowing",
            "ActorgridWriterLagging",
            "ActorgridActorRestarting",
            "ActorgridNotReady",
        ]
        blocks = re.split(r"^\s*- alert: ", text, flags=re.M)[1:]
        for block in blocks:
            assert re.search(r"^\s+for: \d+m$", block, re.M), block
            assert re.search(r"^\s+severity: (warning|critical)$", block, re.M), block
            assert re.search(r"^\s+summary: ", block, re.M), block
            assert re.search(r"^\s+description: ", block, re.M), block

    def test_every_rule_has_unit_tests_firing_and_silent(self) -> None:
        text = TESTS.read_text(encoding="utf-8")
        for name in rule_names():
            tests = re.findall(rf"alertname: {name}\n\s+exp_alerts:( \[\])?", text)
            assert "" in tests, f"{name}: no test where it fires"
            assert " []" in tests, f"{name}: no test where it stays silent"


@pytest.fixture(name="exported")
def _exported(tmp_path: Path) -> dict[str, set[frozenset[tuple[str, str]]]]:
    """``{sample name: label sets}`` of ``GET /metrics`` of a runtime on SQLite driven through
    successes, retries in every phase and dead letters (the daemon scenario)."""
    scenario = Scenario(tmp_path / "actorgrid.db", FakeClock())
    found: dict[str, set[frozenset[tuple[str, str]]]] = {}

    async def scrape() -> None:
        async with scenario.runtime() as rt:
            await scenario.drive(rt)
            app = create_api(rt, ApiSettings(token="t" * 16))
            async with serve(app) as client:
                answer = await client.get("/metrics")
        assert answer.status_code == 200
        for family in text_string_to_metric_families(answer.text):
            for sample in family.samples:
                found.setdefault(sample.name, set()).add(frozenset(sample.labels.items()))

    anyio.run(scrape)
    return found


class TestMetricNames:
    def test_every_series_the_rules_name_is_exported(
        self, exported: dict[str, set[frozenset[tuple[str, str]]]]
    ) -> None:
        """Every ``actorgrid_*`` name in the rules (expressions and annotations) is a sample
        of a real runtime's ``/metrics``."""
        used = set(NAME.findall(RULES.read_text(encoding="utf-8")))
        assert len(used) >= 7
        missing = sorted(used - set(exported))
        assert missing == [], f"the rules use series /metrics does not export: {missing}"

    def test_the_label_values_the_rules_select_exist(
        self, exported: dict[str, set[frozenset[tuple[str, str]]]]
    ) -> None:
        actors = {dict(s)["actor"] for s in exported["actorgrid_actor_restarts_total"]}
        assert {"retry-gate", "broker"} <= actors
        reasons = {dict(s)["reason"] for s in exported["actorgrid_messages_dead_lettered_total"]}
        assert "killed" in reasons
        assert exported["actorgrid_ready"] == {frozenset()}
