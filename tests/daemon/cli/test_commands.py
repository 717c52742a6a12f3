"""Every operator command once against a real daemon: its table, its ``--json`` answer, and
what it changed in the daemon's database."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

from tests.e2e.conftest import rows, wait_until

from .conftest import wait_state

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import pytest

    from tests.e2e.conftest import Daemon

    from .conftest import Ran


def scheduled(cli: Callable[..., Ran], daemon: Daemon, name: str, target: str) -> str:
    """Publish a job that keeps failing, for ``target``; return its id once it is scheduled."""
    job = json.dumps({"name": name, "fail": 99})
    message_id: str = cli("publish", "jobs", job, "--target", target, "--json").json()["id"]
    wait_state(daemon, message_id, "scheduled")
    return message_id


class TestPublishAndStatus:
    def test_publish_one_then_status(self, cli: Callable[..., Ran], daemon: Daemon) -> None:
        """One message is published (its id printed), handled, and counted by status."""
        ran = cli("publish", "jobs", '{"name": "one"}')
        assert ran.code == 0, ran.err
        assert ran.out.startswith("published ")
        assert ran.out.rstrip().endswith(" to jobs")
        message_id = ran.out.split()[1]
        wait_state(daemon, message_id, "done")
        status = cli("status", "--json")
        assert status.code == 0
        assert status.json()["broker"]["published"] >= 1
        assert status.json()["state"] == "running"
        table = cli("status")
        assert "broker.published" in table.out
        assert "running" in table.out

    def test_publish_a_batch_from_stdin(
        self, cli: Callable[..., Ran], daemon: Daemon, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Message lines from stdin are published in batches of --batch-size, in order."""
        lines = [json.dumps({"payload": {"name": f"batch-{i}"}}) for i in range(5)]
        monkeypatch.setattr("sys.stdin", io.StringIO("\n".join(lines) + "\n\n"))
        ran = cli("publish", "jobs", "--file", "-", "--batch-size", "2", "--json")
        assert ran.code == 0, ran.err
        ids = ran.json()["ids"]
        assert len(ids) == len(set(ids)) == 5
        for message_id in ids:
            wait_state(daemon, message_id, "done")

    def test_publish_bare_payloads_from_a_file(
        self, cli: Callable[..., Ran], daemon: Daemon, tmp_path: Path
    ) -> None:
        """With --payloads each line is a payload; --target applies to all of them."""
        path = tmp_path / "payloads.jsonl"
        path.write_text('{"name": "p-1"}\n{"name": "p-2"}\n', encoding="utf-8")
        ran = cli("publish", "jobs", "-f", str(path), "--payloads", "--target", "batch:b-1")
        assert ran.code == 0, ran.err
        assert "published 2 messages to jobs" in ran.out
        targets = rows(
            daemon.db, "SELECT DISTINCT target_id FROM messages WHERE target_id = ?", "b-1"
        )
        assert targets == [("b-1",)]


class TestScheduledRetriesAndRecords:
    def test_list_show_now_kill_delete(self, cli: Callable[..., Ran], daemon: Daemon) -> None:
        """Each action on a scheduled retry, and the retry records of their targets."""
        first = scheduled(cli, daemon, "r-1", "acct:r-1")
        second = scheduled(cli, daemon, "r-2", "acct:r-2")
        third = scheduled(cli, daemon, "r-3", "acct:r-3")

        listed = cli("retries", "list", "--target-type", "acct", "--json")
        assert listed.code == 0, listed.err
        assert {item["id"] for item in listed.json()["items"]} >= {first, second, third}
        table = cli("retries", "list", "--target-id", "r-1")
        assert first in table.out
        assert second not in table.out
        assert "acct:r-1" in table.out

        shown = cli("retries", "show", first, "--json").json()
        assert (shown["id"], shown["attempts"], shown["phase"]) == (first, 1, "base")
        assert "job r-1 fails attempt 1" in cli("retries", "show", first).out

        now = cli("retries", "now", first, "--json")
        assert now.code == 0, now.err
        assert now.json()["granted"] is True, now.out
        wait_until(
            lambda: (
                rows(daemon.db, "SELECT attempts FROM messages WHERE id = ?", first) == [(2,)]
                and rows(daemon.db, "SELECT state FROM messages WHERE id = ?", first)
                == [("scheduled",)]
            ),
            "the early retry ran and failed",
        )
        again = cli("retry", "early", "acct", "r-1")
        assert again.code == 0
        assert "early retry not granted" in again.out  # once per cycle

        record = cli("retry", "show", "acct", "r-1", "--json").json()
        assert record["attempt_count"] == 2
        assert record["early_retry_used"] is True
        assert "attempt_count" in cli("retry", "show", "acct", "r-1").out

        killed = cli("retries", "kill", second, "--json")
        assert killed.code == 0, killed.err
        dead_letter = killed.json()["dead_letter_id"]
        assert rows(daemon.db, "SELECT reason FROM dead_letters WHERE id = ?", dead_letter) == [
            ("killed",)
        ]

        deleted = cli("retries", "delete", third)
        assert deleted.code == 0
        assert f"deleted scheduled message {third}" in deleted.out
        assert rows(daemon.db, "SELECT id FROM messages WHERE id = ?", third) == []
        gone = cli("retries", "show", third)
        assert gone.code == 5
        assert "scheduled_not_found" in gone.err
        assert "actorgrid retries list" in gone.err

        reset = cli("retry", "reset", "acct", "r-1", "--json")
        assert reset.code == 0
        assert reset.json() == {"reset": ["acct", "r-1"]}
        cleared = cli("retry", "show", "acct", "r-1", "--json").json()
        assert (cleared["attempt_count"], cleared["early_retry_used"]) == (0, False)
        unknown = cli("retry", "show", "acct", "never-failed")
        assert unknown.code == 5
        assert "retry_record_not_found" in unknown.err


class TestDeadLetters:
    def test_list_show_replay_jobs_purge(self, cli: Callable[..., Ran], daemon: Daemon) -> None:
        """A killed message's dead letter is listed, shown, replayed alone, replayed again by
        a filter in a job followed to its end, and purged by the same filter."""
        message_id = scheduled(cli, daemon, "d-1", "dlq:d-1")
        dead = cli("retries", "kill", message_id, "--json").json()["dead_letter_id"]

        listed = cli("dlq", "list", "--target-id", "d-1", "--reason", "killed", "--json").json()
        assert [item["id"] for item in listed["items"]] == [dead]
        table = cli("dlq", "list", "--q", "d-1 fails")
        assert dead in table.out
        assert "killed" in table.out

        shown = cli("dlq", "show", dead, "--json").json()
        assert shown["entry"]["reason"] == "killed"
        assert shown["payload"]["name"] == "d-1"
        assert "entry.retry_record.attempt_count" in cli("dlq", "show", dead).out

        replayed = cli("dlq", "replay", dead, "--json").json()
        assert replayed["already"] is False
        wait_state(daemon, replayed["message_id"], "scheduled")  # it fails again
        dead_again = cli("retries", "kill", replayed["message_id"], "--json").json()

        job = cli("dlq", "replay", "--target-id", "d-1", "--json")
        assert job.code == 0, job.err
        done = job.json()
        assert done["state"] == "done"
        assert done["total"] == 2
        assert (done["replayed"], done["already"]) == (1, 1)  # the first was replayed before
        jobs = cli("jobs", "list", "--json").json()["items"]
        assert done["id"] in [j["id"] for j in jobs]
        assert cli("jobs", "show", done["id"], "--json").json()["state"] == "done"
        assert dead_again["dead_letter_id"] != dead

        purged = cli("dlq", "purge", "--target-id", "d-1", "--json")
        assert purged.code == 0
        assert purged.json() == {"deleted": 2}
        assert "purge dead letters" in purged.err  # the progress bar, page by page
        assert rows(daemon.db, "SELECT id FROM dead_letters WHERE target_id = 'd-1'") == []
        assert "no dead letters" in cli("dlq", "list", "--target-id", "d-1").out


class TestChunksAndPatterns:
    def test_add_search_delete(
        self, cli: Callable[..., Ran], daemon: Daemon, tmp_path: Path
    ) -> None:
        """One chunk from the command line, 1,200 from a file in batches; search finds the
        one; delete removes it (a second delete: not found)."""
        text = "Payment gateway timeout: wait for the gateway to recover, then retry"
        added = cli("chunks", "add", text, "--source", "runbook", "--json")
        assert added.code == 0, added.err
        (chunk_id,) = added.json()["ids"]

        path = tmp_path / "chunks.jsonl"
        lines = [json.dumps({"text": f"disk {i} of host {i} is full"}) for i in range(1200)]
        path.write_text("\n".join(lines), encoding="utf-8")
        many = cli("chunks", "add", "-f", str(path), "--source", "generated", "--batch-size", "500")
        assert many.code == 0, many.err
        assert "added 1200 chunks" in many.out
        count = rows(daemon.db, "SELECT count(*) FROM reference_chunks WHERE source = 'generated'")
        assert count == [(1200,)]

        found = cli("chunks", "search", "gateway timeout", "--k", "1", "--json").json()["items"]
        assert [f["chunk_id"] for f in found] == [chunk_id]
        assert "Payment gateway timeout" in cli("chunks", "search", "gateway timeout").out

        assert cli("chunks", "delete", str(chunk_id)).code == 0
        assert cli("chunks", "delete", str(chunk_id)).code == 5

    def test_patterns(self, cli: Callable[..., Ran], daemon: Daemon) -> None:
        """Failures with the same error text become a recurring pattern naming their targets."""
        for i in range(3):
            scheduled(cli, daemon, "same", f"pattern:p-{i}")

        def found() -> bool:
            items = cli("patterns", "--json").json()["items"]
            return any("pattern:p-2" in p["targets"] for p in items)

        wait_until(found, "a recurring pattern of the three failures")
        table = cli("patterns")
        assert table.code == 0
        assert "pattern:p-" in table.out


class TestAlerts:
    def test_alerts_all_and_firing(self, cli: Callable[..., Ran], daemon: Daemon) -> None:
        """``--all`` lists the six alerts of the daemon's monitor, each evaluated; without it
        only the firing ones; the table names each alert with its state."""

        def every() -> list[dict[str, object]]:
            ran = cli("alerts", "--all", "--json")
            assert ran.code == 0, ran.err
            items: list[dict[str, object]] = ran.json()["items"]
            return items

        wait_until(
            lambda: all(not str(a["summary"]).startswith("not evaluated") for a in every()),
            "the monitor's first evaluation",
        )
        found = every()
        assert [a["name"] for a in found] == [
            "retry_rate",
            "dead_letters",
            "writer_lag",
            "gate_restarts",
            "broker_restarts",
            "not_ready",
        ]
        firing = cli("alerts", "--json")
        assert firing.code == 0
        assert firing.json()["items"] == [a for a in every() if a["state"] == "firing"]
        table = cli("alerts", "--all")
        assert table.code == 0
        rows = {line.split()[1]: line for line in table.out.splitlines() if "_" in line}
        for item in found:
            assert str(item["name"]) in rows
            assert f" {item['state']} " in rows[str(item["name"])]


class TestAnalytics:
    def test_analytics_table_and_json(self, cli: Callable[..., Ran], daemon: Daemon) -> None:
        """A handled and a failing message show in the last hour's analytics."""
        ran = cli("publish", "jobs", '{"name": "counted"}', "--json")
        wait_state(daemon, ran.json()["id"], "done")
        scheduled(cli, daemon, "analytics", "analytics:a-1")
        answer = cli("analytics", "--since", "1h", "--topic", "jobs", "--json")
        assert answer.code == 0, answer.err
        body = answer.json()
        assert set(body["topics"]) == {"jobs"}
        assert body["bucket"] == 60
        assert sum(body["topics"]["jobs"]["published"]) >= 2
        assert sum(body["topics"]["jobs"]["failed"]) >= 1
        assert body["figures"]["attempts"] >= 2
        assert any(e["count"] >= 1 for e in body["figures"]["top_errors"])
        table = cli("analytics", "--since", "30m")
        assert table.code == 0, table.err
        assert "jobs" in table.out
        assert "retry rate" in table.out
        assert "time to success" in table.out
        hours = cli("analytics", "--since", "3d", "--json").json()
        assert hours["bucket"] == 3600

    def test_a_bad_duration_is_a_usage_error(self, cli: Callable[..., Ran]) -> None:
        ran = cli("analytics", "--since", "soon")
        assert ran.code == 2
        assert "--since" in ran.err
        refused = cli("analytics", "--since", "1h", "--bucket", "300")
        assert refused.code == 6
        assert "bad_query" in refused.err or "60 or 3600" in refused.err
