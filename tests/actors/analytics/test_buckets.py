"""The bucket arithmetic against a recount of random event streams (hypothesis).

Every event is a count of one metric of one topic at one time. However the stream is cut
into flushes, the minute buckets of an hour sum to its hour bucket, and a range read of
either size equals a brute-force recount of the events whose bucket starts in the range.
"""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from actorgrid.actors.analytics import (
    HOUR,
    MINUTE,
    AnalyticsSettings,
    Buckets,
    bucket_start,
    build_report,
    percentile,
    plan_query,
)

T0 = 1_767_225_600.0
SPAN = 3 * 24 * 3600.0
TOPICS = ("orders", "mail", "raw")
METRICS = ("published", "handled", "failed", "retry_ok:base", "retry_failed:revise", "dead:x")

Event = tuple[float, str, str, int]

events_st = st.lists(
    st.tuples(
        st.floats(min_value=T0, max_value=T0 + SPAN, allow_nan=False),
        st.sampled_from(TOPICS),
        st.sampled_from(METRICS),
        st.integers(min_value=1, max_value=5),
    ),
    max_size=200,
)


def record(events: list[Event], cuts: list[int]) -> Buckets:
    """Add the events in flushes cut at ``cuts``, as the recorder does (pending, taken,
    merged into the store)."""
    store, pending = Buckets(), Buckets()
    for i, (at, topic, metric, n) in enumerate(events):
        pending.add(at, topic, metric, n)
        if i in cuts:
            store.merge(pending.take())
    store.merge(pending.take())
    return store


@settings(max_examples=150, deadline=None)
@given(events=events_st, cuts=st.lists(st.integers(0, 200), max_size=10))
def test_minutes_sum_to_their_hour(events: list[Event], cuts: list[int]) -> None:
    """The minute buckets of every hour add up to that hour's bucket, per topic and metric."""
    store = record(events, cuts)
    rolled: dict[tuple[float, str, str], int] = {}
    hours: dict[tuple[float, str, str], int] = {}
    for (size, start, topic, metric), n in store.items():
        key = (bucket_start(start, HOUR), topic, metric)
        target = rolled if size == MINUTE else hours
        target[key] = target.get(key, 0) + n
    assert rolled == hours
    assert sum(hours.values()) == sum(e[3] for e in events)


@settings(max_examples=150, deadline=None)
@given(
    events=events_st,
    cuts=st.lists(st.integers(0, 200), max_size=10),
    a=st.floats(min_value=T0 - 600, max_value=T0 + SPAN),
    length=st.floats(min_value=1.0, max_value=SPAN),
    size=st.sampled_from([MINUTE, HOUR]),
    topics=st.none() | st.sets(st.sampled_from(TOPICS), min_size=1).map(sorted),
)
def test_any_range_equals_a_recount(
    events: list[Event],
    cuts: list[int],
    a: float,
    length: float,
    size: int,
    topics: list[str] | None,
) -> None:
    """A report over any range and bucket size counts exactly the events whose bucket starts
    in the range, per bucket, per topic and in total."""
    store = record(events, cuts)
    since, until = a, a + length
    config = AnalyticsSettings(max_points=10**6)
    got_size, first, points = plan_query(since, until, size, config, now=T0)
    assert got_size == size
    end = first + points * size
    report = build_report(
        store.select(size, first, end, topics),
        since=since,
        until=until,
        size=size,
        first=first,
        points=points,
        topics=topics,
    )
    assert report.buckets == [first + i * size for i in range(points)]
    assert report.buckets[0] <= since < report.buckets[0] + size
    assert report.buckets[-1] < until <= report.buckets[-1] + size

    def recount(metric: str, topic: str | None) -> list[int]:
        counts = [0] * points
        for at, t, m, n in events:
            if m != metric or (topic is not None and t != topic):
                continue
            if topics is not None and t not in topics:
                continue
            i = int((bucket_start(at, size) - first) // size)
            if 0 <= i < points:
                counts[i] += n
        return counts

    for metric in ("published", "handled", "failed"):
        assert getattr(report.total, metric) == recount(metric, None)
        for topic, series in report.topics.items():
            assert getattr(series, metric) == recount(metric, topic)
    assert report.total.retries.base == recount("retry_ok:base", None)
    assert report.total.retries.revise == recount("retry_failed:revise", None)
    assert report.total.dead_letters.get("x", [0] * points) == recount("dead:x", None)
    attempts = sum(recount("handled", None)) + sum(recount("failed", None))
    assert report.figures.attempts == attempts
    retries = sum(recount("retry_ok:base", None)) + sum(recount("retry_failed:revise", None))
    assert report.figures.retries == retries
    if topics is not None:
        assert set(report.topics) == set(topics)


@settings(max_examples=200, deadline=None)
@given(
    values=st.lists(st.integers(min_value=0, max_value=2**40), min_size=1, max_size=300),
    q=st.sampled_from([0.5, 0.9, 0.99]),
)
def test_a_percentile_lies_in_the_slot_of_the_true_one(values: list[int], q: float) -> None:
    """Read from bit-length slots, a quantile is within the slot of the exact one."""
    slots = [0] * 65
    for v in values:
        slots[v.bit_length()] += 1
    got = percentile(slots, q, 1.0)
    assert got is not None
    exact = sorted(values)[max(0, math.ceil(q * len(values)) - 1)]
    b = exact.bit_length()
    low, high = (0, 0) if b == 0 else (1 << (b - 1), (1 << b) - 1)
    assert low <= got <= high


def test_no_values_have_no_percentile() -> None:
    assert percentile([0] * 65, 0.5, 1.0) is None


def test_prune_forgets_one_size_before_a_cutoff() -> None:
    store = Buckets()
    store.add(T0, "a", "published", 1)
    store.add(T0 + 2 * HOUR, "a", "published", 2)
    assert store.prune(MINUTE, T0 + HOUR) == 1
    assert {(k[0], k[1]) for k, _ in store.items()} == {
        (HOUR, T0),
        (MINUTE, T0 + 2 * HOUR),
        (HOUR, T0 + 2 * HOUR),
    }
