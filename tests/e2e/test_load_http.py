"""``python -m bench.load --url``: the load tool against a real daemon process over HTTP."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from bench.load._options import LoadOptions
from bench.load._run import run_load

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Daemon

pytestmark = pytest.mark.anyio

_LOAD_APP = {"ACTORGRID_DAEMON__APP": "bench.load.app:app"}


async def test_open_loop_over_http_counts_what_the_daemon_handled(
    start: Callable[..., Daemon], tmp_path: Path
) -> None:
    """200 messages at 400/s, a tenth failing once: the tool reports what it sent, the
    daemon's broker counts exactly those handled, and the retries ran in the base phase."""
    daemon = start(env=_LOAD_APP).started()
    options = LoadOptions(
        url=daemon.url,
        token=daemon.token(),
        rate=400.0,
        duration=None,
        count=200,
        fail_rate=0.1,
        drain=30.0,
        out=tmp_path,
        progress=False,
    )
    result = await run_load(options)
    rec = result.recorder
    assert result.mode == "http"
    assert result.settled
    assert rec.sent == 200
    assert rec.dropped == 0
    assert result.handled_seen == 200
    assert result.failing > 0
    with daemon.client() as client:
        status = client.get("/v1/status").json()
    (topic,) = [t for t in status["topics"] if t["name"] == "load"]
    assert topic["handled"] == 200
    assert topic["failed"] == result.failing
    assert topic["retried"] == {"base": result.failing}
    assert daemon.stop() == 0


async def test_a_wrong_token_is_reported_not_counted(
    start: Callable[..., Daemon], tmp_path: Path
) -> None:
    """Every publish refused (401): counted as dropped with the refusal, nothing stored."""
    daemon = start(env=_LOAD_APP).started()
    options = LoadOptions(
        url=daemon.url,
        token="not-the-token",
        rate=200.0,
        duration=None,
        count=20,
        drain=5.0,
        out=tmp_path,
        progress=False,
    )
    result = await run_load(options)
    rec = result.recorder
    assert rec.dropped == 20
    assert rec.handled == 0
    assert sum(rec.errors.values()) == 20
    assert all("401" in reason for reason in rec.errors), rec.errors
    with daemon.client() as client:
        status = client.get("/v1/status").json()
    (topic,) = [t for t in status["topics"] if t["name"] == "load"]
    assert topic["published"] == 0
