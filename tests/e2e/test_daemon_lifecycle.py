"""The daemon's life: publish over HTTP, stop by SIGTERM, restart and resume; a second signal."""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING

from .conftest import rows, wait_until

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Daemon


def states(db: Path) -> dict[str, int]:
    return dict(rows(db, "SELECT state, COUNT(*) FROM messages GROUP BY state"))


def publish(d: Daemon, name: str, **job: object) -> str:
    with d.client() as http:
        answer = http.post("/v1/topics/jobs/messages", json={"payload": {"name": name, **job}})
    assert answer.status_code == 201, answer.text
    message_id: str = answer.json()["id"]
    return message_id


class TestStopAndRestart:
    def test_sigterm_drains_keeps_everything_and_a_restart_resumes_the_retry(
        self, start: Callable[..., Daemon], db: Path
    ) -> None:
        """Published jobs are handled; SIGTERM refuses new publishes (503), lets the slow one
        finish and exits 0; the scheduled retry keeps its window and runs after a restart."""
        d = start().started()
        with d.client() as http:
            assert http.get("/health").json()["status"] == "ok"
            assert http.get("/ready").status_code == 200
        fine = [publish(d, f"ok-{i}") for i in range(3)]
        flaky = publish(d, "flaky", fail=1)
        wait_until(lambda: states(db) == {"done": 3, "scheduled": 1}, "3 done, 1 scheduled")
        ((window, attempts),) = rows(
            db, "SELECT available_at, attempts FROM messages WHERE id = ?", flaky
        )
        assert attempts == 1

        slow = publish(d, "slow", sleep=1.5)
        d.wait_for("job_started", job="slow")
        d.signal(signal.SIGTERM)
        d.wait_for("intake_stopped")
        with d.client() as http:
            refused = http.post("/v1/topics/jobs/messages", json={"payload": {"name": "late"}})
        assert refused.status_code == 503, refused.text
        assert refused.json()["error"] == "stopping"
        assert d.wait() == 0
        d.wait_for("daemon_stopped", exit_status=0)
        # Off a terminal every line is a JSON event, the libraries' own (uvicorn, alembic,
        # Litestar) included: none of them installs a format of its own.
        assert [line for line in d.lines if not line.startswith("{")] == []

        assert rows(db, "SELECT state FROM messages WHERE id = ?", slow) == [("done",)]
        assert states(db) == {"done": 4, "scheduled": 1}
        assert rows(db, "SELECT COUNT(*) FROM messages WHERE id IN (?, ?, ?)", *fine) == [(3,)]
        assert rows(db, "SELECT available_at FROM messages WHERE id = ?", flaky) == [(window,)]
        assert rows(db, "SELECT attempt_count FROM retry_records WHERE target_id = ?", flaky) == [
            (1,)
        ]

        again = start().started()
        again.wait_for("job_started", job="flaky", attempt=2)
        wait_until(lambda: states(db) == {"done": 5}, "the retried job done")
        ((count, success),) = rows(
            db,
            "SELECT attempt_count, last_success_at FROM retry_records WHERE target_id = ?",
            flaky,
        )
        assert (count, success is not None) == (0, True)
        assert again.stop() == 0

    def test_a_second_signal_exits_at_once_and_loses_nothing_committed(
        self, start: Callable[..., Daemon], db: Path
    ) -> None:
        """A second SIGTERM during the drain exits with 143 at once; a restart finds every
        acknowledged message and handles it."""
        d = start().started()
        published = [publish(d, f"long-{i}", sleep=30) for i in range(2)]
        published += [publish(d, f"quick-{i}") for i in range(5)]
        d.wait_for("job_started", job="long-0")
        d.wait_for("job_started", job="long-1")
        d.signal(signal.SIGTERM)
        d.wait_for("intake_stopped")
        d.signal(signal.SIGTERM)
        assert d.wait() == 128 + signal.SIGTERM
        d.wait_for("second_signal", signal="SIGTERM")

        assert rows(db, "PRAGMA integrity_check") == [("ok",)]
        stored = {r[0] for r in rows(db, "SELECT id FROM messages")}
        assert set(published) <= stored

        again = start(env={"E2E_NO_SLEEP": "1"}).started()
        wait_until(lambda: states(db) == {"done": len(published)}, "every message done")
        assert again.stop() == 0
