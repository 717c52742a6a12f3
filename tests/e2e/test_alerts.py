"""A real daemon's own alerts: a handler that fails once fires ``retry_rate`` (thresholds
set low through the environment); the daemon logs ``alert_firing``, ``GET /v1/alerts`` and
``actorgrid alerts`` list it. Firing and clearing on every signal are the fake-clock tests'
(tests/daemon/alerts)."""

from __future__ import annotations

import json
import os
import subprocess
from typing import TYPE_CHECKING

from .conftest import ROOT, WAIT, Daemon, cli

if TYPE_CHECKING:
    from pathlib import Path

ALERTS_ENV = {
    # Every evaluation looks back a minute; one retry among the attempts fires.
    "ACTORGRID_ALERTS__INTERVAL": "0.1",
    "ACTORGRID_ALERTS__WINDOW": "60",
    "ACTORGRID_ALERTS__RETRY_RATE": "0",
    "ACTORGRID_ALERTS__RETRY_MIN_ATTEMPTS": "1",
}


def test_a_retry_fires_retry_rate(tmp_path: Path) -> None:
    d = Daemon(tmp_path / "daemon.db", env=ALERTS_ENV)
    try:
        d.started()
        started = d.wait_for("alerts_started")
        assert (started["interval"], started["window"]) == (0.1, 60.0)
        with d.client() as http:
            every = http.get("/v1/alerts", params={"all": "true"}).json()["items"]
            assert {a["name"]: a["state"] for a in every}["retry_rate"] == "ok"
            published = http.post(
                "/v1/topics/jobs/messages", json={"payload": {"name": "flaky", "fail": 1}}
            )
            assert published.status_code == 201, published.text
            # The first attempt fails; its base retry (3 s later) succeeds.
            firing = d.wait_for("alert_firing", name="retry_rate")
            assert (firing["value"], firing["threshold"]) == (0.5, 0.0)
            assert firing["level"] == "warning"
            items = http.get("/v1/alerts").json()["items"]
        assert [(a["name"], a["state"], a["value"]) for a in items] == [
            ("retry_rate", "firing", 0.5)
        ]
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ACTORGRID_")}
        environ["ACTORGRID_STORAGE__URL"] = f"sqlite+aiosqlite:///{d.db}"
        ran = subprocess.run(
            cli("alerts", "--url", d.url, "--json"),
            cwd=ROOT,
            env=environ,
            capture_output=True,
            text=True,
            timeout=WAIT,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert [a["name"] for a in json.loads(ran.stdout)["items"]] == ["retry_rate"]
        assert d.stop() == 0, d.stderr
    finally:
        d.close()


def test_alerts_off(tmp_path: Path) -> None:
    """``[alerts] enabled = false``: no monitor starts and ``/v1/alerts`` lists nothing."""
    d = Daemon(tmp_path / "daemon.db", env={"ACTORGRID_ALERTS__ENABLED": "false"})
    try:
        d.started()
        with d.client() as http:
            assert http.get("/v1/alerts", params={"all": "true"}).json() == {"items": []}
        assert d.stop() == 0, d.stderr
        assert "alerts_started" not in {e["event"] for e in d.events}
    finally:
        d.close()
