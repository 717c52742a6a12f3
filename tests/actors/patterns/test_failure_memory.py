"""The failure memory's pattern summaries stay equal to a recount (actors/_failure_memory.py)."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from actorgrid.actors.patterns._failure_memory import (
    MAX_PATTERN_TARGETS,
    OUTCOMES,
    FailureMemory,
    FailureNote,
)

Op = tuple[str, int, int]


def recount(memory: FailureMemory, pattern: int) -> tuple[object, ...] | None:
    """The pattern as a brute-force recount over its members would state it."""
    notes = sorted((n for n in memory.notes.values() if n.pattern == pattern), key=lambda n: n.id)
    if len(notes) < 2:
        return None
    targets = list(dict.fromkeys(n.target for n in notes))
    outcomes = Counter(n.outcome for n in notes)
    return (
        len(notes),
        min(n.seen_at for n in notes),
        max(n.seen_at for n in notes),
        set(targets),
        {k: outcomes[k] for k in OUTCOMES if outcomes[k]},
        len(targets),
        notes[0].text,
    )


class TestPatternSummaries:
    @settings(max_examples=150, deadline=None)
    @given(
        st.lists(
            st.tuples(
                st.sampled_from(["add", "resolve", "remove"]),
                st.integers(min_value=0, max_value=5),
                st.integers(min_value=0, max_value=30),
            ),
            max_size=60,
        )
    )
    def test_summaries_match_a_recount(self, ops: list[Op]) -> None:
        """Whatever joins, resolves or leaves, every pattern reads as its recount."""
        memory = FailureMemory()
        next_id = 1
        for kind, target, other in ops:
            if kind == "add":
                note = FailureNote(
                    next_id, f"text {next_id}", "t", f"k:{target}", f"m{next_id}", 1, None,
                    float(next_id * 7 % 11),
                )  # fmt: skip
                neighbours = [i for i in memory.notes if i % 3 == other % 3][-3:]
                memory.add(note, neighbours)
                next_id += 1
            elif kind == "resolve":
                memory.resolve(f"k:{target}", OUTCOMES[1 + other % 2])
            elif memory.notes:
                ids = list(memory.notes)
                memory.remove([ids[other % len(ids)]])
        for pid in {n.pattern for n in memory.notes.values() if n.pattern is not None}:
            found = memory.pattern(pid)
            expected = recount(memory, pid)
            if expected is None:
                assert found is None
                continue
            assert found is not None
            count_targets: int = expected[5]  # type: ignore[assignment]
            assert len(found.targets) == min(count_targets, MAX_PATTERN_TARGETS)
            assert set(found.targets) <= expected[3]  # type: ignore[operator]
            got = (found.count, found.first_seen, found.last_seen, found.outcomes)
            assert got == (expected[0], expected[1], expected[2], expected[4])
            assert (found.target_count, found.example) == (expected[5], expected[6])
