"""The :class:`~actorgrid.actors.Runtime` methods for reference chunks and recurring failures.

They talk to the ``pattern-engine`` actor; the runtime mixes them in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .._exceptions import InvalidArgument, RuntimeClosed
from ..patterns import (
    AddChunks,
    ChunkInput,
    DeleteChunks,
    PatternStatistics,
    PatternStats,
    RecurringPatterns,
    SearchChunks,
    check_chunks,
    check_ids,
    check_search,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from actorgrid.kernel import ActorRef

    from ..patterns import RecurringPattern, Reference

__all__ = ("PatternCalls",)


class PatternCalls:
    """Reference chunks and recurring failures, through the runtime's pattern engine."""

    _pattern: ActorRef[Any] | None

    def _running(self, action: str, *, stopping: bool = True) -> Any:
        raise RuntimeClosed(action)  # the Runtime's own replaces this

    def _pattern_engine(self, action: str) -> ActorRef[Any]:
        self._running(action)
        if self._pattern is None:
            raise InvalidArgument("pattern.enabled", False, f"the pattern engine on to {action}")
        return self._pattern

    async def add_chunks(
        self, chunks: Sequence[ChunkInput | tuple[str, str] | tuple[str, str, Mapping[str, Any]]]
    ) -> list[int]:
        """Store and index reference chunks (runbooks, documents) in one transaction.

        Args:
            chunks: ``(source, text)`` or ``(source, text, metadata)`` tuples, or
                :class:`ChunkInput`; metadata is a JSON object searches can filter on.

        Returns:
            The new chunk ids, in order.

        Raises:
            InvalidArgument: a bad chunk (empty or overlong text or source, the reserved
                source ``failure``, metadata that is not a JSON object), or the pattern engine
                is disabled. Nothing is stored.
            EmbeddingError: a text cannot be embedded (nothing is stored).
            StorageError: the chunks could not be committed (nothing is stored).
            RuntimeClosed: the runtime is not running.
        """
        ref = self._pattern_engine("add chunks")
        ids: tuple[int, ...] = await ref.ask(AddChunks(check_chunks(chunks)), timeout=None)
        return list(ids)

    async def delete_chunks(self, ids: Iterable[int]) -> int:
        """Delete chunks by id; unknown ids are ignored.

        Returns:
            How many chunks were deleted.

        Raises:
            InvalidArgument: an id is not an integer >= 0, or the pattern engine is disabled.
            StorageError: the deletion could not be committed (nothing is deleted).
            RuntimeClosed: the runtime is not running.
        """
        ref = self._pattern_engine("delete chunks")
        count: int = await ref.ask(DeleteChunks(check_ids(ids)), timeout=None)
        return count

    async def search_chunks(
        self,
        query: str,
        *,
        k: int = 3,
        min_similarity: float = 0.0,
        source: str | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> list[Reference]:
        """Return up to ``k`` chunks most similar to ``query``, most similar first.

        Args:
            query: the text to look for.
            k: most chunks to return (>= 1).
            min_similarity: leave out chunks below this cosine similarity, in [-1, 1].
            source: only chunks of this source (``"failure"``: the failure memory).
            metadata: only chunks whose metadata has all of these key/value pairs.

        Raises:
            InvalidQuery: an empty query, ``k`` < 1, a threshold outside [-1, 1], or a bad
                filter.
            InvalidArgument: the pattern engine is disabled.
            RuntimeClosed: the runtime is not running.
        """
        ref = self._pattern_engine("search chunks")
        q, k_, floor, src, meta = check_search(
            query,
            k,
            min_similarity,
            source,
            dict(metadata) if isinstance(metadata, Mapping) else metadata,
        )
        found: tuple[Reference, ...] = await ref.ask(
            SearchChunks(q, k_, floor, src, meta), timeout=60
        )
        return list(found)

    async def recurring_patterns(self) -> list[RecurringPattern]:
        """Return the recurring failure patterns, most failures first.

        Raises:
            InvalidArgument: the pattern engine is disabled.
            RuntimeClosed: the runtime is not running.
        """
        ref = self._pattern_engine("read recurring patterns")
        found: tuple[RecurringPattern, ...] = await ref.ask(RecurringPatterns(), timeout=60)
        return list(found)

    async def pattern_statistics(self) -> PatternStatistics:
        """Return a snapshot of the pattern engine.

        Raises:
            InvalidArgument: the pattern engine is disabled.
            RuntimeClosed: the runtime is not running.
        """
        ref = self._pattern_engine("read pattern statistics")
        stats: PatternStatistics = await ref.ask(PatternStats(), timeout=60)
        return stats
