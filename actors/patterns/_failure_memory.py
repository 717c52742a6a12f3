"""The failure memory: every indexed failure, how it ended, and the recurring patterns.

Pure bookkeeping, owned by the pattern engine and touched only from its task (and read by
its search filters while the task waits for them). The vectors live in the engine's index;
here a failure is its chunk id, target, message, attempt, time and outcome.

A *recurring pattern* groups failures that are alike: when a new failure's nearest earlier
failures are at least the recurring similarity, it joins the pattern of the most similar one
that has a pattern, and the others without one join too; if none has a pattern, they form a
new one together. A pattern's id is the smallest chunk id it was formed with. Membership is
written into each failure chunk's metadata (``pattern``), so patterns survive a restart.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Final

from ._protocol import ChunkUse, RecurringPattern

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from ._chunk_table import Chunk
    from ._protocol import Reference

__all__ = (
    "MAX_PATTERN_CHUNKS",
    "MAX_PATTERN_TARGETS",
    "OUTCOMES",
    "FailureMemory",
    "FailureNote",
)

MAX_PATTERN_TARGETS: Final = 10
"""Targets a :class:`RecurringPattern` lists (``target_count`` has them all)."""
MAX_PATTERN_CHUNKS: Final = 10
"""Attached reference chunks a :class:`RecurringPattern` lists (most attached first)."""

OUTCOMES: Final = ("pending", "success", "dead")
"""How a failure can stand: its target is still retried, recovered, or was dead-lettered."""


@dataclass(slots=True)
class FailureNote:
    """One indexed failure (its chunk holds the error text and this as metadata)."""

    id: int
    """The failure chunk's id."""
    text: str
    topic: str
    target: str
    """``target_type:target_id``."""
    message_id: str
    attempt: int
    """The attempt that failed (1-based)."""
    error_type: str | None
    seen_at: float
    outcome: str = "pending"
    pattern: int | None = None
    attached: dict[int, int] | None = None
    """Reference chunks the lookups for this failure's retry attached, and how often (kept
    in memory only, since the engine started)."""

    def metadata(self) -> dict[str, Any]:
        """Return the chunk metadata that records this failure."""
        meta: dict[str, Any] = {
            "topic": self.topic,
            "target": self.target,
            "message_id": self.message_id,
            "attempt": self.attempt,
            "outcome": self.outcome,
        }
        if self.error_type is not None:
            meta["error_type"] = self.error_type
        if self.pattern is not None:
            meta["pattern"] = self.pattern
        return meta

    @classmethod
    def from_chunk(cls, chunk: Chunk) -> FailureNote | None:
        """Rebuild a note from a stored failure chunk; ``None`` if its metadata is unusable."""
        meta = chunk.meta
        topic, target, message_id = meta.get("topic"), meta.get("target"), meta.get("message_id")
        attempt, outcome = meta.get("attempt"), meta.get("outcome")
        error_type, pattern = meta.get("error_type"), meta.get("pattern")
        if not (
            isinstance(topic, str)
            and isinstance(target, str)
            and isinstance(message_id, str)
            and isinstance(attempt, int)
            and outcome in OUTCOMES
            and (error_type is None or isinstance(error_type, str))
            and (pattern is None or (isinstance(pattern, int) and not isinstance(pattern, bool)))
        ):
            return None
        return cls(
            chunk.id,
            chunk.text,
            topic,
            target,
            message_id,
            attempt,
            error_type,
            chunk.created_at,
            outcome,
            pattern,
        )


@dataclass(slots=True)
class _Summary:
    """A pattern's aggregate, kept up to date as failures join, change outcome or leave, so
    reading a pattern costs the same with ten failures as with a hundred thousand."""

    count: int = 0
    first_seen: float = float("inf")
    last_seen: float = float("-inf")
    targets: dict[str, int] | None = None
    outcomes: Counter[str] | None = None
    example_id: int | None = None
    example: str = ""
    chunks: Counter[int] | None = None
    """Attachments of the members' reference chunks, summed."""
    stale: bool = False
    """A member that bounded first/last seen or the example left: recompute on read."""

    def join(self, note: FailureNote) -> None:
        if self.targets is None or self.outcomes is None:
            self.targets, self.outcomes = {}, Counter()
        self.count += 1
        self.first_seen = min(self.first_seen, note.seen_at)
        self.last_seen = max(self.last_seen, note.seen_at)
        self.targets[note.target] = self.targets.get(note.target, 0) + 1
        self.outcomes[note.outcome] += 1
        if self.example_id is None or note.id < self.example_id:
            self.example_id, self.example = note.id, note.text
        if note.attached:
            self.attach(note.attached)

    def attach(self, counts: dict[int, int], sign: int = 1) -> None:
        if self.chunks is None:
            self.chunks = Counter()
        for chunk_id, n in counts.items():
            self.chunks[chunk_id] += sign * n
            if self.chunks[chunk_id] <= 0:
                del self.chunks[chunk_id]

    def leave(self, note: FailureNote) -> None:
        assert self.targets is not None
        assert self.outcomes is not None
        self.count -= 1
        left = self.targets[note.target] - 1
        if left:
            self.targets[note.target] = left
        else:
            del self.targets[note.target]
        self.outcomes[note.outcome] -= 1
        if note.attached:
            self.attach(note.attached, -1)
        if note.seen_at in (self.first_seen, self.last_seen) or note.id == self.example_id:
            self.stale = True


class FailureMemory:
    """Failures by id, target and message, and the recurring patterns they form."""

    def __init__(self) -> None:
        self.notes: dict[int, FailureNote] = {}
        """Every failure by chunk id, oldest first."""
        self._by_target: dict[str, dict[int, None]] = {}
        self._by_message: dict[str, dict[int, None]] = {}
        self._patterns: dict[int, dict[int, None]] = {}
        self._summaries: dict[int, _Summary] = {}
        self._sources: dict[int, str] = {}
        """The source of every reference chunk ever attached (for the patterns' lists)."""

    def __len__(self) -> int:
        return len(self.notes)

    def __contains__(self, chunk_id: object) -> bool:
        return chunk_id in self.notes

    def _insert(self, note: FailureNote) -> None:
        self.notes[note.id] = note
        self._by_target.setdefault(note.target, {})[note.id] = None
        self._by_message.setdefault(note.message_id, {})[note.id] = None
        if note.pattern is not None:
            self._join(note.pattern, note)

    def _join(self, pattern: int, note: FailureNote) -> None:
        self._patterns.setdefault(pattern, {})[note.id] = None
        summary = self._summaries.get(pattern)
        if summary is None:
            summary = self._summaries[pattern] = _Summary()
        summary.join(note)

    def restore(self, note: FailureNote) -> None:
        """Take back a failure read from the table, with the pattern its metadata names."""
        self._insert(note)

    def add(self, note: FailureNote, neighbours: Sequence[int]) -> list[FailureNote]:
        """Add a new failure and group it with its alike earlier failures.

        Args:
            note: the new failure (its id is larger than every earlier one).
            neighbours: ids of earlier failures at least the recurring similarity away,
                most similar first.

        Returns:
            The earlier failures whose pattern changed (their metadata must be rewritten).
        """
        self._insert(note)
        alike = [self.notes[i] for i in neighbours if i in self.notes and i != note.id]
        if not alike:
            return []
        pattern = next((n.pattern for n in alike if n.pattern is not None), None)
        if pattern is None:
            pattern = min(n.id for n in alike)
        changed: list[FailureNote] = []
        for other in (*alike, note):
            if other.pattern is None:
                other.pattern = pattern
                self._join(pattern, other)
                if other is not note:
                    changed.append(other)
        return changed

    def resolve(self, target: str, outcome: str) -> list[FailureNote]:
        """Record how the target's pending failures ended.

        Returns:
            The failures that changed (their metadata must be rewritten).
        """
        changed = [
            note
            for i in self._by_target.get(target, ())
            if (note := self.notes[i]).outcome == "pending"
        ]
        for note in changed:
            if note.pattern is not None and (summary := self._summaries.get(note.pattern)):
                assert summary.outcomes is not None
                summary.outcomes[note.outcome] -= 1
                summary.outcomes[outcome] += 1
            note.outcome = outcome
        return changed

    def attach(self, target: str, references: Iterable[Reference]) -> None:
        """Count the reference chunks a lookup attached to a retry of ``target``: on its
        latest pending failure, and on that failure's pattern (now or when it joins one)."""
        pending = [i for i in self._by_target.get(target, ()) if self.notes[i].outcome == "pending"]
        if not pending:
            return
        note = self.notes[pending[-1]]
        counts: dict[int, int] = {}
        for ref in references:
            self._sources[ref.chunk_id] = ref.source
            counts[ref.chunk_id] = counts.get(ref.chunk_id, 0) + 1
        if not counts:
            return
        if note.attached is None:
            note.attached = {}
        for chunk_id, n in counts.items():
            note.attached[chunk_id] = note.attached.get(chunk_id, 0) + n
        if note.pattern is not None and (summary := self._summaries.get(note.pattern)):
            summary.attach(counts)

    def remove(self, ids: Iterable[int]) -> None:
        """Forget failures (deleted chunks); unknown ids are ignored."""
        for chunk_id in ids:
            note = self.notes.pop(chunk_id, None)
            if note is None:
                continue
            _discard(self._by_target, note.target, chunk_id)
            _discard(self._by_message, note.message_id, chunk_id)
            if note.pattern is not None:
                _discard(self._patterns, note.pattern, chunk_id)
                summary = self._summaries.get(note.pattern)
                if summary is not None:
                    summary.leave(note)
                    if note.pattern not in self._patterns:
                        del self._summaries[note.pattern]

    def oldest(self, count: int) -> list[int]:
        """Return the ids of the ``count`` oldest failures."""
        out: list[int] = []
        for chunk_id in self.notes:
            if len(out) >= count:
                break
            out.append(chunk_id)
        return out

    def of_target(self, target: str) -> list[FailureNote]:
        """Return the target's failures, oldest first."""
        return [self.notes[i] for i in self._by_target.get(target, ())]

    def of_message(self, message_id: str) -> list[FailureNote]:
        """Return the message's failures, oldest first."""
        return [self.notes[i] for i in self._by_message.get(message_id, ())]

    def pattern(self, pattern_id: int) -> RecurringPattern | None:
        """Return the pattern, or ``None`` if it has fewer than two failures left."""
        members = self._patterns.get(pattern_id)
        if not members or len(members) < 2:
            return None
        summary = self._summaries[pattern_id]
        if summary.stale:
            summary = self._summaries[pattern_id] = _Summary()
            for i in sorted(members):
                summary.join(self.notes[i])
        targets, outcomes = summary.targets, summary.outcomes
        assert targets is not None
        assert outcomes is not None
        return RecurringPattern(
            count=summary.count,
            first_seen=summary.first_seen,
            last_seen=summary.last_seen,
            targets=tuple(islice(targets, MAX_PATTERN_TARGETS)),
            outcomes={k: outcomes[k] for k in OUTCOMES if outcomes[k]},
            id=pattern_id,
            target_count=len(targets),
            example=summary.example,
            chunks=self._chunk_uses(summary),
        )

    def _chunk_uses(self, summary: _Summary) -> tuple[ChunkUse, ...]:
        if not summary.chunks:
            return ()
        ranked = sorted(summary.chunks.items(), key=lambda kv: (-kv[1], kv[0]))
        return tuple(
            ChunkUse(chunk_id=chunk_id, source=self._sources.get(chunk_id, ""), count=n)
            for chunk_id, n in ranked[:MAX_PATTERN_CHUNKS]
        )

    def pattern_of(self, chunk_id: int) -> RecurringPattern | None:
        """Return the pattern the failure belongs to, if any."""
        note = self.notes.get(chunk_id)
        return None if note is None or note.pattern is None else self.pattern(note.pattern)

    def patterns(self) -> tuple[RecurringPattern, ...]:
        """Return every pattern of two or more failures: most failures, then latest, first."""
        found = [p for pid in self._patterns if (p := self.pattern(pid)) is not None]
        found.sort(key=lambda p: (-p.count, -p.last_seen, p.id))
        return tuple(found)

    def pattern_count(self) -> int:
        """Return how many patterns have two or more failures."""
        return sum(1 for members in self._patterns.values() if len(members) >= 2)


def _discard(index: dict[Any, dict[int, None]], key: Any, chunk_id: int) -> None:
    members = index.get(key)
    if members is not None:
        members.pop(chunk_id, None)
        if not members:
            del index[key]
