"""The failure memory's count of reference chunks attached to a pattern's retries."""

from __future__ import annotations

from actorgrid.actors.patterns import Reference
from actorgrid.actors.patterns._failure_memory import (
    MAX_PATTERN_CHUNKS,
    FailureMemory,
    FailureNote,
)


def note(i: int, target: str) -> FailureNote:
    return FailureNote(i, "TimeoutError: upstream", "jobs", target, f"m{i}", 1, "TimeoutError", i)


def ref(chunk_id: int) -> Reference:
    return Reference(chunk_id=chunk_id, source=f"runbook-{chunk_id}", text="", similarity=0.9)


def test_attachments_follow_the_failure_into_and_out_of_its_pattern() -> None:
    memory = FailureMemory()
    memory.add(note(1, "t:a"), [])
    memory.attach("t:a", [ref(100), ref(101)])  # before the pattern exists
    memory.add(note(2, "t:b"), [1])  # forms the pattern with failure 1
    memory.attach("t:b", [ref(100)])
    [pattern] = memory.patterns()
    assert [(u.chunk_id, u.source, u.count) for u in pattern.chunks] == [
        (100, "runbook-100", 2),
        (101, "runbook-101", 1),
    ]
    memory.add(note(3, "t:c"), [1])
    memory.remove([2])  # its attachment leaves with it
    [pattern] = memory.patterns()
    assert [(u.chunk_id, u.count) for u in pattern.chunks] == [(100, 1), (101, 1)]


def test_a_target_without_a_pending_failure_attaches_nothing() -> None:
    memory = FailureMemory()
    memory.add(note(1, "t:a"), [])
    memory.add(note(2, "t:b"), [1])
    memory.resolve("t:a", "success")
    memory.attach("t:a", [ref(100)])
    memory.attach("t:nobody", [ref(100)])
    [pattern] = memory.patterns()
    assert pattern.chunks == ()


def test_the_list_is_bounded_most_attached_first() -> None:
    memory = FailureMemory()
    memory.add(note(1, "t:a"), [])
    memory.add(note(2, "t:b"), [1])
    for chunk_id in range(30):
        memory.attach("t:a", [ref(chunk_id)] * (chunk_id % 4 + 1))
    [pattern] = memory.patterns()
    assert len(pattern.chunks) == MAX_PATTERN_CHUNKS
    counts = [u.count for u in pattern.chunks]
    assert counts == sorted(counts, reverse=True)
    assert counts[0] == 4
