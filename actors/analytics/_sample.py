"""Reading the broker's live counters as flat cumulative metrics, and diffing two readings.

The hot path only bumps ints (:class:`~actorgrid.actors.broker.TopicCounters`); this runs
on the recorder's tick (and on a live query) and turns every topic's counters into
``{(topic, metric): total so far}``. The difference from the previous reading is what
happened in between. Metric names:

``published``, ``handled``, ``failed``
    publishes accepted, handler calls that returned, that raised;
``retry_ok:<phase>``, ``retry_failed:<phase>``
    retry attempts (``base``, ``early``, ``revise``) by outcome;
``dead:<reason>``
    dead letters filed, by reason;
``error:<type>``
    failed handler calls by exception type (bounded per topic, the rest ``other``);
``latency:<b>``
    handler calls (returned or raised) taking ``2**(b-1)`` to ``2**b - 1`` ns;
``tts:<b>``
    successes ``2**(b-1)`` to ``2**b - 1`` ms after the message's first failure.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ..broker import TopicCounters

__all__ = ("Reading", "diff", "read_counters")

Reading = dict[tuple[str, str], int]
"""``{(topic, metric): cumulative count}``."""


def read_counters(counters: Mapping[str, TopicCounters]) -> Reading:
    """Return every topic's counters as cumulative metrics (zero ones left out)."""
    out: Reading = {}
    for topic, c in list(counters.items()):
        handled = c.handled.slots()
        failed = c.failed.slots()
        if c.published:
            out[topic, "published"] = c.published
        n_handled, n_failed = sum(handled), sum(failed)
        if n_handled:
            out[topic, "handled"] = n_handled
        if n_failed:
            out[topic, "failed"] = n_failed
        for phase, n in c.retry_ok.items():
            out[topic, f"retry_ok:{phase}"] = n
        for phase, n in c.retry_failed.items():
            out[topic, f"retry_failed:{phase}"] = n
        for reason, n in c.dead_lettered.items():
            out[topic, f"dead:{reason}"] = n
        for kind, n in c.errors.items():
            out[topic, f"error:{kind}"] = n
        for b, (h, f) in enumerate(zip(handled, failed, strict=True)):
            if h or f:
                out[topic, f"latency:{b}"] = h + f
        for b, n in enumerate(c.to_success.slots()):
            if n:
                out[topic, f"tts:{b}"] = n
    return out


def diff(now: Reading, before: Mapping[tuple[str, str], int]) -> Reading:
    """What ``now`` counts beyond ``before`` (counters only grow; a key new in ``now``
    counts whole)."""
    out: Reading = {}
    for key, n in now.items():
        d = n - before.get(key, 0)
        if d:
            out[key] = d
    return out
