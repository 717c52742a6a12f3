"""``actorgrid analytics``: the retry analytics of a recent range, as tables or JSON."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ._command import call_daemon
from ._filters import parse_duration
from ._options import ClientOptions  # noqa: TC001 - cyclopts reads annotations
from ._output import Column

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._client import DaemonClient
    from ._output import Output

__all__ = ("analytics",)


def _share(value: object) -> str:
    return "" if not isinstance(value, int | float) else f"{value:.1%}"


def _seconds(value: object) -> str:
    if not isinstance(value, int | float):
        return ""
    if value < 1:
        return f"{value * 1000:.1f} ms"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


_TOPICS = (
    Column("topic", "topic", no_wrap=True),
    Column("published", "published"),
    Column("handled", "handled"),
    Column("failed", "failed"),
    Column("retries", "retries"),
    Column("base", "base"),
    Column("early", "early"),
    Column("revise", "revise"),
    Column("retry rate", "retry_rate", _share),
    Column("dead letters", "dead_letters"),
)


def _row(topic: str, series: Mapping[str, Any]) -> dict[str, Any]:
    retries = series["retries"]
    by_phase = {phase: sum(retries[phase]) for phase in ("base", "early", "revise")}
    handled, failed = sum(series["handled"]), sum(series["failed"])
    total = sum(by_phase.values())
    return {
        "topic": topic,
        "published": sum(series["published"]),
        "handled": handled,
        "failed": failed,
        "retries": total,
        **by_phase,
        "retry_rate": total / (handled + failed) if handled + failed else None,
        "dead_letters": sum(sum(v) for v in series["dead_letters"].values()),
    }


def _figures(f: Mapping[str, Any]) -> dict[str, str]:
    tts = f["time_to_success"]
    dead = f["dead_letters"]
    early, revise = f["early"], f["revise"]
    return {
        "attempts": str(f["attempts"]),
        "retries": str(f["retries"]),
        "retry rate": _share(f["retry_rate"]),
        "early retries succeeded": f"{early['succeeded']}/{early['attempts']} "
        f"{_share(early['rate'])}".rstrip(),
        "revise attempts succeeded": f"{revise['succeeded']}/{revise['attempts']} "
        f"{_share(revise['rate'])}".rstrip(),
        "time to success": (
            f"{tts['count']} recovered; p50 {_seconds(tts['p50'])}, p90 {_seconds(tts['p90'])}, "
            f"p99 {_seconds(tts['p99'])}"
            if tts["count"]
            else "none recovered"
        ),
        "dead letters filed": f"{dead['filed']} ({dead['per_hour']:.2f}/h)",
        "top errors": ", ".join(f"{e['error_type']} {e['count']}" for e in f["top_errors"])
        or "none",
    }


def analytics(
    *,
    since: str = "1h",
    topic: list[str] | None = None,
    bucket: int | None = None,
    options: ClientOptions | None = None,
) -> int:
    """Retry analytics over the last --since (GET /v1/analytics): per topic, published,
    handled, failed, retries by phase, the retry rate and dead letters; then the figures
    (retry rate, early and revise effectiveness, time to success, dead-letter growth, top
    error types). docs/analytics.md defines each.

    Args:
        since: how far back, a duration like 90, 30m, 12h or 7d.
        topic: only this topic (repeat for more).
        bucket: 60 or 3600 seconds per bucket (the JSON's series; default: chosen).
    """

    def show(client: DaemonClient, out: Output) -> None:
        seconds = parse_duration(since, "--since")
        now = time.time()
        answer = client.get(
            "/v1/analytics", since=now - seconds, until=now, bucket=bucket, topic=topic
        )

        def people() -> None:
            rows = [_row(name, series) for name, series in answer["topics"].items()]
            out.table(rows, _TOPICS, title=f"the last {since}", empty="no topic counted anything")
            out.record(_figures(answer["figures"]), title="figures")

        out.result(answer, people)

    return call_daemon(options, show)
