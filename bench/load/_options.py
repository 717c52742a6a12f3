"""The command line of ``python -m bench.load``, parsed into :class:`LoadOptions`."""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

__all__ = ("DEFAULT_APP", "LoadOptions", "parse_options")

DEFAULT_APP: Final = "bench.load.app:app"


@dataclass(frozen=True, slots=True)
class LoadOptions:
    """One load run.

    Exactly one of ``rate`` (open loop) and ``concurrency`` (closed loop) is set, and one of
    ``duration`` and ``count`` bounds the sending.
    """

    app: str = DEFAULT_APP
    """``package.module:attribute`` of the :class:`actorgrid.App` driven embedded."""
    url: str | None = None
    """The daemon to drive over HTTP instead (``http://127.0.0.1:8765``)."""
    token: str | None = None
    """The daemon's bearer token."""
    rate: float | None = 1000.0
    """Open loop: messages per second, sent at their intended times whatever happens."""
    concurrency: int | None = None
    """Closed loop: messages outstanding at once (until handled; over HTTP, until stored)."""
    duration: float | None = 10.0
    """Seconds of sending."""
    count: int | None = None
    """Messages to send."""
    topics: tuple[str, ...] = ()
    """Topics, in turn (default: the app's first topic, ``load`` over HTTP)."""
    payload_bytes: tuple[int, ...] = (100,)
    """Padding of the load payloads, in turn."""
    payload: str | None = None
    """``package.module:function`` building a payload from its sequence number (for apps
    whose topics take their own payload type); default: a :class:`LoadPayload`."""
    fail_rate: float = 0.0
    """Share of messages whose first attempt raises (the retry succeeds)."""
    work_ms: float = 0.0
    """Time the load handler works per attempt."""
    stall_at: int | None = None
    """Sequence number of the message whose first attempt stalls for ``stall_ms``."""
    stall_ms: float = 0.0
    retry_wait: float = 0.2
    """Seconds before a failed message's retry (embedded runtime only)."""
    patterns: bool = False
    """Run the embedded runtime's pattern engine (off: the figures are the broker's)."""
    db: Path | None = None
    """The SQLite file of the embedded runtime (default: one in a temporary directory)."""
    drain: float = 30.0
    """Seconds to wait, after the last send, for every message to be handled."""
    late_ms: float = 10.0
    """A send this much after its intended time counts as late."""
    max_outstanding: int = 20_000
    """Open loop: sends in progress at once; one more is dropped."""
    out: Path = field(default_factory=lambda: Path("bench/results/load"))
    """Directory of the JSON file, the ``.hlog`` and the PNG plots."""
    name: str = "load"
    """Stem of the files written."""
    progress: bool = True
    """Print a live progress line every second."""
    seed: int = 1
    """Seed of the failure injection."""


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not > 0")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not > 0")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text} is not between 0 and 1")
    return value


def parse_options(argv: Sequence[str] | None = None) -> LoadOptions:
    """Parse the command line (``argv`` without the program name; default ``sys.argv``)."""
    p = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="Drive an actorgrid app (embedded) or daemon (HTTP) with load; report "
        "HDR latency percentiles, rates, retries, dead letters and writer lag.",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--app", default=DEFAULT_APP, help="package.module:app (embedded)")
    where.add_argument("--url", help="a running daemon, e.g. http://127.0.0.1:8765")
    p.add_argument("--token", help="the daemon's bearer token")
    p.add_argument("--token-file", type=Path, help="a file holding the daemon's token")
    model = p.add_mutually_exclusive_group()
    model.add_argument("--rate", type=_positive_float, help="open loop, msgs/s (default 1000)")
    model.add_argument("--concurrency", type=_positive_int, help="closed loop, outstanding")
    bound = p.add_mutually_exclusive_group()
    bound.add_argument("--duration", type=_positive_float, help="seconds (default 10)")
    bound.add_argument("--count", type=_positive_int, help="messages")
    p.add_argument("--topic", action="append", default=[], help="a topic (repeatable)")
    p.add_argument(
        "--payload-bytes", action="append", type=int, default=[], help="padding (repeatable)"
    )
    p.add_argument("--payload", help="package.module:function(seq) building the payloads")
    p.add_argument("--fail-rate", type=_share, default=0.0, help="share failing once")
    p.add_argument("--work-ms", type=float, default=0.0, help="handler work per attempt")
    p.add_argument("--stall-at", type=int, help="the message whose handler stalls")
    p.add_argument("--stall-ms", type=float, default=0.0, help="how long it stalls")
    p.add_argument("--retry-wait", type=_positive_float, default=0.2, help="seconds")
    p.add_argument("--patterns", action="store_true", help="embedded: pattern engine on")
    p.add_argument("--db", type=Path, help="SQLite file of the embedded runtime")
    p.add_argument("--drain", type=_positive_float, default=30.0, help="seconds")
    p.add_argument("--late-ms", type=float, default=10.0, help="lateness of a late send")
    p.add_argument("--max-outstanding", type=_positive_int, default=20_000)
    p.add_argument("--out", type=Path, default=Path("bench/results/load"))
    p.add_argument("--name", default="load", help="stem of the files written")
    p.add_argument("--no-progress", action="store_true", help="no live progress line")
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    token: str | None = a.token
    if token is None and a.token_file is not None:
        token = a.token_file.read_text().strip()
    rate = a.rate if a.rate is not None or a.concurrency is not None else 1000.0
    duration = a.duration if a.duration is not None or a.count is not None else 10.0
    return LoadOptions(
        app=a.app,
        url=a.url,
        token=token,
        rate=rate,
        concurrency=a.concurrency,
        duration=duration,
        count=a.count,
        topics=tuple(a.topic),
        payload_bytes=tuple(a.payload_bytes) or (100,),
        payload=a.payload,
        fail_rate=a.fail_rate,
        work_ms=a.work_ms,
        stall_at=a.stall_at,
        stall_ms=a.stall_ms,
        retry_wait=a.retry_wait,
        patterns=a.patterns,
        db=a.db,
        drain=a.drain,
        late_ms=a.late_ms,
        max_outstanding=a.max_outstanding,
        out=a.out,
        name=a.name,
        progress=not a.no_progress,
        seed=a.seed,
    )
