"""Reframing suggestions for ``revise``, assembled from what was retrieved (nothing generated).

Each suggestion is one sentence built from retrieved items: the reference chunks, this
target's own failures in its current cycle, and earlier failures of other targets that are
alike, with how they ended. The same data always gives the same suggestions, in this order:

1. one line per reference chunk (its source and first line);
2. this target's attempts so far (the same error every time, or a changing one);
3. alike failures of other targets and their outcomes, then what those outcomes suggest;
4. the recurring pattern, when it spans more than this target;
5. a hint to add a runbook when no reference chunk matched.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._failure_memory import FailureMemory, FailureNote
    from ._protocol import RecurringPattern, Reference

__all__ = ("first_line", "revision_suggestions")

_LINE: Final = 160
_SHOWN: Final = 3


def first_line(text: str, limit: int = _LINE) -> str:
    """Return the first non-blank line of ``text``, shortened to ``limit`` characters."""
    line = next((ln.strip() for ln in text.splitlines() if ln.strip()), text.strip())
    return line if len(line) <= limit else line[: limit - 3].rstrip() + "..."


def _n(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _listed(items: Sequence[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown if len(items) <= _SHOWN else f"{shown} and {len(items) - _SHOWN} more"


def _own(own: Sequence[FailureNote], same: bool) -> str | None:
    if not own:
        return None
    latest = first_line(own[-1].text)
    if len(own) == 1:
        return f"the previous attempt failed with: {latest}"
    if same:
        return (
            f"the same error repeated on all {len(own)} attempts so far ({latest}): "
            "change the input or the dependency rather than retrying as-is"
        )
    return (
        f"the error changed across the {len(own)} attempts so far (latest: {latest}): "
        "look at what changed between attempts"
    )


def _others(similar: Sequence[FailureNote], memory: FailureMemory) -> list[str]:
    if not similar:
        return []
    episodes: dict[str, FailureNote] = {}
    for note in similar:
        episodes.setdefault(note.message_id, note)
    targets = list(dict.fromkeys(n.target for n in similar))
    ended: dict[str, list[str]] = {"success": [], "dead": [], "pending": []}
    for message_id, note in episodes.items():
        history = memory.of_message(message_id) or [note]
        failures = len(history)
        outcome = history[-1].outcome
        if outcome == "pending":
            ended["pending"].append(history[-1].target)
        else:
            ended[outcome].append(f"{history[-1].target} after {_n(failures, 'failed attempt')}")
    parts = []
    if ended["success"]:
        parts.append(f"{len(ended['success'])} ended in success ({_listed(ended['success'])})")
    if ended["dead"]:
        parts.append(f"{len(ended['dead'])} in the dead-letter queue ({_listed(ended['dead'])})")
    if ended["pending"]:
        parts.append(f"{len(ended['pending'])} still being retried ({_listed(ended['pending'])})")
    lines = [
        f"this resembles {_n(len(similar), 'earlier failure')} of "
        f"{_n(len(targets), 'other target')} ({_listed(targets)}): " + ", ".join(parts)
    ]
    if ended["dead"] and not ended["success"]:
        lines.append(
            "none of the alike failures recovered by retrying: change the input or the "
            "approach instead of retrying as-is"
        )
    elif ended["success"] and not ended["dead"]:
        lines.append(
            "alike failures recovered on a later attempt: check whether the dependency they "
            "waited for is back before this attempt"
        )
    elif ended["success"] and ended["dead"]:
        lines.append(
            "alike failures ended both ways: compare what differed between the ones that "
            "succeeded and the ones that were dead-lettered"
        )
    return lines


def revision_suggestions(
    *,
    references: Sequence[Reference],
    own: Sequence[FailureNote],
    own_same: bool,
    similar: Sequence[FailureNote],
    memory: FailureMemory,
    pattern: RecurringPattern | None,
    min_similarity: float,
) -> tuple[str, ...]:
    """Return the suggestions for one revise (see the module docstring for the order).

    Args:
        references: the reference chunks found, most similar first.
        own: this target's failures in its current cycle, oldest first.
        own_same: whether every one of ``own`` is alike the latest.
        similar: other targets' failures alike this one, most similar first.
        memory: the failure memory (for the whole history of each alike message).
        pattern: the recurring pattern of this target's latest failure, if any.
        min_similarity: the revise threshold the references had to reach.
    """
    out = [f"reference {r.source}: {first_line(r.text)}" for r in references]
    own_line = _own(own, own_same)
    if own_line is not None:
        out.append(own_line)
    out.extend(_others(similar, memory))
    if pattern is not None and pattern.target_count > 1:
        out.append(
            f"recurring failure pattern {pattern.id}: {_n(pattern.count, 'alike failure')} "
            f"across {_n(pattern.target_count, 'target')} between {_iso(pattern.first_seen)} "
            f"and {_iso(pattern.last_seen)}"
        )
    if not references:
        out.append(
            f"no reference chunk reached similarity {min_similarity:.2f} for this error: "
            "add a runbook chunk about it (Runtime.add_chunks)"
        )
    return tuple(out)
