"""``GET /v1/analytics``: the report as JSON, its defaults, and 400 ``bad_query``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio
import pytest

if TYPE_CHECKING:
    from actorgrid import DeliveryContext

    from .conftest import Served

T0 = 1_767_225_600.0
"""Where the API tests' fake clock stands."""


async def test_the_report_has_the_contract_shape(served: Served) -> None:
    """A failure and a success show in the last hour's report (the default range)."""

    async def handler(payload: Any, ctx: DeliveryContext) -> None:
        if payload == "bad":
            raise KeyError("missing")

    await served.rt.subscribe("free", handler)
    for payload in ("ok", "bad"):
        await served.rt.publish("free", payload)
    with anyio.fail_after(10):
        while served.rt.statistics().failed < 1:  # noqa: ASYNC110 - polled counter
            await anyio.sleep(0.01)
    served.clock.advance(30)  # half a minute on: the current minute is the 61st bucket
    answer = await served.client.get("/v1/analytics")
    assert answer.status_code == 200
    body = answer.json()
    assert set(body) == {"since", "until", "bucket", "buckets", "topics", "total", "figures"}
    assert (body["since"], body["until"], body["bucket"]) == (T0 + 30 - 3600, T0 + 30, 60)
    assert len(body["buckets"]) == 61
    assert body["buckets"][-1] == T0
    assert body["total"]["published"][-1] == 2
    series = body["topics"]["free"]
    assert set(series) == {
        "published",
        "handled",
        "failed",
        "retries",
        "dead_letters",
        "latency_p50",
        "latency_p99",
        "retry_rate",
    }
    assert set(series["retries"]) == {"base", "early", "revise"}
    figures = body["figures"]
    assert set(figures) == {
        "attempts",
        "retries",
        "retry_rate",
        "early",
        "revise",
        "time_to_success",
        "dead_letters",
        "top_errors",
    }
    now = await served.client.get(
        "/v1/analytics", params={"since": T0, "until": T0 + 60, "topic": ["free", "orders"]}
    )
    body = now.json()
    assert set(body["topics"]) == {"free", "orders"}
    assert body["topics"]["free"]["published"] == [2]
    assert body["topics"]["free"]["failed"] == [1]
    assert body["figures"]["top_errors"] == [{"error_type": "KeyError", "count": 1}]
    assert body["figures"]["attempts"] == 2
    assert body["figures"]["dead_letters"] == {"filed": 0, "per_hour": 0.0}


async def test_hour_buckets_on_request(served: Served) -> None:
    answer = await served.client.get(
        "/v1/analytics", params={"since": T0 - 86400, "until": T0, "bucket": 3600}
    )
    assert answer.status_code == 200
    assert len(answer.json()["buckets"]) == 24


@pytest.mark.parametrize(
    ("params", "kind"),
    [
        ({"since": T0, "until": T0}, "bad_query"),
        ({"since": T0, "until": T0 - 60}, "bad_query"),
        ({"since": T0, "until": T0 + 60, "bucket": 300}, "bad_query"),
        ({"since": 0, "until": T0, "bucket": 60}, "bad_query"),
        ({"since": "yesterday"}, "bad_request"),
        ({"bucket": 30}, "bad_request"),
        ({"since": -1}, "bad_request"),
        ({"topic": ""}, "bad_query"),
    ],
)
async def test_a_bad_query_is_a_400(served: Served, params: dict[str, Any], kind: str) -> None:
    """The runtime's ``AnalyticsQueryError`` is ``bad_query``; a value the parameter's own
    bounds refuse is Litestar's ``bad_request``."""
    answer = await served.client.get("/v1/analytics", params=params)
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["error"] == kind
    assert body["detail"]


async def test_the_route_is_in_the_openapi_document(served: Served) -> None:
    document = (await served.client.get("/schema/openapi.json")).json()
    operation = document["paths"]["/v1/analytics"]["get"]
    assert {"200", "400"} <= set(operation["responses"])
    assert {p["name"] for p in operation["parameters"]} == {"since", "until", "bucket", "topic"}
