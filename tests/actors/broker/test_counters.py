"""The per-topic counters the analytics read: the bound on error types, the raw slots."""

from __future__ import annotations

from actorgrid.actors.analytics import diff, read_counters
from actorgrid.actors.broker import OTHER_ERRORS, TopicCounters


def test_error_types_are_bounded_the_rest_count_as_other() -> None:
    counters = TopicCounters(max_error_types=2)
    for name in ("KeyError", "ValueError", "KeyError", "OSError", "TimeoutError", "ValueError"):
        counters.error(name)
    assert counters.errors == {"KeyError": 2, "ValueError": 2, OTHER_ERRORS: 2}


def test_a_reading_flattens_every_counter_and_a_diff_is_the_gain() -> None:
    c = TopicCounters()
    c.published = 3
    c.handled.observe(1500)  # bit length 11
    c.failed.observe(1500)
    c.retry_ok["base"] = 1
    c.retry_failed["revise"] = 2
    c.dead("exhausted")
    c.error("KeyError")
    c.to_success.observe(60_000)  # a minute in ms: bit length 16
    first = read_counters({"jobs": c})
    assert first == {
        ("jobs", "published"): 3,
        ("jobs", "handled"): 1,
        ("jobs", "failed"): 1,
        ("jobs", "retry_ok:base"): 1,
        ("jobs", "retry_failed:revise"): 2,
        ("jobs", "dead:exhausted"): 1,
        ("jobs", "error:KeyError"): 1,
        ("jobs", "latency:11"): 2,
        ("jobs", "tts:16"): 1,
    }
    c.published += 2
    c.error("KeyError")
    assert diff(read_counters({"jobs": c}), first) == {
        ("jobs", "published"): 2,
        ("jobs", "error:KeyError"): 1,
    }
