"""The Prometheus collector over a runtime's snapshot, read by prometheus-client's parser."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from actorgrid import FakeClock, KernelConfig, Runtime, RuntimeConfig, StorageSettings
from actorgrid.daemon import PHASES, REASONS, RuntimeCollector, render_metrics
from actorgrid.kernel.testing import wait_until


def families(text: bytes) -> dict[str, tuple[str, list[tuple[str, dict[str, str], float]]]]:
    """``{family name: (type, [(sample name, labels, value)])}``."""
    return {
        f.name: (f.type, [(s.name, s.labels, s.value) for s in f.samples])
        for f in text_string_to_metric_families(text.decode())
    }


def memory_runtime() -> Runtime:
    config = RuntimeConfig(
        kernel=KernelConfig(strict_messages=True), storage=StorageSettings(url=None)
    )
    return Runtime(config, clock=FakeClock())


class TestCollector:
    async def test_types_series_and_values(self) -> None:
        """Counters, gauges and histograms come out typed; every known phase and reason has
        a series at zero before it happens; without a database there is no writer."""
        rt = memory_runtime()
        registry = CollectorRegistry()
        registry.register(RuntimeCollector(rt))  # registering does not read the runtime
        assert families(generate_latest(registry)) == {}

        async def handler(payload: object, ctx: object) -> None:
            pass

        async with rt:
            rt.declare_topic("fast", durable=False)
            await rt.subscribe("fast", handler)
            for i in range(3):
                await rt.publish("fast", i)
            await wait_until(lambda: rt.statistics().acked == 3)
            found = families(generate_latest(registry))
            assert found == families(render_metrics(rt))
        types = {name: kind for name, (kind, _) in found.items()}
        assert types["actorgrid_messages_published"] == "counter"
        assert types["actorgrid_messages_queued"] == "gauge"
        assert types["actorgrid_handler_duration_seconds"] == "histogram"
        assert not any(name.startswith("actorgrid_writer") for name in found)

        retried = found["actorgrid_messages_retried"][1]
        assert [(labels["phase"], n) for _, labels, n in retried] == [(p, 0.0) for p in PHASES]
        dead = found["actorgrid_messages_dead_lettered"][1]
        assert [(labels["reason"], n) for _, labels, n in dead] == [(r, 0.0) for r in REASONS]

        published = found["actorgrid_messages_published"][1]
        assert published == [("actorgrid_messages_published_total", {"topic": "fast"}, 3.0)]
        buckets = [
            (labels["le"], n)
            for name, labels, n in found["actorgrid_handler_duration_seconds"][1]
            if name.endswith("_bucket") and labels["outcome"] == "handled"
        ]
        assert buckets[-1] == ("+Inf", 3.0)
        counts = [n for _, n in buckets]
        assert counts == sorted(counts)  # cumulative
        assert [float(le) for le, _ in buckets] == sorted(float(le) for le, _ in buckets)

    async def test_the_tree_and_the_readiness(self) -> None:
        """Restarts and mailbox depths by actor below the root while the tree runs (none
        after the stop); ``actorgrid_ready`` only when the readiness is given."""
        rt = memory_runtime()
        async with rt:
            found = families(render_metrics(rt))
            assert "actorgrid_ready" not in found
            restarts = {labels["actor"]: n for _, labels, n in found["actorgrid_actor_restarts"][1]}
            assert {"retry-gate", "dead-letters", "broker", "subscriptions"} <= set(restarts)
            assert "root" not in restarts
            assert set(restarts.values()) == {0.0}
            assert found["actorgrid_actor_restarts"][0] == "counter"
            depths = {
                labels["actor"] for _, labels, _n in found["actorgrid_actor_mailbox_depth"][1]
            }
            assert "broker" in depths
            assert "subscriptions" not in depths  # a supervisor has no mailbox
            ready = families(render_metrics(rt, ready=True))["actorgrid_ready"]
            assert ready == ("gauge", [("actorgrid_ready", {}, 1.0)])
        after = families(render_metrics(rt, ready=False))
        assert after["actorgrid_ready"][1] == [("actorgrid_ready", {}, 0.0)]
        assert after["actorgrid_actor_restarts"][1] == []


class TestPatternNotes:
    async def test_dropped_failure_notes_are_a_counter(self) -> None:
        """The notes the pattern engine never indexed are exported, at zero until one is;
        the runtime's count is the engine's shed notes plus the broker's refused ones."""
        rt = memory_runtime()
        async with rt:
            found = families(render_metrics(rt))
            assert found["actorgrid_pattern_notes_dropped"] == (
                "counter",
                [("actorgrid_pattern_notes_dropped_total", {}, 0.0)],
            )
            rt._pattern_counters.notes_shed += 2  # as the engine counts a shed note
            assert rt._core is not None
            rt._core.pattern_notes_dropped += 1  # as the broker counts a refused one
            assert rt.metrics().pattern_notes_dropped == 3
            found = families(render_metrics(rt))
        assert found["actorgrid_pattern_notes_dropped"][1] == [
            ("actorgrid_pattern_notes_dropped_total", {}, 3.0)
        ]
