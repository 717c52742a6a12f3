"""``actorgrid dlq``: the dead letters (list, show, replay, purge)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import cyclopts

from ._command import call_daemon
from ._errors import UsageProblem, report
from ._filters import DeadLetterFilters, parse_duration
from ._jobs import follow_job, show_job
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations
from ._output import Column, progress_bar, relative, short, target_text

if TYPE_CHECKING:
    from ._client import DaemonClient
    from ._output import Output

__all__ = ("dlq",)

dlq = cyclopts.App(
    name="dlq",
    help="Dead letters: list, show, replay, purge.",
    help_format="plaintext",
)

_COLUMNS = (
    Column("id", "id", no_wrap=True),
    Column("topic", "topic"),
    Column("target", "target"),
    Column("reason", "reason"),
    Column("error", "error", short(60)),
    Column("attempts", "attempts"),
    Column("filed", "created_at", relative),
    Column("replayed as", "replay_message_id", no_wrap=True),
)
_TIMES = (
    "entry.created_at",
    "entry.replayed_at",
    "entry.envelope.created_at",
    "entry.retry_record.last_attempt_at",
    "entry.retry_record.last_success_at",
    "entry.retry_record.next_allowed_at",
    "entry.retry_record.last_explicit_early_granted_at",
    "entry.retry_record.updated_at",
)


def _path(dead_letter_id: str, action: str = "") -> str:
    return f"/v1/dead-letters/{quote(dead_letter_id, safe='')}{action}"


def _error(item: dict[str, Any]) -> str:
    kind, message = item.get("error_type"), item.get("error_message")
    return ": ".join(str(part) for part in (kind, message) if part)


@dlq.command(name="list")
def list_(
    *,
    filters: DeadLetterFilters | None = None,
    limit: int = 50,
    cursor: str | None = None,
    options: ClientOptions | None = None,
) -> int:
    """List the dead letters, newest first, filtered (--q searches the error text).

    Args:
        limit: at most this many (1 to 1000).
        cursor: the page after the one that printed it.
    """

    def run(client: DaemonClient, out: Output) -> None:
        chosen = (filters or DeadLetterFilters()).values()
        answer = client.get("/v1/dead-letters", **chosen, limit=limit, cursor=cursor)

        def people() -> None:
            items = [
                item | {"target": target_text(item), "error": _error(item)}
                for item in answer["items"]
            ]
            out.table(items, _COLUMNS, empty="no dead letters")
            if answer.get("total") is not None:
                out.line(f"{answer['total']} dead letters match")
            out.next_page(answer)

        out.result(answer, people)

    return call_daemon(options, run)


@dlq.command
def show(dead_letter_id: str, /, *, options: ClientOptions | None = None) -> int:
    """Show one dead letter: its envelope, payload, error, traceback and retry record.

    Args:
        dead_letter_id: the dead letter's id (from `actorgrid dlq list`).
    """

    def run(client: DaemonClient, out: Output) -> None:
        answer = client.get(_path(dead_letter_id))
        out.result(
            answer,
            lambda: out.record(
                answer, title="dead letter", times=_TIMES, long=("entry.traceback",)
            ),
        )

    return call_daemon(options, run)


@dlq.command
def replay(
    dead_letter_id: str | None = None,
    /,
    *,
    filters: DeadLetterFilters | None = None,
    everything: bool = False,
    rate: float | None = None,
    wait: bool = True,
    options: ClientOptions | None = None,
) -> int:
    """Replay one dead letter, or the ones a filter selects (or --everything) in a
    background job on the daemon, followed with a progress bar.

    A replayed message goes back to its topic with a fresh retry cycle; a dead letter is
    replayed once (replaying it again reports its first replay). Ctrl-C while following a
    job cancels it: what was replayed stays replayed. Exit 0 when the job is done, 1 when it
    failed or was cancelled.

    Args:
        dead_letter_id: replay this one only (no filters then).
        everything: replay every dead letter.
        rate: at most this many replays per second.
        wait: follow the job until it ends (--no-wait: print the job and return).
    """
    chosen = filters or DeadLetterFilters()

    def one(client: DaemonClient, out: Output) -> None:
        assert dead_letter_id is not None
        answer = client.post(_path(dead_letter_id, "/replay"))
        again = " (replayed before; nothing published again)" if answer.get("already") else ""
        out.result(
            answer,
            lambda: out.line(f"replayed {dead_letter_id} as message {answer['message_id']}{again}"),
        )

    def many(client: DaemonClient, out: Output) -> int:
        body: dict[str, Any] = dict(chosen.values())
        if everything:
            body["everything"] = True
        if rate is not None:
            body["rate"] = rate
        job = client.post("/v1/dead-letters/replay", body)
        if not wait:
            out.result(job, lambda: show_job(out, job))
            return 0
        return follow_job(client, out, job)

    if dead_letter_id is not None:
        if everything or rate is not None or chosen != DeadLetterFilters():
            return report(UsageProblem("give a dead letter's id or filters, not both"))
        return call_daemon(options, one)
    return call_daemon(options, many)


_PURGE_PAGE = 500
"""Dead letters one purge request deletes (the bar advances per page)."""


@dlq.command
def purge(
    *,
    filters: DeadLetterFilters | None = None,
    older_than: str | None = None,
    everything: bool = False,
    options: ClientOptions | None = None,
) -> int:
    """Delete dead letters for good: the ones the filters select, or --everything.

    Args:
        older_than: only those filed longer ago than this (90, 30m, 12h, 7d).
        everything: delete every dead letter.
    """

    try:
        chosen: dict[str, Any] = dict((filters or DeadLetterFilters()).values())
        if older_than is not None:
            cutoff = time.time() - parse_duration(older_than, "--older-than")
            until = chosen.get("until")
            chosen["until"] = cutoff if until is None else min(cutoff, until)
    except UsageProblem as exc:
        return report(exc)
    given = any(v is not None for v in chosen.values())
    if not everything and not given:
        return report(UsageProblem("give filters, --older-than or --everything"))
    if everything and given:
        return report(UsageProblem("give filters or --everything, not both"))

    def run(client: DaemonClient, out: Output) -> None:
        # Page by page: list a page of the selection, purge it by id, with a bar.
        page = client.get("/v1/dead-letters", **chosen, limit=_PURGE_PAGE)
        deleted = 0
        with progress_bar() as bar:
            task = bar.add_task("purge dead letters", total=page["total"])
            while page["items"]:
                ids = [item["id"] for item in page["items"]]
                deleted += client.post("/v1/dead-letters/purge", {"ids": ids})["deleted"]
                bar.advance(task, len(ids))
                page = client.get("/v1/dead-letters", **chosen, limit=_PURGE_PAGE)
        answer = {"deleted": deleted}
        out.result(answer, lambda: out.line(f"purged {deleted} dead letters"))

    return call_daemon(options, run)
